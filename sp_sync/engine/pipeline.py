"""The one write pipeline: every list sp-sync writes is fed by producers.

A :class:`Producer` yields the rows it wants in one target list, each keyed by a
deterministic SyncKey inside the **scope** it owns (a key prefix such as
``copy:public-projects:``, ``finding:``, ``rollup:portfolio:``). :func:`write` then does
the same for every producer:

1. pull the lists the producer reads and the target (each once per run), so the plan is
   made against what SharePoint holds now;
2. plan against the target's mirror (:func:`~sp_sync.domain.plan.plan_merged`: the
   producer's rows sorted by key (:mod:`~sp_sync.engine.keysort`) merged with the key
   index in key order, so memory stays flat; only rows of the scope, never a row without
   SyncKey — people's rows — and never another producer's rows; only the columns the
   producer owns); with ``max_writes`` only the first writes of the plan are this run's,
   the next run plans again and continues (initial load of a large list);
3. refuse a mass delete (the producer's share of its scope, or a source that suddenly
   reads empty) unless the run allows it;
4. on a dry run stop here: the plan is the report; otherwise apply in ``$batch`` of 20
   with the real eTags (:func:`~sp_sync.engine.apply.apply_plan`: 412 → re-read, re-plan,
   retry once; an ambiguous create is looked up by SyncKey before any retry);
5. record every outcome in the run's report.

What happens to rows of the scope that are no longer wanted is the producer's choice
(:class:`~sp_sync.domain.plan.Leftover`): delete, keep, or patch some fields. In lists
people edit, ``create_only`` columns are written on create only, and a row a person
deleted is not created again when ``recreate`` is off: the person's edit wins.

Rows carry typed values keyed by the target's **column keys**; the pipeline writes them
in each column's wire shape (:mod:`sp_sync.domain.write_shape`).
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sp_sync.domain.model import (
    ActionKind,
    ColumnSpec,
    DesiredRow,
    ListSpec,
    RawItem,
    Record,
    Value,
    WriteAction,
)
from sp_sync.domain.normalize import canonicalizer, normalizer
from sp_sync.domain.plan import (
    Leftover,
    Plan,
    Scope,
    SortedRow,
    Unsorted,
    changed_fields,
    check_mass_delete,
    compared_columns,
    format_plan,
    hash_basis,
    plan,
    plan_indexed,
    plan_merged,
)
from sp_sync.domain.write_shape import wire_writer
from sp_sync.engine.apply import ApplyResult, apply_plan
from sp_sync.engine.context import RunContext
from sp_sync.engine.keysort import sorted_rows
from sp_sync.engine.pull import dependencies, pull_lists, remember_created
from sp_sync.engine.records import StoreResolver
from sp_sync.errors import ConfigError

log = logging.getLogger(__name__)

Patch = Callable[[Record], Mapping[str, Value] | None]
"""``patch(current row as a record) -> values (by column key) to set``, for Leftover.PATCH."""


@dataclass
class SourceCount:
    """How many source items the rows came from, for the "source reads empty" guard.
    A producer that filters a source counts every item it looked at, kept or not."""

    value: int | None = None


@dataclass(frozen=True)
class Producer:
    """Rows wanted in one target list, inside one scope (see the module docstring)."""

    name: str  # for logs and the report, e.g. "copy public-projects"
    target: str  # list key of the target in the mapping
    prefix: str  # the SyncKeys it owns start with this (non-empty, ends with ":")
    columns: tuple[str, ...]  # target column keys it owns: the only ones written
    rows: Callable[[], Iterable[DesiredRow]]  # fields: column key → typed value
    reads: tuple[str, ...] = ()  # lists pulled before ``rows`` is called
    leftover: Leftover = Leftover.DELETE
    patch: Patch | None = None
    create_only: tuple[str, ...] = ()  # column keys written on create only
    recreate: bool = True
    mass_delete_share: float = 0.5
    source_count: SourceCount = field(default_factory=SourceCount)
    # Initial load: at most this many writes per run, the rest left to the next runs (the
    # plan is made again against the mirror, so they continue where this one stopped).
    max_writes: int | None = None

    def __post_init__(self) -> None:
        if not self.prefix.endswith(":") or len(self.prefix) < 2:
            raise ValueError(f"producer {self.name!r}: scope prefix {self.prefix!r} must be a "
                             "non-empty key prefix ending with ':'")
        if self.max_writes is not None and self.max_writes < 1:
            raise ValueError(f"producer {self.name!r}: max_writes must be at least 1")


@dataclass
class WriteResult:
    """One producer's plan and what applying it did (``applied`` None on a dry run)."""

    producer: str
    target: str
    plan: Plan
    plan_text: str
    applied: ApplyResult | None = None
    refused: str | None = None  # why the mass-delete guard stopped it
    deferred: int = 0  # planned writes left to later runs (Producer.max_writes)
    progress: str | None = None  # initial load: how far, and the time left

    @property
    def writes(self) -> int:
        return self.applied.written if self.applied else 0


