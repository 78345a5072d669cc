"""The weekly DTC digest as data (pure): what the DTC team reads every Monday.

``build_weekly`` turns normalised records (logical list key → records, see
``config/lists.toml``), the field history and health facts into a ``WeeklyDigest``;
``sp_sync.render`` turns that into an e-mail. Nothing here formats for a language:
labels are message keys, values stay typed (dates, numbers) or are display strings
made by the ``display`` function the caller passes in.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sp_sync.domain.findings_digest import FindingsDigest, weekly_findings
from sp_sync.domain.model import FieldChange, Link, Lookup, Person, Record, RunRecord, Value
from sp_sync.domain.rollup import portfolio_overview

DisplayFn = Callable[[str, str, Any], str]
"""``display(list_key, column_key, raw_graph_value) -> str`` for old → new values."""

WINDOW_DAYS = 14
CHANGES_CAP = 10
ACTIVE_STATUSES = ("Idee", "Planung", "Umsetzung")
PROJECT_STATUSES = ("Idee", "Planung", "Umsetzung", "Abgeschlossen", "Pausiert", "Abgebrochen")
TRAFFIC_LIGHTS = ("Grün", "Gelb", "Rot")
SEAT_TAKING = ("Angemeldet", "Teilgenommen")

#: Per list: the columns whose old → new the digest shows, with their type (for the
#: built-in display of raw Graph values). Other changed columns are only named.
WATCHED: Mapping[str, tuple[tuple[str, str], ...]] = {
    "projects": (
        ("status", "choice"), ("traffic_light", "choice"), ("lead", "person"),
        ("next_milestone", "text"), ("milestone_date", "date"), ("planned_end", "date"),
    ),
    "trainings": (
        ("start", "datetime"), ("status", "choice"), ("trainer", "person"),
        ("max_participants", "number"), ("location", "text"),
    ),
    "registrations": (("status", "choice"), ("participant", "person")),
    "round_tables": (
        ("date", "datetime"), ("location", "text"), ("status", "choice"),
        ("moderator", "person"),
    ),
    "topics": (("status", "choice"), ("owner", "person"), ("due", "date"), ("kind", "choice")),
    "trend_radar": (("status", "choice"), ("maturity", "choice")),
    "departments": (("coordinator", "person"), ("deputy", "person"), ("active", "boolean")),
}
#: Lists in the "what changed" section, in this order.
CHANGE_LISTS = ("projects", "trainings", "registrations", "round_tables", "topics",
                "trend_radar", "departments")
TITLE_COLUMN = {"trainings": "topic", "departments": "name"}


def title_of(record: Record) -> str:
    v = record.get(TITLE_COLUMN.get(record.list_key, "title"))
    return str(v) if v not in (None, "") else f"#{record.id}"


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    percent: int  # width relative to the largest bar of its chart, 0..100


@dataclass(frozen=True)
class Portfolio:
    total: int
    active: int
    by_status: tuple[Bar, ...]
    by_light: tuple[Bar, ...]  # active projects only
    by_dezernat: tuple[Bar, ...]
    by_field: tuple[Bar, ...]


@dataclass(frozen=True)
class Milestone:
    project: str
    number: str | None
    milestone: str | None
    due: date
    days: int  # < 0: overdue by -days
    lead: str | None
    traffic_light: str | None
    web_url: str | None

    @property
    def overdue(self) -> bool:
        return self.days < 0


@dataclass(frozen=True)
class ColumnChange:
    column: str  # logical column key
    old: str
    new: str


@dataclass(frozen=True)
class ChangedItem:
    list_key: str
    item_id: str
    title: str
    kind: str  # "created" | "updated" | "deleted"
    columns: tuple[ColumnChange, ...]
    other_columns: tuple[str, ...]  # changed but not watched: named only
    changed_by: tuple[str, ...]
    changed_at: datetime  # the last change
    web_url: str | None


@dataclass(frozen=True)
class ListChanges:
    list_key: str
    items: tuple[ChangedItem, ...]
    more: int  # items left out by the cap
    list_url: str | None


@dataclass(frozen=True)
class TrainingInfo:
    topic: str
    start: datetime
    end: datetime | None
    location: str | None
    online_url: str | None
    trainer: str | None
    status: str | None
    taken: int
    total: int | None
    waiting: int
    web_url: str | None
    total_shown: str | None = None  # a maximum that is no usable number, as the list has it

    @property
    def free(self) -> int | None:
        return None if self.total is None else max(self.total - self.taken, 0)

    @property
    def no_trainer(self) -> bool:
        return self.trainer is None

    @property
    def percent(self) -> int:
        if not self.total:
            return 0
        return min(100, round(100 * self.taken / self.total))


@dataclass(frozen=True)
class Topic:
    title: str
    department: str | None
    web_url: str | None


@dataclass(frozen=True)
class ActionItem:
    title: str
    owner: str | None
    owner_email: str | None
    department_id: int | None
    due: date | None
    age_days: int | None
    overdue: bool
    web_url: str | None


@dataclass(frozen=True)
class RoundTableInfo:
    item_id: str
    title: str
    start: datetime
    location: str | None
    moderator: str | None
    topics: tuple[Topic, ...]
    web_url: str | None


@dataclass(frozen=True)
class TrendItem:
    title: str
    category: str | None
    maturity: str | None
    source_url: str | None
    web_url: str | None


@dataclass(frozen=True)
class TrendGroup:
    department: str | None  # None: no department named yet
    items: tuple[TrendItem, ...]


@dataclass(frozen=True)
class FailedRun:
    job: str
    started_at: datetime
    status: str
    message: str | None


@dataclass(frozen=True)
class HealthInput:
    """What the engine knows about the service's own health."""

    last_sync: Mapping[str, datetime | None] = field(default_factory=dict)
    runs: Sequence[RunRecord] = ()  # recent runs; failed/partial ones after ``since`` show
    skipped_periods: Sequence[str] = ()
    late: bool = False
    scheduled: datetime | None = None


