"""Kinds ``digest`` and ``reminders``: e-mails through the outbox, each exactly once.

The mail side (transports, the exactly-once mailer, digest sources) is wired in
``sp_sync.app`` and reached through ``Services.mail_jobs``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from sp_sync.engine.context import RunContext
from sp_sync.errors import ConfigError
from sp_sync.kinds.base import CheckEnv, JobKind, KindParams, Report

_EMAIL = r"^[^@\s<>\"]+@[^@\s<>\"]+\.[A-Za-z]{2,}$"


class DigestParams(KindParams):
    audience: Literal["dtc", "leads", "coordinators"]
    recipients: tuple[str, ...] = ()  # dtc: default settings.dtc_recipients
    locale: Literal["de", "en"] | None = None  # None: settings.locale
    catch_up_weeks: int = Field(default=2, ge=0, le=52)
    late_after_minutes: int = Field(default=60, ge=0)
    opt_out: tuple[str, ...] = ()
    templates: str = "jobs/templates"
    # Lists read must have synced within this; None: settings / 3x the pull interval.
    fresh_within_minutes: int | None = Field(default=None, gt=0)
    # Wait this long after the due time for fresh data, then send with a warning.
    send_stale_after_minutes: int | None = Field(default=None, ge=0)

    @field_validator("recipients", "opt_out")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not re.match(_EMAIL, v)]
        if bad:
            raise ValueError(
                f"not e-mail addresses: {', '.join(map(repr, bad))} — use name@example.org"
            )
        return tuple(v.lower() for v in value)


class RemindersParams(KindParams):
    training_days_before: int = Field(default=2, ge=0, le=60)
    round_table_days_before: int = Field(default=3, ge=0, le=60)
    late_after_minutes: int = Field(default=60, ge=0)
    fresh_within_minutes: int | None = Field(default=None, gt=0)
    send_stale_after_minutes: int | None = Field(default=None, ge=0)


def _send(ctx: RunContext, kind: str, params: KindParams) -> None:
    mail = ctx.services.mail_jobs
    if mail is None:
        raise ConfigError("no mail transport configured for mail jobs — set mail_transport")
    figures = mail.run(ctx.job, kind, params, ctx.now, dry_run=ctx.dry_run)
    planned = figures.pop("planned_mails", None)
    if isinstance(planned, list):
        for m in planned:
            ctx.report.plan_mail(str(m.get("period", "")), str(m.get("recipient", "")),
                                 str(m.get("subject", "")), bool(m.get("late")))
    ctx.report.figures.update(figures)
    if figures.get("failed"):
        ctx.report.problems.append(f"{figures['failed']} mail(s) could not be sent")


class DigestKind(JobKind[DigestParams]):
    name = "digest"
    params_model = DigestParams
    summary = "the weekly DTC digest, or personal digests for leads / coordinators"
    sends_mail = True

    def check(self, params: DigestParams, env: CheckEnv, bad: Report) -> DigestParams:
        if params.audience == "dtc" and not params.recipients:
            return params.model_copy(update={"recipients": env.dtc_recipients})
        return params

    def run(self, ctx: RunContext, params: DigestParams) -> None:
        _send(ctx, self.name, params)


class RemindersKind(JobKind[RemindersParams]):
    name = "reminders"
    params_model = RemindersParams
    summary = "reminders with calendar files before trainings and round tables"
    sends_mail = True

    def run(self, ctx: RunContext, params: RemindersParams) -> None:
        _send(ctx, self.name, params)


DIGEST = DigestKind()
REMINDERS = RemindersKind()
