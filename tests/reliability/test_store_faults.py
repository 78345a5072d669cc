"""F12: the state store fails under a pull — SQLite disk full, a damaged file, PostgreSQL
connections killed — rollback, cursor unchanged, a message that says what to do, and the
next run converges."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from sp_sync.adapters.graph import source as graph_source
from sp_sync.adapters.store.sql import SqlStore, normalise_url
from sp_sync.config.mapping import load_mapping
from sp_sync.domain.model import MirrorItem
from sp_sync.domain.normalize import content_hash
from sp_sync.emulator import Emulator
from sp_sync.engine.pull import pull_list
from sp_sync.errors import StoreError
from tests.helpers.tenant import provisioned_demo_seed

from .conftest import POSTGRES_URL, REPO, SP_SYNC, env_for, sp_sync
from .site import open_site

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_source, "DELTA_PAGE_SIZE", 50)


def _limit_pages(store: SqlStore, pages: int | None) -> None:
    """Make the SQLite file 'full' at ``pages`` pages (SQLite's own disk-full error)."""
    store.engine.dispose()  # new connections pick the limit up

    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        if pages is not None:
            dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    event.listen(store.engine, "connect", _on_connect)


def test_disk_full_during_the_pull_commit_rolls_back_and_the_next_run_converges(
    tmp_path: Path,
) -> None:
    with open_site(tmp_path, projects=120) as site:
        spec = site.mapping.get("projects")
        store = site.store
        assert isinstance(store, SqlStore)
        with store.engine.connect() as conn:
            used = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        _limit_pages(store, int(used) + 1)
        with pytest.raises(StoreError, match="disk of the state store is full") as full:
            pull_list(site.lists, store, spec, site.ref(spec), NOW)
        assert "free space" in str(full.value)
        _limit_pages(store, 1_000_000)
        assert store.cursor("projects") is None and store.count("projects") == 0
        pull_list(site.lists, store, spec, site.ref(spec), NOW)
        assert site.mirror_equals_list("projects")


def test_a_damaged_state_file_is_named_with_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    SqlStore(f"sqlite:///{db}").close()
    with db.open("r+b") as fh:  # overwrite the header: no longer an SQLite database
        fh.write(os.urandom(100))
    with pytest.raises(StoreError, match="damaged") as damaged:
        SqlStore(f"sqlite:///{db}")
    assert "backup" in str(damaged.value)


@pytest.mark.postgres
def test_postgres_connection_killed_inside_a_list_transaction(tmp_path: Path) -> None:
    """The backend of an open list transaction is terminated (a failover, an admin, a
    network cut): StoreError naming the dropped connection, nothing committed, and the
    same store object works again afterwards (the pool reconnects)."""
    if not POSTGRES_URL:
        pytest.skip("SP_SYNC_TEST_POSTGRES_URL is not set")
    schema = f"r_kill_{os.getpid()}"
    store = SqlStore(POSTGRES_URL, schema=schema)
    admin = sa.create_engine(normalise_url(POSTGRES_URL))
    item = MirrorItem(list_key="projects", id="1", etag='"1"', fields={"Title": "x"},
                      content_hash="h")
    try:
        with pytest.raises(StoreError, match="connection to PostgreSQL dropped"), \
                store.list_sync("projects") as tx:
            tx.upsert([item])
            pid = tx._conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            with admin.begin() as conn:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            tx.set_cursor("c1")
            tx.upsert([item])
        assert store.count("projects") == 0 and store.cursor("projects") is None
        with store.list_sync("projects") as tx:
            tx.upsert([item])
            tx.set_cursor("c1")
        assert store.count("projects") == 1 and store.cursor("projects") == "c1"
    finally:
        store.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_postgres_connections_killed_during_a_cli_run_then_a_clean_run(
    tmp_path: Path, pg_url: str
) -> None:
    """F12 with a real process: every PostgreSQL backend of `sp-sync run-job dtc-sync` is
    terminated again and again while it pulls. The run ends with a clear outcome (or
    reconnects and finishes); a clean run afterwards converges, and the run history shows
    no run left "running"."""
    assert POSTGRES_URL
    admin = sa.create_engine(normalise_url(POSTGRES_URL))
    kill = sa.text(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
        "current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    with Emulator(seed=provisioned_demo_seed(), state_dir=tmp_path / "emulator",
                  latency_ms=15) as emu:
        env = env_for(emu, tmp_path, pg_url, SP_SYNC_JOBS_DIR=str(REPO / "jobs"))
        proc = subprocess.Popen([*SP_SYNC, "run-job", "dtc-sync"], env=env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed = 0
        try:
            while proc.poll() is None:
                time.sleep(0.25)
                with admin.begin() as conn:
                    killed += int(conn.execute(kill).scalar_one())
            out, errs = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            admin.dispose()
        assert killed > 0
        print(f"{killed} backends killed; the run ended with exit code {proc.returncode}")
        assert proc.returncode in (0, 1, 4), out + errs  # an outcome, not a traceback
        assert "Traceback" not in errs
        clean = sp_sync(env, "run-job", "dtc-sync")
        assert clean.returncode == 0, clean.stdout + clean.stderr

        mapping = load_mapping(REPO / "config" / "lists.toml")
        with SqlStore(pg_url) as store:
            for spec in mapping.lists:
                if spec.role != "source":
                    continue
                live = {str(i["id"]): (i["eTag"], content_hash(spec, i["fields"]))
                        for i in emu.items(spec.title)}
                assert {i.id: (i.etag, i.content_hash) for i in store.items(spec.key)} == live
            runs = store.runs()
        assert not [r for r in runs if r.status == "running"]
        assert all(r.message for r in runs if r.status == "interrupted")
