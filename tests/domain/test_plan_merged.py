"""plan_merged (two streams in key order, nothing held per key) gives exactly plan()'s plan."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sp_sync.domain.model import ActionKind, DesiredRow, MirrorItem
from sp_sync.domain.normalize import canonicalizer
from sp_sync.domain.plan import (
    IndexEntry,
    Leftover,
    SortedRow,
    Unsorted,
    plan,
    plan_merged,
)

from .test_plan import COLS, KEY, SPEC
from .test_plan_indexed import DRAWN, Drawn, Loader, drawn_case, index_of, same

CANON = canonicalizer(KEY)


def text(raw: Any) -> str:
    key = CANON(raw)
    return "" if key is None else str(key)


def in_key_order(rows: list[DesiredRow]) -> list[SortedRow]:
    """What the pipeline's external sort yields."""
    return sorted((text(r.sync_key), n, r) for n, r in enumerate(rows))


def by_id(item: MirrorItem) -> tuple[int, int, int, str]:
    """Numeric ids first, by number, ties ("7", "07") shorter first: the order the
    planners use (a store gives SharePoint's ids, which have no leading zeros, in it)."""
    if item.id.isdigit():
        return (0, int(item.id), len(item.id), item.id)
    return (1, 0, len(item.id), item.id)


def index_by_key(items: list[MirrorItem]) -> list[IndexEntry]:
    """What StateStore.key_index(…, by_key=True) yields (a store without odd raw keys)."""
    return sorted(index_of(items), key=lambda e: text(e[0]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**DRAWN, limit=st.one_of(st.none(), st.integers(1, 6)))
def test_merged_plan_equals_the_full_plan(
    desired: list[tuple[str, dict[str, Any]]],
    current: Drawn,
    copies: list[bool],
    leftover: Leftover,
    prefix: str,
    create_only: bool,
    recreate: bool,
    with_target: bool,
    limit: int | None,
) -> None:
    rows, items, scope, gone = drawn_case(desired, current, copies, leftover, prefix,
                                          create_only, recreate)
    items.sort(key=by_id)  # the store's item order, which plan() keeps
    target = SPEC if with_target else None

    full = plan(rows, items, KEY, COLS, scope, target=target, gone=gone)
    load = Loader(items)
    merged, kept = plan_merged(iter(in_key_order(rows)), iter(index_by_key(items)), load, KEY,
                               COLS, scope, target=target, gone=gone, limit=limit)

    if limit is not None:  # this run's share: the first actions; the rest only counted
        later = full.actions[limit:]
        full.actions = full.actions[:limit]
        ids = {a.item_id for a in full.actions}
        full.before = {k: v for k, v in full.before.items() if k in ids}
        assert merged.deferred == dict(Counter(a.kind.value for a in later))
    else:
        assert merged.deferred == {}
    same(merged, full)  # the same actions in the same order, counts and old values
    acted = {a.item_id for a in merged.actions if a.item_id}
    assert acted <= set(load.asked)
    # Exactly the rows the replanner needs: one per planned create or update of a wanted
    # row (a leftover patch is replanned from the scope's patch).
    wanted = {text(r.sync_key) for r in rows}
    assert set(kept) == {a.sync_key for a in merged.actions
                         if a.kind is ActionKind.CREATE
                         or (a.kind is ActionKind.UPDATE and a.sync_key in wanted)}


def test_an_index_out_of_canonical_order_is_refused() -> None:
    items = [MirrorItem("target", "1", None, {KEY: " c"}, "h"),
             MirrorItem("target", "2", None, {KEY: "a"}, "h")]
    raw_order = sorted(index_of(items), key=lambda e: str(e[0]))  # " c" < "a" by raw text

    with pytest.raises(Unsorted):
        plan_merged([], raw_order, Loader(items), KEY, COLS)


def test_desired_rows_out_of_order_are_refused() -> None:
    rows = [("b", 0, DesiredRow("b", {})), ("a", 1, DesiredRow("a", {}))]
    with pytest.raises(Unsorted):
        plan_merged(rows, [], Loader([]), KEY, COLS)


def test_items_are_loaded_in_batches_while_merging() -> None:
    items = [MirrorItem("target", str(i), f'"{{G{i}}},1"', {KEY: f"k{i:05}"}, "h")
             for i in range(1, 1202)]
    calls: list[int] = []

    def load(wanted: Any) -> dict[str, MirrorItem]:
        calls.append(len(wanted))
        return {i.id: i for i in items if i.id in set(wanted)}

    result, kept = plan_merged([], index_by_key(items), load, KEY, COLS, target=SPEC)

    assert result.deletes == 1201 and calls == [500, 500, 201] and kept == {}
    assert [a.item_id for a in result.actions] == [str(i) for i in range(1, 1202)]
