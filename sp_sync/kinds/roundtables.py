"""Kind ``roundtables``: the round-table cycle in the lists the organisers already use.

Three producers of the write pipeline, each in its own scope, all into people-edited lists
(``RundeTische``, ``Themen``, ``Teilnahme`` — they need ``sync_key = "SyncKey"`` in the
mapping and the column, which ``sp-sync provision`` adds):

* **the series ahead** (``series:<job>:<yyyy-mm-dd of the regular slot>``): the next
  ``ahead`` meetings of the declared series (:mod:`sp_sync.domain.series`). Every column is
  written on create only, so a meeting a person moved, renamed or set to "Ausgefallen"
  stays as the person left it; a deleted one is never created again; past ones are kept.
  A slot whose day already has a meeting a person entered by hand is left to that meeting.
* **the agenda** (``agenda:<job>:<meeting id>:…``): ``agenda_days_before`` days before a
  meeting, one agenda row (kind Thema) per open action item (kind Aufgabe, status Offen)
  of an earlier meeting — a reference ("Offene Aufgabe: …" with owner, department and due
  date), one per (item, meeting), never a second copy — plus the standing topics.
* **attendance** (``attendance:<job>:<meeting id>:<department id>``): once a meeting has
  begun (and within ``attendance_days`` after), one row per active department with the IT
  coordinator and "Anwesend" empty, unless the department already has a row for it.

The meetings this job looks after are those of its own series and those people entered
without a SyncKey (a second series job keeps to its own). Afterwards the moderator of a
meeting held ``minutes_after_days`` ago without minutes gets one mail (outbox, once).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timedelta

from pydantic import Field, field_validator

from sp_sync.domain.digest import person_email, person_name, title_of
from sp_sync.domain.mail_content import NoticeText
from sp_sync.domain.model import DesiredRow, Lookup, Person, Record, Value
from sp_sync.domain.plan import Leftover
from sp_sync.domain.series import (
    OnBlocked,
    SeriesSpec,
    parse_closing,
    series_prefix,
    slot_key,
    slots_ahead,
)
from sp_sync.engine.context import RunContext
from sp_sync.engine.notices import Notice, send_notices
from sp_sync.engine.pipeline import Producer, pull_for, write
from sp_sync.engine.records import StoreResolver, iter_records
from sp_sync.kinds.base import CheckEnv, JobKind, KindParams, Report, needs_sync_key

ROUND_TABLES, TOPICS, ATTENDANCE = "round_tables", "topics", "attendance"
DEPARTMENTS, USERS = "departments", "users"
WRITTEN = (ROUND_TABLES, TOPICS, ATTENDANCE)
# The columns each producer needs (list key → column keys); "end" is optional.
NEEDS: dict[str, tuple[str, ...]] = {
    ROUND_TABLES: ("title", "date", "location", "moderator", "status", "minutes"),
    TOPICS: ("title", "round_table", "kind", "owner", "department", "due", "status"),
    ATTENDANCE: ("title", "round_table", "department", "person"),
    DEPARTMENTS: ("name", "coordinator", "active"),
}
_EMAIL = r"^[^@\s<>\"]+@[^@\s<>\"]+\.[A-Za-z]{2,}$"


class RoundTablesParams(KindParams):
    """A declared series and how its agenda, attendance and minutes are looked after."""

    first: date  # the first meeting's regular date
    every_days: int = Field(default=14, ge=1, le=366)
    start_time: time = time(10, 0)
    duration_minutes: int = Field(default=120, ge=1, le=24 * 60)
    location: str  # a place or an online link
    moderator: str | None = None  # e-mail of the moderator (a user of the site)
    title: str = "Runder Tisch IT-Koordination {date}"  # {date}: dd.mm.yyyy
    ahead: int = Field(default=6, ge=0, le=52)
    on_holiday: OnBlocked = OnBlocked.MOVE  # public holidays of Baden-Württemberg
    on_closing: OnBlocked = OnBlocked.SKIP
    closing: tuple[str | tuple[str, str], ...] = ()  # "12-24" / ["12-24", "01-01"] / ISO
    holiday_region: str = "BW"
    agenda_days_before: int = Field(default=7, ge=0, le=60)
    carried_title: str = "Offene Aufgabe: {title}"
    standing_topics: tuple[str, ...] = ()
    attendance_days: int = Field(default=14, ge=0, le=366)
    minutes_after_days: int = Field(default=3, ge=1, le=60)
    minutes_window_days: int = Field(default=30, ge=1, le=366)

    @field_validator("closing")
    @classmethod
    def _closing(
        cls, value: tuple[str | tuple[str, str], ...]
    ) -> tuple[str | tuple[str, str], ...]:
        for v in value:
            parse_closing(v)  # ValueError names the expected shape
        return value

    @field_validator("moderator")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not re.match(_EMAIL, value):
            raise ValueError(f"{value!r} is no e-mail address — use name@example.org")
        return value.lower() if value else None

    def spec(self) -> SeriesSpec:
        return SeriesSpec(
            first=self.first, start=self.start_time,
            duration=timedelta(minutes=self.duration_minutes), every_days=self.every_days,
            ahead=self.ahead, on_holiday=self.on_holiday, on_closing=self.on_closing,
            closing=tuple(parse_closing(c) for c in self.closing),
            subdivision=self.holiday_region,
        )


# --------------------------------------------------------------------------- reading


class _View:
    """The lists as records, with each item's SyncKey (read once per producer call)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.resolver = StoreResolver(ctx.store, ctx.mapping)

    def records(self, key: str) -> list[Record]:
        return list(iter_records(self.ctx.store, self.ctx.mapping, key, self.ctx.tz,
                                 self.resolver))

    def keys(self, key: str) -> dict[str, str | None]:
        """item id → SyncKey (None: a person's row)."""
        column = self.ctx.mapping.get(key).sync_key_column
        out: dict[str, str | None] = {}
        for item in self.ctx.store.items(key):
            raw = item.fields.get(column) if column else None
            out[item.id] = str(raw).strip() or None if raw not in (None, "") else None
        return out

    def person(self, email: str | None) -> Person | None:
        if not email or USERS not in self.ctx.mapping:
            return None
        for rec in self.records(USERS):
            if str(rec.get("email") or "").lower() == email and rec.id.isdigit():
                return Person(name=str(rec.get("name") or email), email=email, id=int(rec.id))
        return None


