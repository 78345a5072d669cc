"""Operator commands for mail jobs (``sp-sync digest …``), kept out of ``cli.py``.

    explain(config) -> lines      when each mail job is due, late, waits; who it may mail
    skip(config, job, period)     record a period as skipped by the operator (never sent)
    resend(store, mailer, job, period, to, allowed, now)
                                  send a period's mail again (to its recipients or one
                                  other allowed address); each resend is its own outbox
                                  entry and recorded in the ledger as ``<job>#resend``
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import make_msgid
from typing import Any

from sp_sync.adapters.store import open_store
from sp_sync.app.mail_wiring import describe_lateness
from sp_sync.domain.mailsafe import check_recipient
from sp_sync.domain.periods import parse_period
from sp_sync.engine.mailing import SYNC_KEY_HEADER, Mailer, sync_key
from sp_sync.errors import ConfigError
from sp_sync.ports import OutboxEntry, StateStore

RESEND_SUFFIX = "#resend"


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


def _copy_for(entry: OutboxEntry, job: str, period: str, recipient: str) -> EmailMessage:
    """The stored message again, to ``recipient``, with its own Message-ID and key."""
    msg = message_from_bytes(entry.mime, policy=default)
    assert isinstance(msg, EmailMessage)
    for header in ("To", "Message-ID", SYNC_KEY_HEADER):
        del msg[header]
    msg["To"] = recipient
    domain = entry.message_id.rpartition("@")[2].strip("<> ") or None
    msg["Message-ID"] = make_msgid(idstring="spsync-resend", domain=domain)
    msg[SYNC_KEY_HEADER] = sync_key(job, period, recipient)
    return msg


def _builder(entry: OutboxEntry, job: str, key: str,
             recipient: str) -> Callable[[], EmailMessage]:
    return lambda: _copy_for(entry, job, key, recipient)


def resend(store: StateStore, mailer: Mailer, job: str, period: str, to: str | None,
           allowed_domains: Sequence[str], now: datetime,
           same_for_all: bool = False) -> list[dict[str, str]]:
    """Send a period's mail again: the stored bytes (same content, new Message-ID).

    Without ``to`` every recipient of the period gets it again; with ``to`` one allowed
    address gets a copy (``same_for_all``: the weekly digest, any copy will do; else
    ``to`` must be one of the period's recipients, whose own mail is resent).
    Returns one line per mail: recipient, status.
    """
    entries = [e for e in store.outbox_entries(job, period) if e.status in ("sent", "failed")]
    if not entries:
        raise ConfigError(f"--period: the outbox has no mail of {job!r} for {period!r} — "
                          "check the job name and period (sp-sync runs shows what ran)")
    targets: list[tuple[OutboxEntry, str]]
    if to is None:
        targets = [(e, e.recipient) for e in entries]
    else:
        address, why = check_recipient(to, allowed_domains)
        if address is None:
            raise ConfigError(f"--to: {to!r}: {why}")
        own = [e for e in entries if e.recipient == address]
        if own:
            targets = [(own[0], address)]
        elif same_for_all or len(entries) == 1:
            targets = [(entries[0], address)]
        else:
            raise ConfigError(f"--to: {job} {period} has a personal mail for each of "
                              f"{len(entries)} recipients; --to must be one of them")
    key = f"{period}{RESEND_SUFFIX}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    done = []
    for entry, recipient in targets:
        status = mailer.deliver(job, key, recipient, _builder(entry, job, key, recipient))
        store.ledger_put(job + RESEND_SUFFIX, f"{key}/{recipient}", status, now,
                         {"period": period, "to": recipient,
                          "original_message_id": entry.message_id})
        done.append({"recipient": recipient, "status": status})
    return done


def resend_with_services(config: Any, job_name: str, period: str,
                         to: str | None) -> list[dict[str, str]]:
    """``sp-sync digest resend``: the configured transport and store, then :func:`resend`."""
    from sp_sync.app.mail_wiring import DigestJobs
    from sp_sync.app.wiring import services

    job = config.job(job_name)
    if job.kind not in ("digest", "reminders"):
        raise ConfigError(f"{job.path}: kind: {job_name!r} sends no mail")
    with services(config) as svc:
        if not isinstance(svc.mail_jobs, DigestJobs):
            raise ConfigError("mail_transport: no mail transport configured")
        return resend(svc.store, svc.mail_jobs.mailer, job_name, period, to,
                      config.settings.recipient_domains, svc.clock.now(),
                      same_for_all=job.kind == "digest" and job.params.audience == "dtc")
