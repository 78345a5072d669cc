"""Status figures from a store: failing since, last success, cursor age; DSN redaction."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from sp_sync.adapters.store import MemoryStore
from sp_sync.app.cli import app
from sp_sync.app.status import age, job_status
from sp_sync.config.settings import redact_url

TZ = ZoneInfo("Europe/Berlin")
PG_URL = os.environ.get("SP_SYNC_TEST_POSTGRES_URL")  # read before `env` clears SP_SYNC_*
T0 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


@dataclass
class _Job:
    name: str
    kind: str = "sync"
    enabled: bool = True


def _run(store: MemoryStore, job: str, minutes: int, status: str) -> None:
    run_id = store.start_run(job, T0 + timedelta(minutes=minutes))
    store.finish_run(run_id, status, T0 + timedelta(minutes=minutes, seconds=30), {}, status)


def test_failing_since_is_the_first_failure_after_the_last_success() -> None:
    store = MemoryStore()
    _run(store, "dtc-sync", 0, "ok")
    _run(store, "dtc-sync", 10, "ok")
    _run(store, "dtc-sync", 20, "failed")
    _run(store, "dtc-sync", 30, "partial")
    _run(store, "dtc-sync", 40, "failed")
    _run(store, "healthy", 5, "failed")
    _run(store, "healthy", 15, "ok")
    rows = {r["job"]: r for r in job_status(
        store, [_Job("dtc-sync"), _Job("healthy"), _Job("never")], {}, TZ)}
    sync = rows["dtc-sync"]
    assert sync["failing_since"] == "2026-12-07T07:20:00+01:00"
    assert sync["last_success"] == "2026-12-07T07:10:30+01:00"
    assert sync["last_run"] == "2026-12-07T07:40:00+01:00" and sync["last_status"] == "failed"
    assert rows["healthy"]["failing_since"] is None
    assert rows["never"]["last_run"] is None and rows["never"]["last_success"] is None


def test_ages_read_like_kubectl() -> None:
    assert age(T0, T0 + timedelta(seconds=42)) == "42s"
    assert age(T0, T0 + timedelta(minutes=5, seconds=3)) == "5m3s"
    assert age(T0, T0 + timedelta(hours=3, minutes=7)) == "3h7m"
    assert age(T0, T0 + timedelta(days=2, hours=1)) == "2d1h"


def test_dsn_passwords_are_redacted() -> None:
    assert redact_url("postgresql://user:pw@host/db") == "postgresql://user:***@host/db"
    assert redact_url("postgresql+psycopg://u:p%40ss@db:5433/x?schema=s") == (
        "postgresql+psycopg://u:***@db:5433/x?schema=s")
    assert redact_url("sqlite:////var/lib/sp-sync/sp-sync.db") == (
        "sqlite:////var/lib/sp-sync/sp-sync.db")


@pytest.mark.skipif(not PG_URL, reason="SP_SYNC_TEST_POSTGRES_URL is not set")
def test_check_with_a_real_postgresql_store(env: dict[str, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    url = str(PG_URL)
    sep = "&" if "?" in url else "?"
    monkeypatch.setenv("SP_SYNC_STATE_URL", f"{url}{sep}schema=ops_check")
    result = CliRunner().invoke(app, ["check"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "reachable, schema up to date, writable" in result.output


def test_readyz_watches_the_lists_enabled_jobs_read() -> None:
    from sp_sync.app.daemon import watched_lists
    from sp_sync.app.wiring import load_config
    from sp_sync.config.settings import load_settings

    from .conftest import REPO

    config = load_config(load_settings(lists_file=REPO / "config" / "lists.toml",
                                       jobs_dir=REPO / "jobs"))
    watched = watched_lists(config)
    sources = [s.key for s in config.mapping.lists if s.role == "source"]
    assert set(watched) == set(sources)  # dtc-sync pulls every source list
    assert "public_projects" not in watched  # a target is written, not read


def test_tables_never_cut_a_name_when_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from sp_sync.app import status as views

    long_job = "coordinator-digests-for-every-department-of-the-city-administration"
    long_time = "2026-12-07T07:00:00+01:00"
    rows = [{"id": 1, "job": long_job, "started_at": long_time, "finished_at": long_time,
             "duration_s": 1.5, "status": "partial", "stats": {"requests": 3},
             "message": "time budget of 900 s used up; the run continues next time"}]
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    views.out_console().print(views.runs_table(rows))
    text = out.getvalue()
    assert long_job in text and long_time in text  # whole, on one line
    assert "…" not in text


def test_status_counts_open_findings_by_severity_from_the_mirrored_befunde_list() -> None:
    from sp_sync.app.status import open_findings
    from sp_sync.config.mapping import load_mapping
    from sp_sync.domain.model import MirrorItem

    from .conftest import REPO

    mapping = load_mapping(REPO / "config" / "lists.toml")
    cols = {c.key: c.field_name for c in mapping.get("findings").columns}
    store = MemoryStore()
    rows = [("Offen", "Fehler"), ("Offen", "Fehler"), ("Offen", "Warnung"),
            ("Behoben", "Fehler"), ("Akzeptiert", "Hinweis")]
    with store.list_sync("findings") as tx:
        tx.upsert([MirrorItem("findings", str(i), None,
                              {cols["status"]: st, cols["severity"]: sev}, "h")
                   for i, (st, sev) in enumerate(rows, 1)])
        tx.set_cursor("c")
    assert open_findings(store, mapping) == {"Fehler": 2, "Warnung": 1}
