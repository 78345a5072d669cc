"""Issue 9 end to end on the emulator: a fresh install sends no empty digest, a dry run
sends and records nothing, a deleted person gets nothing, an operator resend is recorded."""

from __future__ import annotations

from datetime import timedelta
from email.policy import SMTP
from pathlib import Path

import pytest

from sp_sync.adapters.store import open_store
from sp_sync.app.demo import people_edit_the_lists
from sp_sync.app.digest_ops import resend
from sp_sync.app.mail_wiring import DigestJobs, preview_digest
from sp_sync.engine.runner import run_job
from sp_sync.errors import ConfigError
from sp_sync.render.mail import Rendered, build_message

from .conftest import Tenant, open_tenant

MAIL_JOBS = ("weekly-digest", "lead-digests", "coordinator-digests", "reminders")


def test_fresh_install_syncing_after_the_due_time_sends_one_digest_with_data(
    tenant: Tenant,
) -> None:
    t = tenant  # Monday 07:00:30, fresh state store, nothing synced yet
    first = run_job(t.svc, t.config.job("weekly-digest"))
    assert first.status == "ok" and first.stats["sent"] == 0
    assert "synchronised yet" in first.stats["waiting"][0]["reason"]

    t.clock.advance(timedelta(hours=4))  # the first sync happens after the due time
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"
    later = run_job(t.svc, t.config.job("weekly-digest"))
    assert (later.stats["sent"], later.stats["skipped"]) == (0, 0)
    assert t.emu.mail() == []  # no empty, no "[verspätet]" digest
    assert t.svc.store.ledger_periods("weekly-digest") == []

    t.clock.advance(timedelta(days=7) - timedelta(hours=4))  # next Monday 07:00:30
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"
    monday = run_job(t.svc, t.config.job("weekly-digest"))
    assert (monday.stats["sent"], monday.stats["late"]) == (1, 0)
    (mail,) = t.emu.mail()
    assert mail["subject"] == "DTC-Wochenüberblick KW 50/2026"
    assert "40 Projekte" in mail["text"]


def a_week_of_edits(t: Tenant) -> None:
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"
    people_edit_the_lists(t.emu, t.config.mapping, t.seed)
    # personal digests are scheduled 07:30 (jobs/lead-digests.toml): due from then on
    t.clock.advance(timedelta(minutes=30))
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"


def test_dry_run_of_every_mail_job_sends_and_records_nothing(tenant: Tenant) -> None:
    t = tenant
    a_week_of_edits(t)
    jobs = t.svc.mail_jobs
    assert jobs is not None
    plans = {}
    for name in MAIL_JOBS:
        job = t.config.job(name)
        stats = jobs.run(name, job.params, t.clock.now(), dry_run=True)
        plans[name] = stats["planned_mails"]
        assert stats["dry_run"] is True and Path(stats["preview_dir"]).parent.name == "preview"
    assert t.emu.mail() == []
    store = t.svc.store
    for name in MAIL_JOBS:
        assert store.ledger_periods(name) == []
        assert store.ledger_get(f"{name}#start", "first-data") is None
        for p in plans[name]:
            assert store.outbox_get(name, p["period"], p["recipient"]) is None
            assert Path(p["preview"]).is_file()
            assert p["status"] == "would_send"
    assert store.outbox_pending() == []
    assert [(p["recipient"], p["late"]) for p in plans["weekly-digest"]] == [
        ("dtc@mannheim.de", False)]
    assert plans["lead-digests"]

    # the real run sends exactly what was planned
    for name in ("weekly-digest", "lead-digests"):
        run_job(t.svc, t.config.job(name))
    sent = sorted((m["subject"], tuple(m["recipients"])) for m in t.emu.mail())
    planned = sorted((p["subject"], (p["recipient"],))
                     for name in ("weekly-digest", "lead-digests") for p in plans[name])
    assert sent == planned


def test_a_deleted_person_gets_no_personal_digest(tenant: Tenant) -> None:
    t = tenant
    a_week_of_edits(t)
    job = t.config.job("lead-digests")
    assert t.svc.mail_jobs is not None
    plan = t.svc.mail_jobs.run(job.name, job.params, t.clock.now(), dry_run=True)
    gone = plan["planned_mails"][0]["recipient"]
    user = next(u for u in t.seed["users"] if u["email"].lower() == gone)
    t.emu.delete_item("User Information List", user["id"], None)
    run_job(t.svc, t.config.job("dtc-sync"))

    outcome = run_job(t.svc, job)

    recipients = {r for m in t.emu.mail() for r in m["recipients"]}
    assert gone not in recipients
    assert outcome.stats["sent"] == len(plan["planned_mails"]) - 1
    assert outcome.stats["recipients_skipped"] == 1
    assert "not a current user" in outcome.stats["skipped_recipients"][0]["reason"]


