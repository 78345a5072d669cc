"""Who moves up from a training's waiting list (pure).

A training that is "Geplant" and has not begun has ``max participants`` − registrations
holding a seat ("Angemeldet", "Teilgenommen") free seats; the earliest "Warteliste"
registrations (by "Angemeldet am", then item id) fill them — never more than the free
seats, none for an overbooked training or one without a seat limit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from sp_sync.domain.digest import SEAT_TAKING
from sp_sync.domain.model import Lookup, Record

WAITING, REGISTERED = "Warteliste", "Angemeldet"
_LAST = datetime.max.replace(tzinfo=UTC)


def _order(r: Record) -> tuple[datetime, int]:
    at = r.get("registered_at")
    return (at if isinstance(at, datetime) else _LAST, int(r.id) if r.id.isdigit() else 0)


def promotions(
    trainings: Iterable[Record], registrations: Iterable[Record], now: datetime
) -> list[tuple[Record, Record, datetime]]:
    """(training, registration, start) for each registration to move up, in order."""
    by_training: dict[str, list[Record]] = defaultdict(list)
    for r in registrations:
        training = r.get("training")
        if isinstance(training, Lookup):
            by_training[str(training.id)].append(r)
    out = []
    for t in trainings:
        start, seats = t.get("start"), t.get("max_participants")
        if not isinstance(start, datetime) or start <= now or t.get("status") != "Geplant":
            continue
        if not isinstance(seats, int | float) or isinstance(seats, bool):
            continue  # no seat limit: nobody waits for a seat
        mine = by_training.get(t.id, [])
        free = int(seats) - sum(1 for r in mine if r.get("status") in SEAT_TAKING)
        waiting = sorted((r for r in mine if r.get("status") == WAITING), key=_order)
        out += [(t, r, start) for r in waiting[:max(free, 0)]]
    return out
