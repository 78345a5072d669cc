"""Wiring of the mail side: transports, the exactly-once mailer, digest sources, job params.

Per mail job it derives the policy the engine applies (see ``sp_sync.engine.digests``):
the due time from the job's own schedule, the freshness window (job param, else the
setting, else three times the shortest interval of the enabled pull jobs), the allowed
recipient domains (``Settings.recipient_domains``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.interval import IntervalTrigger

from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.mail import GraphMailTransport
from sp_sync.adapters.mail.files import FileTransport
from sp_sync.adapters.mail.smtp import SmtpTransport
from sp_sync.adapters.store import open_store
from sp_sync.clock import SystemClock
from sp_sync.config.jobs import JobSpec, trigger
from sp_sync.config.settings import Settings
from sp_sync.domain.digest import make_display
from sp_sync.domain.model import ListMapping, Record
from sp_sync.engine.context import Services
from sp_sync.engine.digests import (
    DIGEST_LISTS,
    DigestSources,
    MailContext,
    MailRun,
)
from sp_sync.engine.mailing import Mailer, RateLimiter
from sp_sync.engine.notices import NoticeSetup
from sp_sync.engine.records import StoreResolver, load_records
from sp_sync.engine.runner import run_job
from sp_sync.errors import ConfigError
from sp_sync.kinds.mail import DigestParams, MailParams
from sp_sync.ports import MailTransport, StateStore
from sp_sync.render.renderer import TemplateRenderer

log = logging.getLogger(__name__)


def transport(settings: Settings, conn: GraphConnection | None) -> MailTransport:
    """The configured transport: Graph sendMail, SMTP, or files only."""
    if settings.mail_transport == "graph":
        if conn is None or not settings.mailbox:
            raise ConfigError("mail_transport: graph needs a mailbox and a Graph connection")
        return GraphMailTransport(conn, settings.mailbox)
    if settings.mail_transport == "smtp":
        if not settings.smtp_host:
            raise ConfigError(
                f"{settings.source_of('smtp_host')}: smtp_host: missing — "
                "set the SMTP relay's host name or use mail_transport = \"graph\""
            )
        return SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            from_address=settings.smtp_from_address or settings.mailbox,
            allow_plaintext_auth=settings.smtp_allow_plaintext_auth,
        )
    return FileTransport(settings.outbox_dir)


def digest_sources(
    store: StateStore, mapping: ListMapping, settings: Settings
) -> DigestSources:
    """Records, history and health facts from the state store."""
    tz = settings.zone
    resolver = StoreResolver(store, mapping)
    cache: dict[str, list[Record]] = {}

    def records(key: str) -> list[Record]:
        if key not in mapping:
            return []
        if key not in cache:
            cache[key] = load_records(store, mapping, key, tz, resolver)
        return cache[key]

    source_keys = [s.key for s in mapping.lists if s.role == "source"]
    loaded = {k: records(k) for k in DIGEST_LISTS}
    return DigestSources(
        records=records,
        changes=lambda since: store.changes(since=since),
        last_sync=lambda: {k: store.last_synced(k) for k in source_keys},
        runs=lambda: store.runs(limit=100),
        display=make_display(loaded, settings.timezone),
    )


# A Monday (2026-01-05): the reference week in which a schedule's weekly slot is read.
_REFERENCE_MONDAY = (2026, 1, 5)
DEFAULT_SLOT = (0, 7, 0)
FRESH_FACTOR = 3
DEFAULT_FRESH = timedelta(hours=3)


def schedule_slot(schedule: str, tz: str) -> tuple[int, int, int]:
    """(weekday, hour, minute) of a schedule's first run in a week, local time.

    ``0 9 * * tue`` → (1, 9, 0); a daily ``0 8 * * *`` → (0, 8, 0). Interval schedules
    ("every 1h") have no slot: Monday 07:00.
    """
    zone = ZoneInfo(tz)
    trig = trigger(schedule, zone)
    if isinstance(trig, IntervalTrigger):
        return DEFAULT_SLOT
    y, m, d = _REFERENCE_MONDAY
    fire = trig.get_next_fire_time(None, datetime(y, m, d, tzinfo=zone))
    if fire is None:
        return DEFAULT_SLOT
    local = fire.astimezone(zone)
    return local.weekday(), local.hour, local.minute


def schedule_interval(schedule: str, tz: str) -> timedelta | None:
    """The time between two runs of a schedule (the smallest gap in a reference week)."""
    zone = ZoneInfo(tz)
    trig = trigger(schedule, zone)
    if isinstance(trig, IntervalTrigger):
        return trig.interval  # type: ignore[no-any-return]
    y, m, d = _REFERENCE_MONDAY
    at = datetime(y, m, d, tzinfo=zone)
    fires: list[datetime] = []
    while len(fires) < 50:
        nxt = trig.get_next_fire_time(fires[-1] if fires else None, at)
        if nxt is None or nxt - datetime(y, m, d, tzinfo=zone) > timedelta(days=8):
            break
        fires.append(nxt)
        at = nxt + timedelta(seconds=1)
    gaps = [b - a for a, b in pairwise(fires) if b > a]
    return min(gaps) if gaps else None


def fresh_window(settings: Settings, jobs: Sequence[JobSpec],
                 minutes: int | None = None) -> timedelta:
    """How recent the last sync of every list a mail job reads must be."""
    if minutes is not None:
        return timedelta(minutes=minutes)
    if settings.mail_fresh_within_minutes is not None:
        return timedelta(minutes=settings.mail_fresh_within_minutes)
    intervals = [i for j in jobs if j.kind == "pull" and j.enabled
                 and (i := schedule_interval(j.schedule, settings.timezone)) is not None]
    return FRESH_FACTOR * min(intervals) if intervals else DEFAULT_FRESH


def context(settings: Settings, params: MailParams | None = None,
            job: JobSpec | None = None, jobs: Sequence[JobSpec] = ()) -> MailContext:
    sender = settings.mailbox or settings.smtp_from_address or "sp-sync@localhost"
    digest = params if isinstance(params, DigestParams) else None
    templates = Path(digest.templates) if digest is not None else Path("jobs/templates")
    stale_after = params.send_stale_after_minutes if params is not None else None
    return MailContext(
        sender=sender,
        renderer=TemplateRenderer(),
        tz=settings.timezone,
        locale=(digest.locale if digest is not None and digest.locale else settings.locale),
        templates_dir=templates if templates.is_dir() else None,
        organisation=settings.organisation,
        site_url=settings.site_url,
        allowed_domains=settings.recipient_domains,
        fresh_within=fresh_window(settings, jobs, params.fresh_within_minutes
                                  if params is not None else None),
        send_stale_after=timedelta(minutes=stale_after if stale_after is not None
                                   else settings.mail_send_stale_after_minutes),
        slot=schedule_slot(job.schedule, settings.timezone) if job is not None
        else DEFAULT_SLOT,
    )


def describe_lateness(settings: Settings, jobs: Sequence[JobSpec]) -> list[str]:
    """For ``check``: when each mail job is due, when it counts as late, what it waits for."""
    out = []
    for job in jobs:
        params = job.params
        if not isinstance(params, MailParams):
            continue
        ctx = context(settings, params, job, jobs)
        out.append(
            f"{job.name}: {params.due(ctx.slot, settings.timezone)}; late (marked in subject "
            f"and body) when sent more than {params.late_after_minutes} min after that; "
            f"waits for lists synced within {ctx.fresh_within}, sends with a warning from "
            f"{ctx.send_stale_after} after the due time; recipients only in "
            f"{', '.join(ctx.recipient_domains)}"
        )
    return out


class DigestJobs:
    """Runs digest and reminder jobs for the mail job kinds (``engine.context.MailJobs``)."""

    def __init__(self, settings: Settings, mapping: ListMapping, services: Services,
                 conn: GraphConnection | None, jobs: Sequence[JobSpec] = ()) -> None:
        self.settings = settings
        self.mapping = mapping
        self.services = services
        self.jobs = list(jobs)
        # Built at start, so a transport misconfiguration stops sp-sync right away; a dry
        # run never uses it.
        self.mailer = Mailer(
            services.store,
            transport(settings, conn),
            copy_to=FileTransport(settings.outbox_dir)
            if settings.mail_transport != "files" else None,
            limiter=RateLimiter(max_messages=settings.mail_per_minute),
            clock=services.clock,
            lease=timedelta(seconds=settings.mail_claim_lease_s),
        )
        self._flushed = False
        # Mail jobs waiting for fresh data: run again after every pull (see after_run).
        self._waiting: dict[str, JobSpec] = {}
        self._rerunning = False

    def _job(self, name: str) -> JobSpec | None:
        return next((j for j in self.jobs if j.name == name), None)

    def notice_setup(self, flush: bool = True) -> NoticeSetup:
        """The mailer, sender and recipient policy for event notices
        (``sp_sync.engine.notices``); ``flush=False`` for dry runs."""
        if flush and not self._flushed:  # settle what a crash left "sending" first
            self.mailer.flush_pending()
            self._flushed = True
        mc = context(self.settings)
        return NoticeSetup(self.mailer, mc.sender, mc.locale, mc.tz, mc.uid_domain,
                           allowed_domains=mc.allowed_domains)

    def run(self, job_name: str, params: MailParams, now: datetime,
            dry_run: bool = False) -> dict[str, Any]:
        """Send what is due for the job; with ``dry_run`` only plan and preview it.

        A dry run returns the plan in ``stats["planned_mails"]`` (recipient, subject,
        period, late, status) and renders each mail into ``stats["preview_dir"]``
        (``<outbox_dir>/preview/<job>-<UTC time>``); it writes nothing else.
        """
        store = self.services.store
        resent: dict[str, int] = {}
        mailer: Mailer | None = None
        preview_dir: Path | None = None
        if dry_run:
            stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
            preview_dir = Path(self.settings.outbox_dir) / "preview" / f"{job_name}-{stamp}"
        else:
            mailer = self.mailer
            if not self._flushed:  # settle what a crash left "sending" before anything new
                resent = mailer.flush_pending()
                self._flushed = True
            else:
                resent = mailer.flush_pending(job_name)
        run = MailRun(store, mailer, digest_sources(store, self.mapping, self.settings),
                      context(self.settings, params, self._job(job_name), self.jobs),
                      job_name, now, late_after=timedelta(minutes=params.late_after_minutes),
                      dry_run=dry_run, preview_dir=preview_dir)
        stats = params.send(run)
        if not dry_run:
            job = self._job(job_name)
            if stats.get("waiting") and job is not None:
                self._waiting[job_name] = job
            else:
                self._waiting.pop(job_name, None)
            # Mails re-sent from the pending queue (after a crash or an unclear answer).
            stats["resent"] = resent.get("sent", 0)
            stats["resent_confirmed"] = resent.get("confirmed", 0)
            stats["resent_failed"] = resent.get("failed", 0)
        return stats


    def after_run(self, job_name: str, status: str, stats: dict[str, Any]) -> None:
        """The runner's ``on_run`` hook: after a pull, run the mail jobs still waiting for
        fresh data. A weekly job's own schedule fires once a week; without this a digest
        that waited at 07:00 (or at start after downtime) would never go out that week."""
        job = self._job(job_name)
        if job is None or job.kind != "pull" or not self._waiting or self._rerunning \
                or stats.get("dry_run"):
            return
        self._rerunning = True
        try:
            for waiting in list(self._waiting.values()):
                log.info("%s: running again after %s (it was waiting for fresh data)",
                         waiting.name, job_name)
                try:
                    run_job(self.services, waiting)
                except Exception:  # a crash is in the run history; the pull is unaffected
                    log.exception("%s: re-run after %s failed", waiting.name, job_name)
        finally:
            self._rerunning = False


def mail_jobs(config: Any, services: Services, conn: GraphConnection | None) -> DigestJobs:
    jobs = DigestJobs(config.settings, config.mapping, services, conn,
                      getattr(config, "jobs", ()))
    services.on_run.append(jobs.after_run)
    return jobs


def preview_digest(config: Any, job_name: str, period: str | None) -> Path:
    """Render a mail job's mails from the state store without sending (no Graph connection).

    The weekly digest: one HTML/text/.eml set (its path is returned). Personal digests:
    every mail of the week ``period`` (default: this week), whatever the ledger says;
    reminders: those due now. Both go into ``<outbox_dir>/preview/<job>-<period>/`` (the
    folder is returned). Nothing is written to the state store.
    """
    settings: Settings = config.settings
    job = config.job(job_name)
    params = job.params
    if not isinstance(params, MailParams):
        raise ConfigError(f"{job.path}: kind: {job_name!r} is a {job.kind} job; preview "
                          "renders mail jobs (digest, reminders)")
    store = open_store(settings.state_url, read_only=True)  # works while the daemon runs
    try:
        sources = digest_sources(store, config.mapping, settings)
        # a preview shows the mail whatever the data's age
        ctx = replace(context(settings, params, job, config.jobs), fresh_within=None)
        run = MailRun(store, None, sources, ctx, job_name, SystemClock().now(), dry_run=True)
        return params.preview(run, Path(settings.outbox_dir) / "preview", period)
    finally:
        store.close()
