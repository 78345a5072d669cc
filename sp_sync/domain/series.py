"""A declared meeting series → the meetings ahead (pure).

A series has a first date and a rhythm (every 14 days). Each *regular slot* is a date the
rhythm gives; it keys the meeting for good (``series:<job>:<yyyy-mm-dd of the slot>``), so
a meeting a person moved keeps its key and is never created a second time. A slot that
falls on a public holiday of Baden-Württemberg (the ``holidays`` package) or on a
configured closing day is skipped or moved to the next working day, each by configuration;
a move never reaches the next regular slot (then the slot is skipped). Skipped slots do not
count towards the meetings kept ahead.

Closing days are ranges of dates: ``("12-24", "01-01")`` recurs every year (and may wrap
the year end), ``("2027-02-15", "2027-02-19")`` happens once; a single day is a range of
one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holiday_data  # pure data and date arithmetic, no I/O

SERIES_PREFIX = "series"


class OnBlocked(StrEnum):
    """What happens to a slot on a holiday or closing day."""

    SKIP = "skip"
    MOVE = "move"  # to the next working day


@dataclass(frozen=True)
class Closing:
    """A closing period: "MM-DD" bounds recur yearly, "YYYY-MM-DD" bounds happen once."""

    first: str
    last: str

    def covers(self, day: date) -> bool:
        if len(self.first) == 10:
            return date.fromisoformat(self.first) <= day <= date.fromisoformat(self.last)
        md = f"{day.month:02d}-{day.day:02d}"
        if self.first <= self.last:
            return self.first <= md <= self.last
        return md >= self.first or md <= self.last  # wraps the year end (24.12.–1.1.)


def parse_closing(value: str | Sequence[str]) -> Closing:
    """``"12-24"``, ``"2027-02-15"`` or a pair of them → :class:`Closing`; ValueError names
    the expected shape."""
    pair = [value, value] if isinstance(value, str) else list(value)
    if len(pair) != 2:
        raise ValueError(f"{value!r}: give one day or a pair [first, last]")
    first, last = (str(p).strip() for p in pair)
    for part in (first, last):
        try:
            if len(part) == 10:
                date.fromisoformat(part)
            elif len(part) == 5:
                date.fromisoformat(f"2024-{part}")  # a leap year: 02-29 is a valid bound
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"{part!r}: use MM-DD (every year) or YYYY-MM-DD (once)") from None
    if len(first) != len(last):
        raise ValueError(f"{value!r}: both bounds MM-DD or both YYYY-MM-DD")
    if len(first) == 10 and first > last:
        raise ValueError(f"{value!r}: the first day is after the last")
    return Closing(first, last)


@lru_cache(maxsize=64)
def _holidays(year: int, subdivision: str) -> dict[date, str]:
    data = holiday_data.country_holidays("DE", subdiv=subdivision, years=year, language="de")
    return {d: str(name) for d, name in data.items()}


def holiday_name(day: date, subdivision: str = "BW") -> str | None:
    """The public holiday on ``day`` in the German state ``subdivision``, or None."""
    return _holidays(day.year, subdivision).get(day)


@dataclass(frozen=True)
class SeriesSpec:
    """A declared series (see the module docstring)."""

    first: date
    start: time
    duration: timedelta = timedelta(hours=2)
    every_days: int = 14
    ahead: int = 6
    on_holiday: OnBlocked = OnBlocked.MOVE
    on_closing: OnBlocked = OnBlocked.SKIP
    closing: tuple[Closing, ...] = ()
    subdivision: str = "BW"

    def __post_init__(self) -> None:
        if self.every_days < 1 or self.ahead < 0:
            raise ValueError("a series needs every_days >= 1 and ahead >= 0")


@dataclass(frozen=True)
class Slot:
    """One meeting of the series: its regular slot (the key) and when it takes place."""

    regular: date
    day: date
    start: datetime
    end: datetime
    reason: str | None = None  # why it moved (holiday name or "Schließtage"), None: regular

    @property
    def moved(self) -> bool:
        return self.day != self.regular


def slot_key(job: str, regular: date) -> str:
    return f"{SERIES_PREFIX}:{job}:{regular.isoformat()}"


def series_prefix(job: str) -> str:
    return f"{SERIES_PREFIX}:{job}:"


def _blocked(spec: SeriesSpec) -> Callable[[date], tuple[str, OnBlocked] | None]:
    def why(day: date) -> tuple[str, OnBlocked] | None:
        name = holiday_name(day, spec.subdivision)
        if name is not None:
            return name, spec.on_holiday
        if any(c.covers(day) for c in spec.closing):
            return "Schließtage", spec.on_closing
        return None

    return why


def _working_day(day: date, why: Callable[[date], tuple[str, OnBlocked] | None]) -> bool:
    return day.weekday() < 5 and why(day) is None


def regular_slots(spec: SeriesSpec, from_day: date) -> Iterator[date]:
    """Regular slot dates of the series from the one before ``from_day`` on (endless)."""
    k = max(0, (from_day - spec.first).days // spec.every_days - 1)
    while True:
        yield spec.first + timedelta(days=k * spec.every_days)
        k += 1


def place(spec: SeriesSpec, regular: date, tz: ZoneInfo) -> Slot | None:
    """Where the regular slot's meeting takes place, or None when it is skipped."""
    why = _blocked(spec)
    blocked = why(regular)
    day, reason = regular, None
    if blocked is not None:
        reason, policy = blocked
        if policy is OnBlocked.SKIP:
            return None
        limit = regular + timedelta(days=spec.every_days)
        day = regular + timedelta(days=1)
        while day < limit and not _working_day(day, why):
            day += timedelta(days=1)
        if day >= limit:  # no working day before the next slot: nothing to move to
            return None
    start = datetime.combine(day, spec.start, tzinfo=tz)
    return Slot(regular, day, start, start + spec.duration, reason)


def slots_ahead(spec: SeriesSpec, today: date, tz: ZoneInfo) -> list[Slot]:
    """The next ``spec.ahead`` meetings taking place on ``today`` or later."""
    out: list[Slot] = []
    if spec.ahead == 0:
        return out
    for regular in regular_slots(spec, today):
        slot = place(spec, regular, tz)
        if slot is not None and slot.day >= today:
            out.append(slot)
            if len(out) >= spec.ahead:
                return out
        if regular > today + timedelta(days=spec.every_days * (spec.ahead + 60)):
            return out  # everything blocked for years: a misconfiguration, not a loop
    return out