def test_operator_resends_a_week_recorded_in_the_ledger(tenant: Tenant) -> None:
    t = tenant
    run_job(t.svc, t.config.job("dtc-sync"))
    run_job(t.svc, t.config.job("weekly-digest"))
    (original,) = t.emu.mail()
    jobs = t.svc.mail_jobs
    assert isinstance(jobs, DigestJobs)
    domains = t.settings.recipient_domains
    assert domains == ("mannheim.de",)

    again = resend(t.svc.store, jobs.mailer, "weekly-digest", "2026-W49", None, domains,
                   t.clock.now(), same_for_all=True)
    t.clock.advance(timedelta(minutes=1))
    copy = resend(t.svc.store, jobs.mailer, "weekly-digest", "2026-W49",
                  "Anna.Braun@mannheim.de", domains, t.clock.now(), same_for_all=True)
    with pytest.raises(ConfigError, match="not in the allowed"):
        resend(t.svc.store, jobs.mailer, "weekly-digest", "2026-W49", "eve@evil.example",
               domains, t.clock.now(), same_for_all=True)
    with pytest.raises(ConfigError, match="no mail"):
        resend(t.svc.store, jobs.mailer, "weekly-digest", "2026-W40", None, domains,
               t.clock.now())

    assert again == [{"recipient": "dtc@mannheim.de", "status": "sent"}]
    assert copy == [{"recipient": "anna.braun@mannheim.de", "status": "sent"}]
    mails = t.emu.mail()
    assert [m["recipients"] for m in mails] == [
        ["dtc@mannheim.de"], ["dtc@mannheim.de"], ["anna.braun@mannheim.de"]]
    assert {m["subject"] for m in mails} == {original["subject"]}
    assert [s for _, s in t.svc.store.ledger_periods("weekly-digest#resend")] == ["sent", "sent"]
    assert t.svc.store.ledger_periods("weekly-digest") == [("2026-W49", "sent")]


def test_preview_renders_every_mail_job_and_records_nothing(tmp_path: Path) -> None:
    with open_tenant(tmp_path) as t:
        a_week_of_edits(t)
        config = t.config
        state_url = t.settings.state_url
    # the daemon is stopped: preview reads the state store on its own, without Graph
    folders = {name: preview_digest(config, name, "2026-W49") for name in MAIL_JOBS}

    assert folders["weekly-digest"].name == "preview-weekly-2026-W49.html"
    for name in ("lead-digests", "coordinator-digests"):
        assert folders[name].name == f"{name}-2026-W49"
        emls = list(folders[name].glob("*.eml"))
        assert emls and len(emls) == len(list(folders[name].glob("*.html")))
    store = open_store(state_url)
    try:
        for name in MAIL_JOBS:
            assert store.ledger_periods(name) == []
        assert store.outbox_pending() == []
    finally:
        store.close()


def test_a_digest_waiting_for_fresh_data_goes_out_after_the_next_sync(tenant: Tenant) -> None:
    """F15 with data before mail: down across Monday 07:00, the digest fires at start on
    week-old data, waits, and goes out (late) right after the first sync — not a week later."""
    t = tenant
    run_job(t.svc, t.config.job("dtc-sync"))
    assert run_job(t.svc, t.config.job("weekly-digest")).stats["sent"] == 1  # W49

    t.clock.advance(timedelta(days=7, hours=2))  # next Monday 09:00:30; down since last week
    waiting = run_job(t.svc, t.config.job("weekly-digest"))
    assert waiting.stats["sent"] == 0 and "projects" in waiting.stats["waiting"][0]["reason"]
    assert len(t.emu.mail()) == 1

    run_job(t.svc, t.config.job("dtc-sync"))  # the daemon's first pull after the restart

    mails = t.emu.mail()
    assert [m["subject"] for m in mails[1:]] == ["[verspätet] DTC-Wochenüberblick KW 50/2026"]
    (rerun, *_) = t.svc.store.runs("weekly-digest", limit=1)
    assert (rerun.stats["sent"], rerun.stats["late"]) == (1, 1)
    assert t.svc.store.ledger_periods("weekly-digest") == [("2026-W49", "sent"),
                                                           ("2026-W50", "late")]
    run_job(t.svc, t.config.job("dtc-sync"))  # nothing waits any more: no further mail
    assert len(t.emu.mail()) == 2


def test_resends_from_the_pending_queue_are_counted(tenant: Tenant) -> None:
    t = tenant
    run_job(t.svc, t.config.job("dtc-sync"))
    # what a crash left behind: a rendered mail of last week, never sent
    left = build_message(Rendered("Liegengeblieben", "Text", "<p>Text</p>"), "dtc@mannheim.de",
                         "dtc@mannheim.de", "weekly-digest/2026-W48/dtc@mannheim.de")
    t.svc.store.outbox_add("weekly-digest", "2026-W48", "dtc@mannheim.de",
                           str(left["Message-ID"]), left.as_bytes(policy=SMTP), t.clock.now())

    outcome = run_job(t.svc, t.config.job("weekly-digest"))

    assert (outcome.stats["resent"], outcome.stats["sent"]) == (1, 1)
    assert sorted(m["subject"] for m in t.emu.mail()) == [
        "DTC-Wochenüberblick KW 49/2026", "Liegengeblieben"]
