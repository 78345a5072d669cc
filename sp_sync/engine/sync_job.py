"""List-to-list sync: a filtered subset of a source list, mirrored into a target list.

pull (source, its lookups, target) → desired rows from the source records → plan against
the target's mirror → mass-delete guard → apply (or print the plan on ``--dry-run``).

Values are written in the target's wire shape (date-only → local midnight in UTC,
person/lookup → display text for text columns …) so that they read back *equal* on the
next pull: a second run with no change in SharePoint makes zero writes.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sp_sync.domain.model import (
    ActionKind,
    ColumnSpec,
    ColumnType,
    DesiredRow,
    Link,
    ListMapping,
    ListSpec,
    Lookup,
    Person,
    RawItem,
    Record,
    Value,
    WriteAction,
)
from sp_sync.domain.normalize import canonicalizer, date_to_wire, datetime_to_wire
from sp_sync.domain.plan import (
    Plan,
    changed_fields,
    check_mass_delete,
    compared_columns,
    format_plan,
    hash_basis,
    plan,
    plan_indexed,
)
from sp_sync.engine.apply import ApplyResult, apply_plan
from sp_sync.engine.pull import PullResult, dependencies, pull_lists
from sp_sync.engine.records import iter_records
from sp_sync.errors import ConfigError, MassDeleteRefused
from sp_sync.ports import ListRef, ListSource, ListWriter, StateStore

log = logging.getLogger(__name__)

_YES, _NO = "Ja", "Nein"  # booleans written into text columns (user-facing: German)


class SyncParamsLike(Protocol):
    """What :func:`run_sync_job` reads (``SyncParams`` here or the job file's)."""

    @property
    def source(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def filter(self) -> Mapping[str, Any]: ...
    @property
    def columns(self) -> Mapping[str, str]: ...
    @property
    def key(self) -> str | None: ...
    @property
    def delete(self) -> bool: ...
    @property
    def mass_delete_share(self) -> float: ...


@dataclass(frozen=True)
class SyncParams:
    source: str  # source list key
    target: str  # target list key (role "target", with a SyncKey column)
    columns: Mapping[str, str]  # target column key → source column key
    filter: Mapping[str, Any] = field(default_factory=dict)  # column key → value (equality)
    key: str | None = None  # source column key for the SyncKey; None: the item id
    delete: bool = True
    mass_delete_share: float = 0.5


@dataclass
class SyncJobResult:
    plan: Plan
    plan_text: str
    pulls: dict[str, PullResult]
    applied: ApplyResult | None  # None on a dry run
    dry_run: bool = False

    @property
    def writes(self) -> int:
        return self.applied.written if self.applied else 0


# --------------------------------------------------------------------------- values


def _text(value: Value) -> str | None:
    if value is None:
        return None
    if isinstance(value, Person):
        return value.name
    if isinstance(value, Lookup):
        return value.title if value.title is not None else f"#{value.id}"
    if isinstance(value, Link):
        return value.url
    if isinstance(value, bool):
        return _YES if value else _NO
    if isinstance(value, datetime):
        return datetime_to_wire(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        parts = [t for t in (_text(v) for v in value) if t]
        return "; ".join(parts) or None
    return str(value)


def to_wire(value: Value, col: ColumnSpec, tz: ZoneInfo) -> Any:
    """A typed value in the write shape of the target column ``col``."""
    if value is None:
        return None
    t = col.type
    if t is ColumnType.DATE and isinstance(value, date):
        day = value.astimezone(tz).date() if isinstance(value, datetime) else value
        return date_to_wire(day, tz)
    if t is ColumnType.DATETIME and isinstance(value, datetime):
        return datetime_to_wire(value)
    if t in (ColumnType.PERSON, ColumnType.LOOKUP) and isinstance(value, Person | Lookup):
        return value.id
    if t is ColumnType.MULTICHOICE and isinstance(value, tuple):
        return [_text(v) for v in value]
    if t is ColumnType.URL and isinstance(value, Link):
        return {"Url": value.url, "Description": value.description or value.url}
    if t is ColumnType.BOOLEAN and isinstance(value, bool):
        return value
    if t in (ColumnType.NUMBER, ColumnType.CURRENCY) and isinstance(value, int | float):
        return value
    return _text(value)


def wire_writer(col: ColumnSpec, tz: ZoneInfo) -> Callable[[Value], Any]:
    """``to_wire(·, col, tz)`` as one function: the common same-type cases short-cut."""
    t = col.type
    plain: type | None = None  # a value of exactly this type is written as it is
    if t in (ColumnType.TEXT, ColumnType.NOTE, ColumnType.CHOICE):
        plain = str
    elif t is ColumnType.BOOLEAN:
        plain = bool
    elif t in (ColumnType.NUMBER, ColumnType.CURRENCY):
        plain = int  # float handled below

    days: dict[date, str] = {}  # date-only values repeat: convert each day once per job

    def write(value: Value) -> Any:
        tp = type(value)
        if value is None or tp is plain or (tp is float and plain is int):
            return value
        if tp is date and t is ColumnType.DATE and isinstance(value, date):
            wire = days.get(value)
            if wire is None:
                wire = days[value] = date_to_wire(value, tz)
            return wire
        return to_wire(value, col, tz)

    return write


def _equal(value: Value, want: Any) -> bool:
    if isinstance(value, Person):
        return want in (value.name, value.email, value.id)
    if isinstance(value, Lookup):
        return want in (value.title, value.id)
    if isinstance(value, tuple):
        return any(_equal(v, want) for v in value)
    if isinstance(value, bool) or isinstance(want, bool):
        return value is want
    if isinstance(value, date) and isinstance(want, str):
        return value.isoformat() == want
    return bool(value == want)


def matches(record: Record, filter: Mapping[str, Any]) -> bool:
    """Equality on normalised values; people match by name/e-mail/id, lookups by title/id."""
    return all(_equal(record[k], want) for k, want in filter.items())


def desired_rows(
    params: SyncParamsLike, source: ListSpec, target: ListSpec, records: Iterable[Record],
    tz: ZoneInfo,
) -> list[DesiredRow]:
    return list(iter_desired_rows(params, source, target, records, tz))


def iter_desired_rows(
    params: SyncParamsLike, source: ListSpec, target: ListSpec, records: Iterable[Record],
    tz: ZoneInfo,
) -> Iterator[DesiredRow]:
    """The rows ``params`` wants in ``target``, one per matching source record."""
    seen: dict[str, str] = {}
    cols = [(target.column(t).field_name, wire_writer(target.column(t), tz), s)
            for t, s in params.columns.items()]
    filters = params.filter
    for rec in records:
        if filters and not matches(rec, filters):
            continue
        key = _text(rec[params.key]) if params.key else rec.id
        if not key:
            log.warning("%s item %s has no %s: not synced", source.key, rec.id, params.key)
            continue
        sync_key = f"{source.key}:{key}"
        if sync_key in seen:  # a data problem in the source: the later item wins
            log.warning("%s items %s and %s share the key %r", source.key, seen[sync_key],
                        rec.id, key)
        seen[sync_key] = rec.id
        values = rec.values
        fields = {name: write(values.get(s)) for name, write, s in cols}
        yield DesiredRow(sync_key=sync_key, fields=fields)


# --------------------------------------------------------------------------- the job

_gc_lock = threading.Lock()
_gc_state = {"depth": 0, "reenable": False}


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while desired rows and the plan are built.

    They are ~10 objects per item that all stay alive (no cycles to find), yet each
    collection walks all of them: at 50,000 items that was a quarter of the job's CPU.
    Nested and concurrent uses are counted; afterwards the collector is as it was.
    """
    with _gc_lock:
        if _gc_state["depth"] == 0:
            _gc_state["reenable"] = gc.isenabled()
            gc.disable()
        _gc_state["depth"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state["depth"] -= 1
            if _gc_state["depth"] == 0 and _gc_state["reenable"]:
                gc.enable()


def _replanner(
    rows: list[DesiredRow], key_column: str, columns: list[ColumnSpec]
) -> Callable[[RawItem | None, WriteAction], WriteAction | None]:
    key_canon = canonicalizer(key_column)
    wanted = {str(key_canon(r.sync_key)): r for r in rows}
    cols = compared_columns(columns, key_column)

    def replan(fresh: RawItem | None, action: WriteAction) -> WriteAction | None:
        row = wanted.get(str(key_canon(action.sync_key)))
        if fresh is None:  # gone: nothing to delete or update any more
            return None
        if action.kind is ActionKind.DELETE or row is None:
            return WriteAction(ActionKind.DELETE, action.sync_key, fresh.id, fresh.etag)
        diff = changed_fields({**row.fields, key_column: row.sync_key}, fresh.fields, cols)
        if not diff:
            return None
        return WriteAction(ActionKind.UPDATE, action.sync_key, fresh.id, fresh.etag, diff)

    return replan


def run_sync_job(
    params: SyncParamsLike,
    mapping: ListMapping,
    source: ListSource,
    writer: ListWriter,
    store: StateStore,
    refs: Callable[[ListSpec], ListRef],
    tz: ZoneInfo,
    now: datetime,
    dry_run: bool = False,
    allow_mass_delete: bool = False,
) -> SyncJobResult:
    """Sync ``params.source`` into ``params.target`` (see the module docstring).

    Raises MassDeleteRefused (nothing written) when the plan deletes too much.
    """
    src, tgt = mapping.get(params.source), mapping.get(params.target)
    key_column = tgt.sync_key_column
    if not key_column:
        raise ConfigError(
            f"list {tgt.key!r} has no sync_key: add sync_key = \"SyncKey\" to its mapping"
        )
    keys = [k for k in (*dependencies(src), src.key, tgt.key) if k in mapping]
    pulls = pull_lists(source, store, mapping, keys, refs, now)

    # Source records are streamed (never all held at once); only the desired rows stay.
    source_count = 0

    def counted() -> Iterable[Record]:
        nonlocal source_count
        for rec in iter_records(store, mapping, src.key, tz):
            source_count += 1
            yield rec

    columns = [tgt.column(k) for k in params.columns]
    with gc_paused():
        if hash_basis(tgt, compared_columns(columns, key_column), key_column) is not None:
            # Light path: (key, id, eTag, hash) per target item; fields only where needed.
            result, kept = plan_indexed(
                iter_desired_rows(params, src, tgt, counted(), tz),
                store.key_index(tgt.key, key_column),
                lambda ids: store.get_many(tgt.key, ids),
                key_column, columns, delete=params.delete, target=tgt,
            )
            rows = list(kept.values())
        else:  # no hash to decide equality by: every item is diffed anyway
            rows = desired_rows(params, src, tgt, counted(), tz)
            result = plan(rows, store.items(tgt.key), key_column, columns,
                          delete=params.delete, target=tgt)
    text = format_plan(result)

    reason = check_mass_delete(result, params.mass_delete_share, source_count=source_count)
    if reason and not allow_mass_delete:
        raise MassDeleteRefused(
            f"sync {src.key} → {tgt.key}: {reason}. Nothing was written. Check the source "
            "list; if the deletions are intended, pass --allow-mass-delete"
        )
    if dry_run:
        return SyncJobResult(result, text, pulls, None, dry_run=True)
    applied = ApplyResult()
    if result.actions:
        replan = _replanner(rows, key_column, columns)
        applied = apply_plan(writer, source, refs(tgt), tgt, result, replan)
    log.info("sync %s → %s: %s; %s", src.key, tgt.key, text.splitlines()[-1], applied.as_dict())
    return SyncJobResult(result, text, pulls, applied)
