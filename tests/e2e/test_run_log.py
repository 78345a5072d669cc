"""The run history in SharePoint (issue 13): the list SyncProtokoll on the emulator equals
the state store's run history; a re-run writes only the run before it; rows age out after
keep_days (controlled clock) and never because the store forgot a run; a dry run writes
nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sp_sync.app.wiring import load_config, services
from sp_sync.domain.model import RunRecord
from sp_sync.emulator.faults import FaultRule
from sp_sync.engine.runner import RunOutcome, run_job

from .conftest import Tenant, settings_for
from .test_dry_run import writes_in
from .test_rollups import graph_items

LABELS = {"ok": "OK", "partial": "Teilweise", "failed": "Fehlgeschlagen"}


def rows(t: Tenant) -> dict[str, dict[str, Any]]:
    """The SyncProtokoll rows as Graph serves them, by SyncKey (logical column keys)."""
    return {r["sync_key"]: r for r in graph_items(t, "run_log")}


def wire_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def finished_runs(t: Tenant) -> list[RunRecord]:
    return [r for r in t.svc.store.runs(None, 10_000) if r.status != "running"]


def run_log(t: Tenant, **params: Any) -> RunOutcome:
    job = t.config.job("run-log")
    if params:
        job = replace(job, params=job.params.model_copy(update=params))
    return run_job(t.svc, job)


def assert_row_is_run(row: dict[str, Any], run: RunRecord) -> None:
    stats = run.stats
    assert row["job"] == run.job
    assert row["run_id"] == run.id
    assert wire_time(row["started"]) == run.started_at.replace(microsecond=0)
    assert run.finished_at is not None
    assert wire_time(row["finished"]) == run.finished_at.replace(microsecond=0)
    assert row["status_code"] == run.status
    assert row["status"] == LABELS[run.status]
    assert row["message"] == run.message
    assert (row["requests"] or 0) == stats.get("requests", 0)
    assert (row["writes"] or 0) == stats.get("writes", 0)
    assert (row["mails"] or 0) == stats.get("sent", 0)
    assert bool(row["dry_run"]) == bool(stats.get("dry_run"))


def some_history(t: Tenant) -> None:
    """Runs of every outcome: writes, mails, a dry run, a partial and a failed run."""
    for name in ("dtc-sync", "public-projects", "weekly-digest"):
        assert run_job(t.svc, t.config.job(name)).status == "ok", name
    assert run_job(t.svc, t.config.job("portfolio"), dry_run=True).status == "ok"
    # Microsoft 365 unavailable while a roll-up pulls: partial, retried next run.
    t.emu.faults.add(FaultRule(method="GET", path=r"/items/delta$", status=503, times=None))
    partial = run_job(t.svc, t.config.job("training-stats"))
    t.emu.faults.clear()
    assert partial.status == "partial", partial.message
    # A job whose list is gone in SharePoint: failed, with what the admin should do.
    t.emu.delete_list(t.config.mapping.get("attendance_rate").title)
    failed = run_job(t.svc, t.config.job("attendance-rate"))
    assert failed.status == "failed", failed.message


def test_sync_protokoll_equals_the_run_history_and_a_rerun_adds_only_the_run_before(
    tenant: Tenant,
) -> None:
    t = tenant
    some_history(t)
    listed = finished_runs(t)
    assert {r.status for r in listed} == {"ok", "partial", "failed"}

    first = run_log(t)

    assert first.status == "ok", (first.message, first.details)
    got = rows(t)
    assert set(got) == {f"run:{r.id}" for r in listed}  # its own run was still going
    for run in listed:
        assert_row_is_run(got[f"run:{run.id}"], run)
    digest = got[f"run:{next(r.id for r in listed if r.job == 'weekly-digest')}"]
    assert digest["mails"] == 1
    public = got[f"run:{next(r.id for r in listed if r.job == 'public-projects')}"]
    assert public["writes"] == 16 and not public["dry_run"]
    dry = got[f"run:{next(r.id for r in listed if r.job == 'portfolio')}"]
    assert dry["dry_run"] and dry["writes"] == 0
    assert first.stats["written"] == len(listed) == first.stats["runs_listed"]

    # A re-run writes one row: the run-log run before it, now finished. Nothing else moves.
    before = {i["fields"]["SyncKey"]: i["eTag"] for i in t.emu.items("SyncProtokoll")}
    t.emu.clear_requests()
    second = run_log(t)
    assert second.status == "ok"
    assert (second.stats["planned_creates"], second.stats["planned_updates"],
            second.stats["planned_deletes"], second.stats["written"]) == (1, 0, 0, 1)
    runs = {r.id: r for r in finished_runs(t)}
    first_id = max(r.id for r in runs.values() if r.job == "run-log" and r.id != max(runs))
    after = {i["fields"]["SyncKey"]: i["eTag"] for i in t.emu.items("SyncProtokoll")}
    assert set(after) - set(before) == {f"run:{first_id}"}
    assert {k: after[k] for k in before} == before  # no other row was written
    assert_row_is_run(rows(t)[f"run:{first_id}"], runs[first_id])
    sent = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in writes_in(t.emu.requests())]
    assert sorted(sent) == [("POST", "$batch"), ("POST", "items")]  # the one create, batched


def test_rows_age_out_after_keep_days_but_not_when_the_store_forgets_runs(
    tenant: Tenant, tmp_path: Path,
) -> None:
    t = tenant
    for name in ("dtc-sync", "public-projects"):
        assert run_job(t.svc, t.config.job(name)).status == "ok"
    start = t.clock.now().replace(microsecond=0)
    first_log = run_log(t, keep_days=7)
    assert first_log.status == "ok"
    first_log_id = t.svc.store.runs("run-log", 1)[0].id
    old = set(rows(t))
    assert len(old) == 2

    # Six days later: still kept; the new runs are added.
    t.clock.advance(timedelta(days=6))
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"
    out = run_log(t, keep_days=7)
    assert out.stats["planned_deletes"] == 0 and set(rows(t)) > old

    # A new state store (moved to PostgreSQL, restored from an old backup …) knows none of
    # these runs: the rows stay as they are, nothing is written or deleted.
    fresh = load_config(settings_for(t.emu, tmp_path / "other"))
    with services(fresh, clock=t.clock) as svc:
        before = {i["fields"]["SyncKey"]: i["eTag"] for i in t.emu.items("SyncProtokoll")}
        again = run_job(svc, replace(fresh.job("run-log"), params=fresh.job(
            "run-log").params.model_copy(update={"keep_days": 7})))
        assert again.status == "ok", again.message
        assert (again.stats["written"], again.stats["planned_deletes"]) == (0, 0)
        assert again.stats["rows_kept_without_run"] == len(before)
        assert {i["fields"]["SyncKey"]: i["eTag"] for i in t.emu.items("SyncProtokoll")} \
            == before

    # Two more days: the first day's runs began more than 7 days ago and are deleted —
    # all of the scope's older rows at once, which the guard allows for retention.
    day_one = {k for k, r in rows(t).items() if wire_time(r["started"]) == start}
    assert day_one == old | {f"run:{first_log_id}"}  # the run log's own first run came later
    t.clock.advance(timedelta(days=2))
    out = run_log(t, keep_days=7)
    assert out.status == "ok", out.message
    now_rows = rows(t)
    assert not day_one & set(now_rows)
    assert out.stats["planned_deletes"] == len(day_one) == 3
    cutoff = t.clock.now() - timedelta(days=7)
    for run in finished_runs(t):
        if run.started_at >= cutoff and run.id != max(r.id for r in finished_runs(t)):
            assert f"run:{run.id}" in now_rows
    assert all(wire_time(r["started"]) >= cutoff for r in now_rows.values())  # type: ignore[operator]


def test_a_dry_run_of_the_run_log_writes_nothing_and_shows_in_the_next_rows(
    tenant: Tenant,
) -> None:
    t = tenant
    assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"
    assert run_log(t).status == "ok"
    assert run_job(t.svc, t.config.job("public-projects")).status == "ok"
    mirrored = sorted((i.id, i.etag) for i in t.svc.store.items("run_log"))
    before = rows(t)

    t.emu.clear_requests()
    dry = run_job(t.svc, t.config.job("run-log"), dry_run=True)

    assert dry.status == "ok" and dry.dry_run
    assert dry.stats["planned_creates"] == 2 and dry.stats["written"] == 0  # run-log, public
    assert dry.plan_text and "run:" in dry.plan_text
    assert writes_in(t.emu.requests()) == []
    assert rows(t) == before
    assert sorted((i.id, i.etag) for i in t.svc.store.items("run_log")) == mirrored

    out = run_log(t)
    assert out.stats["written"] == 3  # what the dry run showed, and the dry run itself
    dry_row = next(r for r in rows(t).values() if r["dry_run"])
    assert dry_row["job"] == "run-log" and dry_row["writes"] == 0
