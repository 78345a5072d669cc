"""Kind ``pull``: mirror lists into the state store (delta, one cursor per list).

A list that fails keeps its cursor while the others go on; columns that no longer match
SharePoint are left out (see ``sp_sync.engine.schema``) and make the run partial.
"""

from __future__ import annotations

import logging

from sp_sync.engine.context import RunContext
from sp_sync.engine.pull import dependency_order
from sp_sync.engine.schema import pull_checked, schema_message
from sp_sync.errors import AuthError, BudgetExhausted, SpSyncError
from sp_sync.kinds.base import CheckEnv, JobKind, KindParams, Report

log = logging.getLogger(__name__)


class PullParams(KindParams):
    """Mirror lists into the state store. After loading, ``lists`` is never empty."""

    lists: tuple[str, ...] = ()  # list keys; empty in the file = every list with role source
    full: bool = False  # full re-enumeration: reconciles deletions a delta may have missed


class PullKind(JobKind[PullParams]):
    name = "pull"
    params_model = PullParams
    summary = "mirror lists into the state store (delta, field history)"

    def check(self, params: PullParams, env: CheckEnv, bad: Report) -> PullParams:
        for i, key in enumerate(params.lists):
            env.unknown_list(bad, f"params.lists.{i}", key)
        if not params.lists:
            sources = tuple(s.key for s in env.mapping.lists if s.role == "source")
            return params.model_copy(update={"lists": sources})
        return params

    def freshens(self, params: PullParams) -> list[str]:
        return list(params.lists)

    def list_refs(self, raw: dict[str, object]) -> list[tuple[str, object]]:
        lists = raw.get("lists")
        return [(f"params.lists.{i}", v) for i, v in enumerate(lists)] \
            if isinstance(lists, list) else []

    def run(self, ctx: RunContext, params: PullParams) -> None:
        report = ctx.report
        report.add(lists=0, items_seen=0, created=0, updated=0, deleted=0)
        problems = []
        # Job files always name their lists (``check`` fills the default); this is for
        # jobs built in code.
        keys = params.lists or [s.key for s in ctx.mapping.lists if s.role == "source"]
        for key in dependency_order(ctx.mapping, keys):
            spec = ctx.mapping.get(key)
            try:
                result, found = pull_checked(ctx.source, ctx.store, spec, ctx.ref(spec),
                                             ctx.now, full=params.full)
            except (AuthError, BudgetExhausted):
                raise
            except SpSyncError as exc:
                line = f"{spec.key} ({spec.title}): {exc}"
                report.details.append(line)
                report.problems.append(line)
                log.warning("pull of %s failed: %s", spec.key, exc)
                continue
            ctx.pulls[key] = result
            problems += found
            report.details.extend(p.message for p in found)
            report.add(lists=1, items_seen=result.items_seen, created=result.created,
                       updated=result.updated, deleted=result.deleted,
                       full_enumerations=int(result.full_enumeration))
            report.details.append(
                f"{spec.key}: {result.items_seen} seen, +{result.created} ~{result.updated} "
                f"-{result.deleted}{' (full)' if result.full_enumeration else ''}"
            )
            if ctx.dry_run:
                report.plan.append(
                    f"pull {spec.key}: {result.items_seen} seen, would create "
                    f"{result.created}, update {result.updated}, delete {result.deleted}"
                    f"{' (full enumeration)' if result.full_enumeration else ''}"
                )
        if problems:
            report.figures["schema_problems"] = len(problems)
            report.problems.append(schema_message(problems))
        if report.problems and not report.figures["lists"]:
            report.failures.extend(report.problems)


KIND = PullKind()
