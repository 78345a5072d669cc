"""Operator commands for mail jobs (``sp-sync digest …``), kept out of ``cli.py``.

    explain(config) -> lines      when each mail job is due, late, waits; who it may mail
    skip(config, job, period)     record a period as skipped by the operator (never sent)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sp_sync.adapters.store import open_store
from sp_sync.app.mail_wiring import describe_lateness
from sp_sync.domain.periods import parse_period
from sp_sync.errors import ConfigError


def explain(config: Any) -> list[str]:
    return describe_lateness(config.settings, config.jobs)


def skip(config: Any, job_name: str, period: str, now: datetime) -> str:
    """Mark a weekly period of a digest job as skipped (recorded in the ledger).

    A period already sent cannot be skipped; a skipped period is never sent, and the next
    digest lists it under "Ausgelassene Wochen".
    """
    job = config.job(job_name)
    if job.kind != "digest":
        raise ConfigError(f"{job.path}: kind: only digest jobs have weekly periods to skip; "
                          f"{job_name!r} is a {job.kind} job")
    try:
        parse_period(period)
    except ValueError as exc:
        raise ConfigError(f"--period: {exc}") from None
    store = open_store(config.settings.state_url)
    try:
        current = store.ledger_get(job_name, period)
        if current is not None and current.get("status") in ("sent", "late"):
            raise ConfigError(f"--period: {job_name} {period} was already {current['status']} "
                              f"at {current['at']:%Y-%m-%d %H:%M} UTC; nothing to skip")
        store.ledger_put(job_name, period, "skipped", now, {"reason": "skipped by operator"})
    finally:
        store.close()
    return f"{job_name} {period}: recorded as skipped"
