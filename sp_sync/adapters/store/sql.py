"""The state store on SQLite (default) or PostgreSQL: SQLAlchemy Core + Alembic.

Opening a store runs the migrations. On SQLite the file runs in WAL mode, one
sp-sync process holds ``<db>.lock`` (see ``lock.py``), and write transactions start
with ``BEGIN IMMEDIATE`` so two writers queue on ``busy_timeout`` instead of failing
on a lock upgrade. Every database error surfaces as :class:`~sp_sync.errors.StoreError`
after the transaction was rolled back.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from sp_sync import crashpoints
from sp_sync.adapters.store import migrations
from sp_sync.adapters.store._common import (
    LEASE_NAME,
    OUTBOX_STATUSES,
    RUN_STATUSES,
    as_utc,
    check_status,
)
from sp_sync.adapters.store.lock import FileLock
from sp_sync.adapters.store.sql_tx import SqlListSync, chunks, dialect_insert
from sp_sync.adapters.store.tables import (
    cursors,
    item_changes,
    items,
    leases,
    ledger,
    outbox,
    resolved,
    runs,
)
from sp_sync.domain.model import FieldChange, MirrorItem, RunRecord
from sp_sync.errors import LeaseLost, StoreError
from sp_sync.ports import KeyIndexEntry, LeaderInfo, OutboxEntry, Resolved

log = logging.getLogger(__name__)

STREAM_CHUNK = 1000  # rows per query while streaming items()
KEY_CHUNK = 2000  # rows per query while streaming key_index() (four small values each)
BUSY_TIMEOUT_MS = 10_000

# MirrorItem's fields in its constructor's order: a row becomes an item positionally
# (attribute access per column was most of the cost of reading a list).
_ITEM = sa.select(
    items.c.list_key, items.c.item_id, items.c.etag, items.c.fields, items.c.content_hash,
    items.c.web_url, items.c.modified, items.c.modified_by, items.c.deleted_at,
)

# Built once: the engine calls get() per item, and building the statement cost most of it.
_GET_ITEM = _ITEM.where(
    items.c.list_key == sa.bindparam("list_key"), items.c.item_id == sa.bindparam("item_id")
)


# IN (…) with an expanding parameter: one cached statement for every chunk size.
_GET_MANY = _ITEM.where(
    items.c.list_key == sa.bindparam("list_key"),
    items.c.item_id.in_(sa.bindparam("ids", expanding=True)),
)


_SCAN: Callable[[str, int], tuple[Any, int]] = cast(Any, json.JSONDecoder()).scan_once


def _json_loads(text: Any) -> Any:
    """``json.loads`` without its per-call set-up (decoding fields was most of items()).

    Stored JSON has no surrounding white space; anything else takes ``json.loads``.
    """
    if type(text) is str and text:
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:
            return json.loads(text)  # raises the usual JSONDecodeError
        if end == len(text):
            return value
    return json.loads(text)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def process_identity() -> str:
    """``host:pid:nonce``: names this process in run records and the leader lease (the
    nonce tells a restarted process with a recycled pid from its predecessor)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


INTERRUPTED_SQLITE = (
    "interrupted: the sp-sync process running this job ended without finishing it "
    "(killed, crashed, or the machine stopped); found when the state store was opened "
    "again. Nothing was half-committed (each list's changes and cursor commit together), "
    "and the job resumes from its last cursor on its next run. If this repeats, check the "
    "service log and the host (memory limit, OOM killer, restarts)."
)


