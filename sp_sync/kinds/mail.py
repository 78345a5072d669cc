"""Kinds ``digest`` and ``reminders``: e-mails through the outbox, each exactly once.

The mail side (transports, the exactly-once mailer, digest sources) is wired in
``sp_sync.app`` and reached through ``Services.mail_jobs``.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from datetime import UTC
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from sp_sync.domain.periods import period_for, scheduled_at
from sp_sync.engine.context import RunContext
from sp_sync.engine.digests import (
    MailRun,
    preview_weekly,
    run_personal_digests,
    run_reminders,
    run_weekly_digest,
)
from sp_sync.errors import ConfigError
from sp_sync.kinds.base import CheckEnv, JobKind, KindParams, Report

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_EMAIL = r"^[^@\s<>\"]+@[^@\s<>\"]+\.[A-Za-z]{2,}$"


class MailParams(KindParams):
    """What every mail job has: when it is late and how fresh its data must be; and how
    it sends, previews and describes its due time (so the mail side never asks which
    kind a job is)."""

    late_after_minutes: int = Field(default=60, ge=0)
    # Lists read must have synced within this; None: settings / 3x the pull interval.
    fresh_within_minutes: int | None = Field(default=None, gt=0)
    # Wait this long after the due time for fresh data, then send with a warning.
    send_stale_after_minutes: int | None = Field(default=None, ge=0)

    @abstractmethod
    def send(self, run: MailRun) -> dict[str, Any]:
        """Send (or, in a dry run, plan and preview) what is due; the run's figures."""

    @abstractmethod
    def preview(self, run: MailRun, out: Path, period: str | None) -> Path:
        """Render the job's mails below ``out`` without sending; the file or folder."""

    @abstractmethod
    def due(self, slot: tuple[int, int, int], tz: str) -> str:
        """When the job's mail is due, in words (for ``check``)."""


class DigestParams(MailParams):
    audience: Literal["dtc", "leads", "coordinators"]
    recipients: tuple[str, ...] = ()  # dtc: default settings.dtc_recipients
    locale: Literal["de", "en"] | None = None  # None: settings.locale
    catch_up_weeks: int = Field(default=2, ge=0, le=52)
    opt_out: tuple[str, ...] = ()
    templates: str = "jobs/templates"

    @field_validator("recipients", "opt_out")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not re.match(_EMAIL, v)]
        if bad:
            raise ValueError(
                f"not e-mail addresses: {', '.join(map(repr, bad))} — use name@example.org"
            )
        return tuple(v.lower() for v in value)


    def send(self, run: MailRun) -> dict[str, Any]:
        if self.audience == "dtc":
            return run_weekly_digest(
                run.store, run.mailer, run.sources, run.ctx, list(self.recipients), run.now,
                job=run.job, catch_up_weeks=self.catch_up_weeks, late_after=run.late_after,
                dry_run=run.dry_run, preview_dir=run.preview_dir,
            )
        return run_personal_digests(
            run.store, run.mailer, run.sources, run.ctx, self.audience, run.now, job=run.job,
            opt_out=self.opt_out, catch_up_weeks=self.catch_up_weeks,
            late_after=run.late_after, dry_run=run.dry_run, preview_dir=run.preview_dir,
        )

    def preview(self, run: MailRun, out: Path, period: str | None) -> Path:
        if self.audience == "dtc":  # one HTML/text/.eml set
            return preview_weekly(run.sources, run.ctx, out, run.now, period)
        week = period or period_for(run.now, run.ctx.tz)
        try:
            due = scheduled_at(week, run.ctx.tz, *run.ctx.slot)
        except ValueError as exc:
            raise ConfigError(f"--period: {exc}") from None
        folder = out / f"{run.job}-{week}"  # every mail of the week, whatever the ledger
        run_personal_digests(run.store, None, run.sources, run.ctx, self.audience,
                             min(run.now, due), job=run.job, opt_out=self.opt_out,
                             dry_run=True, preview_dir=folder, preview_period=week)
        return folder

    def due(self, slot: tuple[int, int, int], tz: str) -> str:
        weekday, hour, minute = slot
        return f"due {_DAYS[weekday]} {hour:02d}:{minute:02d} {tz} each ISO week"


class RemindersParams(MailParams):
    training_days_before: int = Field(default=2, ge=0, le=60)
    round_table_days_before: int = Field(default=3, ge=0, le=60)

    def send(self, run: MailRun) -> dict[str, Any]:
        return run_reminders(
            run.store, run.mailer, run.sources, run.ctx, run.now, job=run.job,
            training_days_before=self.training_days_before,
            round_table_days_before=self.round_table_days_before,
            late_after=run.late_after, dry_run=run.dry_run, preview_dir=run.preview_dir,
        )

    def preview(self, run: MailRun, out: Path, period: str | None) -> Path:
        folder = out / f"{run.job}-{run.now.astimezone(UTC):%Y%m%d}"  # those due now
        run_reminders(run.store, None, run.sources, run.ctx, run.now, job=run.job,
                      training_days_before=self.training_days_before,
                      round_table_days_before=self.round_table_days_before,
                      dry_run=True, preview_dir=folder)
        return folder

    def due(self, slot: tuple[int, int, int], tz: str) -> str:
        _, hour, minute = slot
        return f"due {hour:02d}:{minute:02d} {tz} on the reminder's day"


def _send(ctx: RunContext, params: MailParams) -> None:
    mail = ctx.services.mail_jobs
    if mail is None:
        raise ConfigError("no mail transport configured for mail jobs — set mail_transport")
    figures = mail.run(ctx.job, params, ctx.now, dry_run=ctx.dry_run)
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
        _send(ctx, params)


class RemindersKind(JobKind[RemindersParams]):
    name = "reminders"
    params_model = RemindersParams
    summary = "reminders with calendar files before trainings and round tables"
    sends_mail = True

    def run(self, ctx: RunContext, params: RemindersParams) -> None:
        _send(ctx, params)


DIGEST = DigestKind()
REMINDERS = RemindersKind()
