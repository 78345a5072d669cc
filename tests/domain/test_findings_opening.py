"""When a finding *opens* (the owner's immediate mail, issue 10): new, failing again after
a fix, or an acceptance that no longer holds — once per opening, keyed by the open count."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sp_sync.domain.findings import ACCEPT, CLOSED, SNOOZE, Row, closing, opening, state
from sp_sync.kinds.validate import NOTICE_PERIOD, notice_period

TODAY = date(2026, 11, 30)


def test_openings() -> None:
    assert opening("e1", None, TODAY) == 0
    open_row = Row(status="Offen", evidence="e1")
    assert opening("e1", open_row, TODAY) is None  # still open: no new opening
    assert opening("e1", Row(status="Behoben", evidence="e1"), TODAY) == 1
    assert opening("e1", Row(status="Entfallen", reopened=2), TODAY) == 3
    accepted = Row(status="Akzeptiert", evidence="e1", exception=ACCEPT)
    assert opening("e1", accepted, TODAY) is None
    assert opening("e2", accepted, TODAY) == 1  # new offending values
    snoozed = Row(status="Zurückgestellt", exception=SNOOZE, until=TODAY)
    assert opening("e1", snoozed, TODAY) is None
    # the snooze ends: open again, but the same opening (its mail went out already)
    assert opening("e1", replace(snoozed, until=TODAY - timedelta(days=1)), TODAY) == 0


def test_notice_periods_fit_the_outbox_and_name_one_opening() -> None:
    key = "finding:project-lead-missing:projects:5"
    assert notice_period(key, 0) == f"{key}#0" != notice_period(key, 1)
    long_a = "finding:" + "r" * 60 + ":projects:group:" + "a" * 40
    long_b = long_a[:-1] + "b"
    pa, pb = notice_period(long_a, 3), notice_period(long_b, 3)
    assert len(pa) <= NOTICE_PERIOD and pa != pb and pa.endswith("#3")


STEP = st.sampled_from(["fail-a", "fail-b", "pass", "accept", "snooze", "day"])


@given(st.lists(STEP, max_size=30))
def test_each_opening_has_its_own_count(steps: list[str]) -> None:
    """Whatever happens to a finding, an opening after a fix (or a first failure) always
    has a count never used before (an acceptance of the same values still holds), so the
    outbox key (finding, count) sends its mail; a snooze ending re-uses the count of the
    opening it belongs to."""
    today = TODAY
    row: Row | None = None
    used: list[int] = []
    for step in steps:
        if step.startswith("fail"):
            evidence = step[-1]
            was = row
            count = opening(evidence, row, today)
            status, reopened = state(evidence, row, today)
            if status.value == "Offen" and (was is None or was.status in CLOSED):
                assert count is not None and all(count > u for u in used)
            if status.value != "Offen":
                assert count is None  # postponed or still accepted: nobody is mailed
            if count is not None:
                assert count >= max(used, default=0)
                used.append(count)
            confirmed = was is not None and was.evidence == evidence and was.confirmed
            row = Row(status=status.value, reopened=reopened, evidence=evidence,
                      exception=was.exception if was else None,
                      until=was.until if was else None, confirmed=confirmed)
        elif row is None:
            continue
        elif step == "pass":
            patch = closing(row, False, today)
            if patch is not None:
                row = replace(row, status=patch["status"])
        elif step == "accept":
            row = replace(row, exception=ACCEPT, confirmed=True)
        elif step == "snooze":
            row = replace(row, exception=SNOOZE, until=today + timedelta(days=1))
        else:
            today += timedelta(days=1)
