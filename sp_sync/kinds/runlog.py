"""Kind ``runlog``: the run history in a SharePoint list (SyncProtokoll), for admins who
look at SharePoint rather than a shell.

One producer of the write pipeline, scope ``run:``: every finished run of the last
``keep_days`` (from the state store's run history, :meth:`~sp_sync.ports.RunHistory.
runs_since`) becomes one row keyed ``run:<run id>`` (see :mod:`sp_sync.domain.runlog`).
A run that is still going — this job's own run among them — gets its row in the next run
after it finished; schedule the job after the others. A finished run never changes, so
its row is written once; rows whose run began before ``keep_days`` are deleted.

The mass-delete guard: retention deletes by the row's own start time only (a row whose
run the store no longer knows is kept until it ages out), so a big share of deletions
means the admin shortened ``keep_days`` or the service stood still for a long time —
both intended. The producer therefore allows any share (``mass_delete_share = 1.0``)
and a new or restored state store still cannot empty the list.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pydantic import Field

from sp_sync.domain.model import ColumnType, DesiredRow, ListSpec
from sp_sync.domain.normalize import canonicalizer, normalizer
from sp_sync.domain.plan import Leftover
from sp_sync.domain.runlog import (
    COLUMNS,
    FINISHED,
    NOTE_LIMIT,
    PREFIX,
    REQUIRED,
    STATUS_LABELS_DE,
    TEXT_LIMIT,
    cutoff,
    run_fields,
    run_key,
    still_kept,
    wanted_runs,
)
from sp_sync.engine.context import RunContext
from sp_sync.engine.pipeline import Producer, write
from sp_sync.engine.records import StoreResolver
from sp_sync.kinds.base import CheckEnv, JobKind, KindParams, Report


class RunlogParams(KindParams):
    """Keep the run history of the last ``keep_days`` in the list ``list``."""

    keep_days: int = Field(default=90, ge=1, le=3650)
    list: str = "run_log"
    # Run status (ok, partial, failed) → what the Status column shows; with a choice
    # column every label must be one of its choices (English: OK, Partial, Failed).
    labels: dict[str, str] = Field(default_factory=lambda: dict(STATUS_LABELS_DE))


def owned_columns(target: ListSpec) -> tuple[str, ...]:
    """The run-log columns the target list has (a site's list may leave some out)."""
    have = {c.key for c in target.columns}
    return tuple(k for k in COLUMNS if k in have)


def _message_limit(target: ListSpec) -> int:
    have = {c.key: c for c in target.columns}
    col = have.get("message")
    return TEXT_LIMIT if col is not None and col.type is ColumnType.TEXT else NOTE_LIMIT


def runlog_producer(ctx: RunContext, params: RunlogParams,
                    counts: dict[str, int] | None = None) -> Producer:
    """The rows the run-log list should hold now, as a producer of the write pipeline
    (``counts``, when given, receives how many rows come from runs and how many are kept
    without a run in the store)."""
    tally = counts if counts is not None else {}
    target = ctx.mapping.get(params.list)
    columns = owned_columns(target)
    since = cutoff(ctx.now, params.keep_days)
    limit = _message_limit(target)

    def rows() -> Iterator[DesiredRow]:
        seen: set[str] = set()
        for run in wanted_runs(ctx.store.runs_since(since), since):
            fields = run_fields(run, params.labels, limit)
            seen.add(run_key(run.id))
            tally["runs_listed"] = tally.get("runs_listed", 0) + 1
            yield DesiredRow(run_key(run.id), {k: fields[k] for k in columns})
        for row in _young_rows_without_run(ctx, target, columns, since, seen):
            tally["rows_kept_without_run"] = tally.get("rows_kept_without_run", 0) + 1
            yield row

    return Producer(
        name=f"runlog {ctx.job}",
        target=target.key,
        prefix=PREFIX,
        columns=columns,
        rows=rows,
        leftover=Leftover.DELETE,
        mass_delete_share=1.0,  # retention by age only: see the module docstring
    )


def _young_rows_without_run(ctx: RunContext, target: ListSpec, columns: tuple[str, ...],
                            since: datetime, seen: set[str]) -> Iterator[DesiredRow]:
    """Rows of the scope whose run the store does not know (a new or restored store),
    wanted as they are while they are young enough. Only those rows are read in full:
    the key index tells them apart from the rows just produced."""
    key_column = target.sync_key_column
    assert key_column  # checked by the pipeline before it asks for rows
    canon = canonicalizer(key_column)
    ids: list[str] = []
    for value, item_id, _etag, _hash in ctx.store.key_index(target.key, key_column):
        key = canon(value)
        if key is not None and str(key).startswith(PREFIX) and str(key) not in seen:
            ids.append(item_id)
    if not ids:
        return
    normalize = normalizer(target, StoreResolver(ctx.store, ctx.mapping), ctx.tz)
    for _id, item in sorted(ctx.store.get_many(target.key, ids).items()):
        key = str(canon(item.fields.get(key_column)))
        values = normalize(item.fields)
        if key in seen or not still_kept(values.get("started"), since):
            continue
        seen.add(key)
        yield DesiredRow(key, {k: values.get(k) for k in columns})


class RunlogKind(JobKind[RunlogParams]):
    name = "runlog"
    params_model = RunlogParams
    summary = "the run history (one row per run) in a SharePoint list, kept for keep_days"
    writes_lists = True

    def list_refs(self, raw: dict[str, object]) -> list[tuple[str, object]]:
        return [("params.list", raw["list"])] if "list" in raw else []

    def check(self, params: RunlogParams, env: CheckEnv, bad: Report) -> RunlogParams:
        target = env.target_list(bad, "params.list", params.list, "the run log")
        if target is None:
            return params
        have = {c.key: c for c in target.columns}
        missing = [k for k in REQUIRED if k not in have]
        if missing:
            bad("params.list", f"list {target.key!r} has no column {', '.join(missing)}",
                f"map at least {', '.join(REQUIRED)} (see [lists.run_log] in "
                "config/lists.toml for all run-log columns)")
        for status in FINISHED:
            if status not in params.labels:
                bad(f"params.labels.{status}", "missing",
                    f"name the label the Status column shows for {status!r} runs")
        for status in params.labels:
            if status not in FINISHED:
                bad(f"params.labels.{status}", f"no run status {status!r}",
                    f"use {', '.join(FINISHED)}")
        col = have.get("status")
        if col is not None and col.type is ColumnType.CHOICE:
            for status, label in params.labels.items():
                if label not in col.choices:
                    bad(f"params.labels.{status}", f"{label!r} is no choice of the Status "
                        f"column of {target.key!r}",
                        f"use one of {', '.join(col.choices)} or add it to the choices")
        return params

    def run(self, ctx: RunContext, params: RunlogParams) -> None:
        target = ctx.mapping.get(params.list)
        since = cutoff(ctx.now, params.keep_days)
        counts: dict[str, int] = {}
        write(ctx, [runlog_producer(ctx, params, counts)])
        ctx.report.add(**counts)
        ctx.report.details.append(
            f"{target.title}: runs begun since {since.astimezone(ctx.tz):%Y-%m-%d %H:%M} "
            f"(keep_days {params.keep_days})")


KIND = RunlogKind()
