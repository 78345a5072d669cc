"""Kind ``rollup``: a declared roll-up (see :mod:`sp_sync.domain.rollup`) kept in a list.

One producer of the write pipeline, scope ``rollup:<job>:``: every group of every grain
becomes one row keyed ``rollup:<job>:<grain>:<group key>``; groups that vanish are
deleted under the mass-delete guard. The whole roll-up is recomputed from the mirror on
every run (cheap: see docs/performance.md) and the pipeline writes only the rows whose
numbers changed, so a run with nothing changed writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field

from sp_sync.domain.model import ActionKind, DesiredRow, ListSpec, Record, Value
from sp_sync.domain.plan import Leftover
from sp_sync.domain.rollup import (
    GroupRow,
    RollupError,
    RollupSpec,
    check_target,
    compile_rollup,
    compute,
    target_columns,
)
from sp_sync.domain.write_shape import text_of
from sp_sync.engine.context import RunContext
from sp_sync.engine.pipeline import Producer, SourceCount, WriteResult, write
from sp_sync.engine.records import StoreResolver, load_records
from sp_sync.errors import ConfigError
from sp_sync.kinds.base import CheckEnv, JobKind, KindParams, Report

log = logging.getLogger(__name__)


class RollupParams(KindParams):
    """A roll-up declaration (syntax: docs/rollups.md) and the list it is written into."""

    source: str
    target: str
    grain_column: str | None = None  # target column that names the grain of a row
    empty_label: str = "(ohne)"
    filter: dict[str, Any] = Field(default_factory=dict)
    window: dict[str, Any] = Field(default_factory=dict)
    grains: list[dict[str, Any]]
    measures: dict[str, dict[str, Any]]
    allow_mass_delete: bool = False
    mass_delete_share: float = Field(default=0.5, gt=0, le=1)

    def declaration(self) -> dict[str, Any]:
        return self.model_dump(exclude={"target", "allow_mass_delete", "mass_delete_share"})


def compile_params(params: RollupParams, mapping: Any) -> RollupSpec:
    return compile_rollup(params.declaration(), mapping)


def load_inputs(ctx: RunContext, spec: RollupSpec) -> dict[str, list[Record]]:
    """Live records of every list the roll-up reads, through one resolver."""
    resolver = StoreResolver(ctx.store, ctx.mapping)
    return {k: load_records(ctx.store, ctx.mapping, k, ctx.tz, resolver) for k in spec.lists}


def desired(prefix: str, spec: RollupSpec, rows: list[GroupRow]) -> Iterator[DesiredRow]:
    for row in rows:
        fields: dict[str, Value] = {}
        if spec.grain_column:
            fields[spec.grain_column] = row.grain
        fields.update(row.group)
        fields.update(row.values)
        yield DesiredRow(prefix + row.key, fields)


def label_of(row: GroupRow) -> str:
    """A group as people read it: ``Fachbereich · Bürgerdienste``."""
    shown = [text_of(v) or "—" for v in row.group.values()]
    return " · ".join([row.grain, *shown])


def rollup_producer(ctx: RunContext, job: str, params: RollupParams,
                    labels: dict[str, str] | None = None) -> Producer:
    """The roll-up's rows as a producer of the write pipeline (``labels``, when given,
    receives each row's SyncKey → :func:`label_of`)."""
    try:
        spec = compile_params(params, ctx.mapping)
    except RollupError as e:
        raise ConfigError(f"job {job!r}: {e}") from e
    prefix = f"rollup:{job}:"
    counted = SourceCount()

    def rows() -> Iterator[DesiredRow]:
        records = load_inputs(ctx, spec)
        counted.value = len(records.get(spec.source, ()))
        today = ctx.now.astimezone(ctx.tz).date()
        computed = compute(spec, records, today, ctx.tz)
        if labels is not None:
            labels.update((prefix + r.key, label_of(r)) for r in computed)
        yield from desired(prefix, spec, computed)

    return Producer(
        name=f"rollup {job}",
        target=params.target,
        prefix=prefix,
        columns=target_columns(spec),
        rows=rows,
        reads=spec.lists,
        leftover=Leftover.DELETE,
        mass_delete_share=params.mass_delete_share,
        source_count=counted,
    )


def readable_changes(target: ListSpec, res: WriteResult, labels: Mapping[str, str],
                     tz: ZoneInfo, grain_column: str | None = None) -> list[str]:
    """The plan in the list's own words: ``~ Dezernat · Dezernat II: Umsetzung 3 → 4``.

    The pipeline's plan text names internal field names and raw wire values; people who
    read a dry run of a roll-up want the groups and numbers as SharePoint shows them.
    """
    order = {c.field_name: i for i, c in enumerate(target.columns)}
    names = {c.field_name: c.display or c.key for c in target.columns}
    in_label = {target.sync_key_column, "Title"}  # shown in the group label already
    if grain_column:
        in_label.add(target.column(grain_column).field_name)
    out: list[str] = []
    for a in res.plan.actions:
        group = labels.get(a.sync_key) or a.sync_key.split(":", 2)[-1]
        if a.kind is ActionKind.DELETE:
            out.append(f"- {group}: entfällt")
            continue
        old: Mapping[str, Any] = res.plan.before.get(a.item_id or "", {})
        parts = []
        for name, new in sorted(a.fields.items(), key=lambda kv: order.get(kv[0], 999)):
            if name in in_label and a.kind is ActionKind.CREATE:
                continue
            label = names.get(name, name)
            if a.kind is ActionKind.CREATE:
                parts.append(f"{label} {_show(new, tz)}")
            else:
                parts.append(f"{label} {_show(old.get(name), tz)} → {_show(new, tz)}")
        sign = "+" if a.kind is ActionKind.CREATE else "~"
        out.append(f"{sign} {group}: {', '.join(parts)}")
    return out


def _show(v: Any, tz: ZoneInfo) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, str) and len(v) >= 19 and v[4] == "-" and v[10] == "T":
        try:  # a date in wire shape (local midnight in UTC): show the local day
            moment = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return v
        return f"{moment.astimezone(tz):%d.%m.%Y}"
    return str(v)


class RollupKind(JobKind[RollupParams]):
    name = "rollup"
    params_model = RollupParams
    summary = "aggregate a list (groups, counts, sums, rates) into a target list"
    writes_lists = True

    def list_refs(self, raw: dict[str, object]) -> list[tuple[str, object]]:
        return [(f"params.{k}", raw[k]) for k in ("source", "target") if k in raw]

    def check(self, params: RollupParams, env: CheckEnv, bad: Report) -> RollupParams:
        bad_src = env.unknown_list(bad, "params.source", params.source)
        tgt = env.target_list(bad, "params.target", params.target, "a roll-up")
        if bad_src or tgt is None:
            return params
        try:
            spec = compile_params(params, env.mapping)
        except RollupError as e:
            for key, reason, hint in e.problems:
                bad(f"params.{key}", reason, hint)
            return params
        for key, reason, hint in check_target(spec, tgt):
            bad(f"params.{key}", reason, hint)
        return params

    def run(self, ctx: RunContext, params: RollupParams) -> None:
        if params.allow_mass_delete:
            ctx.allow_mass_delete = True
        labels: dict[str, str] = {}
        results = write(ctx, [rollup_producer(ctx, ctx.job, params, labels)])
        target = ctx.mapping.get(params.target)
        for res in results:
            lines = readable_changes(target, res, labels, ctx.tz, params.grain_column)
            ctx.report.details.extend(lines)
            ctx.report.add(groups_changed=len(lines))


KIND = RollupKind()
