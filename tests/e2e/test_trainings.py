"""Trainings on the emulator (issue 12): the waiting list, cancellations, attendance requests.

Asserted by end state: the registrations' status in Anmeldungen and the mails (with their
calendar files) in the emulator's mailbox; re-runs write and send nothing.
"""

from __future__ import annotations

import email
from datetime import date, datetime, time, timedelta
from email import policy
from typing import Any

from sp_sync.engine.context import RunContext
from sp_sync.engine.pipeline import pull_for
from sp_sync.engine.records import load_records
from sp_sync.engine.runner import RunOutcome, run_job
from sp_sync.kinds.trainings import _Promote

from .conftest import TZ, Tenant

KI, BARRIEREFREI, OVERBOOKED, CANCELLED = "5", "6", "3", "8"  # training ids in the seed
PERSON = "sophie.richter@mannheim.de"


def _run(t: Tenant, name: str = "trainings", dry_run: bool = False) -> RunOutcome:
    outcome = run_job(t.svc, t.config.job(name), dry_run=dry_run)
    assert outcome.status == "ok", (outcome.message, outcome.details)
    return outcome


def _f(t: Tenant, key: str, col: str) -> str:
    return t.config.mapping.get(key).column(col).field_name


def _regs(t: Tenant, training: str) -> list[dict[str, Any]]:
    return [i for i in t.emu.items("Anmeldungen")
            if str(i["fields"].get(_f(t, "registrations", "training"))) == training]


def _status(t: Tenant, training: str, status: str) -> list[dict[str, Any]]:
    return [i for i in _regs(t, training)
            if i["fields"].get(_f(t, "registrations", "status")) == status]


def _writes(t: Tenant) -> list[dict[str, Any]]:
    return [r for r in t.emu.requests() if r["method"] in ("POST", "PATCH", "DELETE")
            and "/_emulator" not in r["path"] and not r["path"].endswith("/sendMail")]


def _calendar(mail: dict[str, Any]) -> str:
    msg = email.message_from_string(mail["raw"], policy=policy.default)
    parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    return str(parts[0].get_content())


def _waiting_order(t: Tenant, training: str) -> list[str]:
    at = _f(t, "registrations", "registered_at")
    return [i["id"] for i in sorted(_status(t, training, "Warteliste"),
                                    key=lambda i: (i["fields"][at], int(i["id"])))]


def test_a_freed_seat_promotes_the_earliest_waiting_once_and_never_overbooks(
    tenant: Tenant,
) -> None:
    t = tenant
    status = _f(t, "registrations", "status")
    seats = _f(t, "trainings", "max_participants")
    first = _run(t)
    assert first.stats.get("promoted", 0) == 0  # full trainings: nobody moves up
    assert len(_status(t, OVERBOOKED, "Angemeldet")) == 14  # overbooked: no promotion

    order = _waiting_order(t, KI)
    assert len(order) == 4
    leaving = _status(t, KI, "Angemeldet")[0]
    t.emu.edit("Anmeldungen", leaving["id"], {status: "Storniert"}, PERSON)
    mails = len(t.emu.mail())
    _run(t)
    assert [i["id"] for i in _status(t, KI, "Angemeldet")].count(order[0]) == 1
    assert _waiting_order(t, KI) == order[1:]
    assert len(_status(t, KI, "Angemeldet")) == 16  # the seats, never more
    new = t.emu.mail()[mails:]
    assert len(new) == 1 and new[0]["subject"].startswith("Platz frei")
    ics = _calendar(new[0])
    assert "METHOD:REQUEST" in ics and f"UID:trainings-{KI}@mannheim.de" in ics

    # the seats are raised by two: the next two move up; a third run does nothing at all
    t.emu.edit("Schulungen", KI, {seats: 18}, PERSON)
    _run(t)
    assert _waiting_order(t, KI) == order[3:]
    assert len(_status(t, KI, "Angemeldet")) == 18
    assert len(t.emu.mail()) == mails + 3
    t.emu.clear_requests()
    again = _run(t)
    assert not _writes(t) and len(t.emu.mail()) == mails + 3
    assert again.stats.get("written", 0) == 0


def test_a_persons_change_meanwhile_wins(tenant: Tenant) -> None:
    t = tenant
    status = _f(t, "registrations", "status")
    title = _f(t, "registrations", "title")
    ctx = RunContext(job="trainings", services=t.svc, now=t.clock.now(), store=t.svc.store)
    pull_for(ctx, ("trainings", "registrations", "users"))  # the mirror as the job reads it
    regs = {r.id: r for r in load_records(t.svc.store, t.config.mapping, "registrations", TZ)}
    taken, renamed = _waiting_order(t, BARRIEREFREI)
    # after the read, one person withdraws from the waiting list, another fixes a typo
    t.emu.edit("Anmeldungen", taken, {status: "Storniert"}, PERSON)
    t.emu.edit("Anmeldungen", renamed, {title: "Tippfehler korrigiert"}, PERSON)

    assert _Promote(ctx, regs[taken]).apply() is False  # 412 → re-read: not waiting any more
    assert _Promote(ctx, regs[renamed]).apply() is True  # 412 → re-read: still waiting
    by_id = {i["id"]: i["fields"] for i in _regs(t, BARRIEREFREI)}
    assert by_id[taken][status] == "Storniert"
    assert by_id[renamed][status] == "Angemeldet"
    assert by_id[renamed][title] == "Tippfehler korrigiert"
    assert ctx.report.figures["written"] == 1


