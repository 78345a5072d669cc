"""Event notices of the round-table and training cycle, through the outbox, each once.

A notice is one mail for one event and one recipient: its period is a stable event key
(``promoted:17``, ``cancelled:3``, ``attendance:5``, ``minutes:12``), so the outbox's
(job, period, recipient) rule sends it exactly once however often the job runs. A dry run
lists every mail that would go out (not those the outbox already holds as sent) and sends
nothing.

Every notice obeys the mail rules of the digests (issue 9): the recipient must be exactly
one address in an allowed domain (``NoticeSetup.allowed_domains``, default the sender's)
and, when the users list is mirrored, a live user; others are skipped and counted
(``recipients_skipped``), never mailed — in a dry run as in a real one.

The mail side (transport, the exactly-once :class:`~sp_sync.engine.mailing.Mailer`, the
sender) is wired in ``sp_sync.app``; kinds reach it through ``Services.mail_jobs`` when
that offers :class:`NoticeMail`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol, runtime_checkable

from sp_sync.domain.mail_content import NoticeText
from sp_sync.domain.mailsafe import check_recipient, mask, parse_address
from sp_sync.engine.context import RunContext
from sp_sync.engine.mailing import Mailer, sync_key
from sp_sync.engine.records import load_records
from sp_sync.errors import ConfigError
from sp_sync.ports import Renderer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoticeSetup:
    """What rendering and sending notices needs from the mail side."""

    mailer: Mailer
    sender: str
    locale: str = "de"
    tz: str = "Europe/Berlin"
    uid_domain: str = "sp-sync"
    #: Recipient domains (and subdomains) that may be mailed; empty: the sender's.
    allowed_domains: tuple[str, ...] = ()

    @property
    def recipient_domains(self) -> tuple[str, ...]:
        return self.allowed_domains or (self.sender.rpartition("@")[2],)


@runtime_checkable
class NoticeMail(Protocol):
    """The mail side as notices see it (``sp_sync.app.mail_wiring.DigestJobs``)."""

    def notice_setup(self, flush: bool = True) -> NoticeSetup:
        """``flush=False`` (dry runs): the policy only, without settling pending mails."""
        ...


@dataclass(frozen=True)
class Notice:
    """One mail to send once: (period, recipient) within the job."""

    period: str
    recipient: str
    text: NoticeText
    ics: Callable[[str], bytes] | None = None  # sender → calendar file
    method: str = "REQUEST"


def renderer_of(ctx: RunContext) -> Renderer:
    """The renderer the app wired (mails and calendar files)."""
    renderer = ctx.services.renderer
    if renderer is None:
        raise ConfigError("notices need a renderer (sp_sync.app.wiring sets one)")
    return renderer


def uid_domain(ctx: RunContext) -> str:
    """The calendar UID domain the reminders use (the sender's domain), for the same UIDs."""
    mail = ctx.services.mail_jobs
    if isinstance(mail, NoticeMail):
        return mail.notice_setup(flush=not ctx.dry_run).uid_domain
    return "sp-sync"


def _setup(ctx: RunContext) -> NoticeSetup:
    mail = ctx.services.mail_jobs
    if not isinstance(mail, NoticeMail):
        raise ConfigError("no mail transport configured for notices — set mail_transport")
    return mail.notice_setup()


def _live_people(ctx: RunContext) -> set[str] | None:
    """Addresses of current users (``None``: the users list is not mirrored or empty)."""
    if "users" not in ctx.mapping:
        return None
    users = load_records(ctx.store, ctx.mapping, "users", ctx.tz)
    if not users:
        return None
    return {a for u in users if (a := parse_address(u.get("email"))) is not None}


def allowed(ctx: RunContext, notices: list[Notice], domains: tuple[str, ...] | None
            ) -> list[Notice]:
    """The notices whose recipient may be mailed (issue 9's rules); the others are
    counted (``recipients_skipped``) and named in the run's details."""
    people = _live_people(ctx)
    out: list[Notice] = []
    for n in notices:
        address, why = (check_recipient(n.recipient, domains) if domains is not None
                        else (parse_address(n.recipient), "malformed address"))
        if address is not None and people is not None and address not in people:
            address, why = None, "not a current user (deleted or unknown)"
        if address is None:
            ctx.report.add(recipients_skipped=1)
            ctx.report.details.append(f"not mailing {n.period} → {mask(n.recipient)}: {why}")
            log.warning("%s: not mailing %s to %r: %s", ctx.job, n.period, mask(n.recipient),
                        why)
            continue
        out.append(n)
    return out


def send_notices(ctx: RunContext, notices: list[Notice], now: datetime) -> dict[str, str]:
    """Send each notice once (see the module docstring); figures go into the report.
    Returns period → the last delivery status ("sent", "already_sent", "failed", …;
    "planned" on a dry run; absent: the recipient may not be mailed)."""
    out: dict[str, str] = {}
    if not notices:
        return out
    job = ctx.job
    if ctx.dry_run:
        mail = ctx.services.mail_jobs
        policy = mail.notice_setup(flush=False) if isinstance(mail, NoticeMail) else None
        notices = allowed(ctx, notices, policy.recipient_domains if policy else None)
        for n in notices:
            entry = ctx.store.outbox_get(job, n.period, n.recipient.lower())
            if entry is not None and entry.status == "sent":
                continue
            subject = renderer_of(ctx).notice(n.text, str(ctx.tz), "de").subject
            ctx.report.plan_mail(n.period, n.recipient, subject)
            ctx.report.add(planned_mails=1)
            out[n.period] = "planned"
        return out
    setup = _setup(ctx)
    render = renderer_of(ctx)
    notices = allowed(ctx, notices, setup.recipient_domains)
    for n in notices:
        rendered = render.notice(n.text, setup.tz, setup.locale)

        def build(n: Notice = n) -> EmailMessage:
            ics = n.ics(setup.sender) if n.ics is not None else None
            return render.message(render.notice(n.text, setup.tz, setup.locale),
                                  setup.sender, n.recipient,
                                  sync_key(job, n.period, n.recipient.lower()),
                                  ics=ics, date=now, method=n.method)

        status = setup.mailer.deliver(job, n.period, n.recipient, build)
        out[n.period] = status
        ctx.report.add(**{status: 1})  # sent, already_sent, failed … as the mail jobs count
        if status == "sent":
            ctx.report.details.append(f"mail {n.period} → {n.recipient}: {rendered.subject}")
        elif status in ("failed", "unknown"):
            ctx.report.problems.append(f"mail {n.period} → {n.recipient}: {status}")
    return out
