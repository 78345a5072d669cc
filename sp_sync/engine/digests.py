"""Digest and reminder runs: what is due, build, render, deliver once, record the ledger.

Entry points (the CLI and the job runner call these; all return a stats dict):

    run_weekly_digest(store, mailer, sources, ctx, recipients, now,
                      job="weekly-digest", catch_up_weeks=2, late_after=timedelta(hours=1))
    run_personal_digests(store, mailer, sources, ctx, audience ("leads"|"coordinators"), now,
                         job=…, opt_out=(), catch_up_weeks=2, late_after=timedelta(hours=1))
    run_reminders(store, mailer, sources, ctx, now, job="reminders",
                  training_days_before=2, round_table_days_before=3)
    preview_weekly(sources, ctx, out_dir, now, period=None) -> Path   (renders, never sends)

``sources`` (``DigestSources``) says where records, field history and health facts come
from; ``ctx`` (``MailContext``) holds sender, tz, locale, templates folder.

Ledger (per job and period): "sent" or "late" once every recipient's mail is out,
"skipped" for weeks missed beyond the catch-up (named in the next health line),
"failed" when a mail was refused for good. A period whose outcome is still unknown
(transport said "maybe") gets no entry, so the next run settles it via the outbox.
Weekly periods are ISO weeks ("2026-W49"); reminder periods name the event
("2026-12-03:training:17").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sp_sync.domain.digest import DisplayFn, HealthInput, build_weekly
from sp_sync.domain.model import FieldChange, Record, RunRecord
from sp_sync.domain.periods import DuePeriod, due_periods, period_for, scheduled_at
from sp_sync.domain.personal import build_coordinator_digests, build_lead_digests
from sp_sync.domain.reminders import Reminder, round_table_reminders, training_reminders
from sp_sync.engine.mailing import Mailer, sync_key
from sp_sync.errors import ConfigError
from sp_sync.ports import StateStore
from sp_sync.render.ics import to_ics
from sp_sync.render.mail import (
    Rendered,
    build_message,
    render_coordinator,
    render_lead,
    render_reminder,
    render_weekly,
)

log = logging.getLogger(__name__)

DIGEST_LISTS = ("users", "departments", "projects", "trainings", "registrations",
                "round_tables", "topics", "trend_radar")
DELIVERED = ("sent", "already_sent", "confirmed")


@dataclass(frozen=True)
class DigestSources:
    records: Callable[[str], Sequence[Record]]  # list key → live records
    changes: Callable[[datetime], Sequence[FieldChange]]  # field history after ``since``
    last_sync: Callable[[], Mapping[str, datetime | None]] = dict
    runs: Callable[[], Sequence[RunRecord]] = tuple
    display: DisplayFn | None = None

    def load(self) -> dict[str, Sequence[Record]]:
        return {key: self.records(key) for key in DIGEST_LISTS}


@dataclass(frozen=True)
class MailContext:
    sender: str
    tz: str = "Europe/Berlin"
    locale: str = "de"
    templates_dir: Path | None = None
    organisation: str | None = None
    site_url: str | None = None
    calendar_domain: str = field(default="")

    @property
    def uid_domain(self) -> str:
        return self.calendar_domain or self.sender.rpartition("@")[2] or "sp-sync"


def _message(ctx: MailContext, rendered: Rendered, job: str, period: str, recipient: str,
             now: datetime, ics: bytes | None = None) -> Callable[[], EmailMessage]:
    def build() -> EmailMessage:
        return build_message(rendered, ctx.sender, recipient,
                             sync_key(job, period, recipient), ics=ics, date=now)
    return build


def _new_stats() -> dict[str, Any]:
    return {"sent": 0, "already_sent": 0, "failed": 0, "unknown": 0, "late": 0,
            "skipped": 0, "periods": []}


def _count(stats: dict[str, Any], status: str) -> None:
    key = "sent" if status == "confirmed" else status
    stats[key] = stats.get(key, 0) + 1


def _last_settled(store: StateStore, job: str) -> str | None:
    periods = store.ledger_periods(job)
    return max(p for p, _ in periods) if periods else None


def _since(store: StateStore, job: str, due: DuePeriod) -> datetime:
    """When the last digest's content was taken; a week before the schedule otherwise."""
    for period, status in reversed(store.ledger_periods(job)):
        if status in ("sent", "late"):
            record = store.ledger_get(job, period) or {}
            as_of = (record.get("detail") or {}).get("as_of")
            if as_of:
                return datetime.fromisoformat(as_of)
            at = record.get("at")
            if isinstance(at, datetime):
                return at
    return due.scheduled - timedelta(weeks=1)


