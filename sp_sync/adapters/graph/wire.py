"""Graph JSON ↔ sp-sync types, and URL building helpers (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from sp_sync.domain.model import RawItem
from sp_sync.errors import BadResponse
from sp_sync.ports import ColumnInfo


def parse_dt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)  # Python 3.11 reads a trailing "Z" as UTC
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _person(identity: Any) -> str | None:
    if not isinstance(identity, Mapping):
        return None
    user = identity.get("user")
    if not isinstance(user, Mapping):
        return None
    return user.get("email") or user.get("displayName")


def raw_item(v: Mapping[str, Any]) -> RawItem:
    """A Graph ``listItem`` (from items, delta or a write response) as a :class:`RawItem`."""
    fields = v.get("fields") or {}
    clean = dict(fields)
    clean.pop("@odata.etag", None)
    for k in clean:  # other annotations are rare: look before building a filtered copy
        if k[:1] == "@":
            clean = {k: val for k, val in clean.items() if not k.startswith("@odata")}
            break
    etag = v.get("eTag") or fields.get("@odata.etag")
    return RawItem(
        id=str(v.get("id") or fields.get("id") or fields.get("ID") or ""),
        etag=etag,
        fields=clean,
        web_url=v.get("webUrl"),
        created=parse_dt(v.get("createdDateTime")),
        modified=parse_dt(v.get("lastModifiedDateTime") or fields.get("Modified")),
        modified_by=_person(v.get("lastModifiedBy")),
        deleted="deleted" in v,
    )


@dataclass(frozen=True)
class Poisoned:
    """An item of a page that breaks the bounds: skipped and reported, never applied."""

    id: str | None  # None: not even its id could be read
    reason: str


def _bounds_problem(value: Any, max_depth: int, max_chars: int) -> str | None:
    """Why ``value`` breaks the bounds, or ``None``. Iterative: no recursion to blow."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if len(node) > max_chars:
                return f"a text value of {len(node):,} characters (limit {max_chars:,})"
        elif isinstance(node, Mapping):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            stack.extend((v, depth + 1) for v in node.values())
            stack.extend((k, depth + 1) for k in node)
        elif isinstance(node, list):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            stack.extend((v, depth + 1) for v in node)
    return None


def raw_items(
    values: Any, max_depth: int = 32, max_chars: int = 1_000_000
) -> tuple[list[RawItem], list[Poisoned]]:
    """A page's ``value`` array as items; items that break the bounds or have no usable
    shape (not an object, no id, ``fields`` not an object) are returned apart as poison,
    so the rest of the page goes through."""
    items: list[RawItem] = []
    poisoned: list[Poisoned] = []
    if values is None:
        return items, poisoned
    if not isinstance(values, list):  # the whole page is unreadable: nothing to skip to
        raise BadResponse(
            f"a page's value is a {type(values).__name__}, not a list of items; refused "
            "(nothing of it was applied); check proxies between sp-sync and Microsoft 365"
        )
    for v in values:
        if not isinstance(v, Mapping):
            poisoned.append(Poisoned(None, f"an item that is a {type(v).__name__}"))
            continue
        raw_id = v.get("id")
        item_id = str(raw_id) if isinstance(raw_id, (str, int)) and raw_id != "" else None
        problem = _bounds_problem(v, max_depth, max_chars)
        if problem is None and not isinstance(v.get("fields", {}), (Mapping, type(None))):
            problem = "its fields are not an object"
        if problem is None:
            try:
                item = raw_item(v)
            except (TypeError, ValueError, AttributeError) as exc:
                problem = f"unreadable ({exc})"
            else:
                if item.id:
                    items.append(item)
                    continue
                problem = "it has no id"
        poisoned.append(Poisoned(item_id, problem))
    return items, poisoned


def fields_item(item_id: str, fvs: Mapping[str, Any]) -> RawItem:
    """The RawItem for a ``PATCH …/fields`` answer (a fieldValueSet with ``@odata.etag``)."""
    clean = {k: val for k, val in fvs.items() if not k.startswith("@odata")}
    return RawItem(
        id=item_id,
        etag=fvs.get("@odata.etag"),
        fields=clean,
        modified=parse_dt(fvs.get("Modified")),
    )


def odata_literal(value: str) -> str:
    """A quoted OData string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def query(params: Mapping[str, str]) -> str:
    # Keep OData punctuation readable; encode everything else (spaces, quotes, &, #, +).
    return urlencode(params, quote_via=quote, safe="$(),/=")


def expand_fields(select: Sequence[str]) -> str:
    return f"fields($select={','.join(select)})" if select else "fields"


def column_type(col: Mapping[str, Any]) -> str:
    """sp-sync's ColumnType value for a Graph columnDefinition, else the facet name."""
    if "text" in col:
        return "note" if (col.get("text") or {}).get("allowMultipleLines") else "text"
    if "dateTime" in col:
        fmt = (col.get("dateTime") or {}).get("format")
        return "date" if fmt == "dateOnly" else "datetime"
    if "choice" in col:
        return "multichoice" if (col.get("choice") or {}).get("allowMultipleValues") else "choice"
    if "lookup" in col:
        return "multilookup" if (col.get("lookup") or {}).get("allowMultipleValues") else "lookup"
    simple = {"number": "number", "currency": "currency", "boolean": "boolean",
              "personOrGroup": "person", "hyperlinkOrPicture": "url"}
    for facet, name in simple.items():
        if facet in col:
            return name
    for facet in ("calculated", "geolocation", "term", "thumbnail", "contentApprovalStatus"):
        if facet in col:
            return facet
    return "unknown"


def column_info(col: Mapping[str, Any]) -> ColumnInfo:
    lookup = col.get("lookup") or {}
    return ColumnInfo(
        name=str(col.get("name")),
        display_name=str(col.get("displayName") or col.get("name")),
        type=column_type(col),
        indexed=bool(col.get("indexed")),
        lookup_list_id=lookup.get("listId") if isinstance(lookup, Mapping) else None,
    )
