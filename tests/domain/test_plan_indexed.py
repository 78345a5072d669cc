"""plan_indexed (light key index + fields loaded on demand) gives exactly plan()'s plan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sp_sync.domain.model import ActionKind, DesiredRow, MirrorItem
from sp_sync.domain.normalize import content_hash
from sp_sync.domain.plan import IndexEntry, Leftover, Plan, Scope, plan, plan_indexed

from .test_plan import COLS, KEY, SPEC, fields_st

DELETED_AT = datetime(2026, 11, 30, tzinfo=UTC)
keys = st.sampled_from(["a", "b", " c", "c", "d", "", None, "2026-03-28T23:00:00Z"])
ids = st.one_of(st.integers(1, 40).map(str), st.sampled_from(["x", "07", "a1"]))
hashes = st.sampled_from(["true", "stale", "empty"])


def index_of(items: Sequence[MirrorItem]) -> list[IndexEntry]:
    """What StateStore.key_index yields: live items, in the order given."""
    return [(i.fields.get(KEY), i.id, i.etag, i.content_hash) for i in items if not i.deleted]


class Loader:
    """get_many over a list of items, recording which ids were asked for."""

    def __init__(self, items: Sequence[MirrorItem]) -> None:
        self.items = {i.id: i for i in items}
        self.asked: list[str] = []

    def __call__(self, ids: Sequence[str]) -> Mapping[str, MirrorItem]:
        self.asked += ids
        return {i: self.items[i] for i in ids if i in self.items}


Drawn = list[tuple[str, str | None, dict[str, Any], str, bool]]  # id, key, fields, hash, gone
# What the planner properties draw (with drawn_case below); each test adds its own.
DRAWN: dict[str, st.SearchStrategy[Any]] = {
    "desired": st.lists(st.tuples(st.sampled_from(["a", "b", "c", " c", "d", "e"]), fields_st),
                        max_size=7),
    "current": st.lists(st.tuples(ids, keys, fields_st, hashes, st.booleans()), max_size=9,
                        unique_by=lambda t: t[0]),
    "copies": st.lists(st.booleans(), max_size=7),
    "leftover": st.sampled_from(list(Leftover)),
    "prefix": st.sampled_from(["", "c", "d"]),
    "create_only": st.booleans(),
    "recreate": st.booleans(),
    "with_target": st.booleans(),
}


def drawn_case(
    desired: list[tuple[str, dict[str, Any]]], current: Drawn, copies: list[bool],
    leftover: Leftover, prefix: str, create_only: bool, recreate: bool,
) -> tuple[list[DesiredRow], list[MirrorItem], Scope, set[str]]:
    """The planners' inputs from what Hypothesis drew: desired rows, target items (exact
    copies of some desired rows among them, so the hash shortcut is taken too), the scope
    and the keys of rows a person deleted."""
    rows = [DesiredRow(k, f) for k, f in desired]  # repeated keys: the last one wins
    pairs = enumerate(zip(desired, copies, strict=False))
    current = current + [(str(100 + n), k, f, "true", False) for n, ((k, f), c) in pairs if c]
    items = []
    for item_id, key, fields, how, gone in current:
        stored = ({KEY: key} if key is not None else {}) | fields
        digest = {"true": content_hash(SPEC, stored), "stale": "h0", "empty": ""}[how]
        items.append(MirrorItem("target", item_id, f'"{{G{item_id}}},1"', stored, digest,
                                deleted_at=DELETED_AT if gone else None))
    scope = Scope(prefix, leftover, patch=lambda f: {"Title": "erledigt"},
                  create_only=frozenset({"Anzahl"} if create_only else ()), recreate=recreate)
    return rows, items, scope, {k for _, k, _, _, dead in current if dead and k}


def same(a: Plan, b: Plan) -> None:
    assert a.actions == b.actions
    assert (a.unchanged, a.current_count, a.desired_count, a.duplicates) == (
        b.unchanged, b.current_count, b.desired_count, b.duplicates
    )
    assert a.before == b.before




@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**DRAWN)
def test_indexed_plan_equals_the_full_plan(
    desired: list[tuple[str, dict[str, Any]]],
    current: Drawn,
    copies: list[bool],
    leftover: Leftover,
    prefix: str,
    create_only: bool,
    recreate: bool,
    with_target: bool,
) -> None:
    rows, items, scope, gone = drawn_case(desired, current, copies, leftover, prefix,
                                          create_only, recreate)
    target = SPEC if with_target else None
    full = plan(rows, items, KEY, COLS, scope, target=target, gone=gone)
    load = Loader(items)
    light, kept = plan_indexed(iter(rows), index_of(items), load, KEY, COLS, scope,
                               target=target, gone=gone)

    same(light, full)
    # Only the items with an action, or compared column by column, had their fields read.
    acted = {a.item_id for a in light.actions if a.item_id}
    assert acted <= set(load.asked)
    # The replanner finds the row of every update and create (a patch has none: it is
    # replanned from the scope's patch).
    for a in light.actions:
        if a.kind in (ActionKind.UPDATE, ActionKind.CREATE):
            assert a.sync_key in kept or (
                leftover is Leftover.PATCH and a.fields == {"Title": "erledigt"}
            )


def test_rows_equal_by_hash_are_not_loaded_and_not_kept() -> None:
    fields = {"Title": "A", "Anzahl": 1, KEY: "a"}
    equal = MirrorItem("target", "1", '"{G1},1"', fields, content_hash(SPEC, fields))
    other = {"Title": "B", KEY: "b"}
    stale = MirrorItem("target", "2", '"{G2},1"', other, content_hash(SPEC, other))
    load = Loader([equal, stale])

    result, kept = plan_indexed(
        [DesiredRow("a", {"Title": "A", "Anzahl": 1.0}), DesiredRow("b", {"Title": "C"})],
        index_of([equal, stale]), load, KEY, COLS, target=SPEC,
    )

    assert load.asked == ["2"]  # item 1 was decided from its hash alone
    assert set(kept) == {"b"} and result.unchanged == 1
    [update] = result.actions
    assert (update.item_id, update.etag, dict(update.fields)) == ("2", '"{G2},1"', {"Title": "C"})
    assert result.before == {"2": other}


def test_items_are_loaded_in_batches() -> None:
    items = [MirrorItem("target", str(i), f'"{{G{i}}},1"', {KEY: f"k{i}"}, "h")
             for i in range(1, 1202)]
    calls: list[int] = []

    def load(wanted: Sequence[str]) -> Mapping[str, MirrorItem]:
        calls.append(len(wanted))
        return {i.id: i for i in items if i.id in set(wanted)}

    result, _ = plan_indexed([], index_of(items), load, KEY, COLS, target=SPEC)

    assert result.deletes == 1201 and calls == [500, 500, 201]
    assert result.before["1201"] == {KEY: "k1201"}
