"""The daemon's scheduler: APScheduler 3.11 only *wakes* jobs.

Correctness does not depend on it: digests keep their own ledger (a period is sent once,
a missed period is caught up at start), pulls resume from their committed cursors. So the
scheduler uses an in-memory job store, explicit ids, ``coalesce`` (several missed runs fold
into one), ``max_instances=1`` and a generous misfire grace time (APScheduler's default of
1 s would silently drop a run that starts a little late).

Replicas on PostgreSQL: every replica runs a scheduler, but a job fires only in the one
that holds the leader lease (:class:`Leadership`). The lease is a row with a fencing token;
the leader renews it every third of its time; a follower takes it over once it expired
(the leader was killed, lost its connection or stalled). Every store write of the leader
checks its token in the same transaction, so a stalled old leader that wakes up cannot
commit anything. A new leader first marks the runs nobody finishes as "interrupted" and
then catches up what is due (mail jobs). SQLite stays single-process (its lock file).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from sp_sync.config.jobs import JobSpec, trigger
from sp_sync.errors import StoreError
from sp_sync.ports import StateStore

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


INTERRUPTED_REPLICA = (
    "interrupted: the replica running this job stopped before finishing it (killed, "
    "crashed, lost its database connection or stalled past its lease); found by the new "
    "leader {holder}. Nothing was half-committed (a stalled replica's writes are refused by "
    "its old lease token) and the job resumes from its last cursor on its next run. If this "
    "repeats, check that replica's log and host."
)


class Leadership:
    """Holds (or waits for) the leader lease in a background thread; see the module doc.

    ``on_gain`` runs in that thread right after the lease was taken (keep it short: it
    delays the next renewal). Until the first lease is taken, and after it is lost, the
    store's fence stays at a token that is not (or no longer) the lease's, so a follower
    writes nothing even by mistake.
    """

    def __init__(
        self,
        store: StateStore,
        holder: str,
        ttl_s: float,
        on_gain: Callable[[int], None] | None = None,
    ) -> None:
        self.store, self.holder, self.ttl_s = store, holder, ttl_s
        self.on_gain = on_gain
        self._token: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        store.fence(0)  # no token is 0: nothing is written before the lease is ours

    def leading(self) -> bool:
        return self._token is not None

    @property
    def token(self) -> int | None:
        return self._token

    def step(self) -> bool:
        """Renew the lease, or try to take it; whether this replica leads afterwards."""
        try:
            if self._token is not None:
                if self.store.renew_lease(self.holder, self._token, self.ttl_s):
                    return True
                log.warning("lost the leader lease (token %d): standing by", self._token)
                self._token = None  # the fence keeps the old token: its writes are refused
            token = self.store.acquire_lease(self.holder, self.ttl_s)
        except StoreError as exc:
            if self._token is not None:
                log.warning("cannot renew the leader lease (%s): standing by", exc)
            self._token = None
            return False
        if token is None:
            return False
        self.store.fence(token)
        self._token = token
        log.info("%s leads now (lease token %d)", self.holder, token)
        if self.on_gain is not None:
            try:
                self.on_gain(token)
            except Exception:  # a failing catch-up must not stop the renewals
                log.exception("taking over as leader: the catch-up failed")
        return True

    def start(self) -> None:
        self.step()
        self._thread = threading.Thread(target=self._loop, name="sp-sync-lease", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            self.step()

    def stop(self) -> None:
        """Stop renewing and hand the lease on at once (clean shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ttl_s)
        token, self._token = self._token, None
        if token is not None:
            try:
                self.store.release_lease(self.holder, token)
            except StoreError as exc:
                log.warning("could not release the leader lease (%s); it expires by itself",
                            exc)


INTERRUPTED_JOB = (
    "interrupted: the process running this job ended before finishing it (killed, "
    "crashed or lost its database connection); found when the job ran next. Nothing was "
    "half-committed and the job resumed from its last cursor. If this repeats, check the "
    "service log and the host (memory limit, OOM killer, database connection)."
)


def interrupt_job_orphans(store: StateStore, job: str) -> int:
    """Holding the job's lock: a run of it still "running" elsewhere belongs to a dead
    process (a live one would hold the lock)."""
    found = store.interrupt_runs(datetime.now(UTC), INTERRUPTED_JOB, job=job)
    if found:
        log.warning("%s: marked %d unfinished earlier run(s) as interrupted", job, found)
    return found


def interrupt_orphans(store: StateStore, holder: str) -> int:
    """As the new leader: mark the runs that no live replica will finish as interrupted."""
    found = store.interrupt_runs(datetime.now(UTC), INTERRUPTED_REPLICA.format(holder=holder))
    if found:
        log.warning("marked %d unfinished run(s) of another replica as interrupted", found)
    return found
