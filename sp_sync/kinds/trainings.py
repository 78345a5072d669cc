"""Kind ``trainings``: the waiting list, cancellation notices and attendance requests.

* **Waiting list**: when a training (Geplant, not begun) has a free seat — a
  registration was cancelled ("Storniert") or the seats were raised — the earliest
  "Warteliste" registrations (by "Angemeldet am", then id) become "Angemeldet", never more
  than the free seats. This changes the status of a *person's* row, which the write
  pipeline deliberately never does (it only touches rows with a SyncKey of its scope), so
  each promotion is its own one-row plan applied through the writer port with the item's
  eTag (:func:`~sp_sync.engine.apply.apply_plan`): a person who changed the registration
  meanwhile wins (412 → re-read; still on the waiting list → retry once, else nothing).
  Each promoted person gets one mail with the invitation (.ics, the reminders' UID).
* **Cancelled training** ("Abgesagt", not yet begun): every person registered or waiting
  gets one mail with a calendar file that cancels the invitation (METHOD:CANCEL, same UID).
* **After a training**: registrations still "Angemeldet" from the day after → one mail to
  the trainer asking to record attendance, with a link to the list filtered to it.

Every mail goes through the outbox, once per (job, event, recipient).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import quote

from pydantic import Field

from sp_sync.domain.digest import person_email, person_name, title_of
from sp_sync.domain.mail_content import NoticeText
from sp_sync.domain.model import ActionKind, Link, Lookup, RawItem, Record, WriteAction
from sp_sync.domain.plan import Plan
from sp_sync.domain.reminders import CalendarEvent, event_uid, sequence_of
from sp_sync.domain.trainings import REGISTERED, WAITING, promotions
from sp_sync.engine.apply import apply_plan
from sp_sync.engine.context import RunContext
from sp_sync.engine.notices import Notice, renderer_of, send_notices, uid_domain
from sp_sync.engine.pipeline import pull_for
from sp_sync.engine.records import StoreResolver, iter_records
from sp_sync.kinds.base import CheckEnv, JobKind, KindParams, Report
from sp_sync.kinds.roundtables import check_lists

log = logging.getLogger(__name__)

TRAININGS, REGISTRATIONS, USERS = "trainings", "registrations", "users"
NEEDS: dict[str, tuple[str, ...]] = {
    TRAININGS: ("topic", "start", "end", "location", "online_link", "trainer",
                "max_participants", "status"),
    REGISTRATIONS: ("training", "participant", "status", "registered_at"),
}
CANCELLED = "Abgesagt"
PROMOTED = "promoted:"  # the ledger's and the outbox's period of a promotion
DONE = ("sent", "already_sent")


class TrainingsParams(KindParams):
    promote: bool = True
    cancellation_notices: bool = True
    attendance_requests: bool = True
    attendance_after_days: int = Field(default=1, ge=1, le=60)
    window_days: int = Field(default=14, ge=1, le=366)  # how far back past trainings count


def _tid(value: object) -> str | None:
    return str(value.id) if isinstance(value, Lookup) else None


def _start(rec: Record) -> datetime | None:
    value = rec.get("start")
    return value if isinstance(value, datetime) else None


def _event(ctx: RunContext, t: Record, start: datetime) -> CalendarEvent:
    """The training as the reminders announce it (same UID, so updates and cancels match)."""
    end = t.get("end")
    link = t.get("online_link")
    return CalendarEvent(
        uid=event_uid(TRAININGS, t.id, uid_domain(ctx)), sequence=sequence_of(t),
        summary=title_of(t), start=start,
        end=end if isinstance(end, datetime) else start + timedelta(hours=1),
        location=str(t.get("location") or "") or (link.url if isinstance(link, Link) else None),
        url=t.web_url,
    )


def _calendar(ctx: RunContext, event: CalendarEvent, attendee: str,
              cancel: bool = False) -> Callable[[str], bytes]:
    """sender → the invitation (or its cancellation) for ``attendee``."""
    renderer = renderer_of(ctx)
    render = renderer.cancellation if cancel else renderer.invitation

    def make(sender: str) -> bytes:
        return render(event, sender, attendee, str(ctx.tz), ctx.now)

    return make


class _Promote:
    """One registration's promotion as a one-row plan with its own replanner."""

    def __init__(self, ctx: RunContext, reg: Record) -> None:
        self.ctx, self.reg = ctx, reg
        self.spec = ctx.mapping.get(REGISTRATIONS)
        self.status_field = self.spec.column("status").field_name
        self.key = f"promote:{ctx.job}:{reg.id}"

    def replan(self, fresh: RawItem | None, action: WriteAction) -> WriteAction | None:
        """Against the item as it is now: only a registration still waiting is promoted."""
        if fresh is None or fresh.fields.get(self.status_field) != WAITING:
            return None  # deleted or changed by a person meanwhile: the person wins
        return WriteAction(ActionKind.UPDATE, self.key, fresh.id, fresh.etag,
                           {self.status_field: REGISTERED})

    def apply(self) -> bool:
        item = self.ctx.store.get(REGISTRATIONS, self.reg.id)
        if item is None:
            return False
        action = WriteAction(ActionKind.UPDATE, self.key, item.id, item.etag,
                             {self.status_field: REGISTERED})
        result = apply_plan(self.ctx.writer, self.ctx.source, self.ctx.ref(self.spec),
                            self.spec, Plan(actions=[action], current_count=1), self.replan)
        self.ctx.report.add(written=result.written, conflicts=len(result.conflicts),
                            failed_writes=len(result.failed))
        for o in result.conflicts + result.failed:
            self.ctx.report.problems.append(
                f"{o.status.value} promote registration {self.reg.id}: {o.error or ''}")
        return result.written == 1