def _skipped_since_last(store: StateStore, job: str) -> list[str]:
    out: list[str] = []
    for period, status in store.ledger_periods(job):
        if status in ("sent", "late"):
            out = []
        elif status == "skipped":
            out.append(period)
    return out


def _settle(store: StateStore, mailer: Mailer, job: str, due: DuePeriod,
            recipients: Collection[str], statuses: Sequence[str], now: datetime) -> str | None:
    """Write the period's ledger entry when its outcome is known."""
    if any(s == "unknown" for s in statuses):
        return None
    failed = [s for s in statuses if s == "failed"]
    if failed:
        retry_left = any(
            (e := store.outbox_get(job, due.period, r.lower())) is not None
            and e.status == "failed" and e.attempts < mailer.max_attempts
            for r in recipients
        )
        if retry_left:
            return None
        status = "failed"
    else:
        status = "late" if due.late else "sent"
    created = [e.created_at for r in recipients
               if (e := store.outbox_get(job, due.period, r.lower())) is not None]
    as_of = min(created) if created else now
    store.ledger_put(job, due.period, status, now, {
        "recipients": len(recipients), "scheduled": due.scheduled.isoformat(),
        "as_of": as_of.isoformat(),
    })
    return status


def _skip(store: StateStore, job: str, skipped: Sequence[str], now: datetime,
          stats: dict[str, Any]) -> None:
    for p in skipped:
        log.warning("%s: period %s was missed while sp-sync was down; recorded as skipped",
                    job, p)
        store.ledger_put(job, p, "skipped", now, {"reason": "missed while down"})
    stats["skipped"] = len(skipped)


def run_weekly_digest(
    store: StateStore,
    mailer: Mailer,
    sources: DigestSources,
    ctx: MailContext,
    recipients: Sequence[str],
    now: datetime,
    job: str = "weekly-digest",
    catch_up_weeks: int = 2,
    late_after: timedelta = timedelta(hours=1),
) -> dict[str, Any]:
    """Send the DTC digest of the latest due week once to every recipient."""
    if not recipients:
        raise ConfigError(f"job {job!r} has no recipients: set `recipients` in its job file "
                          "or the DTC recipients in the settings")
    stats = _new_stats()
    to_send, skipped = due_periods(_last_settled(store, job), now, ctx.tz, catch_up_weeks,
                                   late_after)
    _skip(store, job, skipped, now, stats)
    for due in to_send:
        since = _since(store, job, due)
        health = HealthInput(last_sync=sources.last_sync(), runs=sources.runs(),
                             skipped_periods=_skipped_since_last(store, job), late=due.late,
                             scheduled=due.scheduled)
        digest = build_weekly(sources.load(), sources.changes(since), health, due.period, now,
                              ctx.tz, since, display=sources.display, site_url=ctx.site_url)
        rendered = render_weekly(digest, ctx.locale, ctx.templates_dir, ctx.organisation)
        statuses = []
        for r in recipients:
            status = mailer.deliver(job, due.period, r,
                                    _message(ctx, rendered, job, due.period, r, now))
            _count(stats, status)
            statuses.append(status)
        settled = _settle(store, mailer, job, due, recipients, statuses, now)
        stats["late"] += 1 if due.late and settled else 0
        stats["periods"].append({"period": due.period, "status": settled or "pending"})
    return stats


