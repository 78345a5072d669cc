"""ISO-week periods, Monday 07:00 local across DST, and what is due after downtime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sp_sync.domain.periods import (
    due_periods,
    latest_due,
    parse_period,
    period_for,
    scheduled_at,
    shift_period,
)

TZ = "Europe/Berlin"


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def test_period_keys_follow_iso_weeks_in_local_time() -> None:
    assert period_for(utc(2026, 11, 30, 6), TZ) == "2026-W49"
    # Sunday 23:30 UTC is already Monday in Berlin
    assert period_for(utc(2026, 11, 29, 23, 30), TZ) == "2026-W49"
    assert period_for(utc(2026, 12, 31, 12), TZ) == "2026-W53"
    assert shift_period("2026-W53", 1) == "2027-W01"
    with pytest.raises(ValueError):
        parse_period("2026-49")


@pytest.mark.parametrize(
    ("period", "expected_utc"),
    [
        ("2026-W13", utc(2026, 3, 23, 6)),  # the DST week (switch on its Sunday): CET
        ("2026-W14", utc(2026, 3, 30, 5)),  # first Monday in CEST
        ("2026-W44", utc(2026, 10, 26, 6)),  # first Monday after the switch back to CET
        ("2026-W43", utc(2026, 10, 19, 5)),  # still CEST
    ],
)
def test_scheduled_monday_seven_local_across_dst(period: str, expected_utc: datetime) -> None:
    at = scheduled_at(period, TZ)
    assert at == expected_utc
    assert (at.hour, at.weekday()) == (7, 0)


def test_one_due_period_per_week_while_stepping_through_dst_weeks() -> None:
    """Step hourly from 2026-03-20 to 2026-04-06 and 2026-10-16 to 2026-11-02: each
    week becomes due exactly once, in the hour of Monday 07:00 local."""
    for start, end in ((utc(2026, 3, 20), utc(2026, 4, 6)), (utc(2026, 10, 16), utc(2026, 11, 2))):
        last: str | None = None
        sent: list[tuple[str, datetime]] = []
        now = start
        while now < end:
            to_send, skipped = due_periods(last, now, TZ)
            assert skipped == [] or last is None
            for due in to_send:
                sent.append((due.period, now))
                last = due.period
            now += timedelta(hours=1)
        periods = [p for p, _ in sent]
        assert len(periods) == len(set(periods))
        for period, when in sent[1:]:
            assert when == scheduled_at(period, TZ), period


def test_downtime_across_monday_gives_one_late_digest() -> None:
    now = utc(2026, 11, 30, 10)  # Monday 11:00 local, down since Sunday
    to_send, skipped = due_periods("2026-W48", now, TZ, late_after=timedelta(hours=1))
    assert [(d.period, d.late) for d in to_send] == [("2026-W49", True)]
    assert skipped == []
    # on time: not late
    to_send, _ = due_periods("2026-W48", utc(2026, 11, 30, 6, 5), TZ)
    assert [(d.period, d.late) for d in to_send] == [("2026-W49", False)]
    # already settled: nothing
    assert due_periods("2026-W49", now, TZ) == ([], [])


def test_two_missed_weeks_send_the_latest_and_skip_the_older() -> None:
    now = utc(2026, 12, 15, 9)  # Tuesday of W51; last sent W48
    to_send, skipped = due_periods("2026-W48", now, TZ)
    assert [d.period for d in to_send] == ["2026-W51"]
    assert to_send[0].late
    assert skipped == ["2026-W49", "2026-W50"]


def test_catch_up_zero_skips_a_late_period() -> None:
    to_send, skipped = due_periods("2026-W48", utc(2026, 11, 30, 10), TZ, catch_up_weeks=0)
    assert to_send == [] and skipped == ["2026-W49"]


def test_latest_due_before_and_after_seven() -> None:
    assert latest_due(utc(2026, 11, 30, 5, 59), TZ) == "2026-W48"
    assert latest_due(utc(2026, 11, 30, 6, 0), TZ) == "2026-W49"
