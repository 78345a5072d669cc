"""Digest and reminder runs: what is due, build, render, deliver once, record the ledger.

Entry points (the CLI and the job runner call these; all return a stats dict):

    run_weekly_digest(store, mailer, sources, ctx, recipients, now,
                      job="weekly-digest", catch_up_weeks=2, late_after=timedelta(hours=1))
    run_personal_digests(store, mailer, sources, ctx, audience ("leads"|"coordinators"), now,
                         job=…, opt_out=(), catch_up_weeks=2, late_after=timedelta(hours=1))
    run_reminders(store, mailer, sources, ctx, now, job="reminders",
                  training_days_before=2, round_table_days_before=3)
    preview_weekly(sources, ctx, out_dir, now, period=None) -> Path   (renders, never sends)

Each run function also takes ``dry_run`` and ``preview_dir``: a dry run computes who would
get which mail (``stats["planned_mails"]``), renders each into ``preview_dir`` and writes
nothing else — no outbox, ledger or transport.

``sources`` (``DigestSources``) says where records, field history and health facts come
from; ``ctx`` (``MailContext``) holds sender, tz, locale, templates folder, and the mail
policy: allowed recipient domains, the freshness window, the job's due time.

Safety (see ``sp_sync.domain.mailsafe``):
- **Recipients**: one address per value, in an allowed domain (default: the sender's);
  people from list data must also be live users. Others are skipped and counted
  (``recipients_skipped``, ``skipped_recipients``), never mailed.
- **Isolation**: records are sanitised before anything is built (bad dates, numbers,
  long texts → marked values, counted in ``data_problems``/``problems``); a mail that
  still fails to build is counted in ``failed`` and the others go out.
- **Data before mail** (``ctx.fresh_within`` set): a job sends only when every list it
  reads was synced within the window; otherwise it waits (``stats["waiting"]``) until
  ``ctx.send_stale_after`` past the due time, then sends with a warning in subject and
  body. The first period of a new installation is the first one whose send window
  (due time + ``late_after``) is still open when the job first sees synced data: no
  catch-up into weeks before sp-sync ran.

Ledger (per job and period): "sent" or "late" once every recipient's mail is out,
"skipped" for weeks missed beyond the catch-up (named in the next health line),
"failed" when a mail was refused for good. A period whose outcome is still unknown
(transport said "maybe", or another process is sending) gets no entry, so the next run
settles it via the outbox. Weekly periods are ISO weeks ("2026-W49"); reminder periods
name the event ("2026-12-03:training:17"). ``<job>#start`` holds when the job first saw
synced data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sp_sync.domain.digest import DisplayFn, HealthInput, build_weekly, make_display
from sp_sync.domain.mail_content import Notices, Rendered
from sp_sync.domain.mailsafe import (
    DataProblem,
    check_recipient,
    mask,
    parse_address,
    safe_display,
    sanitise_records,
)
from sp_sync.domain.model import FieldChange, Record, RunRecord
from sp_sync.domain.periods import DuePeriod, due_periods, period_for, scheduled_at
from sp_sync.domain.personal import build_coordinator_digests, build_lead_digests
from sp_sync.domain.reminders import (
    _SEQUENCE_EPOCH,
    Reminder,
    round_table_reminders,
    training_reminders,
)
from sp_sync.engine.mailing import Mailer, sync_key
from sp_sync.errors import ConfigError
from sp_sync.ports import Renderer, StateStore

log = logging.getLogger(__name__)

DIGEST_LISTS = ("users", "departments", "projects", "trainings", "registrations",
                "round_tables", "topics", "trend_radar", "findings")
DELIVERED = ("sent", "already_sent", "confirmed")
MAX_REPORTED = 50  # problems listed per run (all are counted)
START_SUFFIX = "#start"


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
    renderer: Renderer  # models → mails and calendar files (``sp_sync.render``)
    tz: str = "Europe/Berlin"
    locale: str = "de"
    templates_dir: Path | None = None
    organisation: str | None = None
    site_url: str | None = None
    calendar_domain: str = field(default="")
    #: Recipient domains (and their subdomains) that may be mailed; empty: the sender's.
    allowed_domains: tuple[str, ...] = ()
    #: Every list the job reads must have synced within this; ``None``: no check.
    fresh_within: timedelta | None = None
    #: How long after the due time a job waits for fresh data before sending anyway.
    send_stale_after: timedelta = timedelta(hours=4)
    #: The job's due time in a week: (weekday 0 = Monday, hour, minute), local time.
    slot: tuple[int, int, int] = (0, 7, 0)

    @property
    def uid_domain(self) -> str:
        return self.calendar_domain or self.sender.rpartition("@")[2] or "sp-sync"

    @property
    def recipient_domains(self) -> tuple[str, ...]:
        return self.allowed_domains or (self.sender.rpartition("@")[2],)


@dataclass(frozen=True)
class MailRun:
    """One run of a mail job, as its params send it (``sp_sync.kinds.mail``): the store,
    the mailer (``None``: nothing is sent), what the mails are made from, and when."""

    store: StateStore
    mailer: Mailer | None
    sources: DigestSources
    ctx: MailContext
    job: str
    now: datetime
    late_after: timedelta = timedelta(hours=1)
    dry_run: bool = False
    preview_dir: Path | None = None  # a dry run renders each planned mail here


def _new_stats() -> dict[str, Any]:
    return {"sent": 0, "already_sent": 0, "failed": 0, "unknown": 0, "late": 0,
            "skipped": 0, "periods": [], "in_progress": 0, "recipients_skipped": 0,
            "data_problems": 0}


def _count(stats: dict[str, Any], status: str) -> None:
    key = "sent" if status == "confirmed" else status
    stats[key] = stats.get(key, 0) + 1


class _Run:
    """One run of one mail job: sanitised data, recipient checks, delivery or plan."""

    def __init__(self, mail: MailRun) -> None:
        self.mail = mail
        self.stats = _new_stats()
        self.problems: list[DataProblem] = []
        self.skipped: list[dict[str, str]] = []
        self.planned: list[dict[str, Any]] = []
        self._records: dict[str, list[Record]] | None = None
        if mail.dry_run:
            self.stats["dry_run"] = True

    # ------------------------------------------------------------------ data

    def records(self) -> dict[str, list[Record]]:
        if self._records is None:
            self._records, found = sanitise_records(self.mail.sources.load())
            self.problems.extend(found)
        return self._records

    def display(self) -> DisplayFn:
        made = self.mail.sources.display or make_display(self.records(), self.mail.ctx.tz)
        return safe_display(made, self.problems)

    def live_people(self) -> set[str] | None:
        """Addresses of people who still exist (``None``: the users list is not known)."""
        users = self.records().get("users", [])
        if not users:
            return None
        return {a for u in users if (a := parse_address(u.get("email"))) is not None}

    def stale_lists(self) -> list[str]:
        """Lists the job reads that were not synced within the freshness window."""
        if self.mail.ctx.fresh_within is None:
            return []
        last = self.mail.sources.last_sync()
        return sorted(k for k in DIGEST_LISTS if k in last and (
            (at := last[k]) is None or self.mail.now - at > self.mail.ctx.fresh_within))

    def never_synced(self) -> bool:
        last = self.mail.sources.last_sync()
        return self.mail.ctx.fresh_within is not None and any(
            last[k] is None for k in DIGEST_LISTS if k in last)

    # ------------------------------------------------------------------ recipients

    def recipient(self, value: object, from_list: bool) -> str | None:
        """The address to mail, or ``None`` (skipped, counted and reported)."""
        address, why = check_recipient(value, self.mail.ctx.recipient_domains)
        if address is not None and from_list:
            people = self.live_people()
            if people is not None and address not in people:
                address, why = None, "not a current user (deleted or unknown)"
        if address is None:
            self.stats["recipients_skipped"] += 1
            if len(self.skipped) < MAX_REPORTED:
                self.skipped.append({"recipient": mask(value), "reason": why or ""})
            log.warning("%s: not mailing %r: %s", self.mail.job, mask(value), why)
        return address

    # ------------------------------------------------------------------ mail

    def deliver(self, period: str, recipient: str, render: Callable[[], Rendered],
                late: bool, ics: Callable[[], bytes] | None = None) -> str:
        """Render and deliver one mail (or plan it); a failure stays with this mail."""
        try:
            rendered = render()
            attachment = ics() if ics is not None else None
            message = self.mail.ctx.renderer.message(rendered, self.mail.ctx.sender, recipient,
                                                sync_key(self.mail.job, period, recipient),
                                                ics=attachment, date=self.mail.now)
        except Exception as exc:  # one recipient's bad data never stops the others
            log.exception("%s: mail for %s (%s) could not be built", self.mail.job, recipient,
                          period)
            self.problems.append(DataProblem("", "", "", f"mail for {mask(recipient)} "
                                             f"({period}) not built: {exc!r}"))
            self.stats["failed"] += 1
            return "error"

        def build() -> EmailMessage:
            return message

        if self.mail.dry_run:
            return self._plan(period, recipient, rendered, late, build)
        assert self.mail.mailer is not None
        status = self.mail.mailer.deliver(self.mail.job, period, recipient, build)
        _count(self.stats, status)
        return status

    def _plan(self, period: str, recipient: str, rendered: Rendered, late: bool,
              build: Callable[[], EmailMessage]) -> str:
        entry = self.mail.store.outbox_get(self.mail.job, period, recipient.lower())
        status = "already_sent" if entry is not None and entry.status == "sent" else "would_send"
        plan: dict[str, Any] = {"job": self.mail.job, "period": period, "recipient": recipient,
                                "subject": rendered.subject, "late": late, "status": status}
        if self.mail.preview_dir is not None:
            self.mail.preview_dir.mkdir(parents=True, exist_ok=True)
            base = self.mail.preview_dir / _slug(f"{self.mail.job}-{period}-{recipient}")
            base.with_suffix(".html").write_text(rendered.html, encoding="utf-8")
            base.with_suffix(".txt").write_text(rendered.text, encoding="utf-8")
            base.with_suffix(".eml").write_bytes(bytes(build()))
            plan["preview"] = str(base.with_suffix(".html"))
        self.planned.append(plan)
        return "planned"

    def ledger_put(self, period: str, status: str, detail: Mapping[str, Any]) -> None:
        if not self.mail.dry_run:
            self.mail.store.ledger_put(self.mail.job, period, status, self.mail.now, detail)

    # ------------------------------------------------------------------ periods

    def first_data(self) -> datetime | bool | None:
        """When the job first saw synced data (its first period starts there).

        ``True``: the job has history from before this rule (no limit); ``None``: no list
        it reads was ever synced (nothing is due yet).
        """
        record = self.mail.store.ledger_get(self.mail.job + START_SUFFIX, "first-data")
        if record is not None:
            at = record.get("at")
            return at if isinstance(at, datetime) else True
        if self.mail.store.ledger_periods(self.mail.job):
            return True
        if self.never_synced():
            return None
        if not self.mail.dry_run:
            m = self.mail
            m.store.ledger_put(m.job + START_SUFFIX, "first-data", "anchor", m.now,
                               {"why": "the first period is the first one due after "
                                       "the first synced data"})
        return self.mail.now

    def due(self, catch_up_weeks: int) -> list[DuePeriod]:
        """Periods to send now: from the ledger, the job's slot and the first data."""
        first = self.first_data()
        if first is None:
            self.wait(None, "no list this job reads has been synchronised yet")
            return []
        m = self.mail
        weekday, hour, minute = m.ctx.slot
        to_send, skipped = due_periods(_last_settled(m.store, m.job), m.now, m.ctx.tz,
                                       catch_up_weeks, m.late_after, weekday, hour, minute)
        if isinstance(first, datetime):
            # Periods whose send window closed before sp-sync had any data never existed
            # for this installation: neither sent late nor recorded as skipped.
            to_send = [d for d in to_send if d.scheduled + m.late_after >= first]
            skipped = [p for p in skipped
                       if scheduled_at(p, m.ctx.tz, weekday, hour, minute) + m.late_after
                       >= first]
        self.skip(skipped)
        return to_send

    def fresh_enough(self, due_at: datetime, what: str) -> tuple[bool, tuple[str, ...]]:
        """(send now?, stale lists to warn about)."""
        stale = self.stale_lists()
        if not stale:
            return True, ()
        deadline = due_at + self.mail.ctx.send_stale_after
        if self.mail.now < deadline:
            self.wait(what, f"lists not synchronised within {self.mail.ctx.fresh_within}: "
                            f"{', '.join(stale)}; sending anyway, with a warning, from "
                            f"{deadline.isoformat()}")
            return False, ()
        log.warning("%s: %s goes out with stale data (%s)", self.mail.job, what, ", ".join(stale))
        self.stats["stale_lists"] = stale
        return True, tuple(stale)

    def wait(self, what: str | None, why: str) -> None:
        log.warning("%s: waiting%s: %s", self.mail.job, f" with {what}" if what else "", why)
        self.stats.setdefault("waiting", []).append(
            {"period": what, "reason": why} if what else {"reason": why})

    def skip(self, skipped: Sequence[str]) -> None:
        for p in skipped:
            log.warning("%s: period %s was missed while sp-sync was down; recorded as "
                        "skipped", self.mail.job, p)
            self.ledger_put(p, "skipped", {"reason": "missed while down"})
        self.stats["skipped"] = len(skipped)

    def settle(self, due: DuePeriod, recipients: Collection[str],
               statuses: Sequence[str]) -> str | None:
        """Write the period's ledger entry when its outcome is known."""
        if self.mail.dry_run:
            return None
        m = self.mail
        assert m.mailer is not None
        return _settle(m.store, m.mailer, m.job, due, recipients, statuses, m.now,
                       self.ledger_put)

    def finish(self) -> dict[str, Any]:
        self.stats["data_problems"] = len(self.problems)
        if self.problems:
            self.stats["problems"] = [p.as_dict() for p in self.problems[:MAX_REPORTED]]
            log.warning("%s: %d data problem(s) in the lists it reads, e.g. %s", self.mail.job,
                        len(self.problems), self.problems[0].as_dict())
        if self.skipped:
            self.stats["skipped_recipients"] = self.skipped
        if self.mail.dry_run:
            self.stats["planned_mails"] = self.planned
            folder = self.mail.preview_dir
            self.stats["preview_dir"] = str(folder) if folder else None
        return self.stats


