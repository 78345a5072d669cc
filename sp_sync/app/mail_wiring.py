"""Wiring of the mail side: transports, the exactly-once mailer, digest sources, job params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.mail import GraphMailTransport
from sp_sync.adapters.mail.files import FileTransport
from sp_sync.adapters.mail.smtp import SmtpTransport
from sp_sync.adapters.store import open_store
from sp_sync.adapters.store.scratch import ScratchStore
from sp_sync.clock import SystemClock
from sp_sync.config.settings import Settings
from sp_sync.domain.digest import make_display
from sp_sync.domain.model import ListMapping, Record
from sp_sync.engine.context import Services
from sp_sync.engine.digests import (
    DIGEST_LISTS,
    DigestSources,
    MailContext,
    preview_weekly,
    run_personal_digests,
    run_reminders,
    run_weekly_digest,
)
from sp_sync.engine.mailing import SYNC_KEY_HEADER, Mailer, RateLimiter
from sp_sync.engine.notices import NoticeSetup
from sp_sync.engine.records import StoreResolver, load_records
from sp_sync.errors import ConfigError
from sp_sync.kinds.mail import DigestParams, RemindersParams
from sp_sync.ports import MailTransport, SendResult, StateStore


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


def context(settings: Settings, params: DigestParams | None = None) -> MailContext:
    sender = settings.mailbox or settings.smtp_from_address or "sp-sync@localhost"
    templates = Path(params.templates) if params is not None else Path("jobs/templates")
    return MailContext(
        sender=sender,
        tz=settings.timezone,
        locale=(params.locale if params is not None and params.locale else settings.locale),
        templates_dir=templates if templates.is_dir() else None,
        organisation=settings.organisation,
        site_url=settings.site_url,
    )


class _PlannedMail(FileTransport):
    """A dry run's transport: renders each mail into the preview folder, sends nothing,
    and remembers who would have got what."""

    name = "dry-run"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.planned: list[dict[str, Any]] = []

    def send(self, message: EmailMessage) -> SendResult:
        result = super().send(message)
        subject = str(message.get("Subject", ""))
        key = str(message.get(SYNC_KEY_HEADER, ""))  # job/period/recipient
        period = key.split("/")[1] if key.count("/") >= 2 else ""
        self.planned.append({
            "recipient": str(message.get("To", "")),
            "subject": subject,
            "period": period,
            "late": "[verspätet]" in subject or "[late]" in subject,
            "preview": result.detail,
        })
        return result


class DigestJobs:
    """Runs digest and reminder jobs for the mail job kinds (``engine.context.MailJobs``)."""

    def __init__(self, settings: Settings, mapping: ListMapping, services: Services,
                 conn: GraphConnection | None) -> None:
        self.settings = settings
        self.mapping = mapping
        self.services = services
        self.mailer = Mailer(
            services.store,
            transport(settings, conn),
            copy_to=FileTransport(settings.outbox_dir) if settings.mail_transport != "files"
            else None,
            limiter=RateLimiter(max_messages=settings.mail_per_minute),
            clock=services.clock,
        )
        self._flushed = False

    def run(self, job_name: str, kind: str, params: Any, now: datetime,
            dry_run: bool = False) -> dict[str, Any]:
        """Send what is due. A dry run does all of it against a scratch store and a
        transport that only writes previews: nothing is sent, nothing recorded."""
        if dry_run:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            folder = Path(self.settings.outbox_dir) / "preview" / f"dry-run-{job_name}-{stamp}"
            planned = _PlannedMail(folder)
            scratch = ScratchStore(self.services.store)
            try:
                mailer = Mailer(scratch, planned, clock=self.services.clock)
                stats = self._run(scratch, mailer, job_name, kind, params, now)
            finally:
                scratch.close()
            stats["planned_mails"] = planned.planned
            stats["preview_dir"] = str(folder)
            return stats
        if not self._flushed:  # settle what a crash left "sending" before anything new
            self.mailer.flush_pending()
            self._flushed = True
        return self._run(self.services.store, self.mailer, job_name, kind, params, now)

    def notice_setup(self) -> NoticeSetup:
        """The mailer and sender for event notices (``sp_sync.engine.notices``)."""
        if not self._flushed:  # settle what a crash left "sending" before anything new
            self.mailer.flush_pending()
            self._flushed = True
        mc = context(self.settings)
        return NoticeSetup(self.mailer, mc.sender, mc.locale, mc.tz, mc.uid_domain)

    def _run(self, store: StateStore, mailer: Mailer, job_name: str, kind: str,
             params: Any, now: datetime) -> dict[str, Any]:
        sources = digest_sources(store, self.mapping, self.settings)
        if kind == "reminders":
            rp: RemindersParams = params
            return run_reminders(
                store, mailer, sources, context(self.settings), now, job=job_name,
                training_days_before=rp.training_days_before,
                round_table_days_before=rp.round_table_days_before,
            )
        dp: DigestParams = params
        ctx = context(self.settings, dp)
        late_after = timedelta(minutes=dp.late_after_minutes)
        if dp.audience == "dtc":
            return run_weekly_digest(
                store, mailer, sources, ctx, list(dp.recipients), now, job=job_name,
                catch_up_weeks=dp.catch_up_weeks, late_after=late_after,
            )
        return run_personal_digests(
            store, mailer, sources, ctx, dp.audience, now, job=job_name,
            opt_out=tuple(dp.opt_out), catch_up_weeks=dp.catch_up_weeks, late_after=late_after,
        )


def mail_jobs(config: Any, services: Services, conn: GraphConnection | None) -> DigestJobs:
    return DigestJobs(config.settings, config.mapping, services, conn)


def preview_digest(config: Any, job_name: str, period: str | None) -> Path:
    """Render a weekly digest from the state store without sending (no Graph connection)."""
    settings: Settings = config.settings
    job = config.job(job_name)
    if job.kind != "digest" or job.params.audience != "dtc":
        raise ConfigError(f"{job.path}: kind: preview renders the weekly DTC digest; "
                          f"{job_name!r} is not one")
    store = open_store(settings.state_url)
    try:
        sources = digest_sources(store, config.mapping, settings)
        return preview_weekly(sources, context(settings, job.params),
                              Path(settings.outbox_dir) / "preview", SystemClock().now(), period)
    finally:
        store.close()
