"""Pull: the cursor remembers the fields it was made for; skipped columns keep their values."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sp_sync.domain.model import ColumnSpec, ColumnType, ListMapping, ListSpec
from sp_sync.engine.pull import decode_cursor, pull_list, pull_select, select_fingerprint
from sp_sync.ports import StateStore
from sp_sync.testing.memory_lists import MemoryLists

from .conftest import ANNA, BEN, NOW

P = "Projekte"
OWNER = ColumnSpec("owner", "Verantwortlich", ColumnType.TEXT, display="Verantwortlich")


def seed(sp: MemoryLists, n: int) -> None:
    for i in range(1, n + 1):
        sp.create_item(P, {"Title": f"Projekt {i}", "Status": "Idee",
                           "Verantwortlich": f"Team {i}"}, ANNA)


def status_of(store: StateStore, item_id: str) -> object:
    item = store.get("projects", item_id)
    return item.fields.get("Status") if item else None


def with_owner(spec: ListSpec) -> ListSpec:
    return dataclasses.replace(spec, columns=(*spec.columns, OWNER))


def test_cursor_carries_the_select_fingerprint_and_a_quiet_run_stays_on_delta(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    spec = mapping.get("projects")
    seed(sp, 4)
    pull_list(sp, store, spec, sp.ref(P), NOW)
    stored = store.cursor("projects")
    assert stored is not None
    cursor = decode_cursor(stored)
    assert cursor.fingerprint == select_fingerprint(spec.select) and not cursor.skip
    assert cursor.link.startswith("https://") and "/items/delta" in cursor.link

    before = sp.stats.requests
    quiet = pull_list(sp, store, spec, sp.ref(P), NOW)
    assert not quiet.full_enumeration and not quiet.select_changed
    assert sp.stats.requests == before + 1


def test_a_plain_delta_link_from_before_fingerprints_is_still_followed(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    spec = mapping.get("projects")
    seed(sp, 2)
    pull_list(sp, store, spec, sp.ref(P), NOW)
    stored = store.cursor("projects")
    assert stored is not None
    with store.list_sync("projects") as tx:  # as an older sp-sync stored it
        tx.set_cursor(decode_cursor(stored).link)
    sp.edit(P, 1, {"Status": "Planung"}, BEN)

    result = pull_list(sp, store, spec, sp.ref(P), NOW)

    assert (result.full_enumeration, result.items_seen, result.updated) == (False, 1, 1)
    assert decode_cursor(store.cursor("projects") or "").fingerprint == select_fingerprint(
        spec.select)


def test_a_column_added_to_the_mapping_is_read_by_a_full_enumeration(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    spec = mapping.get("projects")
    seed(sp, 5)
    pull_list(sp, store, spec, sp.ref(P), NOW)
    first = store.get("projects", "1")
    assert first is not None and "Verantwortlich" not in first.fields
    sp.edit(P, 2, {"Status": "Planung"}, BEN)  # a real change since the last run
    sp.delete_item(P, 3, BEN)

    wider = with_owner(spec)
    result = pull_list(sp, store, wider, sp.ref(P), NOW + timedelta(minutes=15))

    assert result.select_changed and result.full_enumeration and not result.cursor_reset
    assert (result.items_seen, result.deleted) == (4, 1)
    item = store.get("projects", "1")
    assert item is not None and item.fields["Verantwortlich"] == "Team 1"
    gone = store.get("projects", "3")
    assert gone is not None and gone.deleted
    # the person's edit is history; the new column's first values are not (nobody edited)
    assert {(c.item_id, c.column, c.kind) for c in store.changes("projects")
            if c.kind != "deleted"} == {("2", "status", "updated")}
    assert decode_cursor(store.cursor("projects") or "").fingerprint == select_fingerprint(
        wider.select)

    again = pull_list(sp, store, wider, sp.ref(P), NOW + timedelta(minutes=30))
    assert not again.full_enumeration and again.items_seen == 0


def test_skipped_columns_keep_their_mirrored_values_and_make_no_history(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    spec = mapping.get("projects")
    seed(sp, 3)
    pull_list(sp, store, spec, sp.ref(P), NOW)
    hashes = {i.id: i.content_hash for i in store.items("projects")}
    sp.edit(P, 1, {"Title": "Projekt Eins", "Status": "Umsetzung"}, BEN)
    new_id = sp.create_item(P, {"Title": "Neu", "Status": "Idee"}, ANNA)

    result = pull_list(sp, store, spec, sp.ref(P), NOW, skip={"status"})

    assert "Status" not in pull_select(spec, {"status"})
    assert result.select_changed and result.full_enumeration  # fewer fields: a new cursor
    assert (result.created, result.updated, result.deleted) == (1, 1, 0)
    one = store.get("projects", "1")
    assert one is not None and one.fields["Title"] == "Projekt Eins"
    assert one.fields["Status"] == "Idee"  # last mirrored value, not the unread one
    assert {i.id: i.content_hash for i in store.items("projects") if i.id in hashes} == {
        **hashes, "1": one.content_hash}  # untouched items did not change at all
    new = store.get("projects", new_id)
    assert new is not None and "Status" not in new.fields
    assert {(c.item_id, c.column) for c in store.changes("projects")} == {
        ("1", "title"), (new_id, "title")}

    # a pull that does not check the schema (a sync job's) keeps the verdict: delta, no flip
    assert decode_cursor(store.cursor("projects") or "").skip == {"status"}
    sp.edit(P, 2, {"Status": "Planung"}, BEN)
    synced = pull_list(sp, store, spec, sp.ref(P), NOW)
    assert not synced.full_enumeration and synced.updated == 0
    assert status_of(store, "2") == "Idee"

    # fixed: the full select comes back, so the list is read in full and catches up
    fixed = pull_list(sp, store, spec, sp.ref(P), NOW + timedelta(hours=1), skip=())
    assert fixed.select_changed and fixed.updated == 3
    assert (status_of(store, "1"), status_of(store, "2")) == ("Umsetzung", "Planung")
    assert ("1", "status", "Idee", "Umsetzung") in {
        (c.item_id, c.column, c.old, c.new) for c in store.changes("projects")}