def normalise_url(url: str) -> URL:
    """``postgres://``/``postgresql://`` mean psycopg 3 (the driver we ship)."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class SqlStore:
    """:class:`~sp_sync.ports.StateStore` on SQLite or PostgreSQL.

    ``schema`` (PostgreSQL only; also ``?schema=name`` in the URL) puts every table in
    that schema (created if missing). ``lock=False`` skips the SQLite lock file.
    ``clock`` stamps ``last_synced``.

    ``read_only=True`` is for commands that only look (``runs``, ``status``, ``check``,
    previews) while the daemon runs: no lock file, no migration, no file created. Only
    writers exclude each other; SQLite's WAL lets readers see the last committed state.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        clock: Callable[[], datetime] | None = None,
        lock: bool = True,
        read_only: bool = False,
    ) -> None:
        parsed = normalise_url(url)
        self.read_only = read_only
        self._clock = clock or _utcnow
        self._lock: FileLock | None = None
        self._closed = False
        # The connection of the list_sync block open in this thread (see put_resolved).
        self._in_sync = threading.local()
        self._hint = "check SP_SYNC_STATE_URL"
        self._fence: int | None = None
        self.owner = process_identity()
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError(
                f"state store URL {parsed.render_as_string(hide_password=True)!r}: only "
                "sqlite:///path and postgresql+psycopg://… are supported"
            )
        try:
            if self.dialect == "sqlite":
                self._hint = self._open_sqlite(parsed, lock and not read_only, read_only)
            else:
                self._hint = self._open_postgres(parsed, schema, read_only)
            if read_only:
                return
            with self._errors("migrating the schema"), self._engine.begin() as conn:
                if self.dialect == "postgresql":
                    # Replicas starting together must not migrate at the same time.
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(5957)"))
                migrations.upgrade(conn)
            if self._lock is not None:
                # This process holds the file: a run still "running" belongs to a dead one.
                found = self.interrupt_runs(_utcnow(), INTERRUPTED_SQLITE)
                if found:
                    log.warning("marked %d run(s) of an earlier, ended process as "
                                "interrupted", found)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ opening

    def _open_sqlite(self, url: URL, lock: bool, read_only: bool = False) -> str:
        database = url.database or ""
        if database in ("", ":memory:"):
            self._engine = sa.create_engine(
                "sqlite://", poolclass=StaticPool,
                connect_args={"check_same_thread": False}, json_deserializer=_json_loads,
            )
            self._sqlite_events()
            return "the in-memory SQLite database"
        path = Path(database)
        if read_only:
            if not path.is_file():
                raise StoreError(
                    f"state_url: there is no state store at {database} yet — no job has run "
                    "with this state_url; run one (sp-sync run-job NAME) or check state_url"
                )
        else:
            _create_private(path)
        if lock:
            self._lock = FileLock(path, database)
            self._lock.acquire()
        self._engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            json_deserializer=_json_loads,
        )
        self._sqlite_events(wal=not read_only)
        return (
            f"check that {database} is on a local, writable disk with free space and is "
            "a valid sp-sync database"
        )

    def _sqlite_events(self, wal: bool = False) -> None:
        @event.listens_for(self._engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take transactions away from pysqlite so BEGIN is ours (see _on_begin).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if wal:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.close()

        @event.listens_for(self._engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "")
            conn.exec_driver_sql(f"BEGIN {mode}".strip())

    def _open_postgres(self, url: URL, schema: str | None, read_only: bool = False) -> str:
        schema = schema or url.query.get("schema")  # type: ignore[assignment]
        url = url.difference_update_query(["schema"])
        connect_args: dict[str, Any] = {"connect_timeout": 10}
        if schema:
            if not schema.replace("_", "").isalnum():
                raise StoreError(f"invalid PostgreSQL schema name {schema!r}")
            connect_args["options"] = f"-csearch_path={schema}"
        self._engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        where = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database}"
        hint = (
            f"check that PostgreSQL at {where} is reachable, the database exists and "
            "the user may create and write tables there"
        )
        if schema and not read_only:
            with self._errors_hint(hint, "creating the schema"), self._engine.begin() as conn:
                # CREATE SCHEMA IF NOT EXISTS is not safe against itself: replicas starting
                # together would fail on pg_namespace's unique key. The migrations' lock.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(5957)"))
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        return hint

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _errors_hint(self, hint: str, action: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.DBAPIError as exc:
            refused = (sa.exc.IntegrityError, sa.exc.DataError, sa.exc.ProgrammingError,
                       sa.exc.InternalError)
            if isinstance(exc, refused):
                hint = (
                    "the database refused the statement: a hand-edited schema or a bug; "
                    "report it with this message"
                )
            diagnosis = _what_happened(str(exc.orig))
            if diagnosis:
                hint = f"{diagnosis}; {hint}"
            raise StoreError(
                f"state store: {action} failed ({type(exc.orig).__name__}: "
                f"{str(exc.orig).strip()}); {hint}"
            ) from exc

    def _errors(self, action: str) -> AbstractContextManager[None]:
        return self._errors_hint(self._hint, action)

    @contextmanager
    def _write(self, action: str, fenced: bool = True) -> Iterator[sa.Connection]:
        if self._closed:
            raise StoreError("the state store is closed")
        with self._errors(action), self._engine.connect() as conn:
            conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                if fenced and self._fence is not None:
                    self._check_fence(conn, action)
                yield conn
        crashpoints.reached("commit")

    def _check_fence(self, conn: sa.Connection, action: str) -> None:
        """The fencing check, in the write's own transaction: the lease row is read
        ``FOR SHARE``, so no replica can take the lease over until this write commits."""
        token = conn.execute(
            sa.select(leases.c.token).where(leases.c.name == LEASE_NAME).with_for_update(
                read=True
            )
        ).scalar()
        if token != self._fence:
            raise LeaseLost(
                f"state store: {action} refused: this replica ({self.owner}) lost the leader "
                f"lease (its token {self._fence}, now {token}); another replica leads and "
                "runs the jobs. Nothing was written; no action needed unless this repeats "
                "(then check for long pauses: CPU starvation, a stopped container, slow "
                "database)"
            )

    @contextmanager
    def _read(self, action: str) -> Iterator[sa.Connection]:
        if self._closed:
            raise StoreError("the state store is closed")
        with self._errors(action), self._engine.connect() as conn:
            yield conn

    # ------------------------------------------------------------------ mirror

    @contextmanager
    def list_sync(self, list_key: str) -> Iterator[SqlListSync]:
        with self._write(f"syncing list {list_key!r}") as conn:
            if self.dialect == "postgresql":
                # Replicas syncing the same list take turns (SQLite: one process anyway).
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": list_key}
                )
            tx = SqlListSync(conn, list_key, self._clock)
            self._in_sync.conn = conn
            try:
                yield tx
                tx.finish()
            finally:
                self._in_sync.conn = None

    def cursor(self, list_key: str) -> str | None:
        with self._read("reading a cursor") as conn:
            return conn.execute(
                sa.select(cursors.c.cursor).where(cursors.c.list_key == list_key)
            ).scalar()

    def last_synced(self, list_key: str) -> datetime | None:
        with self._read("reading a cursor") as conn:
            return conn.execute(
                sa.select(cursors.c.committed_at).where(cursors.c.list_key == list_key)
            ).scalar()

    def get(self, list_key: str, item_id: str) -> MirrorItem | None:
        with self._read("reading an item") as conn:
            row = conn.execute(_GET_ITEM, {"list_key": list_key, "item_id": item_id}).first()
        return None if row is None else _item(row)

    def get_many(self, list_key: str, ids: Sequence[str]) -> dict[str, MirrorItem]:
        found: dict[str, MirrorItem] = {}
        wanted = list(dict.fromkeys(ids))
        with self._read("reading items") as conn:
            for chunk in chunks(wanted):
                rows = conn.execute(_GET_MANY, {"list_key": list_key, "ids": list(chunk)})
                found.update((row.item_id, _item(row)) for row in rows)
        return found

    def items(self, list_key: str, include_deleted: bool = False) -> Iterator[MirrorItem]:
        """Streams in chunks (keyset paging): no connection is held between chunks."""
        length = sa.func.length(items.c.item_id)
        base = _ITEM.where(items.c.list_key == list_key)
        if not include_deleted:
            base = base.where(items.c.deleted_at.is_(None))
        last: str | None = None
        while True:
            query = base
            if last is not None:
                query = query.where(
                    sa.or_(
                        length > len(last),
                        sa.and_(length == len(last), items.c.item_id > last),
                    )
                )
            query = query.order_by(length, items.c.item_id).limit(STREAM_CHUNK)
            with self._read(f"reading list {list_key!r}") as conn:
                rows = conn.execute(query).all()
            yield from map(_item, rows)
            if len(rows) < STREAM_CHUNK:
                return
            last = rows[-1].item_id

    def key_index(
        self, list_key: str, key_field: str, by_key: bool = False
    ) -> Iterator[KeyIndexEntry]:
        """Keyset-paged like :meth:`items`; the key is extracted by the database, so the
        fields' JSON is neither sent nor decoded. ``by_key``: one query ordered by the key's
        text (code point order, as Python compares), streamed in chunks."""
        length = sa.func.length(items.c.item_id)
        if self.dialect == "sqlite":
            path = '$."' + key_field.replace('"', '""') + '"'
            extract = sa.func.json_extract(items.c.fields, path)
            key_cols: tuple[Any, ...] = (sa.func.json_type(items.c.fields, path), extract)
            order: Any = extract  # BINARY collation: UTF-8 bytes, i.e. code point order
            decode = _sqlite_json_value
        else:
            key_cols = (items.c.fields[key_field],)  # json -> 'key', decoded by the driver
            order = sa.func.json_extract_path_text(items.c.fields, key_field).collate("C")
            decode = _first
        base = sa.select(
            *key_cols, items.c.item_id, items.c.etag, items.c.content_hash
        ).where(items.c.list_key == list_key, items.c.deleted_at.is_(None))
        n = len(key_cols)
        if by_key:
            yield from self._key_index_by_key(base.order_by(order, items.c.item_id), decode, n,
                                              list_key)
            return
        last: str | None = None
        while True:
            query = base
            if last is not None:
                query = query.where(
                    sa.or_(length > len(last), sa.and_(length == len(last), items.c.item_id > last))
                )
            query = query.order_by(length, items.c.item_id).limit(KEY_CHUNK)
            with self._read(f"reading the key index of list {list_key!r}") as conn:
                rows = conn.execute(query).all()
            for row in rows:
                yield decode(row), row[n], row[n + 1], row[n + 2]
            if len(rows) < KEY_CHUNK:
                return
            last = rows[-1][n]

    def _key_index_by_key(
        self, query: Any, decode: Callable[[Any], Any], n: int, list_key: str
    ) -> Iterator[KeyIndexEntry]:
        """One read, streamed: keyset paging by an expression would evaluate it over the
        whole list once per page. The connection is held only while the planner reads."""
        with self._read(f"reading the key index of list {list_key!r}") as conn:
            result = conn.execution_options(stream_results=True, yield_per=KEY_CHUNK).execute(
                query
            )
            for part in result.partitions():
                for row in part:
                    yield decode(row), row[n], row[n + 1], row[n + 2]

    def count(self, list_key: str) -> int:
        with self._read("counting items") as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).where(
                        items.c.list_key == list_key, items.c.deleted_at.is_(None)
                    )
                ).scalar_one()
            )

    def changes(
        self, list_key: str | None = None, since: datetime | None = None
    ) -> list[FieldChange]:
        query = sa.select(item_changes).order_by(item_changes.c.changed_at, item_changes.c.id)
        if list_key is not None:
            query = query.where(item_changes.c.list_key == list_key)
        if since is not None:
            query = query.where(item_changes.c.changed_at > as_utc(since))
        with self._read("reading history") as conn:
            return [
                FieldChange(
                    list_key=r.list_key, item_id=r.item_id, column=r.column, old=r.old,
                    new=r.new, changed_by=r.changed_by, changed_at=r.changed_at, kind=r.kind,
                )
                for r in conn.execute(query)
            ]

    # ------------------------------------------------------------------ runs

    def start_run(self, job: str, started_at: datetime) -> int:
        with self._write("recording a run") as conn:
            return int(
                conn.execute(
                    runs.insert()
                    .values(job=job, started_at=started_at, status="running", stats={},
                            owner=self.owner)
                    .returning(runs.c.id)
                ).scalar_one()
            )

    def finish_run(
        self,
        run_id: int,
        status: str,
        finished_at: datetime,
        stats: Mapping[str, Any],
        message: str | None = None,
    ) -> None:
        check_status(status, RUN_STATUSES, "run")
        with self._write("recording a run") as conn:
            done = conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(status=status, finished_at=finished_at, stats=dict(stats),
                        message=message)
            )
            if done.rowcount == 0:
                raise StoreError(f"there is no run {run_id} to finish")

    def runs(self, job: str | None = None, limit: int = 50) -> list[RunRecord]:
        query = sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit)
        if job is not None:
            query = query.where(runs.c.job == job)
        return self._run_records(query)

    def runs_since(self, since: datetime) -> list[RunRecord]:
        query = (sa.select(runs).where(runs.c.started_at >= as_utc(since))
                 .order_by(runs.c.started_at, runs.c.id))
        return self._run_records(query)

    def _run_records(self, query: sa.Select[Any]) -> list[RunRecord]:
        with self._read("reading runs") as conn:
            return [
                RunRecord(
                    id=r.id, job=r.job, started_at=r.started_at, finished_at=r.finished_at,
                    status=r.status, stats=r.stats, message=r.message,
                )
                for r in conn.execute(query)
            ]

    def interrupt_runs(self, now: datetime, message: str, job: str | None = None) -> int:
        query = runs.update().where(
            runs.c.status == "running",
            sa.or_(runs.c.owner.is_(None), runs.c.owner != self.owner),
        )
        if job is not None:
            query = query.where(runs.c.job == job)
        with self._write("marking interrupted runs") as conn:
            done = conn.execute(
                query.values(status="interrupted", finished_at=now, message=message)
            )
            return int(done.rowcount or 0)

    # ------------------------------------------------------------------ leader lease

    def _db_now(self, conn: sa.Connection) -> datetime:
        """The database's clock on PostgreSQL (replicas on several hosts agree on it)."""
        if self.dialect == "postgresql":
            value = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
            assert isinstance(value, datetime)
            return value.astimezone(UTC)
        return _utcnow()

    def acquire_lease(self, holder: str, ttl_s: float) -> int | None:
        with self._write("taking the leader lease", fenced=False) as conn:
            now = self._db_now(conn)
            until = now + timedelta(seconds=ttl_s)
            row = conn.execute(
                sa.select(leases).where(leases.c.name == LEASE_NAME).with_for_update()
            ).first()
            if row is None:
                stmt = dialect_insert(self.dialect, leases).values(
                    name=LEASE_NAME, holder=holder, token=1, expires_at=until, acquired_at=now
                ).on_conflict_do_nothing(index_elements=["name"]).returning(leases.c.token)
                return 1 if conn.execute(stmt).first() is not None else None
            if row.expires_at > now:
                if row.holder != holder:
                    return None
                conn.execute(
                    leases.update().where(leases.c.name == LEASE_NAME).values(expires_at=until)
                )
                return int(row.token)
            token = int(row.token) + 1
            conn.execute(
                leases.update().where(leases.c.name == LEASE_NAME).values(
                    holder=holder, token=token, expires_at=until, acquired_at=now
                )
            )
            return token

    def renew_lease(self, holder: str, token: int, ttl_s: float) -> bool:
        with self._write("renewing the leader lease", fenced=False) as conn:
            now = self._db_now(conn)
            done = conn.execute(
                leases.update()
                .where(leases.c.name == LEASE_NAME, leases.c.holder == holder,
                       leases.c.token == token, leases.c.expires_at > now)
                .values(expires_at=now + timedelta(seconds=ttl_s))
            )
            return done.rowcount == 1

    def release_lease(self, holder: str, token: int) -> None:
        with self._write("releasing the leader lease", fenced=False) as conn:
            now = self._db_now(conn)
            conn.execute(
                leases.update()
                .where(leases.c.name == LEASE_NAME, leases.c.holder == holder,
                       leases.c.token == token, leases.c.expires_at > now)
                .values(expires_at=now)
            )

    def leader(self) -> LeaderInfo | None:
        with self._read("reading the leader lease") as conn:
            now = self._db_now(conn)
            row = conn.execute(sa.select(leases).where(leases.c.name == LEASE_NAME)).first()
        if row is None:
            return None
        return LeaderInfo(row.holder, int(row.token), row.expires_at, row.expires_at > now)

    @contextmanager
    def job_lock(self, job: str, wait: bool = True) -> Iterator[bool]:
        """PostgreSQL: a session advisory lock in its own key space (two-int form, class
        5958), on a connection in autocommit mode held for the block; SQLite: the file
        lock already keeps other processes out."""
        if self.dialect != "postgresql":
            yield True
            return
        with self._errors(f"locking job {job!r}"), self._engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            args = {"job": job}
            if wait:
                conn.execute(sa.text("SELECT pg_advisory_lock(5958, hashtext(:job))"), args)
                got = True
            else:
                got = bool(conn.execute(
                    sa.text("SELECT pg_try_advisory_lock(5958, hashtext(:job))"), args
                ).scalar())
            try:
                yield got
            finally:
                if got:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(5958, hashtext(:job))"),
                                 args)

    def fence(self, token: int | None) -> None:
        self._fence = token

    # ------------------------------------------------------------------ outbox

    def outbox_add(
        self, job: str, period: str, recipient: str, message_id: str, mime: bytes, now: datetime
    ) -> OutboxEntry | None:
        stmt = (
            dialect_insert(self.dialect, outbox)
            .values(
                job=job, period=period, recipient=recipient, message_id=message_id,
                mime=bytes(mime), status="pending", created_at=now, attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["job", "period", "recipient"])
            .returning(*outbox.c)
        )
        with self._write("adding a mail to the outbox") as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _entry(row)

    def outbox_get(self, job: str, period: str, recipient: str) -> OutboxEntry | None:
        with self._read("reading the outbox") as conn:
            row = conn.execute(
                sa.select(outbox).where(
                    outbox.c.job == job, outbox.c.period == period,
                    outbox.c.recipient == recipient,
                )
            ).first()
        return None if row is None else _entry(row)

    def outbox_entries(self, job: str, period: str) -> list[OutboxEntry]:
        query = (
            sa.select(outbox)
            .where(outbox.c.job == job, outbox.c.period == period)
            .order_by(outbox.c.recipient)
        )
        with self._read("reading the outbox") as conn:
            return [_entry(r) for r in conn.execute(query)]

    def outbox_pending(self, job: str | None = None) -> list[OutboxEntry]:
        query = (
            sa.select(outbox)
            .where(outbox.c.status.in_(("pending", "sending")))
            .order_by(outbox.c.created_at, outbox.c.id)
        )
        if job is not None:
            query = query.where(outbox.c.job == job)
        with self._read("reading the outbox") as conn:
            return [_entry(r) for r in conn.execute(query)]

    def outbox_mark(
        self, entry_id: int, status: str, now: datetime, error: str | None = None
    ) -> None:
        check_status(status, OUTBOX_STATUSES, "outbox")
        values: dict[str, Any] = {"status": status, "error": error}
        if status == "sending":
            values["attempts"] = outbox.c.attempts + 1
            values["claimed_at"] = now
        if status == "sent":
            values["sent_at"] = now
        with self._write("updating the outbox") as conn:
            done = conn.execute(outbox.update().where(outbox.c.id == entry_id).values(**values))
            if done.rowcount == 0:
                raise StoreError(f"there is no outbox entry {entry_id}")

    def outbox_claim(
        self, entry_id: int, now: datetime, stale_before: datetime | None = None
    ) -> OutboxEntry | None:
        """One conditional UPDATE … RETURNING: the database decides who gets the entry
        (PostgreSQL re-checks the WHERE after a concurrent update, SQLite writes serially)."""
        claimable: sa.ColumnElement[bool] = outbox.c.status.in_(("pending", "failed"))
        if stale_before is not None:
            claimable = sa.or_(claimable, sa.and_(
                outbox.c.status == "sending",
                sa.or_(outbox.c.claimed_at.is_(None), outbox.c.claimed_at < stale_before),
            ))
        stmt = (
            outbox.update()
            .where(outbox.c.id == entry_id, claimable)
            .values(status="sending", attempts=outbox.c.attempts + 1, claimed_at=now,
                    error=None)
            .returning(*outbox.c)
        )
        with self._write("claiming an outbox entry") as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _entry(row)

    # ------------------------------------------------------------------ ledger

    def ledger_get(self, job: str, period: str) -> Mapping[str, Any] | None:
        with self._read("reading the ledger") as conn:
            row = conn.execute(
                sa.select(ledger).where(ledger.c.job == job, ledger.c.period == period)
            ).first()
        return None if row is None else {"status": row.status, "at": row.at, "detail": row.detail}

    def ledger_put(
        self,
        job: str,
        period: str,
        status: str,
        now: datetime,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        stmt = dialect_insert(self.dialect, ledger).values(
            job=job, period=period, status=status, at=now, detail=dict(detail or {})
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["job", "period"],
            set_={"status": stmt.excluded.status, "at": stmt.excluded.at,
                  "detail": stmt.excluded.detail},
        )
        with self._write("writing the ledger") as conn:
            conn.execute(stmt)

    def ledger_periods(self, job: str) -> list[tuple[str, str]]:
        query = (
            sa.select(ledger.c.period, ledger.c.status)
            .where(ledger.c.job == job)
            .order_by(ledger.c.period)
        )
        with self._read("reading the ledger") as conn:
            return [(r.period, r.status) for r in conn.execute(query)]

    # ------------------------------------------------------------------ resolved

    def resolved(self, kind: str, key: str) -> Resolved | None:
        query = sa.select(resolved.c.value, resolved.c.resolved_at).where(
            resolved.c.kind == kind, resolved.c.key == key
        )
        with self._read("reading a kept lookup") as conn:
            row = conn.execute(query).first()
        return None if row is None else Resolved(row.value, row.resolved_at)

    def put_resolved(self, kind: str, values: Mapping[str, Any], at: datetime) -> None:
        if not values:
            return
        stmt = dialect_insert(self.dialect, resolved)
        stmt = stmt.on_conflict_do_update(
            index_elements=["kind", "key"],
            set_={"value": stmt.excluded.value, "resolved_at": stmt.excluded.resolved_at},
        )
        rows = [{"kind": kind, "key": k, "value": v, "resolved_at": at}
                for k, v in values.items()]
        with self._lookup_write("keeping a lookup") as conn:
            conn.execute(stmt, rows)

    def drop_resolved(self, kind: str, keys: Sequence[str] | None = None) -> None:
        stmt = sa.delete(resolved).where(resolved.c.kind == kind)
        if keys is not None:
            stmt = stmt.where(resolved.c.key.in_(list(keys)))
        with self._lookup_write("forgetting a lookup") as conn:
            conn.execute(stmt)

    @contextmanager
    def _lookup_write(self, action: str) -> Iterator[sa.Connection]:
        """Inside a ``list_sync`` block of this thread (a list id looked up again while its
        pull runs): write in that transaction — a second writer would wait for it forever
        on SQLite. Otherwise a transaction of its own."""
        conn: sa.Connection | None = getattr(self._in_sync, "conn", None)
        if conn is None:
            with self._write(action) as own:
                yield own
            return
        with self._errors(action):
            yield conn

    # ------------------------------------------------------------------ lifecycle

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine (for tooling such as migration checks and benchmarks)."""
        return self._engine

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.dispose()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



def _create_private(path: Path) -> None:
    """The SQLite file's folder, and the file itself readable by its owner only (0600): the
    mirror holds list data and the outbox whole mails. SQLite gives -wal/-shm the same mode."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise StoreError(
            f"state_url: cannot create the state store {path}: {exc.strerror} — make "
            f"{path.parent} writable for the user sp-sync runs as ({_user()}), or point "
            "state_url (SP_SYNC_STATE_URL) elsewhere"
        ) from None


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return f"uid {os.getuid()}"


