"""Reading lists through Graph against the emulator: resolution, delta, items, columns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sp_sync.adapters.graph import source as source_mod
from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.source import GraphLists
from sp_sync.adapters.graph.wire import peek_next_link
from sp_sync.adapters.store import MemoryStore
from sp_sync.emulator import Emulator, FaultRule
from sp_sync.errors import CursorExpired, NotFound
from sp_sync.ports import ListRef, Resolved, RunMeter, metered
from tests.adapters.graph.conftest import graph_requests

SELECT = ("Title", "Status", "VerantwortlichLookupId", "EditorLookupId")


def test_site_and_list_ids_are_resolved_once(
    clean: Emulator, lists: GraphLists, projekte: ListRef
) -> None:
    site = lists.site_id()
    assert site == clean.site_id and site.startswith("mannheim.sharepoint.com,")
    assert lists.list_id(projekte) == clean.list_id("Projekte")
    before = len(graph_requests(clean))
    lists.list_id(projekte)
    lists.site_id(projekte.site_url)
    assert len(graph_requests(clean)) == before  # cached


def test_unknown_list_and_site_name_what_to_check(
    clean: Emulator, lists: GraphLists
) -> None:
    with pytest.raises(NotFound, match=r"'Gibt es nicht' not found on site https://"):
        lists.list_id(ListRef(clean.info.site_url, "Gibt es nicht"))
    with pytest.raises(NotFound, match="SP_SYNC_SITE_URL"):
        lists.site_id("https://mannheim.sharepoint.com/sites/nope")


def test_hidden_user_information_list_is_found_by_title(
    clean: Emulator, lists: GraphLists
) -> None:
    users = list(lists.list_items(ListRef(clean.info.site_url, "User Information List"),
                                  ("Title", "EMail")))
    assert {u.fields["EMail"] for u in users} >= {"anna.becker@mannheim.de"}


def test_full_delta_pages_to_a_delta_link_then_one_cheap_call_per_change(
    clean: Emulator, lists: GraphLists, projekte: ListRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_mod, "DELTA_PAGE_SIZE", 2)
    pages = list(lists.delta(projekte, SELECT, None))
    assert [bool(p.next_link) for p in pages] == [True, False]
    assert pages[-1].delta_link and "token=" in pages[-1].delta_link
    items = [i for p in pages for i in p.items]
    assert sorted(i.id for i in items) == ["1", "2", "3"]
    first = next(i for i in items if i.id == "1")
    assert first.fields["Title"] == "E-Akte" and first.fields["VerantwortlichLookupId"] == "7"
    assert first.etag and first.etag.startswith('"') and first.etag.endswith(',1"')

    clean.edit("Projekte", 1, {"Status": "Idee"}, "lea.schaefer@mannheim.de")
    clean.clear_requests()
    stats_before = lists.stats.resource_units
    again = list(lists.delta(projekte, SELECT, pages[-1].delta_link))
    assert len(graph_requests(clean)) == 1
    assert lists.stats.resource_units - stats_before == 1  # delta with a token costs 1 RU
    assert [i.id for p in again for i in p.items] == ["1"]
    changed = again[0].items[0]
    assert changed.fields["Status"] == "Idee" and changed.fields["EditorLookupId"] == "9"
    assert changed.etag != first.etag

    new_id = clean.create_item("Projekte", {"Title": "Neu", "Status": "Idee"}, None)
    clean.delete_item("Projekte", new_id, None)
    clean.delete_item("Projekte", 3, None)
    third = list(lists.delta(projekte, SELECT, again[-1].delta_link))
    seen = {i.id: i for p in third for i in p.items}
    assert seen["3"].deleted and not seen["3"].fields


def test_expired_cursor_raises_cursor_expired(
    clean: Emulator, lists: GraphLists, projekte: ListRef
) -> None:
    pages = list(lists.delta(projekte, SELECT, None))
    clean.invalidate_delta("Projekte")
    with pytest.raises(CursorExpired, match="enumerated again"):
        list(lists.delta(projekte, SELECT, pages[-1].delta_link))
    clean.faults.add(FaultRule(kind="status", status=410, path=r"/items/delta$",
                               code="resyncChangesApplyDifferences"))
    with pytest.raises(CursorExpired):
        list(lists.delta(projekte, SELECT, None))


def test_get_item_carries_last_modified_by_and_none_when_gone(
    clean: Emulator, lists: GraphLists, projekte: ListRef
) -> None:
    item = lists.get_item(projekte, "2", SELECT)
    assert item is not None and item.fields["Title"] == "Bürgerportal"
    assert item.modified_by == "jonas.weber@mannheim.de"
    assert item.etag == next(i["eTag"] for i in clean.items("Projekte") if i["id"] == "2")
    assert lists.get_item(projekte, "999", SELECT) is None


def test_find_by_key_uses_an_indexed_filter_and_escapes_quotes(
    clean: Emulator, lists: GraphLists, projekte: ListRef
) -> None:
    hit = lists.find_by_key(projekte, "Status", "Idee", SELECT)
    assert hit is not None and hit.fields["Status"] == "Idee"
    assert lists.find_by_key(projekte, "Status", "O'Reilly & Söhne #1", SELECT) is None
    last = graph_requests(clean, "/items")[-1]
    assert last["query"]["$filter"] == "fields/Status eq 'O''Reilly & Söhne #1'"


def test_columns_report_types_indexes_and_lookup_targets(
    clean: Emulator, lists: GraphLists, projekte: ListRef
) -> None:
    cols = {c.name: c for c in lists.columns(projekte)}
    assert cols["Status"].type == "choice" and cols["Status"].indexed
    assert cols["Verantwortlich"].type == "person"
    assert cols["Thema"].type == "lookup" and cols["Thema"].lookup_list_id
    assert cols["N_x00e4_chster_x0020_Meilenstein"].type == "date"
    assert cols["Budget"].type == "currency" and cols["Aktiv"].type == "boolean"


def test_filter_on_a_non_indexed_column_says_to_index_it(
    clean: Emulator, lists: GraphLists, projekte: ListRef
) -> None:
    from sp_sync.errors import ThresholdExceeded

    with pytest.raises(ThresholdExceeded, match="index the column"):
        lists.find_by_key(projekte, "Title", "E-Akte", SELECT)


def test_stored_cursor_from_another_port_is_rebased_and_foreign_hosts_refused(
    clean: Emulator, lists: GraphLists, projekte: ListRef
) -> None:
    from sp_sync.errors import GraphError

    link = list(lists.delta(projekte, SELECT, None))[-1].delta_link
    assert link is not None
    port = clean.info.base_url.rsplit(":", 1)[1]
    moved = link.replace(f":{port}/", ":1/")  # saved while the emulator ran on another port
    clean.clear_requests()
    pages = list(lists.delta(projekte, SELECT, moved))
    assert pages[-1].delta_link and len(graph_requests(clean)) == 1
    with pytest.raises(GraphError, match="refusing to follow"):
        list(lists.delta(projekte, SELECT, "https://evil.example/steal?token=x"))


def test_ids_are_kept_in_the_store_for_the_next_process_and_all_lists_cost_one_request(
    clean: Emulator, conn: GraphConnection, projekte: ListRef
) -> None:
    kept = MemoryStore()
    first = GraphLists(conn, clean.info.site_url, kept)
    themen = ListRef(clean.info.site_url, "Themen")
    assert first.list_id(projekte) == clean.list_id("Projekte")
    assert first.list_id(themen) == clean.list_id("Themen")  # read with the first
    sent = graph_requests(clean)
    assert len(sent) == 2 and sent[1]["path"].endswith("/lists")  # the site, every list
    assert sent[1]["query"]["$select"] == "id,displayName"

    clean.clear_requests()
    again = GraphLists(conn, clean.info.site_url, kept)  # another process, same store
    assert again.items_path(themen).endswith(f"/lists/{clean.list_id('Themen')}/items")
    assert graph_requests(clean) == []

    # Older than a day: looked up again (a renamed list is followed), in one request.
    stale = datetime.now(UTC) - source_mod.ID_MAX_AGE - source_mod.ID_MAX_AGE
    key = f"{clean.site_id}|Projekte"
    kept.put_resolved("list", {key: "00000000-0000-0000-0000-000000000000"}, stale)
    kept.put_resolved("site", {clean.info.site_url: clean.site_id}, stale)
    third = GraphLists(conn, clean.info.site_url, kept)
    assert third.list_id(projekte) == clean.list_id("Projekte")
    assert len(graph_requests(clean)) == 2
    fresh = kept.resolved("list", key)
    assert fresh is not None and fresh.value == clean.list_id("Projekte") and fresh.at > stale


def test_a_kept_id_that_answers_404_is_looked_up_again(
    clean: Emulator, conn: GraphConnection, projekte: ListRef
) -> None:
    kept = MemoryStore()
    kept.put_resolved("site", {clean.info.site_url: clean.site_id}, datetime.now(UTC))
    kept.put_resolved("list", {f"{clean.site_id}|Projekte": "0000-gone"}, datetime.now(UTC))
    lists = GraphLists(conn, clean.info.site_url, kept)
    pages = list(lists.delta(projekte, SELECT, None))  # 404, lists read, delta again
    live = sorted(i["id"] for i in clean.items("Projekte"))
    assert sorted(i.id for p in pages for i in p.items if not i.deleted) == live
    assert [r["status"] for r in graph_requests(clean)] == [404, 200, 200]
    assert len(lists.columns(projekte)) > 3
    link = pages[-1].delta_link
    assert link is not None
    old_cursor = link.replace(clean.list_id("Projekte"), "0000-gone")
    with pytest.raises(CursorExpired, match="re-created"):  # a cursor of the gone list
        list(lists.delta(projekte, SELECT, old_cursor))


def test_full_delta_fetches_ahead_and_counts_every_request(
    clean: Emulator, lists: GraphLists, projekte: ListRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_mod, "DELTA_PAGE_SIZE", 1)
    lists.list_id(projekte)
    clean.clear_requests()
    before = lists.stats.requests
    feed = lists.delta(projekte, SELECT, None)
    first = next(feed)
    assert len(first.items) == 1 and first.next_link
    feed.close()  # abandoned: the pages fetched ahead are waited for and counted
    ahead = len(graph_requests(clean)) - 1
    assert ahead == lists.stats.requests - before - 1
    assert 1 <= ahead <= source_mod.PREFETCH_PAGES + 1  # one waiting, one on the wire

    live = sorted(i["id"] for i in clean.items("Projekte"))
    with metered(RunMeter()) as meter:  # the prefetch thread charges the run's meter too
        pages = list(lists.delta(projekte, SELECT, None))
    assert sorted(i.id for p in pages for i in p.items) == live and len(pages) == len(live) > 1
    assert pages[-1].delta_link and all(p.next_link for p in pages[:-1])
    assert lists.stats.requests - before == 2 + len(pages)
    assert meter.stats.requests == len(pages)


def one_item_pages(clean: Emulator, monkeypatch: pytest.MonkeyPatch, at_least: int) -> None:
    """Delta pages of one item, and at least ``at_least`` items in Projekte."""
    monkeypatch.setattr(source_mod, "DELTA_PAGE_SIZE", 1)
    for n in range(at_least - len(clean.items("Projekte"))):
        clean.create_item("Projekte", {"Title": f"Vorhaben {n}"}, None)


def read_whole_feed(clean: Emulator, lists: GraphLists, projekte: ListRef) -> tuple[int, int]:
    """Every page of a full feed, checked complete and in order; (pages, requests)."""
    clean.clear_requests()
    before = lists.stats.requests
    pages = list(lists.delta(projekte, SELECT, None))
    live = sorted(i["id"] for i in clean.items("Projekte"))
    assert sorted(i.id for p in pages for i in p.items) == live and len(pages) == len(live)
    assert pages[-1].delta_link and all(p.next_link for p in pages[:-1])
    requests = len(graph_requests(clean))
    assert requests == lists.stats.requests - before  # every read counted
    return len(pages), requests


@pytest.mark.parametrize("kind", ["html", "truncate"])
def test_a_page_that_does_not_decode_is_read_again_and_the_feed_goes_on(
    clean: Emulator, lists: GraphLists, projekte: ListRef, monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    """The prefetch thread follows links peeked from raw pages; a page that is no JSON
    (a proxy's HTML, a cut body) is read again the ordinary way and the feed goes on."""
    one_item_pages(clean, monkeypatch, at_least=4)  # pages after the broken one
    lists.list_id(projekte)
    # The 2nd page: the first the thread fetches (the 1st is read before it starts).
    clean.faults.add(FaultRule(kind=kind, path=r"/items/delta$", skip=1))

    pages, requests = read_whole_feed(clean, lists, projekte)

    assert pages >= 4 and requests == pages + 1  # the broken page, read again


def test_a_wrong_peek_is_corrected_by_the_decoded_page(
    clean: Emulator, lists: GraphLists, projekte: ListRef, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should the link peeked from a raw page ever be wrong (the guess reads the first
    matching key), the decoded page's own link wins: the thread is stopped and started
    again there, nothing is skipped or taken twice, the wasted reads are counted."""
    one_item_pages(clean, monkeypatch, at_least=5)
    lists.list_id(projekte)
    fetched: list[str] = []  # the URLs the thread read, in order
    real_fetch_raw = GraphLists._fetch_raw

    def fetch_raw(self: GraphLists, url: str) -> object:
        fetched.append(url)
        return real_fetch_raw(self, url)

    def misled(content: bytes) -> str | None:  # the thread's 1st page points to itself
        return fetched[0] if len(fetched) == 1 else peek_next_link(content)

    monkeypatch.setattr(source_mod, "peek_next_link", misled)
    monkeypatch.setattr(GraphLists, "_fetch_raw", fetch_raw)

    pages, requests = read_whole_feed(clean, lists, projekte)

    assert pages >= 5 and 1 <= requests - pages <= source_mod.PREFETCH_PAGES + 1  # wasted


def test_a_store_that_cannot_keep_ids_costs_requests_not_the_run(
    clean: Emulator, conn: GraphConnection, projekte: ListRef
) -> None:
    from sp_sync.errors import StoreError

    class Closed(MemoryStore):
        def resolved(self, kind: str, key: str) -> Resolved | None:
            raise StoreError("the state store is closed")

    broken = Closed()
    broken.close()  # writes refuse too
    lists = GraphLists(conn, clean.info.site_url, broken)
    assert lists.list_id(projekte) == clean.list_id("Projekte")
    lists.forget(projekte)
    assert lists.list_id(projekte) == clean.list_id("Projekte")