def run_personal_digests(
    store: StateStore,
    mailer: Mailer,
    sources: DigestSources,
    ctx: MailContext,
    audience: str,
    now: datetime,
    job: str | None = None,
    opt_out: Collection[str] = (),
    catch_up_weeks: int = 2,
    late_after: timedelta = timedelta(hours=1),
) -> dict[str, Any]:
    """Project-lead ("leads") or IT-coordinator ("coordinators") digests of the week."""
    if audience not in ("leads", "coordinators"):
        raise ValueError(f"unknown audience {audience!r}; expected leads or coordinators")
    job = job or f"{audience[:-1]}-digests"
    stats = _new_stats()
    to_send, skipped = due_periods(_last_settled(store, job), now, ctx.tz, catch_up_weeks,
                                   late_after)
    _skip(store, job, skipped, now, stats)
    for due in to_send:
        since = _since(store, job, due)
        records, changes = sources.load(), sources.changes(since)
        mails: list[tuple[str, Rendered]] = []
        if audience == "leads":
            for d in build_lead_digests(records, changes, due.period, now, ctx.tz, since,
                                        sources.display, opt_out):
                mails.append((d.recipient, render_lead(d, ctx.tz, ctx.locale,
                                                       ctx.templates_dir, ctx.organisation)))
        else:
            for c in build_coordinator_digests(records, changes, due.period, now, ctx.tz,
                                               since, sources.display, opt_out):
                mails.append((c.recipient, render_coordinator(
                    c, ctx.tz, ctx.locale, ctx.templates_dir, ctx.organisation)))
        statuses = []
        for recipient, rendered in mails:
            status = mailer.deliver(job, due.period, recipient,
                                    _message(ctx, rendered, job, due.period, recipient, now))
            _count(stats, status)
            statuses.append(status)
        settled = _settle(store, mailer, job, due, [r for r, _ in mails], statuses, now)
        stats["periods"].append({"period": due.period, "status": settled or "pending"})
    return stats


def due_reminders(
    sources: DigestSources, now: datetime, tz: str, uid_domain: str,
    training_days_before: int = 2, round_table_days_before: int = 3,
) -> list[Reminder]:
    records = sources.load()
    return [
        *training_reminders(records, now, tz, training_days_before, uid_domain),
        *round_table_reminders(records, now, tz, round_table_days_before, uid_domain),
    ]


def run_reminders(
    store: StateStore,
    mailer: Mailer,
    sources: DigestSources,
    ctx: MailContext,
    now: datetime,
    job: str = "reminders",
    training_days_before: int = 2,
    round_table_days_before: int = 3,
) -> dict[str, Any]:
    """Reminders with a calendar file; each (event date, recipient) once."""
    stats = _new_stats()
    for r in due_reminders(sources, now, ctx.tz, ctx.uid_domain, training_days_before,
                           round_table_days_before):
        rendered = render_reminder(r, ctx.tz, ctx.locale, ctx.templates_dir, ctx.organisation)
        ics = to_ics(r.event, ctx.sender, r.recipient, ctx.tz, stamp=now)
        status = mailer.deliver(job, r.period, r.recipient,
                                _message(ctx, rendered, job, r.period, r.recipient, now, ics))
        _count(stats, status)
        if status in DELIVERED and store.ledger_get(job, r.period) is None:
            store.ledger_put(job, r.period, "sent", now, {"kind": r.kind})
    return stats


def preview_weekly(
    sources: DigestSources,
    ctx: MailContext,
    out_dir: Path,
    now: datetime,
    period: str | None = None,
) -> Path:
    """Render the weekly digest to ``out_dir`` (HTML, text, .eml) without sending.

    With ``period`` the digest is built as of that week's Monday 07:00 (the data is
    the mirror's current state); without it as of ``now``.
    """
    if period is not None:
        now = min(now, scheduled_at(period, ctx.tz))
    period = period or period_for(now, ctx.tz)
    since = now - timedelta(weeks=1)
    health = HealthInput(last_sync=sources.last_sync(), runs=sources.runs())
    digest = build_weekly(sources.load(), sources.changes(since), health, period, now, ctx.tz,
                          since, display=sources.display, site_url=ctx.site_url)
    rendered = render_weekly(digest, ctx.locale, ctx.templates_dir, ctx.organisation)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / f"preview-weekly-{period}"
    html = base.with_suffix(".html")
    html.write_text(rendered.html, encoding="utf-8")
    base.with_suffix(".txt").write_text(rendered.text, encoding="utf-8")
    msg = build_message(rendered, ctx.sender, ctx.sender,
                        sync_key("preview", period, ctx.sender), date=now)
    base.with_suffix(".eml").write_bytes(bytes(msg))
    return html
