"""Sync-job speed-ups keep behaviour: ``wire_writer`` = ``to_wire``; ``gc_paused`` restores."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sp_sync.domain.model import ColumnSpec, ColumnType, Link, Lookup, Person, Value
from sp_sync.domain.write_shape import to_wire, wire_writer

TZ = ZoneInfo("Europe/Berlin")
VALUES: list[Value] = [
    None, "", " a ", "Umsetzung", 0, 5, -3, 0.0, -0.0, 5.0, 1250.5, True, False,
    date(2026, 11, 30), datetime(2026, 12, 1, 8, tzinfo=UTC), Person("Anna", "a@b.de", 7),
    Lookup(3, "Bürgerservice"), Lookup(4), Link("https://x.org", "X"), ("KI", "Cloud"), (),
]  # fmt: skip


def test_wire_writer_equals_to_wire() -> None:
    for t in ColumnType:
        col = ColumnSpec("c", "C", t)
        write = wire_writer(col, TZ)
        for value in VALUES:
            assert repr(write(value)) == repr(to_wire(value, col, TZ)), (t, value)


def test_gc_paused_nests_and_restores_the_collector() -> None:
    import gc

    from sp_sync.engine.pipeline import gc_paused

    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