def _once(make: Callable[[], Rendered]) -> Callable[[], Rendered]:
    """Render on first use only (the weekly digest is the same for every recipient)."""
    done: list[Rendered] = []

    def get() -> Rendered:
        if not done:
            done.append(make())
        return done[0]

    return get


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:150]


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
            recipients: Collection[str], statuses: Sequence[str], now: datetime,
            put: Callable[[str, str, Mapping[str, Any]], None]) -> str | None:
    """Write the period's ledger entry when its outcome is known."""
    if any(s in ("unknown", "in_progress") for s in statuses):
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
    put(due.period, status, {
        "recipients": len(recipients), "scheduled": due.scheduled.isoformat(),
        "as_of": as_of.isoformat(),
    })
    return status


def run_weekly_digest(
    store: StateStore,
    mailer: Mailer | None,
    sources: DigestSources,
    ctx: MailContext,
    recipients: Sequence[str],
    now: datetime,
    job: str = "weekly-digest",
    catch_up_weeks: int = 2,
    late_after: timedelta = timedelta(hours=1),
    *,
    dry_run: bool = False,
    preview_dir: Path | None = None,
) -> dict[str, Any]:
    """Send the DTC digest of the latest due week once to every recipient."""
    if not recipients:
        raise ConfigError(f"job {job!r} has no recipients: set `recipients` in its job file "
                          "or the DTC recipients in the settings")
    run = _Run(MailRun(store, mailer, sources, ctx, job, now, late_after, dry_run,
                       preview_dir))
    for due in run.due(catch_up_weeks):
        go, stale = run.fresh_enough(due.scheduled, due.period)
        if not go:
            run.stats["periods"].append({"period": due.period, "status": "waiting"})
            continue
        since = _since(store, job, due)
        health = HealthInput(last_sync=sources.last_sync(), runs=sources.runs(),
                             skipped_periods=_skipped_since_last(store, job), late=due.late,
                             scheduled=due.scheduled)
        digest = build_weekly(run.records(), sources.changes(since), health, due.period, now,
                              ctx.tz, since, display=run.display(), site_url=ctx.site_url)
        notices = Notices(due.scheduled if due.late else None, stale)
        render = _once(lambda d=digest, n=notices: ctx.renderer.weekly(  # type: ignore[misc]
            d, ctx.locale, ctx.templates_dir, ctx.organisation, n))

        statuses: list[str] = []
        sent_to: list[str] = []
        for value in recipients:
            r = run.recipient(value, from_list=False)
            if r is None:
                continue
            sent_to.append(r)
            statuses.append(run.deliver(due.period, r, render, due.late))
        # Nobody allowed to receive it: the period stays open until the settings are fixed.
        settled = run.settle(due, sent_to, [s for s in statuses if s != "error"]) \
            if sent_to else None
        run.stats["late"] += 1 if due.late and (settled or dry_run) else 0
        run.stats["periods"].append({"period": due.period,
                                     "status": "planned" if dry_run else settled or "pending"})
    return run.finish()