# --------------------------------------------------------------------------- GC pause

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


# --------------------------------------------------------------------------- pipeline


def pull_for(ctx: RunContext, keys: Iterable[str]) -> None:
    """Pull ``keys`` and what reading them needs (people, lookup targets), each list once
    per run, in dependency order."""
    mapping = ctx.mapping
    wanted: list[str] = []
    for key in keys:
        for k in (*sorted(dependencies(mapping.get(key))), key):
            if k in mapping and k not in ctx.pulls and k not in wanted:
                wanted.append(k)
    if wanted:
        ctx.pulls.update(pull_lists(ctx.source, ctx.store, mapping, wanted, ctx.ref, ctx.now,
                                    allow_mass_delete=ctx.allow_mass_delete))


class _Shape:
    """A producer's rows in the target's wire shape (by internal field name)."""

    def __init__(self, ctx: RunContext, producer: Producer, target: ListSpec) -> None:
        self.columns: list[ColumnSpec] = [target.column(k) for k in producer.columns]
        self.writers = [(c.key, c.field_name, wire_writer(c, ctx.tz)) for c in self.columns]

    def row(self, row: DesiredRow) -> DesiredRow:
        values = row.fields
        return DesiredRow(row.sync_key, {name: write(values.get(key))
                                         for key, name, write in self.writers})

    def values(self, values: Mapping[str, Value]) -> dict[str, Any]:
        by_key = {key: (name, write) for key, name, write in self.writers}
        return {by_key[k][0]: by_key[k][1](v) for k, v in values.items() if k in by_key}


def _scope(ctx: RunContext, producer: Producer, target: ListSpec, shape: _Shape) -> Scope:
    patch: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None = None
    if producer.leftover is Leftover.PATCH and producer.patch is not None:
        normalize = normalizer(target, StoreResolver(ctx.store, ctx.mapping), ctx.tz)
        typed_patch = producer.patch

        def patch(fields: Mapping[str, Any]) -> Mapping[str, Any] | None:
            record = Record(list_key=target.key, id="", values=normalize(fields))
            wish = typed_patch(record)
            return shape.values(wish) if wish else None

    return Scope(
        prefix=producer.prefix,
        leftover=producer.leftover,
        patch=patch,
        create_only=frozenset(target.column(k).field_name for k in producer.create_only),
        recreate=producer.recreate,
    )


def _gone_keys(ctx: RunContext, target: ListSpec, key_column: str, prefix: str) -> set[str]:
    """SyncKeys of the scope whose rows were deleted from the list (tombstones)."""
    canon = canonicalizer(key_column)
    live: set[str] = set()
    dead: set[str] = set()
    for item in ctx.store.items(target.key, include_deleted=True):
        key = canon(item.fields.get(key_column))
        if key is not None and str(key).startswith(prefix):
            (dead if item.deleted else live).add(str(key))
    return dead - live


def _replanner(
    rows: Mapping[str, DesiredRow], key_column: str, columns: list[ColumnSpec], scope: Scope
) -> Callable[[RawItem | None, WriteAction], WriteAction | None]:
    """Recompute one action against the item as it is now (after a 412 or a 5xx)."""
    key_canon = canonicalizer(key_column)
    cols = compared_columns(columns, key_column, scope.create_only)

    def replan(fresh: RawItem | None, action: WriteAction) -> WriteAction | None:
        if fresh is None:  # gone: nothing to delete or update any more
            return None
        row = rows.get(str(key_canon(action.sync_key)))
        if action.kind is ActionKind.DELETE:
            return WriteAction(ActionKind.DELETE, action.sync_key, fresh.id, fresh.etag)
        if row is None:  # a leftover patch: patch the item as it is now
            wish = scope.patch(fresh.fields) if scope.patch is not None else None
            diff = changed_fields(wish, fresh.fields, list(wish)) if wish else {}
        else:
            diff = changed_fields({**row.fields, key_column: row.sync_key}, fresh.fields, cols)
        if not diff:
            return None
        return WriteAction(ActionKind.UPDATE, action.sync_key, fresh.id, fresh.etag, diff)

    return replan


