"""SharePoint lists through Graph: ``ListSource`` + ``ListWriter`` + ``ListAdmin``.

Site and list resolution use the office365 library (through our transport); delta, key
lookups and writes are raw calls through the retry policy because the library drops the
deltaLink and sends no If-Match.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from office365.onedrive.lists.list import List as GraphList
from office365.onedrive.sites.site import Site

from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.wire import (
    Poisoned,
    column_info,
    expand_fields,
    odata_literal,
    query,
    raw_item,
    raw_items,
)
from sp_sync.domain.model import RawItem, WriteAction, WriteOutcome
from sp_sync.errors import GraphError, NotFound
from sp_sync.ports import ColumnInfo, DeltaPage, ListRef, RequestStats

log = logging.getLogger(__name__)

DELTA_PAGE_SIZE = 1000


class GraphLists:
    """Reads, writes and provisions lists of one or more sites."""

    def __init__(self, conn: GraphConnection, default_site_url: str) -> None:
        self.conn = conn
        self.default_site_url = default_site_url.rstrip("/")
        self._sites: dict[str, str] = {}
        self._lists: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    @property
    def stats(self) -> RequestStats:
        return self.conn.stats

    def start_run(self) -> None:
        """Start the per-run time budget (``GraphConfig.run_time_budget_s``) now."""
        self.conn.start_run()

    # ------------------------------------------------------------------ resolution

    def site_id(self, site_url: str | None = None) -> str:
        """``{host},{siteGuid},{webGuid}`` for a site URL (cached)."""
        url = (site_url or self.default_site_url).rstrip("/")
        with self._lock:
            if url in self._sites:
                return self._sites[url]
        try:
            site: Site = self.conn.client.sites.get_by_url(url).execute_query()
        except NotFound as exc:
            raise NotFound(
                f"SharePoint site {url} not found: check SP_SYNC_SITE_URL (or the list's "
                "site_url) and that the app has access to this site", exc.status, exc.code,
            ) from None
        with self._lock:
            self._sites[url] = str(site.id)
        return str(site.id)

    def list_id(self, ref: ListRef) -> str:
        """The list's id from its display name (cached)."""
        site = self.site_id(ref.site_url)
        key = (site, ref.title)
        with self._lock:
            if key in self._lists:
                return self._lists[key]
        found = self._find_list(site, ref.title)
        if found is None:
            raise NotFound(
                f"list {ref.title!r} not found on site {ref.site_url or self.default_site_url}: "
                "check the title in config/lists.toml or run `sp-sync provision`",
                404, "itemNotFound",
            )
        with self._lock:
            self._lists[key] = found
        return found

    def _find_list(self, site: str, title: str) -> str | None:
        lists = self.conn.client.sites[site].lists
        hits = lists.filter(f"displayName eq {odata_literal(title)}").get().execute_query()
        for lst in hits:
            if lst.display_name == title:
                return str(lst.id)
        # Hidden lists (User Information List) are not listed; address them by title.
        try:
            one: GraphList = lists.get_by_name(title).get().execute_query()
        except NotFound:
            return None
        return str(one.id) if one.id else None

    def forget(self, ref: ListRef) -> None:
        """Drop the cached list id (after the list was re-created)."""
        with self._lock:
            self._lists = {k: v for k, v in self._lists.items() if k[1] != ref.title}

    def items_path(self, ref: ListRef) -> str:
        return f"sites/{self.site_id(ref.site_url)}/lists/{self.list_id(ref)}/items"

    # ------------------------------------------------------------------ ListSource

    def delta(
        self, ref: ListRef, select: Sequence[str], cursor: str | None
    ) -> Iterator[DeltaPage]:
        if cursor:
            url = cursor  # the stored deltaLink, followed verbatim
        else:
            params = {"$expand": expand_fields(select), "$top": str(DELTA_PAGE_SIZE)}
            url = self.conn.url(f"{self.items_path(ref)}/delta?{query(params)}")
        while True:
            body = self.conn.get_json(url)
            if not isinstance(body, Mapping):
                raise GraphError(f"delta page of {ref.title!r} is not a JSON object")
            items, bad = raw_items(body.get("value"), self.conn.config.max_item_depth,
                                   self.conn.config.max_value_chars)
            poisoned = self._report(ref, bad)
            next_link = body.get("@odata.nextLink")
            delta_link = body.get("@odata.deltaLink")
            if next_link:
                yield DeltaPage(items=items, next_link=next_link, poisoned=poisoned)
                url = next_link
            elif delta_link:
                yield DeltaPage(items=items, delta_link=delta_link, poisoned=poisoned)
                return
            else:
                raise GraphError(
                    f"delta page of {ref.title!r} has neither nextLink nor deltaLink"
                )

    def _report(self, ref: ListRef, bad: Sequence[Poisoned]) -> list[str]:
        """Log each poisoned item (what the admin must fix) and count it; their ids."""
        for p in bad:
            log.warning(
                "list %r: item %s skipped: %s. The rest of the page was applied; the item's "
                "last mirrored values are kept until it is fixed in SharePoint",
                ref.title, p.id or "(without id)", p.reason,
            )
        self.stats.poisoned += len(bad)
        return [p.id for p in bad if p.id]

    def get_item(self, ref: ListRef, item_id: str, select: Sequence[str]) -> RawItem | None:
        params = {"$expand": expand_fields(select)}
        try:
            body = self.conn.get_json(f"{self.items_path(ref)}/{item_id}?{query(params)}")
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
        body = self.conn.get_json(f"{self.items_path(ref)}?{query(params)}")
        hits = [raw_item(v) for v in (body or {}).get("value") or []]
        if len(hits) > 1:
            log.warning("%d items in %r share %s=%r; using the oldest",
                        len(hits), ref.title, key_column, key)
        if not hits:
            return None
        return min(hits, key=lambda it: int(it.id) if it.id.isdigit() else 0)

    def columns(self, ref: ListRef) -> Sequence[ColumnInfo]:
        site = self.site_id(ref.site_url)
        body = self.conn.get_json(f"sites/{site}/lists/{self.list_id(ref)}/columns")
        return [column_info(c) for c in (body or {}).get("value") or []]

    def list_items(self, ref: ListRef, select: Sequence[str]) -> Iterator[RawItem]:
        """Every item (paged ``items`` read; used by snapshots, not by sync)."""
        params = {"$expand": expand_fields(select), "$top": "999"}
        url: str | None = self.conn.url(f"{self.items_path(ref)}?{query(params)}")
        while url:
            body = self.conn.get_json(url) or {}
            for v in body.get("value") or []:
                yield raw_item(v)
            url = body.get("@odata.nextLink")

    # ------------------------------------------------------------------ ListWriter

    def apply(self, ref: ListRef, actions: Sequence[WriteAction]) -> list[WriteOutcome]:
        from sp_sync.adapters.graph.writer import apply_actions

        return apply_actions(self, ref, actions)

    # ------------------------------------------------------------------ ListAdmin

    def ensure_list(self, ref: ListRef, columns: Sequence[Mapping[str, Any]]) -> bool:
        from sp_sync.adapters.graph.admin import ensure_list

        return ensure_list(self, ref, columns)
