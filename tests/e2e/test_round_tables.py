"""The round-table cycle and the trainings on the emulator, with a controlled clock (issue 12).

Asserted by end state: rows in RundeTische / Themen / Teilnahme / Anmeldungen, mails in
the emulator's mailbox, and what a re-run or a dry run writes and sends (nothing).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sp_sync.app.demo import run_demo
from sp_sync.domain.series import slot_key, slots_ahead
from sp_sync.engine.runner import RunOutcome, run_job

from .conftest import MONDAY, TZ, Tenant

PREFIX = "series:round-tables:"


def _at(day: date, hour: int = 7) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=TZ)


def _run(t: Tenant, name: str, dry_run: bool = False) -> RunOutcome:
    outcome = run_job(t.svc, t.config.job(name), dry_run=dry_run)
    assert outcome.status == "ok", (outcome.message, outcome.details)
    return outcome


def _rows(t: Tenant, key: str) -> list[dict[str, Any]]:
    return [i["fields"] for i in t.emu.items(t.config.mapping.get(key).title)]


def _field(t: Tenant, key: str, col: str) -> str:
    return t.config.mapping.get(key).column(col).field_name


def _writes(t: Tenant) -> list[dict[str, Any]]:
    return [r for r in t.emu.requests() if r["method"] in ("POST", "PATCH", "DELETE")
            and "/_emulator" not in r["path"] and not r["path"].endswith("/sendMail")]


def _series(t: Tenant) -> dict[str, dict[str, Any]]:
    return {f["SyncKey"]: f for f in _rows(t, "round_tables")
            if str(f.get("SyncKey") or "").startswith(PREFIX)}


def _local_day(value: str) -> date:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(TZ).date()


def test_series_stays_six_ahead_across_cycles_and_respects_people(tenant: Tenant) -> None:
    t = tenant
    date_f = _field(t, "round_tables", "date")
    status_f = _field(t, "round_tables", "status")
    _run(t, "round-tables")
    first = _series(t)
    # six slots ahead: 2.12. and 16.12. already have a meeting a person entered (left to
    # it), 30.12. is in the Christmas break (skipped), the series creates the other four
    assert sorted(first) == [PREFIX + d for d in ("2027-01-13", "2027-01-27", "2027-02-10",
                                                   "2027-02-24")]
    assert all(f[status_f] == "Geplant" for f in first.values())
    assert all(_local_day(f[date_f]).weekday() == 2 for f in first.values())
    assert {f["Title"] for f in first.values()} >= {"Runder Tisch IT-Koordination 13.01.2027"}

    # a person moves one meeting and cancels another; then deletes a third
    items = {i["fields"]["SyncKey"]: i for i in t.emu.items("RundeTische")
             if str(i["fields"].get("SyncKey") or "").startswith(PREFIX)}
    keys = sorted(items)
    moved, cancelled, deleted = keys[0], keys[1], keys[2]
    t.emu.edit("RundeTische", items[moved]["id"],
               {date_f: "2027-01-14T09:00:00Z"}, "sophie.richter@mannheim.de")
    t.emu.edit("RundeTische", items[cancelled]["id"], {status_f: "Ausgefallen"},
               "sophie.richter@mannheim.de")
    t.emu.delete_item("RundeTische", items[deleted]["id"], "sophie.richter@mannheim.de")

    # several cycles: every 14 days, through the Christmas break and Christi Himmelfahrt
    day = date(2026, 11, 30)
    seen: Counter[str] = Counter()
    while day <= date(2027, 6, 30):
        t.clock.set(_at(day))
        _run(t, "round-tables")
        day += timedelta(days=7)
    rows = _rows(t, "round_tables")
    for f in rows:
        if f.get("SyncKey"):
            seen[f["SyncKey"]] += 1
    assert all(n == 1 for n in seen.values()), seen  # nothing created twice
    by_key = {f["SyncKey"]: f for f in rows if f.get("SyncKey")}
    assert by_key[moved][date_f] == "2027-01-14T09:00:00Z"  # the person's move stays
    assert by_key[cancelled][status_f] == "Ausgefallen"  # and the cancellation
    assert deleted not in by_key  # never re-created
    job = t.config.job("round-tables")
    last = date(2027, 6, 28)
    wanted = {slot_key(job.name, s.regular)
              for s in slots_ahead(job.params.spec(), last, TZ)}  # type: ignore[attr-defined]
    assert wanted <= set(by_key) and len(wanted) == 6
    days = {_local_day(f[date_f]) for k, f in by_key.items() if k.startswith(PREFIX)}
    assert not any(date(2026, 12, 24) <= d <= date(2027, 1, 1) for d in days)

    # a re-run writes nothing
    t.emu.clear_requests()
    again = _run(t, "round-tables")
    assert not _writes(t) and again.stats.get("written", 0) == 0


def test_christi_himmelfahrt_moves_a_thursday_meeting_to_friday(tenant: Tenant) -> None:
    t = tenant
    base = t.config.job("round-tables")
    job = replace(base, name="rt-thursday",
                  params=base.params.model_copy(update={"first": date(2026, 12, 17)}))
    date_f = _field(t, "round_tables", "date")
    for day in (date(2027, 4, 1), date(2027, 4, 15), date(2027, 5, 3)):
        t.clock.set(_at(day))
        assert run_job(t.svc, job).status == "ok"
    rows = {f["SyncKey"]: f for f in _rows(t, "round_tables")
            if str(f.get("SyncKey") or "").startswith("series:rt-thursday:")}
    assert _local_day(rows["series:rt-thursday:2027-05-06"][date_f]) == date(2027, 5, 7)
    assert _local_day(rows["series:rt-thursday:2027-05-20"][date_f]) == date(2027, 5, 20)
    assert len(rows) == len(set(rows)) and all(
        _local_day(f[date_f]).weekday() in (3, 4) for f in rows.values())
    # the other series' and people's meetings are no business of this job
    assert _series(t) == {}


def _topics_of(t: Tenant, meeting_id: str) -> list[dict[str, Any]]:
    rt = _field(t, "topics", "round_table")
    return [f for f in _rows(t, "topics") if str(f.get(rt)) == meeting_id]


def _meeting_on(t: Tenant, day: date) -> dict[str, Any]:
    date_f = _field(t, "round_tables", "date")
    found = [i for i in t.emu.items("RundeTische") if _local_day(i["fields"][date_f]) == day]
    assert len(found) == 1
    return found[0]


def test_agenda_attendance_and_minutes_once_each(tenant: Tenant) -> None:
    t = tenant
    kind_f, status_f = _field(t, "topics", "kind"), _field(t, "topics", "status")
    present_f = _field(t, "attendance", "present")
    meeting = _meeting_on(t, date(2026, 12, 2))  # entered by a person, Wednesday 10:00
    before = _topics_of(t, meeting["id"])
    open_actions = [f for f in _rows(t, "topics")
                    if f.get(kind_f) == "Aufgabe" and f.get(status_f) == "Offen"]
    assert open_actions  # the seed has open action items from earlier meetings

    _run(t, "round-tables")  # Monday 30.11.: the meeting on Wednesday is within 7 days
    agenda = [f for f in _topics_of(t, meeting["id"]) if f.get("SyncKey")]
    carried = [f for f in agenda if f["Title"].startswith("Offene Aufgabe: ")]
    assert sorted(f["Title"] for f in carried) == sorted(
        "Offene Aufgabe: " + f["Title"] for f in open_actions)
    assert all(f[kind_f] == "Thema" for f in agenda)  # a reference, never a new action
    assert {f["Title"] for f in agenda} - {f["Title"] for f in carried} == {
        "Aktuelles aus dem DTC", "Schulungen und Termine"}
    assert len(_topics_of(t, meeting["id"])) == len(before) + len(agenda)

    # Wednesday noon: the meeting has begun → one attendance row per active department
    t.clock.set(_at(date(2026, 12, 2), 12))
    _run(t, "round-tables")
    rows = [f for f in _rows(t, "attendance")
            if str(f.get(_field(t, "attendance", "round_table"))) == meeting["id"]]
    departments = _rows(t, "departments")
    assert len(rows) == len(departments) == 16
    assert len({f[_field(t, "attendance", "department")] for f in rows}) == 16
    assert all(f.get(present_f) is None for f in rows)

    # a coordinator ticks "present"; the days go by; minutes are still missing on Saturday
    ticked = next(i for i in t.emu.items("Teilnahme") if i["fields"].get("SyncKey")
                  and str(i["fields"].get(_field(t, "attendance", "round_table")))
                  == meeting["id"])
    t.emu.edit("Teilnahme", ticked["id"], {present_f: True}, "sophie.richter@mannheim.de")
    mails = len(t.emu.mail())
    for day, hour in ((date(2026, 12, 3), 7), (date(2026, 12, 5), 11), (date(2026, 12, 6), 7)):
        t.clock.set(_at(day, hour))
        _run(t, "round-tables")
    minutes = [m for m in t.emu.mail()[mails:] if m["subject"].startswith("Protokoll fehlt")]
    assert len(minutes) == 1
    assert minutes[0]["recipients"] == ["sophie.richter@mannheim.de"]  # the moderator
    assert "02.12.2026" in minutes[0]["subject"]
    after = [f for f in _rows(t, "attendance")
             if str(f.get(_field(t, "attendance", "round_table"))) == meeting["id"]]
    assert len(after) == 16 and sum(1 for f in after if f.get(present_f) is True) == 1

    # the next meeting (16.12.) gets the actions that are still open, once
    t.clock.set(_at(date(2026, 12, 9), 7))
    _run(t, "round-tables")
    t.clock.set(_at(date(2026, 12, 10), 7))  # 16.12. 10:00 is now within the 7 days
    _run(t, "round-tables")
    t.emu.clear_requests()
    again = _run(t, "round-tables")
    assert not _writes(t) and again.stats.get("written", 0) == 0
    nxt = _meeting_on(t, date(2026, 12, 16))
    titles = Counter(f["Title"] for f in _topics_of(t, nxt["id"]) if f.get("SyncKey"))
    assert all(n == 1 for n in titles.values())
    assert sum(1 for k in titles if k.startswith("Offene Aufgabe: ")) == len(open_actions)
    # the agenda rows of 2.12. are topics, not actions: nothing is carried twice
    assert not any(k.startswith("Offene Aufgabe: Offene Aufgabe") for k in titles)


def test_dry_run_lists_every_planned_item_and_mail_and_changes_nothing(
    tenant: Tenant,
) -> None:
    t = tenant
    # 2.12. held a week ago without minutes; 16.12. within the agenda's 7 days
    t.clock.set(_at(date(2026, 12, 9), 11))
    before = {k: len(_rows(t, k)) for k in ("round_tables", "topics", "attendance")}
    mails = len(t.emu.mail())
    t.emu.clear_requests()
    outcome = run_job(t.svc, t.config.job("round-tables"), dry_run=True)
    assert outcome.status == "ok" and outcome.dry_run
    assert not _writes(t) and len(t.emu.mail()) == mails
    assert {k: len(_rows(t, k)) for k in before} == before
    plan = outcome.plan_text or ""
    assert "# series round-tables → round_tables" in plan
    assert "series:round-tables:2027-01-13" in plan
    assert "attendance:round-tables:" in plan and "agenda:round-tables:" in plan
    assert "mail minutes:" in plan and "sophie.richter@mannheim.de" in plan
    assert outcome.stats["planned_creates"] > 0 and outcome.stats["planned_mails"] == 1
    assert t.svc.store.outbox_get("round-tables", "minutes:6", "sophie.richter@mannheim.de") \
        is None
    # the real run then does what the dry run listed
    real = _run(t, "round-tables")
    assert real.stats["written"] == outcome.stats["planned_creates"]
    assert len(t.emu.mail()) == mails + 1


def test_demo_shows_the_cycle(tmp_path: Path) -> None:
    result = run_demo(base=tmp_path / "demo", today=MONDAY)
    assert result.ok, [(o.job, o.status, o.message) for o in result.outcomes]
    cycle = result.extra["cycle"]
    assert cycle["series"] == ["2027-01-13", "2027-01-27", "2027-02-10", "2027-02-24"]
    carried = [a for a in cycle["agenda"] if a.startswith("Offene Aufgabe: ")]
    assert carried and len(carried) == len(set(carried))
    assert cycle["attendance"] == 16
    assert len(cycle["promoted"]) == 1
    assert any(m["subject"].startswith("Platz frei") for m in result.mails)