def run_personal_digests(
    store: StateStore,
    mailer: Mailer | None,
    sources: DigestSources,
    ctx: MailContext,
    audience: str,
    now: datetime,
    job: str | None = None,
    opt_out: Collection[str] = (),
    catch_up_weeks: int = 2,
    late_after: timedelta = timedelta(hours=1),
    *,
    dry_run: bool = False,
    preview_dir: Path | None = None,
    preview_period: str | None = None,
) -> dict[str, Any]:
    """Project-lead ("leads") or IT-coordinator ("coordinators") digests of the week.

    ``preview_period`` (dry runs only): plan that week's mails whatever the ledger says.
    """
    if audience not in ("leads", "coordinators"):
        raise ValueError(f"unknown audience {audience!r}; expected leads or coordinators")
    job = job or f"{audience[:-1]}-digests"
    run = _Run(MailRun(store, mailer, sources, ctx, job, now, late_after, dry_run,
                       preview_dir))
    dues = run.due(catch_up_weeks) if not (dry_run and preview_period) else [
        DuePeriod(preview_period, scheduled_at(preview_period, ctx.tz, *ctx.slot), False)]
    for due in dues:
        go, stale = run.fresh_enough(due.scheduled, due.period)
        if not go:
            run.stats["periods"].append({"period": due.period, "status": "waiting"})
            continue
        since = _since(store, job, due)
        records, changes, show = run.records(), sources.changes(since), run.display()
        notices = Notices(due.scheduled if due.late else None, stale)
        mails: list[tuple[str, Callable[[], Rendered]]] = []
        if audience == "leads":
            for d in build_lead_digests(records, changes, due.period, now, ctx.tz, since,
                                        show, opt_out):
                mails.append((d.recipient, lambda d=d, n=notices: ctx.renderer.lead(  # type: ignore[misc]
                    d, ctx.tz, ctx.locale, ctx.templates_dir, ctx.organisation, n)))
        else:
            for c in build_coordinator_digests(records, changes, due.period, now, ctx.tz,
                                               since, show, opt_out):
                mails.append((c.recipient, lambda c=c, n=notices: ctx.renderer.coordinator(  # type: ignore[misc]
                    c, ctx.tz, ctx.locale, ctx.templates_dir, ctx.organisation, n)))
        statuses: list[str] = []
        sent_to: list[str] = []
        for value, render in mails:
            r = run.recipient(value, from_list=True)
            if r is None:
                continue
            sent_to.append(r)
            statuses.append(run.deliver(due.period, r, render, due.late))
        settled = run.settle(due, sent_to, [s for s in statuses if s != "error"])
        run.stats["late"] += 1 if due.late and (settled or dry_run) else 0
        run.stats["periods"].append({"period": due.period,
                                     "status": "planned" if dry_run else settled or "pending"})
    return run.finish()