@dataclass(frozen=True)
class Health:
    last_sync: tuple[tuple[str, datetime | None], ...]
    failed_runs: tuple[FailedRun, ...]
    skipped_periods: tuple[str, ...]
    late: bool
    scheduled: datetime | None

    @property
    def ok(self) -> bool:
        return not (self.failed_runs or self.skipped_periods or self.late
                    or any(t is None for _, t in self.last_sync))


@dataclass(frozen=True)
class WeeklyDigest:
    period: str
    now: datetime
    since: datetime
    tz: str
    portfolio: Portfolio
    milestones: tuple[Milestone, ...]
    changes: tuple[ListChanges, ...]
    trainings: tuple[TrainingInfo, ...]
    round_table: RoundTableInfo | None
    actions: tuple[ActionItem, ...]
    trends: tuple[TrendGroup, ...]
    health: Health
    site_url: str | None = None
    findings: FindingsDigest | None = None  # the Befunde section (issue 10)

    @property
    def change_count(self) -> int:
        return sum(len(c.items) + c.more for c in self.changes)


# --------------------------------------------------------------------------- helpers


def local_date(value: Value, tz: ZoneInfo) -> date | None:
    """A date column's value as a local date (datetimes are converted to ``tz``)."""
    if isinstance(value, datetime):
        return value.astimezone(tz).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    return None


def person_name(value: Value) -> str | None:
    if isinstance(value, Person):
        return value.name or value.email
    return None if value in (None, "") else str(value)


def person_email(value: Value) -> str | None:
    return value.email.lower() if isinstance(value, Person) and value.email else None


def lookup_id(value: Value) -> int | None:
    if isinstance(value, Lookup):
        return value.id
    if isinstance(value, tuple) and value and isinstance(value[0], Lookup):
        return value[0].id
    return None


def when(record: Record, column: str) -> datetime | None:
    value = record.get(column)
    return value if isinstance(value, datetime) else None


def link_url(value: Value) -> str | None:
    return value.url if isinstance(value, Link) else None


def text(value: Value) -> str | None:
    return None if value in (None, "") else str(value)


def _bars(counts: Mapping[str, int], order: Sequence[str] = ()) -> tuple[Bar, ...]:
    keys = [k for k in order if k in counts] + sorted(k for k in counts if k not in order)
    top = max(counts.values(), default=0)
    return tuple(
        Bar(k, counts[k], round(100 * counts[k] / top) if top else 0) for k in keys
    )


def _by_id(records: Iterable[Record]) -> dict[str, Record]:
    return {r.id: r for r in records}


