"""SharePoint lists through Graph: ``ListSource`` + ``ListWriter`` + ``ListAdmin``.

Site resolution uses the office365 library (through our transport); the lists collection,
delta, key lookups and writes are raw calls through the retry policy because the library
drops the deltaLink and sends no If-Match.

Ids of sites and lists: see ``sites.py`` (looked up once, kept across processes).

Delta paging: the rest of a feed is fetched by a background thread while the caller
decodes and processes the pages (each next request leaves as soon as the page before is
in: its nextLink is peeked from the raw JSON and checked once the page is decoded; at
most one fetched page waits besides the one on the wire).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import queue
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sp_sync.adapters.graph.admin import ensure_list
from sp_sync.adapters.graph.sites import ID_MAX_AGE, GraphSites
from sp_sync.adapters.graph.wire import (
    Poisoned,
    column_info,
    decode_json,
    expand_fields,
    odata_literal,
    peek_next_link,
    query,
    raw_item,
    raw_items,
)
from sp_sync.adapters.graph.writer import apply_actions
from sp_sync.domain.model import RawItem, WriteAction, WriteOutcome
from sp_sync.errors import CursorExpired, GraphError, NotFound
from sp_sync.ports import (
    ColumnInfo,
    DeltaPage,
    ListRef,
    charge,
)

log = logging.getLogger(__name__)

DELTA_PAGE_SIZE = 1000
_LIST_IN_URL = re.compile(r"/lists/([^/?#]+)/")

# a delta page's decoded body, its nextLink and its deltaLink (exactly one is set)
_Body = tuple[Mapping[str, Any], str | None, str | None]
PREFETCH_PAGES = 1  # fetched pages waiting for the caller, besides the one on the wire


@dataclass(frozen=True)
class _Fetched:
    """A page as it came off the wire, not decoded yet."""

    url: str
    content: bytes
    content_type: str
    next_link: str | None  # peeked from the raw JSON (the producer followed it already)


class _Prefetch:
    """The rest of a delta feed, fetched by one background thread as fast as the wire
    allows: the next request leaves as soon as a page's bytes are in (its nextLink is
    peeked from the raw JSON); the caller decodes the page meanwhile and checks the peek.
    At most ``PREFETCH_PAGES`` pages wait for the caller (memory stays flat); requests
    stay one at a time, in the run's context (its meter counts them, its budget holds)."""

    def __init__(self, lists: GraphLists, ref: ListRef, url: str) -> None:
        self._lists, self._ref = lists, ref
        self._start(url)

    def _start(self, url: str) -> None:
        self._pages: queue.Queue[_Fetched | BaseException] = queue.Queue(PREFETCH_PAGES)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._run, url),
            name="delta-prefetch", daemon=True,
        )
        self._thread.start()

    def _run(self, url: str | None) -> None:
        try:
            while url and not self._stop.is_set():
                page = self._lists._fetch_raw(url)
                self._pages.put(page)
                url = page.next_link
        except BaseException as exc:  # handed to the caller, raised there
            self._pages.put(exc)

    def next(self) -> _Body:
        """The next page, decoded; a page that does not decode is fetched again the
        ordinary way (retried as any other read), and a wrong peek is corrected."""
        fetched = self._pages.get()
        if isinstance(fetched, BaseException):
            raise fetched
        page = self._lists._decode(self._ref, fetched)
        if page[1] != fetched.next_link:  # the thread followed a wrong link, or none
            self.close()
            if page[1]:
                self._start(page[1])
        return page

    def close(self) -> None:
        """Stop after the request in flight (it finishes, and is counted, first)."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):  # unblock a put waiting for room
                self._pages.get(timeout=0.05)
        self._thread.join()


class GraphLists(GraphSites):
    """Reads, writes and provisions lists of one or more sites (the three list ports)."""

    # ------------------------------------------------------------------ ListSource

    def _delta_url(self, ref: ListRef, select: Sequence[str]) -> str:
        params = {"$expand": expand_fields(select), "$top": str(DELTA_PAGE_SIZE)}
        return self.conn.url(f"{self.items_path(ref)}/delta?{query(params)}")

    def _fetch(self, ref: ListRef, url: str) -> _Body:
        """One delta page from the wire, JSON-decoded, with its links (items not read yet)."""
        body = self._get(url)
        if not isinstance(body, Mapping):
            raise GraphError(f"delta page of {ref.title!r} is not a JSON object")
        return self._links(ref, body)

    @staticmethod
    def _links(ref: ListRef, body: Mapping[str, Any]) -> _Body:
        next_link, delta_link = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
        if not next_link and not delta_link:
            raise GraphError(f"delta page of {ref.title!r} has neither nextLink nor deltaLink")
        return body, next_link, delta_link

    def _fetch_raw(self, url: str) -> _Fetched:
        """One delta page's bytes (status, size and retries as for every read), its
        nextLink peeked, not decoded: the caller decodes it while the next one is read."""
        with self._wire:
            resp = self.conn.request("GET", url, expect_json=False)
        return _Fetched(url, resp.content, resp.headers.get("Content-Type", ""),
                        peek_next_link(resp.content))

    def _decode(self, ref: ListRef, fetched: _Fetched) -> _Body:
        """A fetched page decoded as :meth:`_fetch` would; one that is not JSON (a proxy's
        page, a cut body) is read again the ordinary way, which retries it."""
        try:
            body = decode_json(fetched.content) if "json" in fetched.content_type.lower() else None
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, Mapping):
            return self._fetch(ref, fetched.url)
        return self._links(ref, body)

    def _decoded(self, ref: ListRef, page: _Body) -> DeltaPage:
        body, next_link, delta_link = page
        items, bad = raw_items(body.get("value"), self.conn.config.max_item_depth,
                               self.conn.config.max_value_chars)
        return DeltaPage(items=items, next_link=next_link, delta_link=delta_link,
                         poisoned=self._report(ref, bad))

    def _first_page(self, ref: ListRef, select: Sequence[str], cursor: str | None) -> _Body:
        url = cursor or self._delta_url(ref, select)  # a stored deltaLink is followed verbatim
        try:
            return self._fetch(ref, url)
        except NotFound:
            m = _LIST_IN_URL.search(url)
            fresh = self._relocated(ref, m.group(1) if m else None)
            if fresh is None:
                raise
        if cursor:  # the cursor belongs to the deleted list: the new one is read in full
            raise CursorExpired(
                f"list {ref.title!r} was re-created (new id {fresh}): enumerating it again",
                410, "listRecreated",
            )
        return self._fetch(ref, self._delta_url(ref, select))

    def delta(
        self, ref: ListRef, select: Sequence[str], cursor: str | None
    ) -> Iterator[DeltaPage]:
        first = self._first_page(ref, select, cursor)
        if not first[1]:  # one page (a quiet run): no thread
            yield self._decoded(ref, first)
            return
        feed = _Prefetch(self, ref, first[1])
        try:
            yield self._decoded(ref, first)
            while True:
                page = feed.next()
                yield self._decoded(ref, page)
                if not page[1]:
                    return
        finally:
            feed.close()

    def _report(self, ref: ListRef, bad: Sequence[Poisoned]) -> list[str]:
        """Log each poisoned item (what the admin must fix) and count it; their ids."""
        for p in bad:
            log.warning(
                "list %r: item %s skipped: %s. The rest of the page was applied; the item's "
                "last mirrored values are kept until it is fixed in SharePoint",
                ref.title, p.id or "(without id)", p.reason,
            )
        charge(self.stats, poisoned=len(bad))
        return [p.id for p in bad if p.id]

    def get_item(self, ref: ListRef, item_id: str, select: Sequence[str]) -> RawItem | None:
        params = {"$expand": expand_fields(select)}
        try:
            body = self._get(f"{self.items_path(ref)}/{item_id}?{query(params)}")
        except NotFound:
            return None
        return raw_item(body)

    def find_by_key(
        self, ref: ListRef, key_column: str, key: str, select: Sequence[str]
    ) -> RawItem | None:
        params = {
            "$filter": f"fields/{key_column} eq {odata_literal(key)}",
            "$expand": expand_fields(select),
            "$top": "2",
        }
        body = self._get(f"{self.items_path(ref)}?{query(params)}")
        hits = [raw_item(v) for v in (body or {}).get("value") or []]
        if len(hits) > 1:
            log.warning("%d items in %r share %s=%r; using the oldest",
                        len(hits), ref.title, key_column, key)
        if not hits:
            return None
        return min(hits, key=lambda it: int(it.id) if it.id.isdigit() else 0)

    def columns(self, ref: ListRef) -> Sequence[ColumnInfo]:
        site = self.site_id(ref.site_url)
        list_id = self.list_id(ref)
        try:
            body = self._get(f"sites/{site}/lists/{list_id}/columns")
        except NotFound:
            fresh = self._relocated(ref, list_id)
            if fresh is None:
                raise
            body = self._get(f"sites/{site}/lists/{fresh}/columns")
        return [column_info(c) for c in (body or {}).get("value") or []]

    def list_items(self, ref: ListRef, select: Sequence[str]) -> Iterator[RawItem]:
        """Every item (paged ``items`` read; used by snapshots, not by sync)."""
        params = {"$expand": expand_fields(select), "$top": "999"}
        url: str | None = self.conn.url(f"{self.items_path(ref)}?{query(params)}")
        while url:
            body = self._get(url) or {}
            for v in body.get("value") or []:
                yield raw_item(v)
            url = body.get("@odata.nextLink")

    # ------------------------------------------------------------------ ListWriter

    def apply(self, ref: ListRef, actions: Sequence[WriteAction]) -> list[WriteOutcome]:
        return apply_actions(self, ref, actions)

    # ------------------------------------------------------------------ ListAdmin

    def ensure_list(self, ref: ListRef, columns: Sequence[Mapping[str, Any]]) -> bool:
        return ensure_list(self, ref, columns)

__all__ = ["DELTA_PAGE_SIZE", "ID_MAX_AGE", "GraphLists"]