def due_reminders(
    sources: DigestSources, now: datetime, tz: str, uid_domain: str,
    training_days_before: int = 2, round_table_days_before: int = 3,
    records: Mapping[str, Sequence[Record]] | None = None,
) -> list[Reminder]:
    records = records if records is not None else sources.load()
    return [
        *training_reminders(records, now, tz, training_days_before, uid_domain),
        *round_table_reminders(records, now, tz, round_table_days_before, uid_domain),
    ]


def _reminder_due(r: Reminder, days_before: int, ctx: MailContext) -> datetime:
    """When the reminder was meant to go out: ``days_before`` the event, at the job's time."""
    zone = ZoneInfo(ctx.tz)
    event_day = date.fromisoformat(r.period.split(":", 1)[0])
    _, hour, minute = ctx.slot
    return datetime.combine(event_day - timedelta(days=days_before), time(hour, minute),
                            tzinfo=zone)


def run_reminders(
    store: StateStore,
    mailer: Mailer | None,
    sources: DigestSources,
    ctx: MailContext,
    now: datetime,
    job: str = "reminders",
    training_days_before: int = 2,
    round_table_days_before: int = 3,
    late_after: timedelta = timedelta(hours=1),
    *,
    dry_run: bool = False,
    preview_dir: Path | None = None,
) -> dict[str, Any]:
    """Reminders with a calendar file; each (event date, recipient) once."""
    run = _Run(MailRun(store, mailer, sources, ctx, job, now, late_after, dry_run,
                       preview_dir))
    if run.never_synced():
        run.wait(None, "no list this job reads has been synchronised yet")
        return run.finish()
    zone = ZoneInfo(ctx.tz)
    today_slot = datetime.combine(now.astimezone(zone).date(), time(*ctx.slot[1:]),
                                  tzinfo=zone)
    go, stale = run.fresh_enough(min(today_slot, now), "reminders")
    if not go:
        return run.finish()
    first = run.first_data()
    for r in due_reminders(sources, now, ctx.tz, ctx.uid_domain, training_days_before,
                           round_table_days_before, records=run.records()):
        recipient = run.recipient(r.recipient, from_list=True)
        if recipient is None:
            continue
        days = training_days_before if r.kind == "training" else round_table_days_before
        meant = _reminder_due(r, days, ctx)
        # Late only when it could have gone out in time: the event was known by then.
        known_since = _SEQUENCE_EPOCH + timedelta(seconds=r.event.sequence)
        # ... and sp-sync already had data then (a new installation is not late).
        late = (now > meant + late_after and known_since <= meant
                and (not isinstance(first, datetime) or meant >= first))
        notices = Notices(meant if late else None, stale)
        status = run.deliver(
            r.period, recipient,
            lambda r=r, n=notices: ctx.renderer.reminder(  # type: ignore[misc]
                r, ctx.tz, ctx.locale, ctx.templates_dir, ctx.organisation, n),
            late,
            ics=lambda r=r, to=recipient: ctx.renderer.invitation(  # type: ignore[misc]
                r.event, ctx.sender, to, ctx.tz, stamp=now),
        )
        if status in DELIVERED and store.ledger_get(job, r.period) is None:
            run.ledger_put(r.period, "late" if late else "sent", {"kind": r.kind})
        if late and status in DELIVERED:
            run.stats["late"] += 1
    return run.finish()


