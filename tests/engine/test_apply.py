"""Apply: 412 → re-read, re-plan, retry once; ambiguous creates; never write without eTag."""

from __future__ import annotations

from dataclasses import replace

from sp_sync.domain.model import (
    ActionKind,
    ColumnSpec,
    ColumnType,
    DesiredRow,
    ListSpec,
    MirrorItem,
    OutcomeStatus,
    RawItem,
    WriteAction,
)
from sp_sync.domain.normalize import content_hash
from sp_sync.domain.plan import Plan, changed_fields, plan
from sp_sync.engine.apply import apply_plan
from sp_sync.testing.memory_lists import MemoryLists

T = "Ziel"
KEY = "SyncKey"
COLS = [ColumnSpec("title", "Title", ColumnType.TEXT), ColumnSpec("sync_key", KEY,
                                                                    ColumnType.TEXT)]
SPEC = ListSpec("target", T, tuple(COLS), role="target", sync_key_column=KEY)


def mirror(sp: MemoryLists) -> list[MirrorItem]:
    return [MirrorItem("target", i.id, i.etag, i.fields, content_hash(SPEC, i.fields))
            for i in sp.items(T)]


def replanner(rows: list[DesiredRow]):  # type: ignore[no-untyped-def]
    wanted = {r.sync_key: r for r in rows}

    def replan(fresh: RawItem | None, action: WriteAction) -> WriteAction | None:
        row = wanted.get(action.sync_key)
        if fresh is None:
            return None
        if row is None:
            return WriteAction(ActionKind.DELETE, action.sync_key, fresh.id, fresh.etag)
        diff = changed_fields({**row.fields, KEY: row.sync_key}, fresh.fields, COLS)
        return WriteAction(ActionKind.UPDATE, action.sync_key, fresh.id, fresh.etag, diff) \
            if diff else None

    return replan


def setup() -> tuple[MemoryLists, list[DesiredRow], Plan]:
    sp = MemoryLists()
    sp.add_list(T)
    sp.create_item(T, {"Title": "alt", KEY: "k1"}, "anna")
    rows = [DesiredRow("k1", {"Title": "neu"})]
    return sp, rows, plan(rows, mirror(sp), KEY, COLS)


def titles(sp: MemoryLists) -> list[str]:
    return [str(i.fields.get("Title")) for i in sp.items(T)]


def test_conflict_twice_keeps_the_persons_value() -> None:
    sp, rows, p = setup()
    sp.conflict_next_writes(2, {"Title": "von Hand"}, "anna")
    result = apply_plan(sp, sp, sp.ref(T), SPEC, p, replanner(rows))
    assert (result.written, len(result.conflicts), result.retried) == (0, 1, 1)
    assert result.conflicts[0].status is OutcomeStatus.CONFLICT
    assert titles(sp) == ["von Hand"]  # never overwritten blindly


def test_conflict_once_replans_with_the_fresh_etag() -> None:
    sp, rows, p = setup()
    sp.conflict_next_writes(1, {"Title": "von Hand"}, "anna")
    result = apply_plan(sp, sp, sp.ref(T), SPEC, p, replanner(rows))
    assert (result.written, result.conflicts, result.retried) == (1, [], 1)
    assert titles(sp) == ["neu"]


def test_conflict_where_the_person_already_wrote_our_value_needs_no_write() -> None:
    sp, rows, p = setup()
    sp.conflict_next_writes(1, {"Title": "neu"}, "anna")
    writes = sp.stats.writes
    result = apply_plan(sp, sp, sp.ref(T), SPEC, p, replanner(rows))
    assert (result.written, result.skipped, result.conflicts) == (0, 1, [])
    assert sp.stats.writes == writes + 1 and titles(sp) == ["neu"]


def test_ambiguous_create_that_was_applied_is_found_not_duplicated() -> None:
    sp = MemoryLists()
    sp.add_list(T)
    rows = [DesiredRow("k1", {"Title": "a"}), DesiredRow("k2", {"Title": "b"})]
    p = plan(rows, [], KEY, COLS)
    sp.fail_next_writes(2, OutcomeStatus.AMBIGUOUS, apply_first=True)  # 5xx after commit
    result = apply_plan(sp, sp, sp.ref(T), SPEC, p, replanner(rows))
    assert result.written == 2 and result.retried == 0 and result.failed == []
    assert sorted(i.fields[KEY] for i in sp.items(T)) == ["k1", "k2"]


def test_ambiguous_create_that_was_not_applied_is_created_once_more() -> None:
    sp = MemoryLists()
    sp.add_list(T)
    rows = [DesiredRow("k1", {"Title": "a"})]
    sp.fail_next_writes(1, OutcomeStatus.AMBIGUOUS, apply_first=False)
    result = apply_plan(sp, sp, sp.ref(T), SPEC, plan(rows, [], KEY, COLS), replanner(rows))
    assert (result.written, result.retried) == (1, 1)
    assert [i.fields[KEY] for i in sp.items(T)] == ["k1"]


def test_ambiguous_update_is_reread_not_repeated() -> None:
    sp, rows, p = setup()
    sp.fail_next_writes(1, OutcomeStatus.AMBIGUOUS, apply_first=True)
    result = apply_plan(sp, sp, sp.ref(T), SPEC, p, replanner(rows))
    assert result.written == 1 and result.retried == 0
    assert titles(sp) == ["neu"]


def test_action_without_etag_is_reread_first() -> None:
    sp, rows, p = setup()
    p.actions[0] = replace(p.actions[0], etag=None)
    result = apply_plan(sp, sp, sp.ref(T), SPEC, p, replanner(rows))
    assert (result.written, result.failed) == (1, [])  # the fake refuses writes without one
    assert titles(sp) == ["neu"]


def test_failed_writes_are_recorded() -> None:
    sp, rows, p = setup()
    sp.fail_next_writes(1, OutcomeStatus.FAILED, apply_first=False)
    result = apply_plan(sp, sp, sp.ref(T), SPEC, p, replanner(rows))
    assert [f.status for f in result.failed] == [OutcomeStatus.FAILED]
    assert titles(sp) == ["alt"]


def test_writes_are_batched_by_twenty() -> None:
    sp = MemoryLists()
    sp.add_list(T)
    rows = [DesiredRow(f"k{i}", {"Title": str(i)}) for i in range(45)]
    before = sp.stats.requests
    result = apply_plan(sp, sp, sp.ref(T), SPEC, plan(rows, [], KEY, COLS), replanner(rows))
    assert result.written == 45 and len(sp.items(T)) == 45
    assert sp.stats.requests - before == 3
