"""Reminders before trainings and round tables (pure), each with a calendar event.

Participants registered as "Angemeldet" hear about a training ``days_before`` (2) days
ahead; IT coordinators of active departments about a round table 3 days ahead. A
reminder is due while the event is 1..days_before local days away, so a missed day is
caught up; its period key names the event's date, list and item
(``"2026-12-03:training:17"``), so a moved event is announced again and an unchanged
one only once. ``render.ics`` turns ``CalendarEvent`` into an .ics (METHOD:REQUEST).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sp_sync.domain.digest import (
    ActionItem,
    RoundTableInfo,
    TrainingInfo,
    next_round_table,
    open_actions,
    person_email,
    person_name,
    registrations_by_training,
    title_of,
    training_info,
)
from sp_sync.domain.model import Record

_SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CalendarEvent:
    uid: str  # stable: list + item id
    sequence: int  # grows with every modification of the item
    summary: str
    start: datetime
    end: datetime
    location: str | None = None
    description: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Reminder:
    kind: str  # "training" | "round_table"
    period: str  # "<event date>:<kind>:<item id>"
    recipient: str  # e-mail, lower case
    name: str
    event: CalendarEvent
    training: TrainingInfo | None = None
    round_table: RoundTableInfo | None = None
    actions: tuple[ActionItem, ...] = ()  # round tables: the recipient's department's
    all_actions: tuple[ActionItem, ...] = ()  # round tables: every open action item

    def own(self, action: ActionItem) -> bool:
        """Whether ``action`` is one of the recipient's department(s) (highlighted)."""
        return action in self.actions


def sequence_of(record: Record) -> int:
    """SEQUENCE from the last modification: later edits give larger numbers."""
    if record.modified is None:
        return 0
    return max(0, int((record.modified - _SEQUENCE_EPOCH).total_seconds()))


def event_uid(list_key: str, item_id: str, domain: str) -> str:
    return f"{list_key}-{item_id}@{domain}"


def _days_ahead(start: datetime, now: datetime, zone: ZoneInfo) -> int:
    return (start.astimezone(zone).date() - now.astimezone(zone).date()).days


def training_reminders(
    records: Mapping[str, Sequence[Record]],
    now: datetime,
    tz: str,
    days_before: int = 2,
    uid_domain: str = "sp-sync",
) -> list[Reminder]:
    """One reminder per registered participant of each planned training ahead."""
    zone = ZoneInfo(tz)
    seats = registrations_by_training(records.get("registrations", ()))
    by_training: dict[str, list[Record]] = {}
    for r in records.get("registrations", ()):
        if r.get("status") == "Angemeldet" and person_email(r.get("participant")):
            key = r.get("training")
            tid = getattr(key, "id", None)
            by_training.setdefault(str(tid), []).append(r)
    out = []
    for t in records.get("trainings", ()):
        start = t.get("start")
        if not isinstance(start, datetime) or t.get("status") == "Abgesagt":
            continue
        if not 0 < _days_ahead(start, now, zone) <= days_before:
            continue
        info = training_info(t, seats)
        event = CalendarEvent(
            uid=event_uid("trainings", t.id, uid_domain), sequence=sequence_of(t),
            summary=info.topic, start=start, end=info.end or start + timedelta(hours=1),
            location=info.location or info.online_url, url=t.web_url,
        )
        period = f"{start.astimezone(zone).date().isoformat()}:training:{t.id}"
        seen: set[str] = set()
        for r in by_training.get(t.id, ()):
            email = person_email(r.get("participant"))
            if email is None or email in seen:
                continue
            seen.add(email)
            out.append(Reminder("training", period, email,
                                person_name(r.get("participant")) or email, event,
                                training=info))
    return sorted(out, key=lambda r: (r.period, r.recipient))


def round_table_reminders(
    records: Mapping[str, Sequence[Record]],
    now: datetime,
    tz: str,
    days_before: int = 3,
    uid_domain: str = "sp-sync",
) -> list[Reminder]:
    """IT coordinators of active departments, before the next round table."""
    zone = ZoneInfo(tz)
    rt = next_round_table(records, now)
    if rt is None or not 0 < _days_ahead(rt.start, now, zone) <= days_before:
        return []
    record = next(r for r in records.get("round_tables", ()) if r.id == rt.item_id)
    end = record.get("end")
    event = CalendarEvent(
        uid=event_uid("round_tables", rt.item_id, uid_domain), sequence=sequence_of(record),
        summary=title_of(record), start=rt.start,
        end=end if isinstance(end, datetime) else rt.start + timedelta(hours=2),
        location=rt.location, url=rt.web_url,
        description="\n".join(f"- {t.title}" for t in rt.topics) or None,
    )
    period = f"{rt.start.astimezone(zone).date().isoformat()}:round_table:{rt.item_id}"
    actions = open_actions(records, now, zone)
    out: dict[str, Reminder] = {}
    for d in records.get("departments", ()):
        email = person_email(d.get("coordinator"))
        if email is None or d.get("active") is False:
            continue
        dept_id = int(d.id) if d.id.isdigit() else None
        prev = out.get(email)
        mine = tuple(a for a in actions if a.department_id == dept_id)
        out[email] = Reminder(
            "round_table", period, email, person_name(d.get("coordinator")) or email, event,
            round_table=rt, actions=(prev.actions if prev else ()) + mine,
            all_actions=actions,
        )
    return [out[k] for k in sorted(out)]