def preview_weekly(
    sources: DigestSources,
    ctx: MailContext,
    out_dir: Path,
    now: datetime,
    period: str | None = None,
) -> Path:
    """Render the weekly digest to ``out_dir`` (HTML, text, .eml) without sending.

    With ``period`` the digest is built as of that week's due time (the data is the
    mirror's current state); without it as of ``now``.
    """
    if period is not None:
        now = min(now, scheduled_at(period, ctx.tz, *ctx.slot))
    period = period or period_for(now, ctx.tz)
    since = now - timedelta(weeks=1)
    records, _problems = sanitise_records(sources.load())
    display = safe_display(sources.display or make_display(records, ctx.tz))
    health = HealthInput(last_sync=sources.last_sync(), runs=sources.runs())
    digest = build_weekly(records, sources.changes(since), health, period, now, ctx.tz,
                          since, display=display, site_url=ctx.site_url)
    rendered = ctx.renderer.weekly(digest, ctx.locale, ctx.templates_dir, ctx.organisation)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / f"preview-weekly-{period}"
    html = base.with_suffix(".html")
    html.write_text(rendered.html, encoding="utf-8")
    base.with_suffix(".txt").write_text(rendered.text, encoding="utf-8")
    msg = ctx.renderer.message(rendered, ctx.sender, ctx.sender,
                               sync_key("preview", period, ctx.sender), date=now)
    base.with_suffix(".eml").write_bytes(bytes(msg))
    return html