def _plan_light(
    ctx: RunContext, producer: Producer, target: ListSpec, key_column: str, shape: _Shape,
    scope: Scope, gone: set[str],
) -> tuple[Plan, dict[str, DesiredRow]]:
    """The plan from the key index, merged in key order (memory flat); if the index is not
    in canonical key order (a key a person padded with blanks), the dict-based plan."""
    canon = canonicalizer(key_column)
    load = lambda ids: ctx.store.get_many(target.key, ids)  # noqa: E731
    initial = producer.source_count.value
    wanted = (shape.row(r) for r in producer.rows())
    ordered = _warn_repeated(producer, sorted_rows(wanted, lambda k: str(canon(k))))
    index = ctx.store.key_index(target.key, key_column, by_key=True)
    try:
        return plan_merged(ordered, index, load, key_column, shape.columns, scope,
                           target=target, gone=gone, limit=producer.max_writes)
    except Unsorted as exc:
        log.info("%s → %s: key index not in key order (%s): planning from a dict of keys",
                 producer.name, target.key, exc)
    finally:
        ordered.close()
    producer.source_count.value = initial  # the rows are produced once more
    return plan_indexed(
        (shape.row(r) for r in producer.rows()), ctx.store.key_index(target.key, key_column),
        load, key_column, shape.columns, scope, target=target, gone=gone,
    )


def _warn_repeated(
    producer: Producer, rows: Iterator[SortedRow]
) -> Generator[SortedRow, None, None]:
    """Rows in key order; a key yielded twice (a data problem in the source) is logged."""
    last: str | None = None
    for row in rows:
        if row[0] == last:
            log.warning("%s yields the SyncKey %r more than once: the last row wins",
                        producer.name, row[2].sync_key)
        last = row[0]
        yield row


def _cap(plan: Plan, limit: int | None) -> Plan:
    """The plan of this run under ``limit`` writes; the rest counted in ``deferred`` (as
    :func:`plan_merged` does it while planning)."""
    if limit is None or len(plan.actions) <= limit:
        return plan
    now, later = plan.actions[:limit], plan.actions[limit:]
    ids = {a.item_id for a in now if a.item_id}
    deferred = dict(plan.deferred)
    for a in later:
        deferred[a.kind.value] = deferred.get(a.kind.value, 0) + 1
    return Plan(
        actions=now, unchanged=plan.unchanged, current_count=plan.current_count,
        desired_count=plan.desired_count, duplicates=plan.duplicates,
        before={k: v for k, v in plan.before.items() if k in ids}, deferred=deferred,
    )


