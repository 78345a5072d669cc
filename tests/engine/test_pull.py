"""Pull: delta paging, cursor with the data, rollback, 410, duplicates, tombstones, history."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta

import pytest

from sp_sync.domain.model import ListMapping, MirrorItem
from sp_sync.domain.normalize import content_hash
from sp_sync.engine.pull import dependency_order, pull_list, pull_lists
from sp_sync.errors import CursorExpired, TransientError
from sp_sync.ports import DeltaPage, ListRef, StateStore
from sp_sync.testing.memory_lists import MemoryLists

from .conftest import ANNA, BEN, NOW, refs_for

P = "Projekte"


def seed(sp: MemoryLists, n: int) -> list[str]:
    return [
        sp.create_item(P, {"Title": f"Projekt {i}", "Projektnummer": f"P-{i}",
                           "Status": "Idee", "Budget": 1000 + i}, ANNA)
        for i in range(n)
    ]


def snapshot(store: StateStore, key: str) -> tuple[object, ...]:
    items = [(i.id, i.etag, i.content_hash, i.deleted) for i in
             store.items(key, include_deleted=True)]
    return (store.cursor(key), items, len(store.changes(key)))


def assert_mirror_equals_list(store: StateStore, sp: MemoryLists, mapping: ListMapping,
                              key: str) -> None:
    spec = mapping.get(key)
    live = {i.id: (i.etag, content_hash(spec, i.fields)) for i in sp.items(spec.title)}
    mirrored = {i.id: (i.etag, i.content_hash) for i in store.items(key)}
    assert mirrored == live


def test_first_sync_pages_commits_cursor_and_records_no_history(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    seed(sp, 8)  # page size 3 → 3 pages
    spec = mapping.get("projects")
    result = pull_list(sp, store, spec, sp.ref(P), NOW)
    assert (result.pages, result.items_seen, result.created) == (3, 8, 8)
    assert result.full_enumeration and not result.cursor_reset
    assert store.cursor("projects") is not None
    assert store.changes("projects") == []
    assert_mirror_equals_list(store, sp, mapping, "projects")
    item = store.get("projects", "1")
    assert item is not None and item.modified_by == "Anna Becker"
    assert item.web_url and item.web_url.endswith("ID=1")

    before = sp.stats.requests
    quiet = pull_list(sp, store, spec, sp.ref(P), NOW)
    assert (quiet.pages, quiet.items_seen, quiet.full_enumeration) == (1, 0, False)
    assert sp.stats.requests == before + 1  # a quiet list costs one request


def test_history_old_to_new_with_editor(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    spec = mapping.get("projects")
    pull_list(sp, store, mapping.get("users"), sp.ref("User Information List"), NOW)
    seed(sp, 2)
    pull_list(sp, store, spec, sp.ref(P), NOW)
    sp.edit(P, 1, {"Status": "Umsetzung", "Budget": 1000.0}, BEN)  # 1000.0 == 1000
    new_id = sp.create_item(P, {"Title": "Neu", "Status": "Idee"}, ANNA)
    later = NOW + timedelta(hours=1)
    result = pull_list(sp, store, spec, sp.ref(P), later)
    assert (result.created, result.updated) == (1, 1)
    changes = store.changes("projects")
    status = [c for c in changes if c.item_id == "1"]
    assert [(c.column, c.old, c.new, c.changed_by, c.kind) for c in status] == [
        ("status", "Idee", "Umsetzung", "Ben Schulz", "updated")
    ]
    created = {(c.column, c.new) for c in changes if c.item_id == new_id}
    assert created == {("title", "Neu"), ("status", "Idee")}
    assert all(c.kind == "created" and c.old is None for c in changes if c.item_id == new_id)


def test_etag_only_change_refreshes_etag_without_history(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    spec = mapping.get("projects")
    seed(sp, 1)
    pull_list(sp, store, spec, sp.ref(P), NOW)
    sp.edit(P, 1, {"Unmapped": "x"}, BEN)  # saved without a mapped change
    result = pull_list(sp, store, spec, sp.ref(P), NOW)
    assert result.updated == 0 and store.changes("projects") == []
    assert_mirror_equals_list(store, sp, mapping, "projects")


def test_deletion_becomes_a_tombstone(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    spec = mapping.get("projects")
    seed(sp, 3)
    pull_list(sp, store, spec, sp.ref(P), NOW)
    sp.delete_item(P, 2, ANNA)
    result = pull_list(sp, store, spec, sp.ref(P), NOW + timedelta(minutes=5))
    assert result.deleted == 1
    gone = store.get("projects", "2")
    assert gone is not None and gone.deleted_at == NOW + timedelta(minutes=5)
    assert store.count("projects") == 2
    gone_changes = {(c.item_id, c.kind, c.column, c.old, c.new)
                    for c in store.changes("projects")}
    assert gone_changes == {  # old → None per mapped value: a digest can still name it
        ("2", "deleted", "title", "Projekt 1", None),
        ("2", "deleted", "number", "P-1", None),
        ("2", "deleted", "status", "Idee", None),
        ("2", "deleted", "budget", 1001, None),
    }


def test_failure_mid_feed_leaves_store_unchanged(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    spec = mapping.get("projects")
    seed(sp, 4)
    pull_list(sp, store, spec, sp.ref(P), NOW)
    before = snapshot(store, "projects")
    for i in range(1, 5):
        sp.edit(P, i, {"Status": "Planung"}, BEN)
    sp.delete_item(P, 4, BEN)
    sp.fail_delta_after(1)  # page 1 arrives and is written, page 2 times out
    with pytest.raises(TransientError):
        pull_list(sp, store, spec, sp.ref(P), NOW)
    assert snapshot(store, "projects") == before  # items, history and cursor
    result = pull_list(sp, store, spec, sp.ref(P), NOW)  # the next run gets everything
    assert (result.updated, result.deleted) == (3, 1)
    assert_mirror_equals_list(store, sp, mapping, "projects")


def test_expired_cursor_reenumerates_and_deletes_only_after_completion(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    spec = mapping.get("projects")
    seed(sp, 7)
    pull_list(sp, store, spec, sp.ref(P), NOW)
    sp.delete_item(P, 3, ANNA)
    sp.delete_item(P, 6, ANNA)
    sp.edit(P, 1, {"Title": "Umbenannt"}, BEN)
    sp.expire_cursors(P)
    before = snapshot(store, "projects")
    sp.fail_delta_after(1)  # the re-enumeration breaks after its first page
    with pytest.raises(TransientError):
        pull_list(sp, store, spec, sp.ref(P), NOW)
    assert snapshot(store, "projects") == before  # nothing tombstoned early
    assert store.count("projects") == 7

    result = pull_list(sp, store, spec, sp.ref(P), NOW)
    assert result.cursor_reset and result.full_enumeration
    assert (result.deleted, result.updated) == (2, 1)
    assert store.count("projects") == 5
    assert {c.item_id for c in store.changes("projects") if c.kind == "deleted"} == {"3", "6"}
    assert_mirror_equals_list(store, sp, mapping, "projects")
    assert pull_list(sp, store, spec, sp.ref(P), NOW).items_seen == 0  # new cursor works


def test_full_pull_reconciles_silent_gaps(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    spec = mapping.get("projects")
    seed(sp, 3)
    pull_list(sp, store, spec, sp.ref(P), NOW)
    with store.list_sync("projects") as tx:  # an item the feed never reported deleted
        tx.upsert([MirrorItem("projects", "99", '"{X},1"', {"Title": "Geist"}, "h")])
    result = pull_list(sp, store, spec, sp.ref(P), NOW, full=True)
    assert result.full_enumeration and result.deleted == 1 and result.updated == 0
    assert_mirror_equals_list(store, sp, mapping, "projects")


class ReplayingSource:
    """A ListSource wrapper at the port: replays a page, or lets a person edit mid-feed."""

    def __init__(self, sp: MemoryLists, replay: bool = False, edit_after_first: bool = False):
        self.sp, self.replay, self.edit_after_first = sp, replay, edit_after_first
        self.stats = sp.stats

    def delta(self, ref: ListRef, select: Sequence[str], cursor: str | None
              ) -> Iterator[DeltaPage]:
        for n, page in enumerate(self.sp.delta(ref, select, cursor)):
            if n == 0 and self.replay:
                yield DeltaPage(page.items, next_link="replayed")
            yield page
            if n == 0 and self.edit_after_first:
                self.sp.edit(P, 1, {"Status": "Abgeschlossen"}, ANNA)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sp, name)


def test_same_item_twice_in_a_feed_counts_once(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    spec = mapping.get("projects")
    seed(sp, 5)
    pull_list(sp, store, spec, sp.ref(P), NOW)
    for i in (1, 2, 3, 4):
        sp.edit(P, i, {"Status": "Planung"}, BEN)
    result = pull_list(ReplayingSource(sp, replay=True), store, spec, sp.ref(P), NOW)  # type: ignore[arg-type]
    assert result.items_seen == 7 and result.updated == 4
    assert sorted(c.item_id for c in store.changes("projects")) == ["1", "2", "3", "4"]
    assert_mirror_equals_list(store, sp, mapping, "projects")


def test_item_changed_while_the_feed_is_read_appears_twice_last_wins(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    spec = mapping.get("projects")
    seed(sp, 5)
    pull_list(sp, store, spec, sp.ref(P), NOW)
    for i in (1, 2, 3, 4):
        sp.edit(P, i, {"Status": "Planung"}, BEN)
    src = ReplayingSource(sp, edit_after_first=True)
    result = pull_list(src, store, spec, sp.ref(P), NOW)  # type: ignore[arg-type]
    assert result.items_seen == 5  # item 1 came twice
    history = [(c.old, c.new) for c in store.changes("projects") if c.item_id == "1"]
    assert history == [("Idee", "Planung"), ("Planung", "Abgeschlossen")]
    assert_mirror_equals_list(store, sp, mapping, "projects")


def test_cursor_expired_twice_is_raised(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    class AlwaysGone(ReplayingSource):
        def delta(self, ref: ListRef, select: Sequence[str], cursor: str | None
                  ) -> Iterator[DeltaPage]:
            raise CursorExpired("gone", status=410)
            yield  # pragma: no cover

    with store.list_sync("projects") as tx:
        tx.set_cursor("stale")
    with pytest.raises(CursorExpired):
        pull_list(AlwaysGone(sp), store, mapping.get("projects"), sp.ref(P), NOW)  # type: ignore[arg-type]
    assert store.cursor("projects") == "stale"


def test_dependency_order_and_pull_lists(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    order = dependency_order(mapping, ["registrations", "projects", "trainings",
                                       "departments", "users"])
    assert order[0] == "users"
    assert order.index("departments") < order.index("projects")
    assert order.index("trainings") < order.index("registrations")
    dept = sp.create_item("Fachbereiche", {"Title": "Bürgerservice"}, ANNA)
    sp.create_item(P, {"Title": "X", "FachbereichLookupId": dept, "DTC_x002d_LeitungLookupId": 7},
                   ANNA)
    results = pull_lists(sp, store, mapping, ["projects", "departments", "users"],
                         refs_for(sp), NOW)
    assert list(results) == ["users", "departments", "projects"]
    assert store.count("users") == 3 and store.count("projects") == 1
