"""F12: the state store fails under a pull — SQLite disk full, a damaged file, PostgreSQL
connections killed — rollback, cursor unchanged, a message that says what to do, and the
next run converges."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from sp_sync.adapters.graph import source as graph_source
from sp_sync.adapters.store.sql import SqlStore, normalise_url
from sp_sync.domain.model import MirrorItem
from sp_sync.engine.pull import pull_list
from sp_sync.errors import StoreError

from .conftest import POSTGRES_URL
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