def _progress(res: WriteResult, limit: int, seconds: float) -> str:
    """Initial load: how far the target is, what is left and how long that will take."""
    p = res.plan
    wanted = p.desired_count
    written = res.writes
    creates = p.creates + p.deferred.get(ActionKind.CREATE.value, 0)
    done = max(0, wanted - creates) + (len(res.applied.created) if res.applied else 0)
    runs = math.ceil(res.deferred / limit)
    pace = seconds / written if written else None
    eta = (f"≈ {_duration(res.deferred * pace)} of writing at this run's pace"
           if pace is not None else "time left unknown (nothing written in this run)")
    share = f"{done / wanted:.0%}" if wanted else "—"
    return (f"{res.producer} → {res.target}: initial load, {written} writes in this run "
            f"(max_writes {limit}); {done} of {wanted} rows in the list ({share}); "
            f"{res.deferred} writes left for the next {runs} run(s), {eta}")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{seconds:.0f} s"
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def write_one(ctx: RunContext, producer: Producer) -> WriteResult:
    """Plan and (unless a dry run) apply one producer; see the module docstring."""
    target = ctx.mapping.get(producer.target)
    key_column = target.sync_key_column
    if not key_column:
        raise ConfigError(
            f"list {target.key!r} has no sync_key: add sync_key = \"SyncKey\" to its mapping"
        )
    pull_for(ctx, (*producer.reads, target.key))
    shape = _Shape(ctx, producer, target)
    scope = _scope(ctx, producer, target, shape)
    gone = set() if producer.recreate else _gone_keys(ctx, target, key_column, producer.prefix)
    with gc_paused():
        cols = compared_columns(shape.columns, key_column, scope.create_only)
        if hash_basis(target, cols, key_column) is not None:
            # Light path: (key, id, eTag, hash) per target item, merged in key order with
            # the desired rows; fields only where needed.
            planned, kept = _plan_light(ctx, producer, target, key_column, shape, scope, gone)
        else:  # no hash to decide equality by: every item is diffed anyway
            rows = [shape.row(r) for r in producer.rows()]
            planned = plan(rows, ctx.store.items(target.key), key_column, shape.columns,
                           scope, target=target, gone=gone)
            canon = canonicalizer(key_column)
            kept = {str(canon(r.sync_key)): r for r in rows}
    result = _cap(planned, producer.max_writes)  # the fallback plans hold every action
    deferred = sum(result.deferred.values())
    text = format_plan(result)
    if deferred:
        lines = text.splitlines()
        lines.insert(len(lines) - 1, f"… {deferred} more writes left for later runs "
                                     f"(max_writes {producer.max_writes})")
        text = "\n".join(lines)
    out = WriteResult(producer.name, target.key, result, text, deferred=deferred)
    reason = check_mass_delete(result, producer.mass_delete_share,
                               source_count=producer.source_count.value)
    if reason and not ctx.allow_mass_delete:
        out.refused = (
            f"{producer.name} → {target.key}: {reason}. Nothing was written. Check the "
            "source list; if the deletions are intended, pass --allow-mass-delete"
        )
        return out
    if ctx.dry_run:
        if deferred and producer.max_writes:
            out.progress = _progress(out, producer.max_writes, 0.0)
        return out
    if not result.actions:
        out.applied = ApplyResult()
        return out
    replan = _replanner(kept, key_column, shape.columns, scope)
    started = time.monotonic()
    out.applied = apply_plan(ctx.writer, ctx.source, ctx.ref(target), target, result, replan)
    if deferred and producer.max_writes:
        out.progress = _progress(out, producer.max_writes, time.monotonic() - started)
        log.info("%s", out.progress)
    if not producer.recreate:  # it must see a deletion of these rows, even before a pull
        remember_created(ctx.store, target, out.applied.created, ctx.now)
    log.info("%s → %s: %s; %s", producer.name, target.key, text.splitlines()[-1],
             out.applied.as_dict())
    return out


def write(ctx: RunContext, producers: Iterable[Producer]) -> list[WriteResult]:
    """Run every producer through the pipeline and record the outcomes in ``ctx.report``.

    A producer refused by the mass-delete guard writes nothing and makes the run fail;
    the others still write. Conflicts (a person's edit kept) and failed writes make it
    partial.
    """
    results: list[WriteResult] = []
    for producer in producers:
        res = write_one(ctx, producer)
        results.append(res)
        record(ctx, res)
    return results


def record(ctx: RunContext, res: WriteResult) -> None:
    """A producer's plan and outcome in the run's report."""
    report, p = ctx.report, res.plan
    report.plan.append(f"# {res.producer} → {res.target}")
    report.plan.extend(res.plan_text.splitlines())
    report.add(planned_creates=p.creates, planned_updates=p.updates,
               planned_deletes=p.deletes, written=res.writes)
    if res.deferred:
        report.add(deferred_writes=res.deferred)
    if res.progress:
        report.details.append(res.progress)
    if res.refused:
        report.failures.append(res.refused)
        return
    if res.applied is not None:
        problems = res.applied.conflicts + res.applied.failed
        report.add(conflicts=len(res.applied.conflicts), failed_writes=len(res.applied.failed))
        for o in problems:
            line = f"{o.status.value} {o.action.kind.value} {o.action.sync_key}: {o.error or ''}"
            report.details.append(line)
            report.problems.append(line)
