"""Kind ``sync``: a filtered subset of a source list, copied one way into a target list.

One producer of the write pipeline, scope ``copy:<job>:``: each matching source item
becomes one row keyed ``copy:<job>:<key>`` (the key column's text, or the item id).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import date

from pydantic import Field

from sp_sync.domain.model import DesiredRow, Lookup, Person, Record, Value
from sp_sync.domain.plan import Leftover
from sp_sync.domain.write_shape import text_of
from sp_sync.engine.context import RunContext
from sp_sync.engine.pipeline import Producer, SourceCount, write
from sp_sync.engine.records import iter_records
from sp_sync.kinds.base import CheckEnv, JobKind, KindParams, Report

log = logging.getLogger(__name__)

Scalar = str | int | float | bool
RU_PER_WRITE = 2  # SharePoint's resource units per item write (create, update, delete)


class SyncParams(KindParams):
    """One-way list-to-list sync of (a filtered subset of) ``source`` into ``target``."""

    source: str
    target: str
    filter: dict[str, Scalar] = Field(default_factory=dict)  # equality
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


def _equal(value: Value, want: Scalar) -> bool:
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


def matches(record: Record, filter: Mapping[str, Scalar]) -> bool:
    """Equality on normalised values; people match by name/e-mail/id, lookups by title/id."""
    return all(_equal(record[k], want) for k, want in filter.items())


def copy_producer(ctx: RunContext, job: str, params: SyncParams) -> Producer:
    """The rows ``params`` wants in its target, as a producer of the write pipeline."""
    prefix = f"copy:{job}:"
    counted = SourceCount(0)

    def rows() -> Iterator[DesiredRow]:
        # Two items with the same key (a data problem in the source): the later wins, and
        # the pipeline logs it when it sorts the rows by key — no set of every key here.
        pairs = list(params.columns.items())
        for rec in iter_records(ctx.store, ctx.mapping, params.source, ctx.tz):
            counted.value = (counted.value or 0) + 1
            if params.filter and not matches(rec, params.filter):
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
        reads=(params.source,),
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
        bad_tgt = env.unknown_list(bad, "params.target", params.target)
        if bad_src or bad_tgt:
            return params
        src, tgt = env.mapping.get(params.source), env.mapping.get(params.target)
        if tgt.role != "target":
            bad("params.target", f"list {tgt.key!r} has role {tgt.role!r}",
                'sync only writes lists with role = "target" in the mapping')
        src_cols = {c.key for c in src.columns}
        tgt_cols = {c.key for c in tgt.columns}
        for col in params.filter:
            if col not in src_cols:
                bad(f"params.filter.{col}", f"list {src.key!r} has no column {col!r}",
                    f"use one of {', '.join(sorted(src_cols))}")
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
