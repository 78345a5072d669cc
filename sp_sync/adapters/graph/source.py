"""SharePoint lists through Graph: ``ListSource`` + ``ListWriter`` + ``ListAdmin``.

Site resolution uses the office365 library (through our transport); the lists collection,
delta, key lookups and writes are raw calls through the retry policy because the library
drops the deltaLink and sends no If-Match.

Ids of sites and lists: see ``sites.py`` (looked up once, kept across processes).

Delta paging: the next page is fetched in a background thread while the caller processes
the current one (at most one page ahead; its link is known as soon as a page arrives).
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sp_sync.adapters.graph.admin import ensure_list
from sp_sync.adapters.graph.sites import ID_MAX_AGE, GraphSites
from sp_sync.adapters.graph.wire import (
    Poisoned,
    column_info,
    expand_fields,
    odata_literal,
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

# items, nextLink, deltaLink, ids of poisoned items (skipped, see wire.raw_items)
_Page = tuple[list[RawItem], str | None, str | None, list[str]]



class GraphLists(GraphSites):
    """Reads, writes and provisions lists of one or more sites (the three list ports)."""

    # ------------------------------------------------------------------ ListSource

    def _delta_url(self, ref: ListRef, select: Sequence[str]) -> str:
        params = {"$expand": expand_fields(select), "$top": str(DELTA_PAGE_SIZE)}
        return self.conn.url(f"{self.items_path(ref)}/delta?{query(params)}")

    def _page(self, ref: ListRef, url: str) -> _Page:
        body = self._get(url)
        if not isinstance(body, Mapping):
            raise GraphError(f"delta page of {ref.title!r} is not a JSON object")
        items, bad = raw_items(body.get("value"), self.conn.config.max_item_depth,
                               self.conn.config.max_value_chars)
        next_link, delta_link = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
        if not next_link and not delta_link:
            raise GraphError(f"delta page of {ref.title!r} has neither nextLink nor deltaLink")
        return items, next_link, delta_link, self._report(ref, bad)

    def _first_page(self, ref: ListRef, select: Sequence[str], cursor: str | None) -> _Page:
        url = cursor or self._delta_url(ref, select)  # a stored deltaLink is followed verbatim
        try:
            return self._page(ref, url)
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
        return self._page(ref, self._delta_url(ref, select))

    def delta(
        self, ref: ListRef, select: Sequence[str], cursor: str | None
    ) -> Iterator[DeltaPage]:
        page = self._first_page(ref, select, cursor)
        if not page[1]:  # one page (a quiet run): no thread
            yield DeltaPage(items=page[0], delta_link=page[2], poisoned=page[3])
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delta-prefetch")
        ahead: Future[_Page] | None = None
        try:
            while True:
                items, next_link, delta_link, poisoned = page
                if not next_link:
                    yield DeltaPage(items=items, delta_link=delta_link, poisoned=poisoned)
                    return
                # Fetch (and decode) the next page while the caller stores this one; in
                # this run's context, so its meter counts the request and its budget holds.
                ahead = pool.submit(contextvars.copy_context().run, self._page, ref, next_link)
                yield DeltaPage(items=items, next_link=next_link, poisoned=poisoned)
                page = ahead.result()
                ahead = None
        finally:
            # Abandoned mid-feed: the request in flight finishes (and is counted in this
            # run's stats) before the generator is done.
            pool.shutdown(wait=True, cancel_futures=True)

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