def make_display(records: Mapping[str, Sequence[Record]], tz: str) -> DisplayFn:
    """A display function for raw Graph values of the ``WATCHED`` columns.

    Persons resolve through the ``users`` list; dates show as ``dd.mm.yyyy`` in ``tz``.
    Engines with the real normaliser pass their own function instead.
    """
    zone = ZoneInfo(tz)
    users = {r.id: r for r in records.get("users", ())}
    types = {(lk, ck): t for lk, cols in WATCHED.items() for ck, t in cols}

    def display(list_key: str, column: str, raw: Any) -> str:
        if raw is None or raw == "" or raw == []:
            return "—"
        kind = types.get((list_key, column), "text")
        if kind == "person":
            user = users.get(str(raw))
            return (text(user.get("name")) if user else None) or f"#{raw}"
        if kind in ("date", "datetime") and isinstance(raw, str):
            try:
                dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                return raw
            local = dt.astimezone(zone) if dt.tzinfo else dt
            return local.strftime("%d.%m.%Y" if kind == "date" else "%d.%m.%Y %H:%M")
        if kind == "boolean":
            return "ja" if raw else "nein"
        if isinstance(raw, float) and raw.is_integer():
            return str(int(raw))
        return str(raw)

    return display


# --------------------------------------------------------------------------- sections


def build_portfolio(records: Mapping[str, Sequence[Record]]) -> Portfolio:
    # The same roll-up engine as the Portfolio list (issue 11), so the two never disagree.
    groups = portfolio_overview(records)
    total = groups["Gesamt"].get("", (0, 0))
    by_light = {k: a for k, (_, a) in groups["Ampel"].items() if a}
    return Portfolio(
        total=total[0],
        active=total[1],
        by_status=_bars({k: n for k, (n, _) in groups["Status"].items()}, PROJECT_STATUSES),
        by_light=_bars(by_light, TRAFFIC_LIGHTS),
        by_dezernat=_bars({k: n for k, (n, _) in groups["Dezernat"].items()}),
        by_field=_bars({k: n for k, (n, _) in groups["Handlungsfeld"].items()}),
    )


def build_milestones(
    projects: Iterable[Record], today: date, tz: ZoneInfo, window_days: int = WINDOW_DAYS
) -> tuple[Milestone, ...]:
    """Milestones of active projects that are overdue or due within the window."""
    out = []
    for p in projects:
        due = local_date(p.get("milestone_date"), tz)
        if due is None or p.get("status") not in ACTIVE_STATUSES:
            continue
        days = (due - today).days
        if days <= window_days:
            out.append(Milestone(
                project=title_of(p), number=text(p.get("number")),
                milestone=text(p.get("next_milestone")), due=due, days=days,
                lead=person_name(p.get("lead")), traffic_light=text(p.get("traffic_light")),
                web_url=p.web_url,
            ))
    return tuple(sorted(out, key=lambda m: (m.due, m.project)))


def net_changes(
    changes: Iterable[FieldChange],
    records: Mapping[str, Sequence[Record]],
    display: DisplayFn,
    since: datetime | None = None,
    lists: Sequence[str] = CHANGE_LISTS,
    cap: int = CHANGES_CAP,
    list_urls: Mapping[str, str] | None = None,
    keep: Callable[[str, str], bool] | None = None,
) -> tuple[ListChanges, ...]:
    """Changes per list, netted per item: one line per column from first old to last new.

    Columns whose netted old equals new drop out; an item created (or deleted) within
    the window is one "created" (or "deleted") line. ``keep(list_key, item_id)`` filters
    items (personal digests). Newest first, ``cap`` items per list.
    """
    grouped: dict[tuple[str, str], list[FieldChange]] = defaultdict(list)
    for c in sorted(changes, key=lambda c: c.changed_at):
        if c.list_key not in lists or (since is not None and c.changed_at <= since):
            continue
        if keep is not None and not keep(c.list_key, c.item_id):
            continue
        grouped[(c.list_key, c.item_id)].append(c)

    current = {key: _by_id(recs) for key, recs in records.items()}
    per_list: dict[str, list[ChangedItem]] = defaultdict(list)
    for (list_key, item_id), item_changes in grouped.items():
        item = _net_item(list_key, item_id, item_changes, current.get(list_key, {}), display)
        if item is not None:
            per_list[list_key].append(item)

    out = []
    for list_key in lists:
        items = sorted(per_list.get(list_key, ()), key=lambda i: i.changed_at, reverse=True)
        if not items:
            continue
        url = (list_urls or {}).get(list_key) or _list_url(records.get(list_key, ()))
        out.append(ListChanges(list_key, tuple(items[:cap]), max(len(items) - cap, 0), url))
    return tuple(out)


