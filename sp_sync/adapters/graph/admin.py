"""Create lists and columns (``sp-sync provision``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sp_sync.adapters.graph.sites import GraphSites
from sp_sync.errors import GraphError, NotFound
from sp_sync.ports import ListRef

log = logging.getLogger(__name__)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
BUILTIN = frozenset({"Title", "ID", "Created", "Modified", "Author", "Editor"})


def _resolved(lists: GraphSites, ref: ListRef, col: Mapping[str, Any]) -> dict[str, Any]:
    """The column definition with a lookup's target list title replaced by its id."""
    out = dict(col)
    lookup = out.get("lookup")
    if isinstance(lookup, Mapping):
        target = str(lookup.get("listId") or "")
        if target and not _GUID.match(target):
            target_id = lists.list_id(ListRef(ref.site_url, target))
            out["lookup"] = {**lookup, "listId": target_id}
    return out


def ensure_list(lists: GraphSites, ref: ListRef, columns: Sequence[Mapping[str, Any]]) -> bool:
    """Create the list with ``columns`` if missing; add missing columns; index flagged ones."""
    conn = lists.conn
    site = lists.site_id(ref.site_url)
    wanted = [_resolved(lists, ref, c) for c in columns if c.get("name") not in BUILTIN]
    try:
        list_id = lists.list_id(ref)
    except NotFound:
        body = {"displayName": ref.title, "columns": wanted, "list": {"template": "genericList"}}
        conn.request("POST", f"sites/{site}/lists", json_body=body)
        lists.forget(ref)
        log.info("created list %r with %d columns", ref.title, len(wanted))
        return True
    existing = conn.get_json(f"sites/{site}/lists/{list_id}/columns") or {}
    by_name = {c.get("name"): c for c in existing.get("value") or []}
    by_display = {c.get("displayName"): c for c in existing.get("value") or []}
    changed = False
    for col in wanted:
        have = by_name.get(col.get("name")) or by_display.get(col.get("displayName"))
        if have is None:
            # A column POST is not idempotent, but a failed one is found by name next time.
            conn.request("POST", f"sites/{site}/lists/{list_id}/columns", json_body=col)
            log.info("added column %r to %r", col.get("name"), ref.title)
            changed = True
        elif col.get("indexed") and not have.get("indexed"):
            try:
                conn.request("PATCH", f"sites/{site}/lists/{list_id}/columns/{have.get('id')}",
                             json_body={"indexed": True})
            except GraphError as exc:  # not fatal: lookups by key still work below 5,000
                log.warning("cannot index column %r of %r (%s): index it in List settings > "
                            "Indexed columns", col.get("name"), ref.title, exc)
                continue
            log.info("indexed column %r of %r", col.get("name"), ref.title)
            changed = True
    return changed
