"""``sp-sync run``: the scheduler, the health/metrics endpoint and one start line that says
what this process is connected to (tenant, site, store with its password hidden, jobs, port).

On PostgreSQL several replicas may run: jobs fire only in the one holding the leader lease
(``app.scheduling.Leadership``); the others stand by and take over within
``lease_seconds``. Each firing holds the job's lock across processes, so a ``run-job`` of
the same job elsewhere is never run twice at once.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from datetime import timedelta
from typing import Any

from sp_sync import __version__
from sp_sync.config.settings import redact_url
from sp_sync.kinds import KINDS

log = logging.getLogger("sp_sync.daemon")


def run_daemon(config: Any, *, once_at_start: bool = True, metrics_port: int | None = None
               ) -> None:
    from sp_sync.app.health import HealthServer, Readiness
    from sp_sync.app.observability import Metrics
    from sp_sync.app.scheduling import (
        Leadership,
        build_scheduler,
        interrupt_job_orphans,
        interrupt_orphans,
    )
    from sp_sync.app.wiring import services
    from sp_sync.engine.runner import run_job

    settings = config.settings
    port = metrics_port if metrics_port is not None else settings.metrics_port
    with services(config) as svc:
        metrics = Metrics()
        svc.on_run.append(metrics.record)
        readiness = Readiness(
            store=svc.store,
            source_keys=watched_lists(config),
            stale_after=timedelta(hours=settings.stale_after_h),
            now=svc.clock.now,
            started=svc.clock.now(),
        )
        health = HealthServer(metrics.registry, readiness)
        bound = None
        if port is not None:
            bound = health.serve(port, settings.metrics_host)

        lead: Leadership | None = None

        def fire(job: Any) -> None:
            if lead is not None and not lead.leading():
                log.debug("%s: not the leader, standing by", job.name)
                return
            try:
                with svc.store.job_lock(job.name, wait=False) as free:
                    if not free:  # a run-job of the same job in another process
                        log.info("%s: running in another process, skipped", job.name)
                        return
                    interrupt_job_orphans(svc.store, job.name)
                    outcome = run_job(svc, job)
                level = logging.INFO if outcome.status == "ok" else logging.WARNING
                log.log(level, "%s: %s%s", job.name, outcome.status,
                        f" — {outcome.message}" if outcome.message else "")
            except Exception:  # the daemon keeps running; the run history has it
                log.exception("%s crashed", job.name)

        def catch_up() -> None:  # the ledger makes this idempotent: only what is due is sent
            for job in config.jobs:
                if job.enabled and KINDS[job.kind].sends_mail:
                    fire(job)

        enabled = [j.name for j in config.jobs if j.enabled]
        log.info(
            "sp-sync %s started: tenant %s, site %s, store %s, jobs %s, health and metrics %s",
            __version__, settings.tenant_id, settings.site_url, redact_url(settings.state_url),
            ", ".join(enabled) or "none",
            f"http://{settings.metrics_host}:{bound}/" if bound else "off (--metrics-port)",
        )
        try:
            store = svc.store
            if getattr(store, "dialect", None) == "postgresql":
                # Several replicas may run: jobs fire only in the one holding the lease.
                holder = str(getattr(store, "owner", "sp-sync"))

                def gained(token: int) -> None:
                    interrupt_orphans(store, holder)
                    if once_at_start:  # not in the lease thread: renewals go on meanwhile
                        threading.Thread(target=catch_up, name="sp-sync-catch-up",
                                         daemon=True).start()

                lead = Leadership(store, holder, float(settings.lease_seconds), gained)
                lead.start()
                if not lead.leading():
                    log.info("another replica leads: standing by")
            elif once_at_start:
                catch_up()
            scheduler = build_scheduler(config.jobs, settings.zone, fire)
            readiness.scheduler_running = lambda: bool(scheduler.running)
            # SIGTERM (systemd, docker stop) stops like Ctrl-C: running jobs finish their
            # transaction, then the store and its lock are released.
            signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
            with contextlib.suppress(KeyboardInterrupt, SystemExit):
                scheduler.start()
            if scheduler.running:
                scheduler.shutdown(wait=True)
        finally:
            if lead is not None:
                lead.stop()
            health.close()
        log.info("sp-sync stopped")


def watched_lists(config: Any) -> list[str]:
    """Lists an enabled job pulls or reads as a sync source: the ones /readyz expects fresh
    (a mapped list no job reads would otherwise make the daemon unready forever)."""
    keys: dict[str, None] = {}
    for job in config.jobs:
        if job.enabled:
            keys.update(dict.fromkeys(KINDS[job.kind].freshens(job.params)))
    return list(keys)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
