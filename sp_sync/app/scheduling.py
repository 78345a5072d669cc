"""The daemon's scheduler: APScheduler 3.11 only *wakes* jobs.

Correctness does not depend on it: digests keep their own ledger (a period is sent once,
a missed period is caught up at start), pulls resume from their committed cursors. So the
scheduler uses an in-memory job store, explicit ids, ``coalesce`` (several missed runs fold
into one), ``max_instances=1`` and a generous misfire grace time (APScheduler's default of
1 s would silently drop a run that starts a little late).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from sp_sync.config.jobs import JobSpec, trigger

log = logging.getLogger(__name__)

MISFIRE_GRACE_S = 3600


def build_scheduler(
    jobs: Sequence[JobSpec],
    tz: ZoneInfo,
    run: Callable[[JobSpec], Any],
    *,
    blocking: bool = True,
) -> BaseScheduler:
    """One APScheduler job per enabled job file, keyed by the job's name."""
    options: dict[str, Any] = {
        "jobstores": {"default": MemoryJobStore()},
        "executors": {"default": ThreadPoolExecutor(max_workers=2)},
        "job_defaults": {
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_S,
        },
        "timezone": tz,
    }
    scheduler: BaseScheduler = (
        BlockingScheduler(**options) if blocking else BackgroundScheduler(**options)
    )
    for job in jobs:
        if not job.enabled:
            continue
        scheduler.add_job(
            run,
            trigger=trigger(job, tz),
            args=[job],
            id=job.name,
            name=job.name,
            replace_existing=True,
        )
    return scheduler


def next_runs(jobs: Sequence[JobSpec], tz: ZoneInfo, now: datetime) -> dict[str, datetime | None]:
    """When each job fires next (for ``sp-sync jobs``), without starting a scheduler."""
    result: dict[str, datetime | None] = {}
    for job in jobs:
        if not job.enabled:
            result[job.name] = None
            continue
        fire: datetime | None = trigger(job, tz).get_next_fire_time(None, now.astimezone(tz))
        result[job.name] = fire
    return result
