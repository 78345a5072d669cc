"""Issue 9 on the real SMTP test server (aiosmtpd): recipients, poison values, lateness,
due times from the job's schedule, data before mail, dry runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sp_sync.adapters.mail.smtp import SmtpTransport
from sp_sync.adapters.store.memory import MemoryStore
from sp_sync.app.mail_wiring import schedule_interval, schedule_slot
from sp_sync.domain.mailsafe import check_recipient, clean_header
from sp_sync.domain.model import Person, Record
from sp_sync.engine.digests import (
    DigestSources,
    MailContext,
    preview_weekly,
    run_personal_digests,
    run_reminders,
    run_weekly_digest,
)
from sp_sync.engine.mailing import Mailer, RateLimiter
from sp_sync.render.mail import html_part, text_part
from sp_sync.render.renderer import TemplateRenderer
from tests.digest.dataset import NOW, TZ, changes, dataset, fc, health, utc
from tests.mail.conftest import SmtpServer

TEAM = ["dtc-team@mannheim.de"]


def mailer(store: MemoryStore, server: SmtpServer) -> Mailer:
    return Mailer(store, SmtpTransport(server.host, server.port, starttls=False, timeout=5),
                  limiter=RateLimiter(10_000))


def ctx(**kw: Any) -> MailContext:
    return MailContext(sender="dtc@mannheim.de", renderer=TemplateRenderer(), tz=TZ, locale="de",
                       organisation="Stadt Mannheim", **kw)


def sources(data: dict[str, list[Record]] | None = None, extra_changes: list[Any] | None = None,
            last_sync: dict[str, datetime | None] | None = None) -> DigestSources:
    d = data if data is not None else dataset()
    history = changes() + (extra_changes or [])
    return DigestSources(
        records=lambda key: d.get(key, []),
        changes=lambda since: [c for c in history if c.changed_at > since],
        last_sync=lambda: last_sync if last_sync is not None else health().last_sync,
        runs=lambda: list(health().runs),
    )


def patch(data: dict[str, list[Record]], list_key: str, item_id: str, **values: Any) -> None:
    data[list_key] = [replace(r, values={**r.values, **values}) if r.id == item_id else r
                      for r in data[list_key]]


def received(server: SmtpServer) -> list[str]:
    return sorted(rcpt for _, rcpts in server.inbox.envelopes for rcpt in rcpts)


def body(msg: EmailMessage) -> str:
    return (text_part(msg) or "") + (html_part(msg) or "")


# ------------------------------------------------------------------ recipients


def test_address_parsing_is_one_address_per_value() -> None:
    allowed = ["mannheim.de"]
    assert check_recipient(" Anna.Becker@Mannheim.de ", allowed) == (
        "anna.becker@mannheim.de", None)
    assert check_recipient("it@stadt.mannheim.de", allowed)[0] == "it@stadt.mannheim.de"
    for bad in ("a@mannheim.de, eve@evil.example", "a@mannheim.de;b@mannheim.de",
                "Anna <a@mannheim.de>", "a@mannheim.de\r\nBcc: eve@evil.example", "",
                None, "a@@mannheim.de", "a@mannheim.de.evil.example"):
        address, why = check_recipient(bad, allowed)
        assert address is None and why, bad
    assert "malformed" in (check_recipient("a@mannheim.de, eve@evil.example", allowed)[1] or "")
    assert "not in the allowed" in (check_recipient("eve@evil.example", allowed)[1] or "")


def test_outside_malformed_and_deleted_people_are_never_mailed(smtp_server: SmtpServer) -> None:
    data = dataset()
    # project 1 (Anna) → an outside address; project 2 (Ben) → two addresses in one value;
    # project 3 → a person no longer in the users list (deleted)
    patch(data, "projects", "1", lead=Person("Eve", "eve@evil.example", 91))
    patch(data, "projects", "2", lead=Person("Two", "ben.koch@mannheim.de, eve@evil.example",
                                             92))
    patch(data, "projects", "3", lead=Person("Gone", "gone@mannheim.de", 93),
          traffic_light="Rot")
    store = MemoryStore()
    m = mailer(store, smtp_server)

    leads = run_personal_digests(store, m, sources(data), ctx(), "leads", NOW)
    weekly = run_weekly_digest(store, m, sources(data), ctx(),
                               [*TEAM, "eve@evil.example", "x@mannheim.de, y@evil.example"],
                               NOW)

    assert received(smtp_server) == ["dtc-team@mannheim.de"]
    assert all("evil" not in str(m["To"]) for m in smtp_server.inbox.messages)
    assert (leads["sent"], leads["recipients_skipped"]) == (0, 3)
    reasons = {s["recipient"]: s["reason"] for s in leads["skipped_recipients"]}
    assert "not in the allowed" in reasons["eve@evil.example"]
    assert "malformed" in reasons["ben.koch@mannheim.de, eve@evil.example"]
    assert "not a current user" in reasons["gone@mannheim.de"]
    assert (weekly["sent"], weekly["recipients_skipped"]) == (1, 2)


# ------------------------------------------------------------------ poison values


def poisoned() -> tuple[dict[str, list[Record]], list[Any]]:
    data = dataset()
    patch(data, "trainings", "17",
          topic="SharePoint\r\nBcc: eve@evil.example\u202e Grundlagen\x07",
          max_participants=1e300)
    patch(data, "trainings", "18", start=datetime(9999, 12, 31, 23, 30, tzinfo=UTC))
    patch(data, "projects", "1", status_report="x" * 60_000, budget=float("inf"),
          title="Bürgerportal\n2.0")
    patch(data, "projects", "2", milestone_date=date(9999, 12, 31))
    history = [fc("projects", 2, "milestone_date", "2026-12-06T23:00:00Z",
                  "9999-12-31T23:30:00Z", "Ben Koch", utc(2026, 11, 28, 9))]
    return data, history


def test_poison_values_never_stop_the_other_mails(smtp_server: SmtpServer,
                                                   tmp_path: Path) -> None:
    data, history = poisoned()
    store = MemoryStore()
    m = mailer(store, smtp_server)

    reminders = run_reminders(store, m, sources(data, history), ctx(), utc(2026, 12, 1, 7))
    leads = run_personal_digests(store, m, sources(data, history), ctx(), "leads", NOW)
    coords = run_personal_digests(store, m, sources(data, history), ctx(), "coordinators", NOW)
    weekly = run_weekly_digest(store, m, sources(data, history), ctx(), TEAM, NOW)
    preview = preview_weekly(sources(data, history), ctx(), tmp_path / "preview", NOW)

    # every mail that would go out with clean data still goes out
    assert (reminders["sent"], leads["sent"], coords["sent"], weekly["sent"]) == (2, 2, 2, 1)
    assert preview.is_file()
    for msg in smtp_server.inbox.messages:
        assert msg["Bcc"] is None
        assert "\r" not in str(msg["Subject"]) and "\n" not in str(msg["Subject"])
        assert "\u202e" not in str(msg["Subject"]) + body(msg)
    subject = next(str(m["Subject"]) for m in smtp_server.inbox.messages
                   if "Erinnerung" in str(m["Subject"]))
    assert subject.startswith("Erinnerung: SharePoint Bcc: eve@evil.example Grundlagen am")
    digest = next(m for m in smtp_server.inbox.messages
                  if str(m["Subject"]).startswith("DTC-Wochenüberblick"))
    text = text_part(digest) or ""
    assert "⚠ 9999-12-31" in text  # the impossible date is shown as such
    assert "Plätze: 2 von ⚠ 1e+300 belegt" in text  # and the absurd number
    assert "x" * 1001 not in body(digest)
    # the bad items are reported as data problems in the run's figures
    problems = {(p["list"], p["item"], p["column"]) for p in weekly["problems"]}
    assert ("trainings", "18", "start") in problems
    assert ("trainings", "17", "max_participants") in problems
    assert ("projects", "1", "status_report") in problems
    assert ("projects", "2", "milestone_date") in problems
    assert weekly["data_problems"] >= 4 and reminders["data_problems"] >= 4


def test_header_values_are_one_bounded_line() -> None:
    assert clean_header("a\r\nBcc: x\u2066y\u0000z") == "a Bcc: xy z"
    assert len(clean_header("ä" * 5000)) == 200


# ------------------------------------------------------------------ lateness and due times


def test_late_personal_digests_and_reminders_say_so(smtp_server: SmtpServer) -> None:
    store = MemoryStore()
    m = mailer(store, smtp_server)
    # first seen on Monday 07:30 (on time for the anchor), then down until Tuesday
    store.ledger_put("lead-digests", "2026-W48", "sent", utc(2026, 11, 23, 6))
    leads = run_personal_digests(store, m, sources(), ctx(), "leads", utc(2026, 12, 1, 9))
    # a new installation's first reminders are never late: sp-sync was not running earlier
    fresh = MemoryStore()
    assert run_reminders(fresh, Mailer(fresh, m.transport, limiter=RateLimiter(10_000)),
                         sources(), ctx(slot=(0, 8, 0)), utc(2026, 12, 2, 8))["late"] == 0
    smtp_server.inbox.messages.clear()
    # the training on 3 December: reminded only the day before instead of two days before,
    # while sp-sync had data since 20 November
    store.ledger_put("reminders#start", "first-data", "anchor", utc(2026, 11, 20))
    reminders = run_reminders(store, m, sources(), ctx(slot=(0, 8, 0)), utc(2026, 12, 2, 8))

    assert (leads["sent"], leads["late"], reminders["sent"], reminders["late"]) == (2, 1, 2, 2)
    for msg in smtp_server.inbox.messages:
        assert str(msg["Subject"]).startswith("[verspätet] "), msg["Subject"]
        assert "kommt verspätet (geplant:" in (text_part(msg) or "")
        assert "kommt verspätet" in (html_part(msg) or "")
    assert store.ledger_periods("lead-digests")[-1] == ("2026-W49", "late")
    assert store.ledger_periods("reminders") == [("2026-12-03:training:17", "late")]


def test_a_tuesday_schedule_is_due_tuesday_and_not_late(smtp_server: SmtpServer) -> None:
    assert schedule_slot("0 9 * * tue", TZ) == (1, 9, 0)
    assert schedule_slot("30 7 * * 1", TZ) == (0, 7, 30)
    assert schedule_interval("every 15m", TZ) == timedelta(minutes=15)
    assert schedule_interval("0 * * * *", TZ) == timedelta(hours=1)
    store = MemoryStore()
    m = mailer(store, smtp_server)
    tuesday = ctx(slot=(1, 9, 0))
    store.ledger_put("weekly-digest", "2026-W48", "sent", utc(2026, 11, 24, 8))
    assert run_weekly_digest(store, m, sources(), tuesday, TEAM, NOW)["sent"] == 0  # Monday
    stats = run_weekly_digest(store, m, sources(), tuesday, TEAM, utc(2026, 12, 1, 8, 5))
    assert (stats["sent"], stats["late"]) == (1, 0)
    (msg,) = smtp_server.inbox.messages
    assert str(msg["Subject"]) == "DTC-Wochenüberblick KW 49/2026"
    assert "verspätet" not in (text_part(msg) or "")
    assert store.ledger_periods("weekly-digest")[-1] == ("2026-W49", "sent")


# ------------------------------------------------------------------ data before mail


def test_stale_data_waits_then_goes_out_with_a_warning(smtp_server: SmtpServer) -> None:
    store = MemoryStore()
    m = mailer(store, smtp_server)
    store.ledger_put("weekly-digest", "2026-W48", "sent", utc(2026, 11, 23, 6))
    stale = {"projects": utc(2026, 11, 30, 1), "trainings": NOW, "users": NOW}
    fresh_ctx = ctx(fresh_within=timedelta(minutes=45), send_stale_after=timedelta(hours=4))

    waiting = run_weekly_digest(store, m, sources(last_sync=stale), fresh_ctx, TEAM, NOW)
    assert waiting["sent"] == 0 and "projects" in waiting["waiting"][0]["reason"]
    assert store.ledger_periods("weekly-digest") == [("2026-W48", "sent")]
    assert smtp_server.inbox.messages == []

    later = NOW + timedelta(hours=4, minutes=1)
    stale.update(trainings=later, users=later)  # projects still fails to sync
    late = run_weekly_digest(store, m, sources(last_sync=stale), fresh_ctx, TEAM, later)
    assert (late["sent"], late["stale_lists"]) == (1, ["projects"])
    (msg,) = smtp_server.inbox.messages
    assert str(msg["Subject"]).startswith("[Daten nicht aktuell] [verspätet] ")
    assert "Diese Daten sind nicht aktuell" in (text_part(msg) or "")
    assert "Projekte" in (text_part(msg) or "").split("\n")[0]


def test_fresh_install_sends_nothing_before_data_and_no_catch_up(
    smtp_server: SmtpServer,
) -> None:
    store = MemoryStore()
    m = mailer(store, smtp_server)
    fresh_ctx = ctx(fresh_within=timedelta(minutes=45))
    never = {"projects": None, "trainings": None, "users": None}
    tuesday = utc(2026, 12, 1, 9)  # installed on Tuesday: Monday's due time has passed

    for job in (lambda: run_weekly_digest(store, m, sources(last_sync=never), fresh_ctx,
                                          TEAM, tuesday),
                lambda: run_personal_digests(store, m, sources(last_sync=never), fresh_ctx,
                                             "leads", tuesday),
                lambda: run_reminders(store, m, sources(last_sync=never), fresh_ctx,
                                      tuesday)):
        stats = job()
        assert stats["sent"] == 0 and "synchronised yet" in stats["waiting"][0]["reason"]
    assert store.ledger_get("weekly-digest#start", "first-data") is None
    # synced for the first time after Monday's due time: that week is not caught up
    synced = {"projects": tuesday, "trainings": tuesday, "users": tuesday}
    stats = run_weekly_digest(store, m, sources(last_sync=synced), fresh_ctx, TEAM,
                              tuesday + timedelta(minutes=5))
    assert (stats["sent"], stats["skipped"]) == (0, 0)
    assert store.ledger_periods("weekly-digest") == []
    assert smtp_server.inbox.messages == []
    # the next Monday's digest is the first one, on time, with data
    monday = utc(2026, 12, 7, 6, 1)
    synced = dict.fromkeys(synced, monday)
    stats = run_weekly_digest(store, m, sources(last_sync=synced), fresh_ctx, TEAM, monday)
    assert (stats["sent"], stats["late"]) == (1, 0)
    assert str(smtp_server.inbox.messages[0]["Subject"]) == "DTC-Wochenüberblick KW 50/2026"
    assert "5 Projekte" in (text_part(smtp_server.inbox.messages[0]) or "")


# ------------------------------------------------------------------ dry run


def test_dry_run_plans_and_previews_but_writes_nothing(smtp_server: SmtpServer,
                                                       tmp_path: Path) -> None:
    store = MemoryStore()
    preview = tmp_path / "preview"
    stats = run_personal_digests(store, None, sources(), ctx(), "leads", NOW, dry_run=True,
                                 preview_dir=preview)
    weekly = run_weekly_digest(store, None, sources(), ctx(), TEAM, NOW, dry_run=True,
                               preview_dir=preview)
    assert [p["recipient"] for p in stats["planned_mails"]] == [
        "anna.becker@mannheim.de", "ben.koch@mannheim.de"]
    assert weekly["planned_mails"][0] == {
        "job": "weekly-digest", "period": "2026-W49", "recipient": "dtc-team@mannheim.de",
        "subject": "DTC-Wochenüberblick KW 49/2026", "late": False, "status": "would_send",
        "preview": weekly["planned_mails"][0]["preview"]}
    assert len(list(preview.glob("*.eml"))) == 3
    assert store.outbox_pending() == [] and store.ledger_periods("weekly-digest") == []
    assert store.ledger_get("weekly-digest#start", "first-data") is None
    assert smtp_server.inbox.messages == []