def _lookup_id(value: object) -> str | None:
    return str(value.id) if isinstance(value, Lookup) else None


def _start(rec: Record) -> datetime | None:
    value = rec.get("date")
    return value if isinstance(value, datetime) else None


def _meetings(view: _View, job: str) -> list[tuple[Record, datetime]]:
    """Meetings this job looks after: its own series and people's, with their start."""
    keys = view.keys(ROUND_TABLES)
    prefix = series_prefix(job)
    out = []
    for rec in view.records(ROUND_TABLES):
        key = keys.get(rec.id)
        start = _start(rec)
        if start is not None and (key is None or key.startswith(prefix)):
            out.append((rec, start))
    return sorted(out, key=lambda m: (m[1], m[0].id))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "thema"


# --------------------------------------------------------------------------- producers


def series_producer(ctx: RunContext, params: RoundTablesParams) -> Producer:
    job, prefix = ctx.job, series_prefix(ctx.job)
    spec = params.spec()
    has_end = any(c.key == "end" for c in ctx.mapping.get(ROUND_TABLES).columns)
    columns = ("title", "date", "location", "moderator", "status") + (("end",) if has_end
                                                                       else ())

    def rows() -> Iterator[DesiredRow]:
        view = _View(ctx)
        keys = view.keys(ROUND_TABLES)
        by_hand = {  # days a person already planned a meeting on (outside any series)
            start.astimezone(ctx.tz).date()
            for rec in view.records(ROUND_TABLES)
            if keys.get(rec.id) is None and (start := _start(rec)) is not None
        }
        moderator = view.person(params.moderator)
        today = ctx.now.astimezone(ctx.tz).date()
        for slot in slots_ahead(spec, today, ctx.tz):
            if slot.day in by_hand:
                continue
            fields: dict[str, Value] = {
                "title": params.title.format(date=f"{slot.day:%d.%m.%Y}"),
                "date": slot.start, "location": params.location, "moderator": moderator,
                "status": "Geplant",
            }
            if has_end:
                fields["end"] = slot.end
            yield DesiredRow(slot_key(job, slot.regular), fields)

    return Producer(
        name=f"series {job}", target=ROUND_TABLES, prefix=prefix, columns=columns, rows=rows,
        reads=(USERS,), leftover=Leftover.KEEP, create_only=columns, recreate=False,
    )


def agenda_producer(ctx: RunContext, params: RoundTablesParams) -> Producer:
    job, prefix = ctx.job, f"agenda:{ctx.job}:"
    columns = NEEDS[TOPICS]

    def rows() -> Iterator[DesiredRow]:
        view = _View(ctx)
        meetings = _meetings(view, job)
        starts = {rec.id: start for rec, start in meetings}
        topic_keys = view.keys(TOPICS)
        actions = [
            t for t in view.records(TOPICS)
            if topic_keys.get(t.id) is None and t.get("kind") == "Aufgabe"
            and t.get("status") == "Offen" and _lookup_id(t.get("round_table")) in starts
        ]
        horizon = ctx.now + timedelta(days=params.agenda_days_before)
        for rec, start in meetings:
            if not ctx.now < start <= horizon or rec.get("status") == "Ausgefallen":
                continue
            here = Lookup(int(rec.id), title_of(rec))
            for a in actions:
                raised = starts[str(_lookup_id(a.get("round_table")))]
                if raised >= start:
                    continue
                yield DesiredRow(f"{prefix}{rec.id}:{a.id}", {
                    "title": params.carried_title.format(title=title_of(a)),
                    "round_table": here, "kind": "Thema", "owner": a.get("owner"),
                    "department": a.get("department"), "due": a.get("due"), "status": "Offen",
                })
            for topic in params.standing_topics:
                yield DesiredRow(f"{prefix}{rec.id}:standing:{_slug(topic)}", {
                    "title": topic, "round_table": here, "kind": "Thema", "status": "Offen",
                })

    return Producer(
        name=f"agenda {job}", target=TOPICS, prefix=prefix, columns=columns, rows=rows,
        reads=(ROUND_TABLES, DEPARTMENTS, USERS), leftover=Leftover.KEEP,
        create_only=columns, recreate=False,
    )


