"""F20: a run whose process died counts as failed in the digest's health line, with the
message the store gave it, on a real SQLite file reopened after the "death"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sp_sync.adapters.store.sql import SqlStore
from sp_sync.domain.digest import HealthInput, build_health

STARTED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_an_interrupted_run_counts_as_failed_in_the_health_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    dying = SqlStore(url)
    ok = dying.start_run("dtc-sync", STARTED)
    dying.finish_run(ok, "ok", STARTED + timedelta(minutes=1), {})
    dying.start_run("weekly-digest", STARTED + timedelta(minutes=2))  # never finished
    dying.close()  # the process "died"; the next start finds the run

    with SqlStore(url) as store:
        runs = store.runs()
        health = build_health(HealthInput(last_sync={}, runs=runs), STARTED - timedelta(days=1))
    assert [(r.job, r.status) for r in health.failed_runs] == [("weekly-digest", "interrupted")]
    assert not health.ok
    message = health.failed_runs[0].message or ""
    assert message.startswith("interrupted:") and "next run" in message
