"""The planner's decision table, the mass-delete guard, and a convergence property."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sp_sync.domain.model import (
    ActionKind,
    ColumnSpec,
    ColumnType,
    DesiredRow,
    ListSpec,
    MirrorItem,
)
from sp_sync.domain.normalize import canonical, content_hash
from sp_sync.domain.plan import Leftover, Plan, Scope, check_mass_delete, format_plan, plan

KEY = "SyncKey"
COLS = [
    ColumnSpec("title", "Title", ColumnType.TEXT),
    ColumnSpec("n", "Anzahl", ColumnType.NUMBER),
    ColumnSpec("due", "Faellig", ColumnType.DATE),
    ColumnSpec("dept", "Fachbereich", ColumnType.LOOKUP),
]
SPEC = ListSpec("target", "Ziel", tuple(COLS), role="target", sync_key_column=KEY)


def item(item_id: str, fields: Mapping[str, Any], etag: str | None = None) -> MirrorItem:
    return MirrorItem(
        "target", item_id, etag or f'"{{G{item_id}}},1"', dict(fields),
        content_hash(SPEC, fields),
    )


def test_decision_table() -> None:
    desired = [
        DesiredRow("p:1", {"Title": "new"}),  # no item → create
        DesiredRow("p:2", {"Title": "same", "Anzahl": 5}),  # equal (5.0 vs 5) → nothing
        DesiredRow("p:3", {"Title": "changed", "Anzahl": 1}),  # differs → update Title only
        DesiredRow("p:4", {"Title": "dup"}),  # two items → keep lowest id
        DesiredRow("p:6", {"Title": None, "FachbereichLookupId": 3}),  # "" vs None, "3" vs 3
    ]
    current = [
        item("10", {KEY: "p:2", "Title": "same", "Anzahl": 5.0, "Other": "x"}),
        item("11", {KEY: "p:3", "Title": "old", "Anzahl": 1}, etag='"{E},7"'),
        item("12", {KEY: "p:4", "Title": "dup"}),
        item("9", {KEY: "p:4", "Title": "dup"}),
        item("13", {KEY: "p:5", "Title": "gone"}),  # not desired → delete
        item("14", {"Title": "no key"}),  # no SyncKey: a person's row, never touched
        item("15", {KEY: "p:6", "Title": "", "FachbereichLookupId": "3"}),
        MirrorItem("target", "16", None, {KEY: "p:7"}, "h",
                   deleted_at=__import__("datetime").datetime(2026, 1, 1)),  # tombstone
    ]
    p = plan(desired, current, KEY, COLS)
    by = {(a.kind, a.item_id or a.sync_key): a for a in p.actions}
    create = by[(ActionKind.CREATE, "p:1")]
    assert dict(create.fields) == {"Title": "new", KEY: "p:1"}
    update = by[(ActionKind.UPDATE, "11")]
    assert dict(update.fields) == {"Title": "changed"}
    assert update.etag == '"{E},7"'
    assert {i for k, i in by if k is ActionKind.DELETE} == {"12", "13"}
    assert all(a.etag for a in p.actions if a.kind is not ActionKind.CREATE)
    assert (p.creates, p.updates, p.deletes, p.unchanged) == (1, 1, 2, 3)
    assert p.current_count == 6 and p.duplicates == 1
    text = format_plan(p)
    assert "+ create p:1" in text and "'old' → 'changed'" in text
    assert text.endswith(
        "1 to create, 1 to update, 2 to delete, 3 unchanged (6 items in the target)"
    )


def test_delete_false_keeps_undesired_rows_but_removes_duplicates() -> None:
    current = [item("1", {KEY: "a"}), item("2", {KEY: "b"}), item("3", {KEY: "b"}),
               item("4", {})]
    p = plan([DesiredRow("b", {})], current, KEY, COLS, Scope(leftover=Leftover.KEEP))
    assert [(a.kind, a.item_id) for a in p.actions] == [(ActionKind.DELETE, "3")]


def test_clearing_a_value_sends_none() -> None:
    p = plan([DesiredRow("a", {"Title": "t", "Anzahl": None})],
             [item("1", {KEY: "a", "Title": "t", "Anzahl": 3})], KEY, COLS)
    assert [dict(a.fields) for a in p.actions] == [{"Anzahl": None}]


def test_mass_delete_guard() -> None:
    current = [item(str(i), {KEY: f"k{i}"}) for i in range(10)]
    keep_all = [DesiredRow(f"k{i}", {}) for i in range(10)]
    assert check_mass_delete(plan(keep_all, current, KEY, COLS), 0.5, 10) is None
    half = plan(keep_all[:5], current, KEY, COLS)
    assert check_mass_delete(half, 0.5, 5) is None  # exactly half is allowed
    most = plan(keep_all[:4], current, KEY, COLS)
    reason = check_mass_delete(most, 0.5, 4)
    assert reason is not None and "6 of 10" in reason
    assert check_mass_delete(most, 0.7, 4) is None
    empty = check_mass_delete(plan([], current, KEY, COLS, Scope(leftover=Leftover.KEEP)), 0.5, 0)
    assert empty is not None and "empty" in empty
    assert check_mass_delete(plan([], [], KEY, COLS), 0.5, 0) is None


# --------------------------------------------------------------------------- property

titles = st.one_of(st.none(), st.just(""), st.text(max_size=4))
numbers = st.one_of(st.none(), st.integers(-3, 3), st.integers(-3, 3).map(float))
dates = st.sampled_from([None, "2026-03-28T23:00:00Z", "2026-03-28T23:00:00.000Z",
                         "2026-10-25T23:00:00Z"])
depts = st.one_of(st.none(), st.integers(1, 3), st.integers(1, 3).map(str))
fields_st = st.fixed_dictionaries(
    {"Title": titles, "Anzahl": numbers, "Faellig": dates, "FachbereichLookupId": depts}
)
keys = st.sampled_from(["a", "b", "c", "d", "e"])


def run_plan(p: Plan, items: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What a faithful list does with the actions (empty values are not stored)."""
    out = {k: dict(v) for k, v in items.items()}
    next_id = max([int(i) for i in out] + [0]) + 1
    for a in p.actions:
        if a.kind is ActionKind.CREATE:
            out[str(next_id)] = {k: v for k, v in a.fields.items() if v not in (None, "")}
            next_id += 1
        elif a.kind is ActionKind.UPDATE:
            assert a.item_id in out and a.etag
            for k, v in a.fields.items():
                if v in (None, ""):
                    out[a.item_id].pop(k, None)
                else:
                    out[a.item_id][k] = v
        else:
            assert a.etag
            del out[a.item_id or ""]
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    desired=st.dictionaries(keys, fields_st, max_size=5),
    current=st.lists(st.tuples(st.one_of(st.none(), keys), fields_st), max_size=7),
    delete=st.booleans(),
)
def test_applying_the_plan_yields_the_desired_rows(
    desired: dict[str, dict[str, Any]],
    current: list[tuple[str | None, dict[str, Any]]],
    delete: bool,
) -> None:
    rows = [DesiredRow(k, f) for k, f in desired.items()]
    items = {str(i + 1): ({KEY: k} if k else {}) | f for i, (k, f) in enumerate(current)}
    mirror = [item(i, f) for i, f in items.items()]
    scope = Scope(leftover=Leftover.DELETE if delete else Leftover.KEEP)
    p = plan(rows, mirror, KEY, COLS, scope)
    after = run_plan(p, items)

    by_key: dict[str, list[dict[str, Any]]] = {}
    for f in after.values():
        by_key.setdefault(str(canonical(KEY, f.get(KEY))), []).append(f)
    for row in rows:
        [got] = by_key[row.sync_key]  # exactly one row per desired key
        for col in COLS:
            assert canonical(col, got.get(col.field_name)) == canonical(
                col, row.fields.get(col.field_name)
            )
    if delete:
        assert set(by_key) - {"None"} == set(desired)
    # People's rows (no SyncKey) are never touched.
    keyless = {i: f for i, f in items.items() if canonical(KEY, f.get(KEY)) is None}
    assert {i: after.get(i) for i in keyless} == keyless
    assert all(len(v) == 1 for k, v in by_key.items() if k != "None")
    again = plan(rows, [item(i, f) for i, f in after.items()], KEY, COLS, scope)
    assert again.actions == []
