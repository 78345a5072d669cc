"""The series ahead: rhythm, holidays of Baden-Württemberg, closing days, stable keys."""

from __future__ import annotations

from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sp_sync.domain.series import (
    OnBlocked,
    SeriesSpec,
    holiday_name,
    parse_closing,
    place,
    slot_key,
    slots_ahead,
)

TZ = ZoneInfo("Europe/Berlin")
XMAS = (parse_closing(("12-24", "01-01")),)
# Thursdays every 14 days; 2027-05-06 (Christi Himmelfahrt) and 2026-12-24 are slots
THURSDAYS = SeriesSpec(first=date(2026, 12, 10), start=time(10, 0), closing=XMAS)


def test_holidays_of_baden_wuerttemberg() -> None:
    assert holiday_name(date(2027, 5, 6)) == "Christi Himmelfahrt"
    assert holiday_name(date(2027, 1, 6)) == "Heilige Drei Könige"
    assert holiday_name(date(2027, 5, 27)) == "Fronleichnam"
    assert holiday_name(date(2027, 5, 5)) is None


def test_six_meetings_ahead_every_14_days_at_the_declared_time() -> None:
    slots = slots_ahead(THURSDAYS, date(2027, 1, 20), TZ)
    assert [s.day for s in slots] == [date(2027, 1, 21) + timedelta(days=14 * k)
                                      for k in range(6)]
    assert all(s.start.hour == 10 and s.start.tzinfo == TZ for s in slots)
    assert all(s.end - s.start == timedelta(hours=2) for s in slots)
    assert slot_key("rt", slots[0].regular) == "series:rt:2027-01-21"


def test_christi_himmelfahrt_moves_to_the_next_working_day_by_default() -> None:
    spec = SeriesSpec(first=date(2026, 12, 17), start=time(10, 0), closing=XMAS)
    days = [s.day for s in slots_ahead(spec, date(2027, 4, 26), TZ)]
    assert days[:3] == [date(2027, 5, 7), date(2027, 5, 20), date(2027, 6, 3)]
    slot = place(spec, date(2027, 5, 6), TZ)
    assert slot is not None and slot.day == date(2027, 5, 7) and slot.moved
    assert slot.reason == "Christi Himmelfahrt"
    assert slot_key("rt", slot.regular) == "series:rt:2027-05-06"  # keyed by the slot


def test_a_holiday_can_be_skipped_instead() -> None:
    spec = SeriesSpec(first=date(2026, 12, 10), start=time(10), on_holiday=OnBlocked.SKIP)
    assert place(spec, date(2027, 5, 6), TZ) is None
    days = [s.day for s in slots_ahead(spec, date(2027, 4, 30), TZ)]
    assert date(2027, 5, 6) not in days and date(2027, 5, 7) not in days
    assert len(days) == 6  # a skipped slot does not count towards the meetings ahead


def test_christmas_break_is_skipped_and_can_be_moved() -> None:
    days = [s.day for s in slots_ahead(THURSDAYS, date(2026, 12, 11), TZ)]
    assert date(2026, 12, 24) not in days
    assert days[0] == date(2027, 1, 7)
    moving = SeriesSpec(first=date(2026, 12, 10), start=time(10), closing=XMAS,
                        on_closing=OnBlocked.MOVE)
    slot = place(moving, date(2026, 12, 24), TZ)
    # 25./26.12. holidays, 24.12.–1.1. closed, 2./3.1. weekend
    assert slot is not None and slot.day == date(2027, 1, 4) and slot.reason == "Schließtage"


def test_a_move_never_reaches_the_next_slot() -> None:
    weekly = SeriesSpec(first=date(2026, 12, 3), start=time(10), every_days=7,
                        closing=XMAS, on_closing=OnBlocked.MOVE)
    # 31.12. closed; 1.1. holiday; 4.1. would be after... 7.1. is the next slot
    slot = place(weekly, date(2026, 12, 31), TZ)
    assert slot is not None and slot.day == date(2027, 1, 4)
    tight = SeriesSpec(first=date(2026, 12, 3), start=time(10), every_days=1)
    assert place(tight, date(2027, 5, 6), TZ) is None  # the next slot is the next day


def test_closing_days_recur_or_happen_once() -> None:
    yearly, once = parse_closing(["12-24", "01-01"]), parse_closing("2027-02-15")
    assert yearly.covers(date(2030, 12, 31)) and yearly.covers(date(2031, 1, 1))
    assert not yearly.covers(date(2031, 1, 2))
    assert once.covers(date(2027, 2, 15)) and not once.covers(date(2028, 2, 15))
    for bad in ("24.12.", ("12-24", "2027-01-01"), ("2027-02-02", "2027-02-01")):
        with pytest.raises(ValueError):
            parse_closing(bad)


@given(st.dates(min_value=date(2026, 1, 1), max_value=date(2040, 12, 31)),
       st.integers(min_value=0, max_value=10))
def test_slots_ahead_are_ordered_unique_working_days(today: date, ahead: int) -> None:
    spec = SeriesSpec(first=date(2026, 1, 7), start=time(9, 30), ahead=ahead, closing=XMAS,
                      on_closing=OnBlocked.MOVE)
    slots = slots_ahead(spec, today, TZ)
    assert len(slots) == ahead
    assert all(s.day >= today and s.day.weekday() < 5 for s in slots)
    assert all(holiday_name(s.day) is None and not XMAS[0].covers(s.day) for s in slots)
    assert [s.day for s in slots] == sorted({s.day for s in slots})
    assert all((s.regular - spec.first).days % 14 == 0 for s in slots)
    # the same day later gives the same keys for the slots still ahead
    later = slots_ahead(spec, today + timedelta(days=14), TZ)
    assert {s.regular for s in later} >= {s.regular for s in slots if s.day >= today
                                          + timedelta(days=14)}