class TrainingsKind(JobKind[TrainingsParams]):
    name = "trainings"
    params_model = TrainingsParams
    summary = "waiting list promotions, cancellation notices, attendance requests"
    writes_lists = True
    sends_mail = True

    def check(self, params: TrainingsParams, env: CheckEnv, bad: Report) -> TrainingsParams:
        check_lists(env, bad, NEEDS, ())
        return params

    def run(self, ctx: RunContext, params: TrainingsParams) -> None:
        pull_for(ctx, (TRAININGS, REGISTRATIONS, USERS))
        resolver = StoreResolver(ctx.store, ctx.mapping)
        trainings = list(iter_records(ctx.store, ctx.mapping, TRAININGS, ctx.tz, resolver))
        regs = list(iter_records(ctx.store, ctx.mapping, REGISTRATIONS, ctx.tz, resolver))
        notices: list[Notice] = []
        if params.promote:
            notices += self._promote(ctx, trainings, regs)
        if params.cancellation_notices:
            notices += self._cancelled(ctx, trainings, regs)
        if params.attendance_requests:
            notices += self._attendance(ctx, params, trainings, regs)
        delivered = send_notices(ctx, notices, ctx.now)
        for n in notices:
            if n.period.startswith(PROMOTED) and delivered.get(n.period) in DONE:
                ctx.store.ledger_put(ctx.job, n.period, "mailed", ctx.now)

    def _promote(self, ctx: RunContext, trainings: list[Record],
                 regs: list[Record]) -> list[Notice]:
        """Promote, and mail each promoted person. The ledger holds each promotion from
        before its write ("promoting") until its mail is out ("mailed"), so a crash in
        between still sends the mail on the next run (once the registration reads
        "Angemeldet"); a promotion a person's change overrode is "kept" and not mailed."""
        by_id = {r.id: r for r in regs}
        starts = {t.id: (t, s) for t in trainings if (s := _start(t)) is not None}
        mail: list[tuple[Record, Record, datetime]] = []
        for period, state in ctx.store.ledger_periods(ctx.job):
            r = by_id.get(period.removeprefix(PROMOTED))
            if not period.startswith(PROMOTED) or state not in ("promoting", "promoted"):
                continue
            tid = str(getattr(r.get("training"), "id", "")) if r is not None else ""
            if r is None or r.get("status") != REGISTERED or tid not in starts:
                if r is None or r.get("status") != WAITING:  # waiting: promoted again below
                    ctx.store.ledger_put(ctx.job, period, "kept", ctx.now)
                continue
            mail.append((starts[tid][0], r, starts[tid][1]))
        for t, r, start in promotions(trainings, regs, ctx.now):
            line = (f"promote {REGISTRATIONS} #{r.id} ({title_of(r)}): {WAITING} → "
                    f"{REGISTERED}")
            if ctx.dry_run:
                ctx.report.plan.append(line)
                ctx.report.add(planned_updates=1)
                mail.append((t, r, start))
                continue
            ctx.store.ledger_put(ctx.job, PROMOTED + r.id, "promoting", ctx.now,
                                 {"training": t.id})
            if not _Promote(ctx, r).apply():
                # a person's change won, or the write failed (in the report)
                ctx.store.ledger_put(ctx.job, PROMOTED + r.id, "kept", ctx.now)
                continue
            ctx.store.ledger_put(ctx.job, PROMOTED + r.id, "promoted", ctx.now)
            ctx.report.details.append(line)
            ctx.report.add(promoted=1)
            mail.append((t, r, start))
        out = []
        for t, r, start in mail:
            email = person_email(r.get("participant"))
            if email is None:
                continue
            event = _event(ctx, t, start)
            out.append(Notice(
                PROMOTED + r.id, email,
                NoticeText("promoted", person_name(r.get("participant")) or email,
                           title_of(t), start, link=t.web_url),
                ics=_calendar(ctx, event, email)))
        return out

    def _cancelled(self, ctx: RunContext, trainings: list[Record],
                   regs: list[Record]) -> list[Notice]:
        out = []
        for t in trainings:
            start = _start(t)
            if start is None or start <= ctx.now or t.get("status") != CANCELLED:
                continue
            event = _event(ctx, t, start)
            seen: set[str] = set()
            for r in regs:
                email = person_email(r.get("participant"))
                if (_tid(r.get("training")) != t.id or email is None or email in seen
                        or r.get("status") not in (REGISTERED, WAITING)):
                    continue
                seen.add(email)
                out.append(Notice(
                    f"cancelled:{t.id}", email,
                    NoticeText("cancelled", person_name(r.get("participant")) or email,
                               title_of(t), start),
                    ics=_calendar(ctx, event, email, cancel=True), method="CANCEL"))
        return out

    def _attendance(self, ctx: RunContext, params: TrainingsParams, trainings: list[Record],
                    regs: list[Record]) -> list[Notice]:
        today = ctx.now.astimezone(ctx.tz).date()
        since = ctx.now - timedelta(days=params.window_days)
        spec = ctx.mapping.get(REGISTRATIONS)
        field = spec.column("training").field_name
        base = f"{ctx.services.site_url.rstrip('/')}/Lists/{quote(spec.title)}/AllItems.aspx"
        out = []
        for t in trainings:
            start = _start(t)
            if start is None or start < since or t.get("status") == CANCELLED:
                continue
            if (today - start.astimezone(ctx.tz).date()).days < params.attendance_after_days:
                continue
            still = sum(1 for r in regs if _tid(r.get("training")) == t.id
                        and r.get("status") == REGISTERED)
            email = person_email(t.get("trainer"))
            if not still or email is None:
                continue
            link = (f"{base}?FilterField1={quote(field)}&FilterValue1={t.id}"
                    "&FilterType1=Lookup&FilterLookupId1=1")
            out.append(Notice(f"attendance:{t.id}", email, NoticeText(
                "attendance", person_name(t.get("trainer")) or email, title_of(t), start,
                link=link, count=still)))
        return out


KIND = TrainingsKind()
