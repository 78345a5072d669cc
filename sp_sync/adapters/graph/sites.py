"""Sites and lists by name: ids looked up through Graph and kept.

Site resolution uses the office365 library (through our transport); the lists collection is
a raw call through the retry policy.

Ids: a site id and the ids of a site's lists are looked up once and kept — in memory and,
when a :class:`~sp_sync.ports.ResolvedStore` is given (the state store), across processes,
so a run started by cron costs what a daemon's run costs (one delta request per list).
List ids are stable GUIDs; kept ids are looked up again after :data:`ID_MAX_AGE` (a
renamed list is then followed) or at once when Graph answers 404 for a kept id (a list
deleted and re-created under the same title). When anything must be looked up, every list
of the site is read in ONE request (``GET /sites/{id}/lists?$select=id,displayName``).

The reader (``source.py``), the writer (``writer.py``) and the admin (``admin.py``) all
address lists through :class:`GraphSites`; none of them imports another.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from office365.onedrive.lists.list import List as GraphList
from office365.onedrive.sites.site import Site

from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.wire import query
from sp_sync.errors import NotFound, StoreError
from sp_sync.ports import ListRef, RequestStats, Resolved, ResolvedStore

log = logging.getLogger(__name__)

ID_MAX_AGE = timedelta(days=1)  # kept ids older than this are looked up again


def _now() -> datetime:
    return datetime.now(UTC)


def _list_key(site: str, title: str) -> str:
    return f"{site}|{title}"


class GraphSites:
    """Site and list ids of one or more sites (see the module docstring)."""

    def __init__(
        self, conn: GraphConnection, default_site_url: str, kept: ResolvedStore | None = None
    ) -> None:
        self.conn = conn
        self.default_site_url = default_site_url.rstrip("/")
        self.kept = kept
        self._sites: dict[str, tuple[str, datetime]] = {}  # url → (site id, looked up at)
        self._lists: dict[tuple[str, str], tuple[str, datetime]] = {}  # (site, title) → …
        self._lock = threading.Lock()
        # One read on the wire at a time: the delta prefetch thread and the callers' own
        # reads (a daemon runs two jobs at once) share the session, the retry policy and
        # its counters. Writes (writer.py) go through ``conn`` directly: the engine writes
        # only after its pulls, never while a delta feed is open.
        self._wire = threading.RLock()

    @property
    def stats(self) -> RequestStats:
        return self.conn.stats

    def keep_in(self, kept: ResolvedStore | None) -> None:
        """Keep looked-up ids in ``kept`` (the state store) from now on."""
        self.kept = kept

    # Keeping ids saves requests; a store that cannot keep them must not fail the run.
    def _kept_get(self, kind: str, key: str) -> Resolved | None:
        if self.kept is None:
            return None
        try:
            return self.kept.resolved(kind, key)
        except StoreError as exc:
            log.warning("could not read kept %s ids (%s): looking them up", kind, exc)
            return None

    def _keep(self, kind: str, values: Mapping[str, str], at: datetime) -> None:
        if self.kept is None:
            return
        try:
            self.kept.put_resolved(kind, values, at)
        except StoreError as exc:
            log.warning("could not keep %s ids (%s): the next process looks them up", kind, exc)

    def _drop(self, kind: str, keys: Sequence[str]) -> None:
        if self.kept is None:
            return
        try:
            self.kept.drop_resolved(kind, keys)
        except StoreError as exc:
            log.warning("could not forget kept %s ids (%s)", kind, exc)

    def _get(self, path_or_url: str) -> Any:
        with self._wire:
            return self.conn.get_json(path_or_url)

    # ------------------------------------------------------------------ resolution

    def _cached(
        self, cache: dict[Any, tuple[str, datetime]], key: Any, kind: str, kept_key: str
    ) -> str | None:
        """A fresh id from memory, else from the kept lookups (then also held in memory)."""
        now = _now()
        with self._lock:
            hit = cache.get(key)
        if hit is not None and now - hit[1] < ID_MAX_AGE:
            return hit[0]
        found = self._kept_get(kind, kept_key)
        if found is None or not isinstance(found.value, str) or now - found.at >= ID_MAX_AGE:
            return None
        with self._lock:
            cache[key] = (found.value, found.at)
        return found.value

    def site_id(self, site_url: str | None = None) -> str:
        """``{host},{siteGuid},{webGuid}`` for a site URL (kept, see the module docstring)."""
        url = (site_url or self.default_site_url).rstrip("/")
        hit = self._cached(self._sites, url, "site", url)
        if hit is not None:
            return hit
        try:
            with self._wire:
                site: Site = self.conn.client.sites.get_by_url(url).execute_query()
        except NotFound as exc:
            raise NotFound(
                f"SharePoint site {url} not found: check SP_SYNC_SITE_URL (or the list's "
                "site_url) and that the app has access to this site", exc.status, exc.code,
            ) from None
        at = _now()
        with self._lock:
            self._sites[url] = (str(site.id), at)
        self._keep("site", {url: str(site.id)}, at)
        return str(site.id)

    def list_id(self, ref: ListRef) -> str:
        """The list's id from its display name (kept, see the module docstring)."""
        site = self.site_id(ref.site_url)
        hit = self._cached(self._lists, (site, ref.title), "list", _list_key(site, ref.title))
        if hit is not None:
            return hit
        found = self._resolve_lists(site, ref.title)
        if found is None:
            raise NotFound(
                f"list {ref.title!r} not found on site {ref.site_url or self.default_site_url}: "
                "check the title in config/lists.toml or run `sp-sync provision`",
                404, "itemNotFound",
            )
        return found

    def _resolve_lists(self, site: str, title: str) -> str | None:
        """Every list of the site in one request (kept), then the wanted one's id."""
        url: str | None = f"sites/{site}/lists?{query({'$select': 'id,displayName'})}"
        ids: dict[str, str] = {}
        while url:
            body = self._get(url) or {}
            for v in body.get("value") or []:
                name, list_id = v.get("displayName"), v.get("id")
                if isinstance(name, str) and isinstance(list_id, str) and list_id:
                    ids.setdefault(name, list_id)
            url = body.get("@odata.nextLink")
        if title not in ids:
            # Hidden lists (User Information List) are not listed; address them by title.
            hidden = self._by_name(site, title)
            if hidden is not None:
                ids[title] = hidden
        at = _now()
        with self._lock:
            for name, list_id in ids.items():
                self._lists[(site, name)] = (list_id, at)
        self._keep("list", {_list_key(site, n): i for n, i in ids.items()}, at)
        return ids.get(title)

    def _by_name(self, site: str, title: str) -> str | None:
        try:
            with self._wire:
                one: GraphList = (
                    self.conn.client.sites[site].lists.get_by_name(title).get().execute_query()
                )
        except NotFound:
            return None
        return str(one.id) if one.id else None

    def forget(self, ref: ListRef) -> None:
        """Drop the kept list id (after the list was re-created)."""
        with self._lock:
            gone = [k for k in self._lists if k[1] == ref.title]
            for k in gone:
                del self._lists[k]
            sites = {site for site, _ in self._sites.values()}
        self._drop("list", [_list_key(s, ref.title) for s in sites])

    def _relocated(self, ref: ListRef, used: str | None) -> str | None:
        """After a 404: the list's id looked up afresh when it differs from ``used``.

        ``None`` when the id is the same (the 404 was about something else) or the list
        is gone (the caller's 404 then stands)."""
        self.forget(ref)
        # Straight to Graph: the kept copy may still be visible until the forgetting commits.
        fresh = self._resolve_lists(self.site_id(ref.site_url), ref.title)
        if fresh is None or fresh == used:
            return None
        log.warning("list %r has a new id (deleted and re-created?): now %s", ref.title, fresh)
        return fresh

    def items_path(self, ref: ListRef) -> str:
        return f"sites/{self.site_id(ref.site_url)}/lists/{self.list_id(ref)}/items"