def test_cancelled_training_cancels_the_invitation_of_everyone_registered_once(
    tenant: Tenant,
) -> None:
    t = tenant
    mails = len(t.emu.mail())
    _run(t)
    cancels = [m for m in t.emu.mail()[mails:] if m["subject"].startswith("Abgesagt")]
    registered = _status(t, CANCELLED, "Angemeldet") + _status(t, CANCELLED, "Warteliste")
    assert len(cancels) == len(registered) == 1
    ics = _calendar(cancels[0])
    assert "METHOD:CANCEL" in ics and "STATUS:CANCELLED" in ics
    assert f"UID:trainings-{CANCELLED}@mannheim.de" in ics  # the invitation's UID

    # a second training is called off: its registered and waiting people hear once each
    t.emu.edit("Schulungen", BARRIEREFREI, {_f(t, "trainings", "status"): "Abgesagt"}, PERSON)
    _run(t)
    _run(t)
    second = [m for m in t.emu.mail()[mails:] if m["subject"].startswith("Abgesagt")][1:]
    people = {str(i["fields"].get(_f(t, "registrations", "participant")))
              for i in _regs(t, BARRIEREFREI)
              if i["fields"].get(_f(t, "registrations", "status"))
              in ("Angemeldet", "Warteliste")}
    assert len(second) == len(people) == 16
    # no promotions for a cancelled training
    assert len(_status(t, BARRIEREFREI, "Angemeldet")) == 14


def test_trainer_is_asked_once_to_record_attendance_the_day_after(tenant: Tenant) -> None:
    t = tenant
    start = datetime.combine(date(2026, 11, 30) + timedelta(days=2), time(9), tzinfo=TZ)
    trainer_id = next(i for i in t.emu.items("Schulungen") if i["id"] == KI)["fields"][
        _f(t, "trainings", "trainer")]
    trainer = next(u["email"] for u in t.seed["users"] if str(u["id"]) == str(trainer_id))
    mails = len(t.emu.mail())
    t.clock.set(start + timedelta(hours=6))  # the same day: not yet
    _run(t)
    assert not [m for m in t.emu.mail()[mails:] if "Teilnahme erfassen" in m["subject"]]
    for hours in (24, 30, 48):
        t.clock.set(start + timedelta(hours=hours))
        _run(t)
    asks = [m for m in t.emu.mail()[mails:] if "Teilnahme erfassen" in m["subject"]
            and "KI-Werkzeuge" in m["subject"]]
    assert len(asks) == 1  # once, though three runs saw it
    assert asks[0]["recipients"] == [trainer]
    assert f"FilterValue1={KI}" in asks[0]["text"] and "Anmeldungen" in asks[0]["text"]


def test_dry_run_lists_promotions_and_mails_and_changes_nothing(tenant: Tenant) -> None:
    t = tenant
    leaving = _status(t, KI, "Angemeldet")[0]
    t.emu.edit("Anmeldungen", leaving["id"], {_f(t, "registrations", "status"): "Storniert"},
               PERSON)
    mails = len(t.emu.mail())
    t.emu.clear_requests()
    dry = _run(t, dry_run=True)
    assert not _writes(t) and len(t.emu.mail()) == mails
    plan = dry.plan_text or ""
    assert f"promote registrations #{_waiting_order(t, KI)[0]}" in plan
    assert "mail promoted:" in plan and "mail cancelled:" in plan
    assert len(_status(t, KI, "Warteliste")) == 4


def test_a_promotion_whose_mail_a_crash_lost_is_mailed_on_the_next_run(tenant: Tenant) -> None:
    t = tenant
    leaving = _status(t, KI, "Angemeldet")[0]
    t.emu.edit("Anmeldungen", leaving["id"], {_f(t, "registrations", "status"): "Storniert"},
               PERSON)
    ctx = RunContext(job="trainings", services=t.svc, now=t.clock.now(), store=t.svc.store)
    pull_for(ctx, ("trainings", "registrations", "users"))
    regs = {r.id: r for r in load_records(t.svc.store, t.config.mapping, "registrations", TZ)}
    first = _waiting_order(t, KI)[0]
    # what the job does up to the write; then the process dies before the mail
    t.svc.store.ledger_put("trainings", f"promoted:{first}", "promoting", t.clock.now())
    assert _Promote(ctx, regs[first]).apply() is True
    mails = len(t.emu.mail())

    _run(t)
    _run(t)
    new = [m for m in t.emu.mail()[mails:] if m["subject"].startswith("Platz frei")]
    assert len(new) == 1  # the lost mail, once
    assert len(_status(t, KI, "Angemeldet")) == 16  # and no second promotion
    assert t.svc.store.ledger_get("trainings", f"promoted:{first}")["status"] == "mailed"
