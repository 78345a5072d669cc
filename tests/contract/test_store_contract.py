"""The StateStore contract (sp_sync/ports.py), run against memory, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sp_sync.adapters.store.scratch import ScratchStore
from sp_sync.domain.jsontext import JsonObject
from sp_sync.domain.model import FieldChange, MirrorItem
from sp_sync.errors import StoreError
from sp_sync.ports import StateStore
from tests.contract.conftest import FakeClock

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")

RICH_FIELDS: dict[str, Any] = {
    "Title": "Bürgerportal – Straßenverkehrsamt 🚦",
    "Long": "ä" * 30_000 + "😀" * 30_000,
    "Nested": {"a": [1, 2.5, True, None, {"b": "ß"}], "empty": {}, "list": []},
    "OwnerLookupId": "12",
    "Tags": ["Ämter", "Digitalisierung"],
    "Big": 2**53,
    "Quote": 'He said "hi" \\ \n\t',
}


def item(list_key: str, item_id: str, **over: Any) -> MirrorItem:
    values: dict[str, Any] = {
        "etag": f'"{{4F1E-{item_id}}},1"',
        "fields": {"Title": f"Item {item_id}", "ID": item_id},
        "content_hash": f"h{item_id}",
        "web_url": f"https://mannheim.sharepoint.com/sites/dtc/Lists/P/DispForm.aspx?ID={item_id}",
        "modified": T0,
        "modified_by": "Anna Becker",
    }
    values.update(over)
    return MirrorItem(list_key=list_key, id=item_id, **values)


def sync(store: StateStore, list_key: str, *items: MirrorItem, cursor: str | None = "d1") -> None:
    with store.list_sync(list_key) as tx:
        tx.upsert(list(items))
        tx.set_cursor(cursor)


def ids(store: StateStore, list_key: str, include_deleted: bool = False) -> list[str]:
    return [i.id for i in store.items(list_key, include_deleted=include_deleted)]


class Boom(Exception):
    pass


# ------------------------------------------------------------------ mirror


def test_upsert_then_get_returns_the_same_item(store: StateStore) -> None:
    stored = item("projects", "7", fields=RICH_FIELDS)
    sync(store, "projects", stored)

    assert store.get("projects", "7") == stored
    assert store.get("projects", "8") is None
    assert store.get("other", "7") is None


def test_fields_handed_over_as_json_text_read_back_as_the_same_mapping(
    store: StateStore,
) -> None:
    """The pull hands a first sync's fields over as JSON text (JsonObject); every store
    keeps them as if they had been a dict — in big and small batches."""
    many = [item("projects", str(i), fields=JsonObject.of({**RICH_FIELDS, "ID": i}))
            for i in range(1, 301)]  # PostgreSQL writes 200 rows and more through COPY
    sync(store, "projects", *many)
    sync(store, "small", item("small", "1", fields=JsonObject.of(RICH_FIELDS)))

    assert store.get("projects", "250") == item("projects", "250",
                                                fields={**RICH_FIELDS, "ID": 250})
    assert dict(store.get_many("small", ["1"])["1"].fields) == RICH_FIELDS
    assert json.loads(JsonObject.of(RICH_FIELDS).text) == RICH_FIELDS


def test_items_are_ordered_numerically_and_counted(store: StateStore) -> None:
    sync(store, "projects", *(item("projects", i) for i in ["10", "9", "100", "1", "2"]))
    sync(store, "people", item("people", "5"))

    assert ids(store, "projects") == ["1", "2", "9", "10", "100"]
    assert store.count("projects") == 5
    assert ids(store, "people") == ["5"]
    assert store.count("nothing") == 0
    assert list(store.items("nothing")) == []


def test_items_stream_a_list_bigger_than_one_chunk(store: StateStore) -> None:
    sync(store, "big", *(item("big", str(i), fields={"n": i}) for i in range(2500, 0, -1)))

    streamed = store.items("big")
    first = next(iter(streamed))
    rest = list(streamed)

    assert first.id == "1"
    assert [i.id for i in rest] == [str(i) for i in range(2, 2501)]
    assert rest[-1].fields == {"n": 2500}


def test_get_many_returns_known_items_of_one_list_across_chunks(store: StateStore) -> None:
    sync(store, "big", *(item("big", str(i), fields={"n": i}) for i in range(1, 1201)))
    sync(store, "other", item("other", "5"))
    with store.list_sync("big") as tx:
        tx.tombstone(["7"], T0)

    wanted = [str(i) for i in range(1300, 0, -1)] + ["3", "x"]  # > 2 chunks, dup, unknown
    got = store.get_many("big", wanted)

    assert set(got) == {str(i) for i in range(1, 1201)}
    assert got["1200"] == store.get("big", "1200") and got["1200"].fields == {"n": 1200}
    assert got["7"].deleted  # tombstones come back too: the pull compares with them
    assert store.get_many("big", []) == {}
    assert store.get_many("other", ["5", "6"]) == {"5": item("other", "5")}
    assert store.get_many("nothing", ["1"]) == {}


def test_key_index_gives_key_id_etag_hash_of_live_items_in_item_order(
    store: StateStore,
) -> None:
    keys: list[Any] = ["k:1", None, " k:3 ", 42, 2.5, True, False, {"a": [1]}, ["x"], ""]
    made = [
        item("t", str(i), fields={"Title": f"T{i}", "SyncKey": k} if k is not None
             else {"Title": "no key"})
        for i, k in enumerate(keys, start=1)
    ]
    made.append(item("t", "11", fields={"SyncKey": None}, etag=None, content_hash=""))
    made += [item("t", str(i), fields={"SyncKey": f"k:{i}"}) for i in range(12, 2600)]
    sync(store, "t", *reversed(made))
    sync(store, "other", item("other", "1", fields={"SyncKey": "elsewhere"}))
    with store.list_sync("t") as tx:
        tx.tombstone(["3", "2000"], T0)

    index = list(store.key_index("t", "SyncKey"))  # > one chunk on SQL stores

    live = [i for i in store.items("t")]
    assert index == [(i.fields.get("SyncKey"), i.id, i.etag, i.content_hash) for i in live]
    assert [e[0] for e in index[:10]] == [
        "k:1", None, 42, 2.5, True, False, {"a": [1]}, ["x"], "", None
    ]
    assert index[9][1:] == ("11", None, "")
    assert "3" not in {e[1] for e in index} and len(index) == 2599 - 2
    assert next(store.key_index("t", "Missing")) == (None, "1", item("t", "1").etag, "h1")
    assert list(store.key_index("nothing", "SyncKey")) == []


def test_key_index_by_key_gives_the_same_entries_in_key_order(store: StateStore) -> None:
    # Code point order as Python compares (not a locale's): "Z" < "z" < "ä" < "é" < "😀".
    words = ["z", "Z", "ä", "é", "😀", "a b", "a-b", "a", "10", "9", ""]
    made = [item("t", str(i), fields={"SyncKey": f"k:{words[i % len(words)]}{i % 7}"})
            for i in range(1, 2400)]  # > one chunk on SQL stores; every key repeated
    made += [item("t", "2400", fields={"Title": "no key"}),
             item("t", "2401", fields={"SyncKey": 42}),
             item("t", "2402", fields={"SyncKey": None})]
    sync(store, "t", *reversed(made))
    with store.list_sync("t") as tx:
        tx.tombstone(["3"], T0)

    by_key = list(store.key_index("t", "SyncKey", by_key=True))

    assert sorted(by_key, key=repr) == sorted(store.key_index("t", "SyncKey"), key=repr)
    texts = [e[0] for e in by_key if isinstance(e[0], str)]
    assert len(texts) == 2399 - 1 and texts == sorted(texts)
    assert list(store.key_index("nothing", "SyncKey", by_key=True)) == []


def test_upsert_replaces_and_the_last_duplicate_wins(store: StateStore) -> None:
    sync(store, "projects", item("projects", "1"))
    newer = item("projects", "1", etag='"{4F1E-1},3"', fields={"Title": "neu"}, content_hash="x")
    with store.list_sync("projects") as tx:
        tx.upsert([item("projects", "1", fields={"Title": "zwischen"}), newer])

    assert store.get("projects", "1") == newer
    assert store.count("projects") == 1


def test_upsert_refuses_an_item_of_another_list(store: StateStore) -> None:
    with pytest.raises(ValueError), store.list_sync("projects") as tx:
        tx.upsert([item("people", "1")])

    assert store.get("people", "1") is None
    assert store.get("projects", "1") is None


def test_tombstone_keeps_the_item_and_upsert_revives_it(store: StateStore) -> None:
    sync(store, "projects", item("projects", "1"), item("projects", "2"))
    gone_at = T0 + timedelta(hours=1)
    with store.list_sync("projects") as tx:
        tx.tombstone(["2", "404"], gone_at)  # an unknown id is ignored
    with store.list_sync("projects") as tx:
        tx.tombstone(["2"], gone_at + timedelta(hours=1))  # the first deletion time stays

    tomb = store.get("projects", "2")
    assert tomb is not None and tomb.deleted and tomb.deleted_at == gone_at
    assert store.get("projects", "404") is None
    assert ids(store, "projects") == ["1"]
    assert ids(store, "projects", include_deleted=True) == ["1", "2"]
    assert store.count("projects") == 1

    sync(store, "projects", item("projects", "2", content_hash="back"))

    revived = store.get("projects", "2")
    assert revived is not None and not revived.deleted and revived.content_hash == "back"
    assert store.count("projects") == 2


# ------------------------------------------------------------------ cursors and atomicity


def test_cursor_commits_with_the_data(store: StateStore, clock: FakeClock) -> None:
    assert store.cursor("projects") is None
    assert store.last_synced("projects") is None

    clock.now = T0 + timedelta(minutes=5)
    sync(store, "projects", item("projects", "1"), cursor="https://graph/delta?token=1")

    assert store.cursor("projects") == "https://graph/delta?token=1"
    assert store.last_synced("projects") == T0 + timedelta(minutes=5)
    assert store.cursor("people") is None

    clock.now = T0 + timedelta(minutes=10)
    sync(store, "projects", cursor=None)  # e.g. reset for a re-enumeration

    assert store.cursor("projects") is None
    assert store.last_synced("projects") == T0 + timedelta(minutes=10)


def test_a_failure_mid_block_rolls_back_items_cursor_history_and_marks(
    store: StateStore, clock: FakeClock
) -> None:
    sync(store, "projects", item("projects", "1"), item("projects", "2"), cursor="d1")
    change = FieldChange("projects", "1", "status", "a", "b", "Anna", T0)
    with store.list_sync("projects") as tx:
        tx.record_changes([change])
    synced = store.last_synced("projects")
    before = list(store.items("projects", include_deleted=True))

    clock.now = T0 + timedelta(days=1)
    with pytest.raises(Boom), store.list_sync("projects") as tx:
        tx.upsert([item("projects", "1", fields={"Title": "geändert"}), item("projects", "3")])
        tx.tombstone(["2"], T0)
        tx.record_changes([FieldChange("projects", "1", "title", "x", "y", None, T0)])
        tx.mark_seen(["1"])
        tx.set_cursor("d2")
        raise Boom

    assert list(store.items("projects", include_deleted=True)) == before
    assert store.cursor("projects") == "d1"
    assert store.last_synced("projects") == synced
    assert store.changes() == [change]
    with store.list_sync("projects") as tx:  # the rolled-back mark is gone too
        assert tx.unseen_ids() == ["1", "2"]


def test_lists_are_independent(store: StateStore) -> None:
    sync(store, "a", item("a", "1"), cursor="ca")
    sync(store, "b", item("b", "1", fields={"Title": "B"}), cursor="cb")
    with store.list_sync("a") as tx:
        tx.tombstone(["1"], T0)

    b = store.get("b", "1")
    assert b is not None and not b.deleted and b.fields == {"Title": "B"}
    assert (store.cursor("a"), store.cursor("b")) == ("ca", "cb")


# ------------------------------------------------------------------ enumeration marks


def test_unseen_ids_are_the_live_items_the_enumeration_did_not_contain(
    store: StateStore,
) -> None:
    sync(store, "p", *(item("p", str(i)) for i in range(1, 7)))
    with store.list_sync("p") as tx:
        tx.tombstone(["6"], T0)

    with store.list_sync("p") as tx:
        tx.mark_seen(["1", "2"])
        tx.mark_seen(["4", "999"])
        unseen = tx.unseen_ids()
        tx.tombstone(unseen, T0)
        tx.set_cursor("d-final")

    assert unseen == ["3", "5"]
    assert ids(store, "p") == ["1", "2", "4"]


def test_an_enumeration_can_span_transactions_and_the_next_one_starts_afresh(
    store: StateStore,
) -> None:
    sync(store, "p", *(item("p", str(i)) for i in range(1, 5)), cursor=None)

    with store.list_sync("p") as tx:  # pages 1-2, committed without a final cursor
        tx.mark_seen(["1", "2"])
        tx.set_cursor(None)
    with store.list_sync("p") as tx:  # last page
        tx.mark_seen(["3"])
        assert tx.unseen_ids() == ["4"]
        tx.tombstone(tx.unseen_ids(), T0)
        tx.set_cursor("d1")  # the enumeration is complete

    with store.list_sync("p") as tx:  # a later full enumeration: earlier marks don't count
        tx.mark_seen(["1"])
        assert tx.unseen_ids() == ["2", "3"]


def test_without_any_mark_every_live_item_is_unseen(store: StateStore) -> None:
    sync(store, "p", item("p", "1"), item("p", "2"))
    with store.list_sync("p") as tx:  # an enumeration that found an empty list
        tx.mark_seen([])
        assert tx.unseen_ids() == ["1", "2"]
    with store.list_sync("p") as tx:  # a feed with no pages at all
        assert tx.unseen_ids() == ["1", "2"]


def test_marks_given_before_the_item_is_inserted_count(store: StateStore) -> None:
    sync(store, "p", item("p", "1"))
    with store.list_sync("p") as tx:
        tx.mark_seen(["2", "1"])
        tx.upsert([item("p", "2")])
        assert tx.unseen_ids() == []


def test_upserted_items_keep_their_marks(store: StateStore) -> None:
    sync(store, "p", item("p", "1"), item("p", "2"))
    with store.list_sync("p") as tx:
        tx.mark_seen(["1", "2"])
        tx.upsert([item("p", "1", content_hash="new")])
        assert tx.unseen_ids() == []


# ------------------------------------------------------------------ history


def test_changes_filter_by_list_and_since_oldest_first(store: StateStore) -> None:
    c1 = FieldChange("projects", "1", "status", None, "Idee", "Anna", T0, kind="created")
    c2 = FieldChange("projects", "1", "status", "Idee", "Umsetzung", "Ben", T0 + timedelta(1))
    c3 = FieldChange("people", "4", "email", {"a": [1]}, "ü@x.de", None, T0 + timedelta(2))
    c4 = FieldChange("projects", "2", "__item__", None, None, None, T0 + timedelta(3),
                     kind="deleted")
    with store.list_sync("projects") as tx:
        tx.record_changes([c4, c2])
    with store.list_sync("people") as tx:
        tx.record_changes([c3])
    with store.list_sync("projects") as tx:
        tx.record_changes([c1])

    assert store.changes() == [c1, c2, c3, c4]
    assert store.changes("projects") == [c1, c2, c4]
    assert store.changes(since=T0 + timedelta(1)) == [c3, c4]  # strictly after
    assert store.changes("projects", since=T0) == [c2, c4]
    assert store.changes("nothing") == []


def test_history_values_round_trip_as_json(store: StateStore) -> None:
    change = FieldChange("p", "1", "notes", RICH_FIELDS, ["a", 1, None], "Zoë 🐝", T0)
    with store.list_sync("p") as tx:
        tx.record_changes([change])

    assert store.changes("p") == [change]


# ------------------------------------------------------------------ runs


def test_runs_start_finish_and_list_newest_first(store: StateStore) -> None:
    first = store.start_run("pull", T0)
    second = store.start_run("digest", T0 + timedelta(minutes=1))
    third = store.start_run("pull", T0 + timedelta(minutes=2))
    store.finish_run(first, "ok", T0 + timedelta(seconds=30), {"requests": 3, "nested": {"x": 1}})
    store.finish_run(third, "failed", T0 + timedelta(minutes=3), {}, "Graph 503 – aufgegeben")

    all_runs = store.runs()
    assert [r.id for r in all_runs] == [third, second, first]
    assert [r.id for r in store.runs("pull")] == [third, first]
    assert [r.id for r in store.runs(limit=1)] == [third]
    done, running, failed = all_runs[2], all_runs[1], all_runs[0]
    assert (done.job, done.status, done.started_at, done.finished_at) == (
        "pull", "ok", T0, T0 + timedelta(seconds=30))
    assert done.stats == {"requests": 3, "nested": {"x": 1}}
    assert (running.status, running.finished_at, running.message) == ("running", None, None)
    assert (failed.status, failed.message) == ("failed", "Graph 503 – aufgegeben")


def test_runs_since_are_every_run_from_that_moment_oldest_first(store: StateStore) -> None:
    berlin = datetime(2026, 11, 30, 10, 0, tzinfo=BERLIN)  # = T0 in UTC
    before = store.start_run("pull", T0 - timedelta(seconds=1))
    tie_a = store.start_run("digest", T0)
    tie_b = store.start_run("pull", T0)
    later = store.start_run("runlog", T0 + timedelta(days=3))
    store.finish_run(tie_a, "partial", T0 + timedelta(minutes=1), {"sent": 2}, "1 Mail offen")
    store.finish_run(before, "ok", T0, {})

    since = store.runs_since(berlin)
    assert [r.id for r in since] == [tie_a, tie_b, later]  # at ``since`` counts; ties by id
    assert (since[0].status, since[0].stats, since[0].message) == (
        "partial", {"sent": 2}, "1 Mail offen")
    assert since[1].status == "running" and since[1].finished_at is None
    assert all(r.started_at.tzinfo is UTC for r in since)
    assert [r.id for r in store.runs_since(T0 + timedelta(days=3, seconds=1))] == []
    assert len(store.runs_since(T0 - timedelta(days=1))) == 4


def test_a_dry_runs_scratch_store_reads_runs_since_from_the_real_one(store: StateStore) -> None:
    real = store.start_run("pull", T0)
    scratch = ScratchStore(store)
    scratch.start_run("runlog", T0 + timedelta(minutes=1))  # stays in the scratch store
    assert [r.job for r in scratch.runs_since(T0)] == ["pull", "runlog"]
    assert [r.id for r in store.runs_since(T0)] == [real]
    scratch.close()


def test_finishing_an_unknown_run_fails(store: StateStore) -> None:
    with pytest.raises(StoreError):
        store.finish_run(12345, "ok", T0, {})
    run = store.start_run("pull", T0)
    with pytest.raises(ValueError):
        store.finish_run(run, "great", T0, {})
    assert store.runs()[0].status == "running"


# ------------------------------------------------------------------ outbox


MIME = b"Message-ID: <1@dtc>\r\nSubject: =?utf-8?q?Wochen=C3=BCbersicht?=\r\n\r\n\x00\xff" * 2000


def test_outbox_adds_once_per_job_period_recipient(store: StateStore) -> None:
    entry = store.outbox_add("digest", "2026-W49", "anna@mannheim.de", "<1@dtc>", MIME, T0)
    again = store.outbox_add("digest", "2026-W49", "anna@mannheim.de", "<2@dtc>", b"x", T0)
    other = store.outbox_add("digest", "2026-W49", "ben@mannheim.de", "<3@dtc>", b"y", T0)

    assert entry is not None and other is not None and again is None
    assert entry.id != other.id
    assert (entry.status, entry.attempts, entry.sent_at, entry.error) == ("pending", 0, None, None)
    assert (entry.message_id, entry.mime, entry.created_at) == ("<1@dtc>", MIME, T0)
    assert store.outbox_get("digest", "2026-W49", "anna@mannheim.de") == entry
    assert store.outbox_get("digest", "2026-W50", "anna@mannheim.de") is None


def test_outbox_pending_and_mark(store: StateStore) -> None:
    late = store.outbox_add("digest", "W49", "b@x.de", "<b>", b"b", T0 + timedelta(minutes=1))
    early = store.outbox_add("digest", "W49", "a@x.de", "<a>", b"a", T0)
    other = store.outbox_add("reminder", "2026-12-01", "a@x.de", "<c>", b"c", T0)
    assert late and early and other

    assert [e.id for e in store.outbox_pending()] == [early.id, other.id, late.id]
    assert [e.id for e in store.outbox_pending("digest")] == [early.id, late.id]

    store.outbox_mark(early.id, "sending", T0)
    store.outbox_mark(early.id, "pending", T0, error="421 try again later")
    store.outbox_mark(early.id, "sending", T0 + timedelta(minutes=5))
    store.outbox_mark(early.id, "sent", T0 + timedelta(minutes=6))
    store.outbox_mark(late.id, "sending", T0)
    store.outbox_mark(late.id, "failed", T0, error="550 no such user")

    sent = store.outbox_get("digest", "W49", "a@x.de")
    failed = store.outbox_get("digest", "W49", "b@x.de")
    assert sent and (sent.status, sent.attempts, sent.sent_at, sent.error) == (
        "sent", 2, T0 + timedelta(minutes=6), None)
    assert failed and (failed.status, failed.attempts, failed.sent_at, failed.error) == (
        "failed", 1, None, "550 no such user")
    assert [e.id for e in store.outbox_pending()] == [other.id]
    with pytest.raises(StoreError):
        store.outbox_mark(999_999, "sent", T0)


# ------------------------------------------------------------------ ledger


def test_ledger_put_get_and_periods(store: StateStore) -> None:
    assert store.ledger_get("digest", "2026-W48") is None
    store.ledger_put("digest", "2026-W49", "sent", T0, {"recipients": 3, "nested": {"ü": "😀"}})
    store.ledger_put("digest", "2026-W48", "skipped", T0)
    store.ledger_put("digest", "2026-W48", "late", T0 + timedelta(hours=1), {"caught_up": True})
    store.ledger_put("reminder", "2026-12-01", "sent", T0)

    assert store.ledger_get("digest", "2026-W48") == {
        "status": "late", "at": T0 + timedelta(hours=1), "detail": {"caught_up": True}}
    assert store.ledger_get("digest", "2026-W49") == {
        "status": "sent", "at": T0, "detail": {"recipients": 3, "nested": {"ü": "😀"}}}
    assert store.ledger_periods("digest") == [("2026-W48", "late"), ("2026-W49", "sent")]
    assert store.ledger_periods("nothing") == []


# ------------------------------------------------------------------ values


def test_datetimes_come_back_as_aware_utc(store: StateStore) -> None:
    berlin = datetime(2026, 7, 1, 12, 30, 15, 123456, tzinfo=BERLIN)
    naive_utc = datetime(2026, 12, 1, 7, 0)
    sync(store, "p", item("p", "1", modified=berlin))
    with store.list_sync("p") as tx:
        tx.tombstone(["1"], naive_utc)
    store.ledger_put("j", "p", "sent", berlin)
    run = store.start_run("j", berlin)

    got = store.get("p", "1")
    assert got is not None and got.modified is not None and got.deleted_at is not None
    assert got.modified == berlin and got.modified.tzinfo is UTC
    assert got.modified.utcoffset() == timedelta(0)
    assert got.deleted_at == naive_utc.replace(tzinfo=UTC) and got.deleted_at.tzinfo is UTC
    ledger = store.ledger_get("j", "p")
    assert ledger is not None and ledger["at"] == berlin and ledger["at"].tzinfo is UTC
    started = store.runs()[0].started_at
    assert store.runs()[0].id == run and started == berlin and started.tzinfo is UTC


def test_json_fields_round_trip(store: StateStore) -> None:
    sync(store, "p", item("p", "1", fields=RICH_FIELDS))
    run = store.start_run("j", T0)
    store.finish_run(run, "ok", T0, {"fields": RICH_FIELDS})

    got = store.get("p", "1")
    assert got is not None and got.fields == RICH_FIELDS
    assert len(got.fields["Long"]) == 60_000
    assert [i.fields for i in store.items("p")] == [RICH_FIELDS]
    assert store.runs()[0].stats == {"fields": RICH_FIELDS}


def test_item_with_only_required_values(store: StateStore) -> None:
    bare = MirrorItem(list_key="p", id="1", etag=None, fields={}, content_hash="0")
    sync(store, "p", bare)

    assert store.get("p", "1") == bare


def test_outbox_claim_takes_an_entry_once(store: StateStore) -> None:
    entry = store.outbox_add("digest", "2026-W49", "a@x.de", "<a>", b"a", T0)
    assert entry is not None and entry.claimed_at is None
    claimed = store.outbox_claim(entry.id, T0 + timedelta(seconds=1))
    assert claimed is not None
    assert (claimed.status, claimed.attempts, claimed.claimed_at) == (
        "sending", 1, T0 + timedelta(seconds=1))
    # held: a second claim fails, also a take-over while the claim is fresh
    assert store.outbox_claim(entry.id, T0 + timedelta(seconds=2)) is None
    assert store.outbox_claim(entry.id, T0 + timedelta(seconds=2), stale_before=T0) is None
    # the holder died: a stale claim may be taken over
    again = store.outbox_claim(entry.id, T0 + timedelta(minutes=30),
                               stale_before=T0 + timedelta(minutes=10))
    assert again is not None and again.attempts == 2
    store.outbox_mark(entry.id, "failed", T0, error="550 no")
    retried = store.outbox_claim(entry.id, T0 + timedelta(hours=1))
    assert retried is not None and retried.error is None and retried.attempts == 3
    store.outbox_mark(entry.id, "sent", T0 + timedelta(hours=1))
    assert store.outbox_claim(entry.id, T0 + timedelta(hours=2),
                              stale_before=T0 + timedelta(hours=2)) is None
    assert store.outbox_claim(999_999, T0) is None
    final = store.outbox_get("digest", "2026-W49", "a@x.de")
    assert final is not None and final.status == "sent" and final.attempts == 3


def test_outbox_claim_from_many_threads_succeeds_once(store: StateStore) -> None:
    import threading

    entries = [store.outbox_add("digest", "W49", f"p{i}@x.de", f"<{i}>", b"m", T0)
               for i in range(10)]
    wins: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        for e in entries:
            assert e is not None
            if store.outbox_claim(e.id, T0) is not None:
                with lock:
                    wins.append(e.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == sorted(e.id for e in entries if e is not None)


def test_outbox_entries_of_a_period(store: StateStore) -> None:
    b = store.outbox_add("digest", "2026-W49", "b@x.de", "<b>", b"b", T0)
    a = store.outbox_add("digest", "2026-W49", "a@x.de", "<a>", b"a", T0)
    store.outbox_add("digest", "2026-W50", "a@x.de", "<c>", b"c", T0)
    store.outbox_add("other", "2026-W49", "a@x.de", "<d>", b"d", T0)
    assert a is not None and b is not None
    store.outbox_mark(a.id, "sent", T0)
    found = store.outbox_entries("digest", "2026-W49")
    assert [(e.recipient, e.status) for e in found] == [("a@x.de", "sent"), ("b@x.de", "pending")]
    assert store.outbox_entries("digest", "2026-W51") == []


def test_resolved_lookups_keep_value_and_age_per_kind(store: StateStore) -> None:
    assert store.resolved("list", "site-a|Projekte") is None
    store.put_resolved("list", {"site-a|Projekte": "guid-1", "site-a|Themen": "guid-2"}, T0)
    store.put_resolved("site", {"https://x/sites/dtc": "site-a"}, T0 + timedelta(hours=1))
    store.put_resolved("schema", {"projects": {"spec": "ab12", "problems": []}}, T0)

    got = store.resolved("list", "site-a|Projekte")
    assert got is not None and got.value == "guid-1" and got.at == T0
    assert got.at.tzinfo is not None and got.at.utcoffset() == timedelta(0)
    site = store.resolved("site", "https://x/sites/dtc")
    assert site is not None and site.at == T0 + timedelta(hours=1)
    schema = store.resolved("schema", "projects")
    assert schema is not None and schema.value == {"spec": "ab12", "problems": []}
    assert store.resolved("site", "site-a|Projekte") is None  # kinds are separate

    later = T0 + timedelta(days=2)
    store.put_resolved("list", {"site-a|Projekte": "guid-9"}, later)  # replaced, age renewed
    again = store.resolved("list", "site-a|Projekte")
    assert again is not None and (again.value, again.at) == ("guid-9", later)

    store.drop_resolved("list", ["site-a|Projekte"])
    assert store.resolved("list", "site-a|Projekte") is None
    assert store.resolved("list", "site-a|Themen") is not None
    store.drop_resolved("list")
    assert store.resolved("list", "site-a|Themen") is None
    assert store.resolved("site", "https://x/sites/dtc") is not None
