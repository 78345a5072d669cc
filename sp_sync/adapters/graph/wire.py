"""Graph JSON ↔ sp-sync types, and URL building helpers (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from sp_sync.domain.model import RawItem
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
