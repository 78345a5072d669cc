"""Runs one job now: gives it a context of its own, records it, maps errors to outcomes.

What a job does is its kind's business (``sp_sync.kinds``); the runner only

* opens a :class:`~sp_sync.engine.context.RunContext` with a fresh meter (the run's own
  request/RU counters and time budget) and, for a dry run, a scratch store that keeps every
  change in memory — so a dry run of any kind changes nothing outside the process;
* records the run in the run history (a dry run too, marked as one);
* maps errors to outcomes, in this one place:

  - ``ok``: everything the job does succeeded;
  - ``partial``: throttling outlived the run's time budget, Microsoft 365 was unavailable,
    or some lists/rows/mails failed while the rest went through; whatever did not finish
    keeps its old cursor or pending mail and runs next time;
  - ``failed``: nothing useful happened (bad configuration, missing list, mass delete
    refused …). ``AuthError`` and unexpected exceptions are recorded, then re-raised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from sp_sync.engine.context import Kind, RunContext, Services
from sp_sync.errors import AuthError, BudgetExhausted, SpSyncError, TransientError
from sp_sync.ports import RunMeter, metered

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    job: str
    status: str  # ok | partial | failed
    stats: dict[str, Any]
    message: str | None = None
    details: list[str] = field(default_factory=list)
    plan_text: str | None = None
    dry_run: bool = False


class JobLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def params(self) -> Any: ...


def kind_of(services: Services, job: JobLike) -> Kind:
    try:
        return services.kinds[job.kind]
    except KeyError:  # the job loader rejects unknown kinds; this guards wiring errors
        raise SpSyncError(f"unknown job kind {job.kind!r}") from None


def run_job(
    services: Services,
    job: JobLike,
    *,
    dry_run: bool = False,
    allow_mass_delete: bool = False,
) -> RunOutcome:
    """Run one job now in a context of its own and record it in the run history."""
    started = services.clock.now()
    store = services.store
    if dry_run:
        if services.scratch_store is None:
            raise SpSyncError("dry runs need a scratch store (wiring)")
        store = services.scratch_store(services.store)
    ctx = RunContext(job=job.name, services=services, now=started, store=store,
                     meter=RunMeter(), dry_run=dry_run, allow_mass_delete=allow_mass_delete)
    run_id = services.store.start_run(job.name, started)  # a dry run is recorded too
    message: str | None = None
    status = "ok"
    try:
        with metered(ctx.meter):
            kind_of(services, job).run(ctx, job.params)
    except AuthError as exc:  # recorded, then raised: the admin must act before any run works
        _finish(ctx, run_id, "failed", str(exc))
        raise
    except BudgetExhausted as exc:
        status, message = "partial", f"time budget exhausted while throttled: {exc}"
    except TransientError as exc:
        status, message = "partial", f"Microsoft 365 unavailable, will retry next run: {exc}"
    except SpSyncError as exc:
        status, message = "failed", str(exc)
    except Exception as exc:  # recorded, then re-raised: a bug must not look like success
        _finish(ctx, run_id, "failed", f"internal error: {exc!r}")
        raise
    report = ctx.report
    if status == "ok" and report.failures:
        status, message = "failed", "; ".join(report.failures)
    elif status == "ok" and report.problems:
        status, message = "partial", "; ".join(report.problems)
    stats = _finish(ctx, run_id, status, message)
    for hook in services.on_run:
        hook(job.name, status, stats)
    return RunOutcome(job.name, status, stats, message, list(report.details),
                      "\n".join(report.plan) or None, dry_run)


def _finish(ctx: RunContext, run_id: int, status: str, message: str | None) -> dict[str, Any]:
    stats: dict[str, Any] = {**ctx.meter.stats.as_dict(), **ctx.report.figures}
    if ctx.dry_run:
        stats["dry_run"] = True
    ctx.services.store.finish_run(run_id, status, ctx.services.clock.now(), stats, message)
    if ctx.store is not ctx.services.store:
        ctx.store.close()
    return stats
