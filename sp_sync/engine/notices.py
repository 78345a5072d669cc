"""Event notices of the round-table and training cycle, through the outbox, each once.

A notice is one mail for one event and one recipient: its period is a stable event key
(``promoted:17``, ``cancelled:3``, ``attendance:5``, ``minutes:12``), so the outbox's
(job, period, recipient) rule sends it exactly once however often the job runs. A dry run
lists every mail that would go out (not those the outbox already holds as sent) and sends
nothing.

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
from sp_sync.engine.context import RunContext
from sp_sync.engine.mailing import Mailer, sync_key
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


@runtime_checkable
class NoticeMail(Protocol):
    """The mail side as notices see it (``sp_sync.app.mail_wiring.DigestJobs``)."""

    def notice_setup(self) -> NoticeSetup: ...


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
        return mail.notice_setup().uid_domain
    return "sp-sync"


def _setup(ctx: RunContext) -> NoticeSetup:
    mail = ctx.services.mail_jobs
    if not isinstance(mail, NoticeMail):
        raise ConfigError("no mail transport configured for notices — set mail_transport")
    return mail.notice_setup()


def send_notices(ctx: RunContext, notices: list[Notice], now: datetime) -> dict[str, str]:
    """Send each notice once (see the module docstring); figures go into the report.
    Returns period → the last delivery status ("sent", "already_sent", "failed", …;
    "planned" on a dry run)."""
    out: dict[str, str] = {}
    if not notices:
        return out
    job = ctx.job
    if ctx.dry_run:
        for n in notices:
            entry = ctx.store.outbox_get(job, n.period, n.recipient.lower())
            if entry is not None and entry.status == "sent":
                continue
            subject = renderer_of(ctx).notice(n.text, str(ctx.tz), "de").subject
            ctx.report.plan.append(f"mail {n.period} → {n.recipient}: {subject}")
            ctx.report.add(planned_mails=1)
            out[n.period] = "planned"
        return out
    setup = _setup(ctx)
    render = renderer_of(ctx)
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