def _net_item(
    list_key: str, item_id: str, changes: list[FieldChange],
    current: Mapping[str, Record], display: DisplayFn,
) -> ChangedItem | None:
    kinds = {c.kind for c in changes}
    record = current.get(item_id)
    kind = "deleted" if "deleted" in kinds or (record is None and changes[-1].kind == "deleted") \
        else "created" if "created" in kinds else "updated"
    if kind == "deleted" and "created" in kinds:
        return None  # created and deleted within the window: nothing to report
    first: dict[str, Any] = {}
    last: dict[str, Any] = {}
    for c in changes:
        first.setdefault(c.column, c.old)
        last[c.column] = c.new
    watched = [k for k, _ in WATCHED.get(list_key, ())]
    columns: list[ColumnChange] = []
    others: list[str] = []
    if kind == "updated":
        for col in last:
            if first[col] == last[col]:
                continue
            if col in watched:
                columns.append(ColumnChange(col, display(list_key, col, first[col]),
                                            display(list_key, col, last[col])))
            else:
                others.append(col)
        if not columns and not others:
            return None
        columns.sort(key=lambda c: watched.index(c.column))
    title_col = TITLE_COLUMN.get(list_key, "title")
    if record is not None:
        title = title_of(record)
    else:
        raw = last.get(title_col) if kind != "deleted" else first.get(title_col)
        title = str(raw) if raw else f"#{item_id}"
    who = tuple(dict.fromkeys(c.changed_by for c in changes if c.changed_by))
    return ChangedItem(
        list_key=list_key, item_id=item_id, title=title, kind=kind, columns=tuple(columns),
        other_columns=tuple(others), changed_by=who, changed_at=changes[-1].changed_at,
        web_url=record.web_url if record is not None else None,
    )


def _list_url(records: Sequence[Record]) -> str | None:
    """The list's address, derived from an item's (``…/Lists/X/DispForm.aspx?ID=1``)."""
    for r in records:
        if r.web_url and "/" in r.web_url:
            return r.web_url.rsplit("/", 1)[0]
    return None


def registrations_by_training(registrations: Iterable[Record]) -> dict[int, Counter[str]]:
    out: dict[int, Counter[str]] = defaultdict(Counter)
    for r in registrations:
        tid = lookup_id(r.get("training"))
        if tid is not None:
            out[tid][text(r.get("status")) or "—"] += 1
    return out


def training_info(t: Record, seats: Mapping[int, Counter[str]]) -> TrainingInfo:
    counts = seats.get(int(t.id), Counter()) if t.id.isdigit() else Counter()
    total = t.get("max_participants")
    start = t.get("start")
    end = t.get("end")
    assert isinstance(start, datetime)
    return TrainingInfo(
        topic=title_of(t), start=start, end=end if isinstance(end, datetime) else None,
        location=text(t.get("location")), online_url=link_url(t.get("online_link")),
        trainer=person_name(t.get("trainer")), status=text(t.get("status")),
        taken=sum(counts[s] for s in SEAT_TAKING),
        total=int(total) if isinstance(total, int | float) else None,
        waiting=counts["Warteliste"], web_url=t.web_url,
        total_shown=total if isinstance(total, str) else None,
    )


def build_trainings(
    records: Mapping[str, Sequence[Record]], now: datetime, window_days: int = WINDOW_DAYS
) -> tuple[TrainingInfo, ...]:
    """Trainings starting within the window (cancelled ones included: they matter)."""
    seats = registrations_by_training(records.get("registrations", ()))
    end = now + timedelta(days=window_days)
    out = [
        training_info(t, seats)
        for t in records.get("trainings", ())
        if (start := when(t, "start")) is not None and now <= start <= end
    ]
    return tuple(sorted(out, key=lambda t: (t.start, t.topic)))


def next_round_table(
    records: Mapping[str, Sequence[Record]], now: datetime
) -> RoundTableInfo | None:
    """The next round table that is not cancelled, with its agenda (kind Thema)."""
    upcoming = [
        (start, r.id, r) for r in records.get("round_tables", ())
        if (start := when(r, "date")) is not None and start >= now
        and r.get("status") != "Ausgefallen"
    ]
    if not upcoming:
        return None
    start, _, rt = min(upcoming, key=lambda u: (u[0], u[1]))
    departments = _by_id(records.get("departments", ()))
    topics = []
    for t in records.get("topics", ()):
        if t.get("kind") == "Thema" and str(lookup_id(t.get("round_table"))) == rt.id:
            dept = departments.get(str(lookup_id(t.get("department"))))
            topics.append(Topic(title_of(t), title_of(dept) if dept else None, t.web_url))
    return RoundTableInfo(
        item_id=rt.id, title=title_of(rt), start=start, location=text(rt.get("location")),
        moderator=person_name(rt.get("moderator")), topics=tuple(topics), web_url=rt.web_url,
    )


