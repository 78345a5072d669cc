"""Runs one job now: pull, sync, digest or reminders, over the ports only.

Each run is recorded in the state store's run history with what it cost (requests,
resource units, writes, mails). Outcome rules:
- ``ok``: everything the job does succeeded;
- ``partial``: throttling outlived the run's time budget, or some lists/rows failed while
  the rest went through; whatever did not finish keeps its old cursor and runs next time;
- ``failed``: nothing useful happened (bad auth, missing list, store down …).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sp_sync.domain.model import ListMapping, ListSpec
from sp_sync.domain.schema import SchemaProblem
from sp_sync.engine.pull import PullResult, dependency_order
from sp_sync.engine.schema import pull_checked, schema_message
from sp_sync.engine.sync_job import SyncParamsLike, run_sync_job
from sp_sync.errors import (
    AuthError,
    BudgetExhausted,
    MassDeleteRefused,
    SpSyncError,
    TransientError,
)
from sp_sync.ports import Clock, ListRef, ListSource, ListWriter, RequestStats, StateStore

log = logging.getLogger(__name__)


class MailJobs(Protocol):
    """What the runner needs from the digest side (wired in ``sp_sync.app.wiring``)."""

    def run(self, job_name: str, kind: str, params: Any, now: datetime) -> dict[str, Any]:
        """Send what is due for the job; returns stats such as {"sent": 1, "late": 0}."""
        ...


@dataclass
class Services:
    """Everything a job run needs, as ports (adapters are chosen in ``sp_sync.app.wiring``)."""

    mapping: ListMapping
    store: StateStore
    source: ListSource
    writer: ListWriter
    clock: Clock
    tz: ZoneInfo
    site_url: str
    stats: RequestStats
    mail_jobs: MailJobs | None = None
    # Starts the run's time budget in the HTTP policy (a daemon's connection outlives runs).
    begin_run: Callable[[], None] | None = None
    on_run: list[Callable[[str, str, dict[str, Any]], None]] = field(default_factory=list)


@dataclass
class RunOutcome:
    job: str
    status: str  # ok | partial | failed
    stats: dict[str, Any]
    message: str | None = None
    details: list[str] = field(default_factory=list)
    plan_text: str | None = None


class JobLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def params(self) -> Any: ...


def ref_for(services: Services, spec: ListSpec) -> ListRef:
    return ListRef(site_url=spec.site_url or services.site_url, title=spec.title)


def source_list_keys(mapping: ListMapping) -> list[str]:
    return [s.key for s in mapping.lists if s.role == "source"]


def run_pull(
    services: Services, keys: Sequence[str], full: bool
) -> tuple[str, list[str], dict[str, Any]]:
    """Pull lists one by one: a list that fails keeps its cursor; the others go on.

    Columns that no longer match SharePoint are left out (see ``sp_sync.engine.schema``)
    and make the run "partial"; ``totals["message"]`` then names them.
    """
    now = services.clock.now()
    details: list[str] = []
    totals: dict[str, Any] = {"lists": 0, "items_seen": 0, "created": 0, "updated": 0, "deleted": 0}
    failures = 0
    problems: list[SchemaProblem] = []
    for key in dependency_order(services.mapping, keys or source_list_keys(services.mapping)):
        spec = services.mapping.get(key)
        try:
            result: PullResult
            result, found = pull_checked(
                services.source, services.store, spec, ref_for(services, spec), now, full=full
            )
        except (AuthError, BudgetExhausted):
            raise
        except SpSyncError as exc:
            failures += 1
            details.append(f"{spec.key} ({spec.title}): {exc}")
            log.warning("pull of %s failed: %s", spec.key, exc)
            continue
        problems += found
        details.extend(p.message for p in found)
        totals["lists"] += 1
        totals["items_seen"] += result.items_seen
        totals["created"] += result.created
        totals["updated"] += result.updated
        totals["deleted"] += result.deleted
        details.append(
            f"{spec.key}: {result.items_seen} seen, +{result.created} ~{result.updated} "
            f"-{result.deleted}{' (full)' if result.full_enumeration else ''}"
        )
    if problems:
        totals["schema_problems"] = len(problems)
        totals["message"] = schema_message(problems)
    if failures == 0 and not problems:
        return "ok", details, totals
    status = "partial" if totals["lists"] else "failed"
    return status, details, totals


def run_job(
    services: Services,
    job: JobLike,
    *,
    dry_run: bool = False,
    allow_mass_delete: bool = False,
) -> RunOutcome:
    """Run one job now and record it in the run history."""
    store = services.store
    started = services.clock.now()
    before = services.stats.as_dict()
    run_id = store.start_run(job.name, started)
    if services.begin_run is not None:
        services.begin_run()
    status: str = "ok"
    message: str | None = None
    details: list[str] = []
    extra: dict[str, Any] = {}
    plan_text: str | None = None
    try:
        if job.kind == "pull":
            status, details, extra = run_pull(
                services, list(job.params.lists), bool(job.params.full)
            )
            message = extra.pop("message", None)
        elif job.kind == "sync":
            params: SyncParamsLike = job.params
            result = run_sync_job(
                params,
                services.mapping,
                services.source,
                services.writer,
                services.store,
                lambda spec: ref_for(services, spec),
                services.tz,
                started,
                dry_run=dry_run,
                allow_mass_delete=allow_mass_delete or bool(job.params.allow_mass_delete),
            )
            plan_text = result.plan_text
            extra = {
                "planned_creates": result.plan.creates,
                "planned_updates": result.plan.updates,
                "planned_deletes": result.plan.deletes,
                "written": result.writes,
            }
            if result.applied is not None:
                problems = result.applied.conflicts + result.applied.failed
                details = [
                    f"{o.status.value} {o.action.kind.value} {o.action.sync_key}: {o.error or ''}"
                    for o in problems
                ]
                extra["conflicts"] = len(result.applied.conflicts)
                extra["failed_writes"] = len(result.applied.failed)
                if problems:
                    status = "partial"
        elif job.kind in ("digest", "reminders"):
            if services.mail_jobs is None:
                raise SpSyncError("no mail transport configured for mail jobs")
            extra = services.mail_jobs.run(job.name, job.kind, job.params, started)
            if extra.get("failed"):
                status = "partial"
        else:  # the job loader rejects unknown kinds; this guards programming errors
            raise SpSyncError(f"unknown job kind {job.kind!r}")
    except AuthError as exc:  # recorded, then raised: the admin must act before any run works
        store.finish_run(run_id, "failed", services.clock.now(), _cost(services, before), str(exc))
        raise
    except BudgetExhausted as exc:
        status, message = "partial", f"time budget exhausted while throttled: {exc}"
    except MassDeleteRefused as exc:
        status, message = "failed", str(exc)
    except TransientError as exc:
        status, message = "partial", f"Microsoft 365 unavailable, will retry next run: {exc}"
    except SpSyncError as exc:
        status, message = "failed", str(exc)
    except Exception as exc:  # recorded, then re-raised: a bug must not look like success
        store.finish_run(run_id, "failed", services.clock.now(), _cost(services, before),
                         f"internal error: {exc!r}")
        raise
    stats = {**_cost(services, before), **extra}
    if dry_run:
        stats["dry_run"] = True
    store.finish_run(run_id, status, services.clock.now(), stats, message)
    for hook in services.on_run:
        hook(job.name, status, stats)
    return RunOutcome(job.name, status, stats, message, details, plan_text)


def _cost(services: Services, before: dict[str, float]) -> dict[str, Any]:
    after = services.stats.as_dict()
    return {k: round(after[k] - before.get(k, 0), 3) for k in after}
