"""Waiting-list promotions: the earliest first, never more than the free seats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sp_sync.domain.model import Lookup, Record
from sp_sync.domain.trainings import promotions

NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)
STATUSES = ["Angemeldet", "Warteliste", "Teilgenommen", "Nicht erschienen", "Storniert"]


def training(tid: int, seats: int | None, status: str = "Geplant",
             start: datetime = NOW + timedelta(days=3)) -> Record:
    return Record("trainings", str(tid), {"start": start, "max_participants": seats,
                                          "status": status})


def reg(rid: int, tid: int, status: str, minute: int) -> Record:
    return Record("registrations", str(rid), {
        "training": Lookup(tid), "status": status,
        "registered_at": NOW - timedelta(days=30) + timedelta(minutes=minute)})


def test_earliest_waiting_fill_the_free_seats() -> None:
    regs = [reg(1, 1, "Angemeldet", 0), reg(2, 1, "Storniert", 1), reg(3, 1, "Warteliste", 9),
            reg(4, 1, "Warteliste", 5), reg(5, 1, "Warteliste", 7)]
    moved = [r.id for _, r, _ in promotions([training(1, 3)], regs, NOW)]
    assert moved == ["4", "5"]


def test_none_for_past_cancelled_unlimited_or_overbooked_trainings() -> None:
    regs = [reg(1, t, "Warteliste", 0) for t in range(1, 5)] + [
        reg(9, 4, "Angemeldet", 0), reg(10, 4, "Angemeldet", 0)]
    trainings = [training(1, 5, start=NOW - timedelta(hours=1)),
                 training(2, 5, status="Abgesagt"), training(3, None), training(4, 1)]
    assert promotions(trainings, regs, NOW) == []


@given(st.integers(min_value=0, max_value=30),
       st.lists(st.tuples(st.sampled_from(STATUSES), st.integers(0, 10_000)), max_size=40))
def test_never_more_than_the_seats(seats: int, rows: list[tuple[str, int]]) -> None:
    regs = [reg(i, 1, status, minute) for i, (status, minute) in enumerate(rows, start=1)]
    moved = [r for _, r, _ in promotions([training(1, seats)], regs, NOW)]
    taken = sum(1 for r in regs if r.get("status") in ("Angemeldet", "Teilgenommen"))
    waiting = [r for r in regs if r.get("status") == "Warteliste"]
    assert taken + len(moved) <= max(seats, taken)
    assert len(moved) == min(len(waiting), max(seats - taken, 0))
    assert all(r.get("status") == "Warteliste" for r in moved)
    order = sorted(waiting, key=lambda r: (r.get("registered_at"), int(r.id)))
    assert moved == order[:len(moved)]  # the earliest first
