"""The daemon: one APScheduler job per job file, and metrics that count real runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from prometheus_client import generate_latest

from sp_sync.app.observability import Metrics
from sp_sync.app.scheduling import MISFIRE_GRACE_S, build_scheduler, next_runs
from sp_sync.config.jobs import load_jobs
from sp_sync.config.mapping import load_mapping

REPO = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Europe/Berlin")


def _jobs() -> list:  # type: ignore[type-arg]
    return load_jobs(REPO / "jobs", load_mapping(REPO / "config" / "lists.toml"))


def test_scheduler_has_one_job_per_file_with_safe_defaults() -> None:
    jobs = _jobs()
    fired: list[str] = []
    scheduler = build_scheduler(jobs, TZ, lambda job: fired.append(job.name), blocking=False)
    scheduler.start(paused=True)
    try:
        scheduled = {j.id: j for j in scheduler.get_jobs()}
        assert set(scheduled) == {j.name for j in jobs if j.enabled}
        weekly = scheduled["weekly-digest"]
        assert weekly.coalesce is True and weekly.max_instances == 1
        assert weekly.misfire_grace_time == MISFIRE_GRACE_S
        assert str(weekly.trigger.timezone) == "Europe/Berlin"
    finally:
        scheduler.shutdown(wait=False)


def test_next_weekly_digest_is_monday_seven_local_across_dst() -> None:
    jobs = [j for j in _jobs() if j.name == "weekly-digest"]
    summer = next_runs(jobs, TZ, datetime(2026, 10, 20, 12, tzinfo=UTC))["weekly-digest"]
    winter = next_runs(jobs, TZ, datetime(2026, 10, 27, 12, tzinfo=UTC))["weekly-digest"]
    assert summer is not None and winter is not None
    assert summer.isoformat() == "2026-10-26T07:00:00+01:00"  # first Monday after the switch
    assert winter.isoformat() == "2026-11-02T07:00:00+01:00"
    spring = next_runs(jobs, TZ, datetime(2026, 3, 24, 12, tzinfo=UTC))["weekly-digest"]
    assert spring is not None and spring.isoformat() == "2026-03-30T07:00:00+02:00"


def test_metrics_count_runs_requests_and_last_success() -> None:
    metrics = Metrics()
    metrics.record("dtc-sync", "ok", {"requests": 9, "resource_units": 9, "written": 0})
    metrics.record("dtc-sync", "partial", {"requests": 3, "resource_units": 6})
    text = generate_latest(metrics.registry).decode()
    assert 'sp_sync_job_runs_total{job="dtc-sync",status="ok"} 1.0' in text
    assert 'sp_sync_job_runs_total{job="dtc-sync",status="partial"} 1.0' in text
    assert 'sp_sync_graph_requests_total{job="dtc-sync"} 12.0' in text
    assert 'sp_sync_job_last_success_timestamp_seconds{job="dtc-sync"}' in text
