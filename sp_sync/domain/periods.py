"""ISO-week periods of the weekly digest, and which of them are due (pure).

A period key is ``"2026-W49"``. The digest of a period is scheduled on a weekday of the
period at a local time — the job's own schedule (``weekday``, ``hour``, ``minute``;
default Monday 07:00); ``zoneinfo`` keeps this right across the DST switches.
After downtime only the latest due period is sent (marked late); older missed ones are
recorded as skipped so the next health line can name them — never silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_PERIOD = re.compile(r"^(\d{4})-W(\d{2})$")
#: How many missed periods are listed as skipped at most (a service off for years).
MAX_SKIPPED = 52


@dataclass(frozen=True)
class DuePeriod:
    period: str
    scheduled: datetime  # aware, local tz
    late: bool


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def period_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def parse_period(period: str) -> tuple[int, int]:
    """``"2026-W49"`` → ``(2026, 49)``; ``ValueError`` for anything else."""
    m = _PERIOD.match(period)
    if not m:
        raise ValueError(f"not an ISO week period: {period!r} (expected e.g. 2026-W49)")
    year, week = int(m.group(1)), int(m.group(2))
    date.fromisocalendar(year, week, 1)  # validates week 53 etc.
    return year, week


def period_for(now: datetime, tz: str | ZoneInfo) -> str:
    """The ISO week that contains ``now`` in local time."""
    return period_key(now.astimezone(_zone(tz)).date())


def monday_of(period: str) -> date:
    year, week = parse_period(period)
    return date.fromisocalendar(year, week, 1)


def shift_period(period: str, weeks: int) -> str:
    return period_key(monday_of(period) + timedelta(weeks=weeks))


def scheduled_at(period: str, tz: str | ZoneInfo, weekday: int = 0, hour: int = 7,
                 minute: int = 0) -> datetime:
    """When the period's digest is due: ``weekday`` (0 = Monday) at ``hour:minute`` local."""
    day = monday_of(period) + timedelta(days=weekday)
    return datetime.combine(day, time(hour, minute), tzinfo=_zone(tz))


def latest_due(now: datetime, tz: str | ZoneInfo, weekday: int = 0, hour: int = 7,
               minute: int = 0) -> str:
    """The newest period whose scheduled time is not after ``now``."""
    current = period_for(now, tz)
    if scheduled_at(current, tz, weekday, hour, minute) <= now:
        return current
    return shift_period(current, -1)


def due_periods(
    last_sent_period: str | None,
    now: datetime,
    tz: str | ZoneInfo,
    catch_up_weeks: int = 1,
    late_after: timedelta = timedelta(minutes=30),
    weekday: int = 0,
    hour: int = 7,
    minute: int = 0,
) -> tuple[list[DuePeriod], list[str]]:
    """What to send now and which missed periods to record as skipped.

    ``last_sent_period`` is the newest period already settled (sent, late or skipped).
    At most one period is sent: the latest due one, late when ``now`` is past its
    schedule + ``late_after``. It is only caught up while ``now`` is within
    ``catch_up_weeks`` weeks of its schedule (0: never catch up a late one); otherwise
    it is skipped too. Periods between ``last_sent_period`` and it are skipped.
    """
    latest = latest_due(now, tz, weekday, hour, minute)
    if last_sent_period is not None and latest <= last_sent_period:
        return [], []
    sched = scheduled_at(latest, tz, weekday, hour, minute)
    late = now > sched + late_after
    to_send: list[DuePeriod] = []
    skipped: list[str] = []
    if not late or now <= sched + timedelta(weeks=catch_up_weeks):
        to_send.append(DuePeriod(latest, sched, late))
    else:
        skipped.append(latest)
    if last_sent_period is not None:
        p = shift_period(latest, -1)
        while p > last_sent_period and len(skipped) < MAX_SKIPPED:
            skipped.append(p)
            p = shift_period(p, -1)
    return to_send, sorted(skipped)