# What a database error means for the admin, by the driver's message (SQLite and psycopg
# give no finer error classes for these).
_DIAGNOSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("disk is full", "no space left", "could not extend file", "disk full"),
     "the disk of the state store is full: nothing was committed (the run's lists keep "
     "their cursors); free space or move the store, then the next run continues"),
    (("malformed", "not a database", "corrupt", "invalid page"),
     "the state store file is damaged: stop sp-sync, restore the file from the last backup "
     "(or move it away: sp-sync then re-reads every list in full, but the mail ledger "
     "restarts, so digests of the current period may go out again)"),
    (("database is locked", "database table is locked"),
     "another sp-sync process or thread held the SQLite file longer than the 10 s wait: "
     "nothing was committed; the next run retries. If it repeats, run one sp-sync process "
     "per file (or use PostgreSQL for several replicas)"),
    (("server closed the connection", "terminating connection", "connection is closed",
      "consuming input failed", "the connection is lost", "ssl syscall error"),
     "the connection to PostgreSQL dropped: the transaction was rolled back and nothing "
     "half-committed; the next run reconnects and continues. If it repeats, check the "
     "server, the network and idle-connection timeouts"),
    (("read-only", "readonly", "permission denied", "unable to open database"),
     "sp-sync may not write the state store: check the file's (or the role's) permissions "
     "and that the disk is mounted writable"),
)


def _what_happened(text: str) -> str | None:
    lowered = text.lower()
    for markers, hint in _DIAGNOSES:
        if any(m in lowered for m in markers):
            return hint
    return None


def _first(row: Any) -> Any:
    return row[0]


def _sqlite_json_value(row: Any) -> Any:
    """(json_type, json_extract) → the value as JSON decoding of the fields would give it
    (json_extract alone turns true into 1 and returns objects as text)."""
    kind, value = row[0], row[1]
    if kind == "text" or kind == "integer" or kind == "real":
        return value
    if kind == "true":
        return True
    if kind == "false":
        return False
    if kind == "object" or kind == "array":
        return _json_loads(value)
    return None  # absent or JSON null


def _item(row: Any) -> MirrorItem:
    """A row of ``_ITEM`` (columns in MirrorItem's order) as an item."""
    return MirrorItem(*row)


def _entry(row: sa.Row[Any]) -> OutboxEntry:
    return OutboxEntry(
        id=row.id, job=row.job, period=row.period, recipient=row.recipient,
        message_id=row.message_id, mime=bytes(row.mime), status=row.status,
        created_at=row.created_at, sent_at=row.sent_at, attempts=row.attempts, error=row.error,
        claimed_at=row.claimed_at,
    )
