"""Wiring of the mail side: transports, the exactly-once mailer, digest sources, job params."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.mail import GraphMailTransport
from sp_sync.adapters.mail.files import FileTransport
from sp_sync.adapters.mail.smtp import SmtpTransport
from sp_sync.adapters.store import open_store
from sp_sync.clock import SystemClock
from sp_sync.config.jobs import DigestParams, RemindersParams
from sp_sync.config.settings import Settings
from sp_sync.domain.digest import make_display
from sp_sync.domain.model import ListMapping, Record
from sp_sync.engine.digests import (
    DIGEST_LISTS,
    DigestSources,
    MailContext,
    preview_weekly,
    run_personal_digests,
    run_reminders,
    run_weekly_digest,
)
from sp_sync.engine.mailing import Mailer, RateLimiter
from sp_sync.engine.records import StoreResolver, load_records
from sp_sync.engine.runner import Services
from sp_sync.errors import ConfigError
from sp_sync.ports import MailTransport, StateStore


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


class DigestJobs:
    """Runs digest and reminder jobs for the runner (implements ``runner.MailJobs``)."""

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

    def run(self, job_name: str, kind: str, params: Any, now: datetime) -> dict[str, Any]:
        store = self.services.store
        if not self._flushed:  # settle what a crash left "sending" before anything new
            self.mailer.flush_pending()
            self._flushed = True
        sources = digest_sources(store, self.mapping, self.settings)
        if kind == "reminders":
            rp: RemindersParams = params
            return run_reminders(
                store, self.mailer, sources, context(self.settings), now, job=job_name,
                training_days_before=rp.training_days_before,
                round_table_days_before=rp.round_table_days_before,
            )
        dp: DigestParams = params
        ctx = context(self.settings, dp)
        late_after = timedelta(minutes=dp.late_after_minutes)
        if dp.audience == "dtc":
            return run_weekly_digest(
                store, self.mailer, sources, ctx, list(dp.recipients), now, job=job_name,
                catch_up_weeks=dp.catch_up_weeks, late_after=late_after,
            )
        return run_personal_digests(
            store, self.mailer, sources, ctx, dp.audience, now, job=job_name,
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
    store = open_store(settings.state_url, read_only=True)  # works while the daemon runs
    try:
        sources = digest_sources(store, config.mapping, settings)
        return preview_weekly(sources, context(settings, job.params),
                              Path(settings.outbox_dir) / "preview", SystemClock().now(), period)
    finally:
        store.close()
