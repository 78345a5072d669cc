"""What only the SQL store promises: lock file, migrations, WAL, errors, the factory."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from sp_sync.adapters.store import MemoryStore, open_store
from sp_sync.adapters.store.sql import SqlStore
from sp_sync.domain.model import MirrorItem
from sp_sync.errors import ConfigError, StoreError, StoreLocked
from tests.contract.conftest import NO_POSTGRES, POSTGRES_URL

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
TABLES = {"items", "cursors", "item_changes", "runs", "outbox", "ledger", "resolved",
          "alembic_version"}

OPEN_IN_CHILD = """
import sys
from sp_sync.adapters.store import open_store
from sp_sync.errors import StoreLocked
try:
    open_store(sys.argv[1]).close()
except StoreLocked as exc:
    print("LOCKED", exc)
else:
    print("OPENED")
"""


def open_in_other_process(url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", OPEN_IN_CHILD, url],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return done.stdout.strip()


def test_a_second_process_is_refused_while_the_first_holds_the_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/var/state/sp-sync.db"
    store = open_store(url)
    try:
        refused = open_in_other_process(url)
    finally:
        store.close()
    opened_after_close = open_in_other_process(url)

    assert refused == (
        f"LOCKED state store {tmp_path}/var/state/sp-sync.db is in use by another sp-sync "
        f"process (pid {os.getpid()}); stop it or point SP_SYNC_STATE_URL "
        "elsewhere"
    )
    assert opened_after_close == "OPENED"


def test_a_second_open_in_the_same_process_is_refused_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    with SqlStore(url), pytest.raises(StoreLocked, match="in use by another sp-sync process"):
        SqlStore(url)


def test_migrations_upgrade_an_empty_file_and_enable_wal(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "dir" / "state.db"
    db.parent.mkdir(parents=True)
    db.touch()  # an empty file is an empty SQLite database

    SqlStore(f"sqlite:///{db}").close()
    store = SqlStore(f"sqlite:///{db}")  # a second open finds the schema at head
    store.close()

    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert tables >= TABLES
    assert version == [(_head(),)]
    assert mode == "wal"


def test_the_parent_folder_is_created(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "sp-sync.db"
    with SqlStore(f"sqlite:///{db}") as store:
        store.start_run("pull", T0)

    assert db.exists()
    assert (tmp_path / "a" / "b" / "sp-sync.db.lock").exists()


def test_a_file_that_is_not_a_database_gives_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not a database, it is a text file" * 100)

    with pytest.raises(StoreError, match=f"check that {db} is on a local, writable disk"):
        SqlStore(f"sqlite:///{db}")
    db.unlink()  # the failed open released its lock: a fresh file opens
    SqlStore(f"sqlite:///{db}").close()


def test_two_threads_writing_at_once_both_commit(tmp_path: Path) -> None:
    a_inside, b_starting = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def write(store: SqlStore, key: str) -> None:
        try:
            if key == "b":
                a_inside.wait(timeout=10)
                b_starting.set()
            with store.list_sync(key) as tx:
                tx.upsert([MirrorItem(key, str(i), None, {"i": i}, "h") for i in range(1, 51)])
                if key == "a":  # keep the write transaction open until b tries to begin
                    a_inside.set()
                    b_starting.wait(timeout=10)
                tx.set_cursor(f"cursor-{key}")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with SqlStore(f"sqlite:///{tmp_path}/state.db") as store:
        threads = [threading.Thread(target=write, args=(store, k)) for k in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

        assert errors == []
        assert (store.count("a"), store.count("b")) == (50, 50)
        assert (store.cursor("a"), store.cursor("b")) == ("cursor-a", "cursor-b")


def test_open_store_picks_the_implementation_by_url(tmp_path: Path) -> None:
    memory = open_store("memory://")
    sqlite_store = open_store(f"sqlite:///{tmp_path}/s.db")
    try:
        assert isinstance(memory, MemoryStore)
        assert isinstance(sqlite_store, SqlStore)
        with pytest.raises(ConfigError, match="SP_SYNC_STATE_URL"):
            open_store("mysql://localhost/db")
    finally:
        memory.close()
        sqlite_store.close()


def test_an_unreachable_postgres_gives_a_store_error() -> None:
    with socket.socket() as s:  # a free port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    with pytest.raises(StoreError, match=f"check that PostgreSQL at 127.0.0.1:{port}/nodb"):
        SqlStore(f"postgresql://postgres@127.0.0.1:{port}/nodb")


@pytest.mark.postgres
def test_postgres_schema_from_the_url(pg_schema: str) -> None:
    assert POSTGRES_URL, NO_POSTGRES
    with SqlStore(f"{POSTGRES_URL}?schema={pg_schema}") as store:
        store.ledger_put("digest", "2026-W49", "sent", T0)

    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names(schema=pg_schema))
            status = conn.execute(
                sa.text(f'SELECT status FROM "{pg_schema}".ledger')
            ).scalar_one()
    finally:
        engine.dispose()
    assert tables >= TABLES
    assert status == "sent"


@pytest.mark.postgres
def test_replicas_opening_a_fresh_schema_together_all_start(pg_schema: str) -> None:
    """Several processes starting at once on a schema nobody created yet: each creates and
    migrates it under one lock (CREATE SCHEMA IF NOT EXISTS alone races on pg_namespace)."""
    import threading

    assert POSTGRES_URL, NO_POSTGRES
    failed: list[BaseException] = []
    names = [f"{pg_schema}_{n}" for n in range(4)]  # a few rounds: the race is a race
    try:
        for name in names:
            start = threading.Barrier(8)

            def open_one(name: str = name, start: threading.Barrier = start) -> None:
                start.wait()
                try:
                    SqlStore(f"{POSTGRES_URL}?schema={name}").close()
                except BaseException as exc:  # collected and asserted below
                    failed.append(exc)

            threads = [threading.Thread(target=open_one) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.begin() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()
    assert failed == []


def _assert_migrations_match_tables(store: SqlStore) -> None:
    from alembic import command

    from sp_sync.adapters.store.migrations import make_config

    with store.engine.connect() as conn:
        cfg = make_config()
        cfg.attributes["connection"] = conn
        command.check(cfg)  # raises when tables.py and the migrations disagree


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrations_match_the_table_definitions_on_sqlite(tmp_path: Path) -> None:
    with SqlStore(f"sqlite:///{tmp_path}/state.db") as store:
        _assert_migrations_match_tables(store)


@pytest.mark.postgres
def test_migrations_match_the_table_definitions_on_postgres(pg_schema: str) -> None:
    assert POSTGRES_URL, NO_POSTGRES
    with SqlStore(POSTGRES_URL, schema=pg_schema) as store:
        _assert_migrations_match_tables(store)


POISON_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER poison BEFORE INSERT ON items WHEN NEW.item_id = '666' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
        "IF NEW.item_id = '666' THEN RAISE EXCEPTION 'poisoned row'; END IF; "
        "RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER poison BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION poison()",
    ],
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        made = SqlStore(f"sqlite:///{tmp_path}/state.db")
    else:
        schema = request.getfixturevalue("pg_schema")  # skips without PostgreSQL
        assert POSTGRES_URL
        made = SqlStore(POSTGRES_URL, schema=schema)
    yield made
    made.close()


def test_a_database_error_mid_sync_is_a_store_error_and_rolls_back(sql_store: SqlStore) -> None:
    def item(i: int) -> MirrorItem:
        return MirrorItem("p", str(i), None, {"i": i}, "h")

    with sql_store.list_sync("p") as tx:
        tx.upsert([item(1)])
        tx.set_cursor("d1")
    with sql_store.engine.begin() as conn:
        for ddl in POISON_TRIGGER[sql_store.dialect]:
            conn.execute(sa.text(ddl))

    refused = r"(?s)syncing list 'p' failed .*poisoned row.*; the database refused"
    with pytest.raises(StoreError, match=refused), sql_store.list_sync("p") as tx:
        tx.upsert([item(2)])
        tx.set_cursor("d2")
        tx.upsert([item(666)])

    assert [i.id for i in sql_store.items("p")] == ["1"]
    assert sql_store.cursor("p") == "d1"


def _head() -> str:
    """The newest revision in versions/ (whatever the chain is named after merges)."""

    from sp_sync.adapters.store.migrations import make_config

    head = ScriptDirectory.from_config(make_config()).get_current_head()
    assert head is not None
    return head


def test_sqlite_upsert_stores_the_same_text_as_the_sqlalchemy_statement(tmp_path: Path) -> None:
    """The fast row path (fields JSON, datetimes as text) against SQLAlchemy's own insert."""
    from datetime import timedelta, timezone

    from sp_sync.adapters.store.tables import items as items_table
    from sp_sync.domain.jsontext import JsonObject

    zones = [UTC, timezone(timedelta(hours=2)), None]
    rows = [
        MirrorItem(
            "l", str(i), f'"{{E}},{i}"' if i % 3 else None,
            {"Title": f"T{i} ä😀 \"q\"\n", "N": i * 1.5, "B": i % 2 == 0,
             "Nested": {"x": [i, None]}, "Big": 2**60 + i, "Empty": None},
            f"h{i}", None if i % 4 else f"https://x/{i}",
            None if i % 5 == 0 else datetime(2026, 1 + i % 12, 1 + i % 28, i % 24, i % 60,
                                              i % 60, (i * 7919) % 1_000_000,
                                              tzinfo=zones[i % 3]),
            None if i % 2 else "Anna", None if i % 6 else datetime(1999, 12, 31, 23, 59, 59,
                                                                    tzinfo=UTC),
        )
        for i in range(60)
    ]
    # Every other row's fields as the pull hands them over: JSON text, written as it is.
    handed = [r._replace(fields=JsonObject.of(r.fields)) if i % 2 else r
              for i, r in enumerate(rows)]
    fast_db, ref_db = tmp_path / "fast.db", tmp_path / "ref.db"
    with SqlStore(f"sqlite:///{fast_db}") as fast, fast.list_sync("l") as tx:
        tx.upsert(handed)
    with SqlStore(f"sqlite:///{ref_db}") as ref, ref.engine.begin() as conn:
        conn.execute(items_table.insert(), [
            {"list_key": r.list_key, "item_id": r.id, "etag": r.etag, "fields": dict(r.fields),
             "content_hash": r.content_hash, "web_url": r.web_url, "modified": r.modified,
             "modified_by": r.modified_by, "deleted_at": r.deleted_at, "seen_gen": None}
            for r in rows
        ])

    def dump(db: Path) -> list[Any]:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT * FROM items ORDER BY item_id").fetchall()

    assert dump(fast_db) == dump(ref_db) and len(dump(fast_db)) == 60