def open_actions(
    records: Mapping[str, Sequence[Record]], now: datetime, tz: ZoneInfo
) -> tuple[ActionItem, ...]:
    """Open action items (kind Aufgabe, status Offen), oldest first.

    Age counts from the round table that raised the item (else its last modification).
    """
    tables = _by_id(records.get("round_tables", ()))
    today = now.astimezone(tz).date()
    out = []
    for t in records.get("topics", ()):
        if t.get("kind") != "Aufgabe" or t.get("status") != "Offen":
            continue
        rt = tables.get(str(lookup_id(t.get("round_table"))))
        raised = rt.get("date") if rt is not None else None
        if not isinstance(raised, datetime) or raised > now:
            raised = t.modified
        due = local_date(t.get("due"), tz)
        out.append(ActionItem(
            title=title_of(t), owner=person_name(t.get("owner")),
            owner_email=person_email(t.get("owner")),
            department_id=lookup_id(t.get("department")), due=due,
            age_days=(today - raised.astimezone(tz).date()).days
            if isinstance(raised, datetime) else None,
            overdue=due is not None and due < today, web_url=t.web_url,
        ))
    return tuple(sorted(out, key=lambda a: (-(a.age_days or 0), a.title)))


def build_trends(records: Mapping[str, Sequence[Record]]) -> tuple[TrendGroup, ...]:
    """Scouting items with status Neu, grouped by each relevant department."""
    departments = _by_id(records.get("departments", ()))
    groups: dict[str | None, list[TrendItem]] = defaultdict(list)
    no_department: list[str | None] = [None]
    for r in records.get("trend_radar", ()):
        if r.get("status") != "Neu":
            continue
        item = TrendItem(title_of(r), text(r.get("category")), text(r.get("maturity")),
                         link_url(r.get("source_link")), r.web_url)
        depts = r.get("departments")
        names: list[str | None] = [
            (d.title or (title_of(departments[str(d.id)]) if str(d.id) in departments
                         else f"#{d.id}"))
            for d in (depts if isinstance(depts, tuple) else ())
            if isinstance(d, Lookup)
        ]
        for name in names or no_department:
            groups[name].append(item)
    named = sorted(k for k in groups if k is not None)
    keys: list[str | None] = [*named, *([None] if None in groups else [])]
    return tuple(TrendGroup(k, tuple(sorted(groups[k], key=lambda i: i.title))) for k in keys)


# A run whose process died is a failure too (it was marked "interrupted" at the next start).
FAILED_RUN_STATUSES = frozenset({"failed", "partial", "interrupted"})


def build_health(health: HealthInput, since: datetime) -> Health:
    failed = tuple(
        FailedRun(r.job, r.started_at, r.status, r.message)
        for r in sorted(health.runs, key=lambda r: r.started_at)
        if r.status in FAILED_RUN_STATUSES and r.started_at > since
    )
    return Health(
        last_sync=tuple(sorted(health.last_sync.items())),
        failed_runs=failed,
        skipped_periods=tuple(health.skipped_periods),
        late=health.late,
        scheduled=health.scheduled,
    )


def build_weekly(
    records: Mapping[str, Sequence[Record]],
    changes: Sequence[FieldChange],
    health: HealthInput,
    period: str,
    now: datetime,
    tz: str,
    since: datetime,
    display: DisplayFn | None = None,
    cap: int = CHANGES_CAP,
    site_url: str | None = None,
) -> WeeklyDigest:
    """Everything the Monday digest shows, computed from the mirror as of ``now``."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    return WeeklyDigest(
        period=period, now=now, since=since, tz=tz,
        portfolio=build_portfolio(records),
        milestones=build_milestones(records.get("projects", ()), today, zone),
        changes=net_changes(changes, records, display or make_display(records, tz),
                            since=since, cap=cap),
        trainings=build_trainings(records, now),
        round_table=next_round_table(records, now),
        actions=open_actions(records, now, zone),
        trends=build_trends(records),
        health=build_health(health, since),
        site_url=site_url,
        findings=findings_since(records.get("findings", ()), since, zone),
    )


def findings_since(findings: Iterable[Record], since: datetime, zone: ZoneInfo
                   ) -> FindingsDigest:
    """The Befunde section: new and resolved since the last digest, open ones.

    Befunde dates are days, the last digest a moment: a finding first seen (or closed) on
    the day of the last digest counts as new (resolved) in this one — it may then show in
    both, but is never missed.
    """
    return weekly_findings(findings, since.astimezone(zone).date() - timedelta(days=1))
