"""Kind ``sync``: a filtered subset of a source list, copied one way into a target list.

One producer of the write pipeline, scope ``copy:<job>:``: each matching source item
becomes one row keyed ``copy:<job>:<key>`` (the key column's text, or the item id). The
``filter`` is a condition like every other in job files (docs/conditions.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pydantic import Field

from sp_sync.domain.conditions import (
    Condition,
    EvalEnv,
    Evaluator,
    RuleError,
    compile_condition,
    parse_condition,
)
from sp_sync.domain.model import DesiredRow, ListMapping, Record
from sp_sync.domain.plan import Leftover
from sp_sync.domain.write_shape import text_of
from sp_sync.engine.context import RunContext
from sp_sync.engine.pipeline import Producer, SourceCount, write
from sp_sync.engine.records import iter_records, load_records
from sp_sync.errors import ConfigError
from sp_sync.kinds.base import CheckEnv, JobKind, KindParams, Report

log = logging.getLogger(__name__)

RU_PER_WRITE = 2  # SharePoint's resource units per item write (create, update, delete)


class SyncParams(KindParams):
    """One-way list-to-list sync of (a filtered subset of) ``source`` into ``target``."""

    source: str
    target: str
    filter: dict[str, Any] = Field(default_factory=dict)  # a condition (docs/conditions.md)
    columns: dict[str, str]  # target column key → source column key
    key: str | None = None  # source column key for the SyncKey; None: the item id
    delete: bool = True
    allow_mass_delete: bool = False
    mass_delete_share: float = Field(default=0.5, gt=0, le=1)
    # Initial load of a large target on a small tenant: write at most this much per run and
    # leave the rest to the next runs (each plans again against the mirror, so it goes on
    # where the last stopped). Either a number of writes, or the resource units the run may
    # spend on writes (a create, update or delete in a $batch costs RU_PER_WRITE).
    max_writes_per_run: int | None = Field(default=None, gt=0)
    write_ru_per_run: int | None = Field(default=None, ge=RU_PER_WRITE)

    def write_limit(self) -> int | None:
        """The writes one run may make (the smaller of the two limits), None: no limit."""
        limits = [n for n in (self.max_writes_per_run,
                              self.write_ru_per_run and self.write_ru_per_run // RU_PER_WRITE)
                  if n]
        return min(limits) if limits else None


def source_filter(params: SyncParams, mapping: ListMapping, job: str) -> Condition:
    """The copy's ``filter`` compiled against the source list (checked when jobs load)."""
    try:
        return parse_condition(params.filter, mapping.get(params.source), "params.filter",
                               mapping)
    except RuleError as e:
        raise ConfigError(f"job {job!r}: {e}") from e


def copy_producer(ctx: RunContext, job: str, params: SyncParams) -> Producer:
    """The rows ``params`` wants in its target, as a producer of the write pipeline."""
    prefix = f"copy:{job}:"
    counted = SourceCount(0)
    condition = source_filter(params, ctx.mapping, job)
    lookups: dict[str, dict[str, Record]] = {}

    def items(list_key: str) -> dict[str, Record]:
        """Items of a list the filter reads through a lookup (loaded once per run)."""
        if list_key not in lookups:
            lookups[list_key] = {r.id: r for r in load_records(ctx.store, ctx.mapping,
                                                               list_key, ctx.tz)}
        return lookups[list_key]

    def rows() -> Iterator[DesiredRow]:
        ev = Evaluator(EvalEnv(ctx.now.astimezone(ctx.tz).date(), ctx.tz), items)
        # Two items with the same key (a data problem in the source): the later wins, and
        # the pipeline logs it when it sorts the rows by key — no set of every key here.
        pairs = list(params.columns.items())
        for rec in iter_records(ctx.store, ctx.mapping, params.source, ctx.tz):
            counted.value = (counted.value or 0) + 1
            if not ev.holds(condition, rec):
                continue
            key = text_of(rec[params.key]) if params.key else rec.id
            if not key:
                log.warning("%s item %s has no %s: not copied", params.source, rec.id,
                            params.key)
                continue
            values = rec.values
            yield DesiredRow(prefix + key, {t: values.get(s) for t, s in pairs})

    return Producer(
        name=f"copy {job}",
        target=params.target,
        prefix=prefix,
        columns=tuple(params.columns),
        rows=rows,
        reads=tuple(dict.fromkeys((params.source, *condition.lists))),
        leftover=Leftover.DELETE if params.delete else Leftover.KEEP,
        mass_delete_share=params.mass_delete_share,
        source_count=counted,
        max_writes=params.write_limit(),
    )


class SyncKind(JobKind[SyncParams]):
    name = "sync"
    params_model = SyncParams
    summary = "copy (a filtered subset of) a list into a target list"
    writes_lists = True

    def freshens(self, params: SyncParams) -> list[str]:
        return [params.source]

    def list_refs(self, raw: dict[str, object]) -> list[tuple[str, object]]:
        return [(f"params.{k}", raw[k]) for k in ("source", "target") if k in raw]

    def check(self, params: SyncParams, env: CheckEnv, bad: Report) -> SyncParams:
        bad_src = env.unknown_list(bad, "params.source", params.source)
        tgt = env.target_list(bad, "params.target", params.target, "sync")
        if bad_src or tgt is None:
            return params
        src = env.mapping.get(params.source)
        src_cols = {c.key for c in src.columns}
        tgt_cols = {c.key for c in tgt.columns}
        compile_condition(params.filter, env.mapping, src.key, "params.filter", bad)
        if not params.columns:
            bad("params.columns", "empty", "map at least one target column to a source column")
        for t, s in params.columns.items():
            if t not in tgt_cols:
                bad(f"params.columns.{t}", f"list {tgt.key!r} has no column {t!r}",
                    f"use one of {', '.join(sorted(tgt_cols))}")
            if s not in src_cols:
                bad(f"params.columns.{t}", f"list {src.key!r} has no column {s!r}",
                    f"use one of {', '.join(sorted(src_cols))}")
        if params.key is not None and params.key not in src_cols:
            bad("params.key", f"list {src.key!r} has no column {params.key!r}",
                "use a source column key, or leave key out to use the item id")
        return params

    def run(self, ctx: RunContext, params: SyncParams) -> None:
        if params.allow_mass_delete:
            ctx.allow_mass_delete = True
        write(ctx, [copy_producer(ctx, ctx.job, params)])


KIND = SyncKind()