def attendance_producer(ctx: RunContext, params: RoundTablesParams) -> Producer:
    job, prefix = ctx.job, f"attendance:{ctx.job}:"
    columns = NEEDS[ATTENDANCE]

    def rows() -> Iterator[DesiredRow]:
        view = _View(ctx)
        keys = view.keys(ATTENDANCE)
        by_people = {  # (meeting, department) pairs people already made a row for
            (_lookup_id(r.get("round_table")), _lookup_id(r.get("department")))
            for r in view.records(ATTENDANCE) if keys.get(r.id) is None
        }
        departments = [d for d in view.records(DEPARTMENTS)
                       if d.get("active") is not False and d.id.isdigit()]
        since = ctx.now - timedelta(days=params.attendance_days)
        for rec, start in _meetings(view, job):
            if not since <= start <= ctx.now or rec.get("status") == "Ausgefallen":
                continue
            day = f"{start.astimezone(ctx.tz):%d.%m.%Y}"
            for d in departments:
                if (rec.id, d.id) in by_people:
                    continue
                label = d.get("code") or title_of(d)
                yield DesiredRow(f"{prefix}{rec.id}:{d.id}", {
                    "title": f"{label} – {day}", "round_table": Lookup(int(rec.id), title_of(rec)),
                    "department": Lookup(int(d.id), title_of(d)),
                    "person": d.get("coordinator"),
                })

    return Producer(
        name=f"attendance {job}", target=ATTENDANCE, prefix=prefix, columns=columns, rows=rows,
        reads=(ROUND_TABLES, DEPARTMENTS, USERS), leftover=Leftover.KEEP,
        create_only=columns, recreate=False,
    )


def minutes_notices(ctx: RunContext, params: RoundTablesParams) -> list[Notice]:
    """One mail to the moderator of each meeting held ``minutes_after_days`` ago or more
    (within the window) that still has no minutes."""
    view = _View(ctx)
    due = ctx.now - timedelta(days=params.minutes_after_days)
    since = ctx.now - timedelta(days=params.minutes_window_days)
    out = []
    for rec, start in _meetings(view, ctx.job):
        if not since <= start <= due or rec.get("status") == "Ausgefallen":
            continue
        if str(rec.get("minutes") or "").strip():
            continue
        email = person_email(rec.get("moderator"))
        if email is None:
            ctx.report.details.append(f"{title_of(rec)}: no minutes and no moderator to ask")
            continue
        out.append(Notice(f"minutes:{rec.id}", email, NoticeText(
            "minutes", person_name(rec.get("moderator")) or email, title_of(rec), start,
            link=rec.web_url)))
    return out


# --------------------------------------------------------------------------- the kind


def check_lists(env: CheckEnv, bad: Report, needs: dict[str, tuple[str, ...]],
                written: Sequence[str]) -> None:
    """Report lists and columns the kind needs but the mapping lacks."""
    for key, cols in needs.items():
        if env.unknown_list(bad, "kind", key):
            continue
        spec = env.mapping.get(key)
        have = {c.key for c in spec.columns}
        for col in cols:
            if col not in have:
                bad("kind", f"list {key!r} has no column {col!r}",
                    f"map the column {col!r} of {spec.title!r} in the list mapping")
        if key in written:
            needs_sync_key(bad, "kind", spec)


class RoundTablesKind(JobKind[RoundTablesParams]):
    name = "roundtables"
    params_model = RoundTablesParams
    summary = "round-table series ahead, agendas with open actions, attendance rows"
    writes_lists = True
    sends_mail = True

    def check(self, params: RoundTablesParams, env: CheckEnv,
              bad: Report) -> RoundTablesParams:
        check_lists(env, bad, NEEDS, WRITTEN)
        try:
            params.title.format(date="01.01.2027")
            params.carried_title.format(title="x")
        except (KeyError, IndexError, ValueError) as exc:
            bad("params.title", f"bad placeholder {exc}",
                "use {date} in title and {title} in carried_title only")
        return params

    def run(self, ctx: RunContext, params: RoundTablesParams) -> None:
        # The producers never re-create a row a person deleted: the pipeline puts the rows
        # they create into the mirror at once, so such a deletion leaves a tombstone.
        write(ctx, [series_producer(ctx, params), agenda_producer(ctx, params),
                    attendance_producer(ctx, params)])
        pull_for(ctx, (ROUND_TABLES, USERS))
        send_notices(ctx, minutes_notices(ctx, params), ctx.now)


KIND = RoundTablesKind()
