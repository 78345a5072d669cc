"""Graph JSON ↔ sp-sync types, and URL building helpers (no I/O)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import quote, urlencode

import msgspec

from sp_sync.domain.model import RawItem
from sp_sync.errors import BadResponse
from sp_sync.ports import ColumnInfo

_decode_fast = msgspec.json.Decoder().decode


def decode_json(content: bytes | str) -> Any:
    """``json.loads(content)``, about twice as fast on Graph's pages.

    msgspec decodes what it reads exactly as :mod:`json` does (the same values, big
    integers and all); what it refuses — ``NaN``, a lone surrogate escape, ``1e400``,
    nesting beyond its depth — :mod:`json` decodes, or refuses with its own error, as
    before. So every caller sees ``json.loads``'s results and errors.
    """
    try:
        return _decode_fast(content)
    except (msgspec.DecodeError, RecursionError):
        return json.loads(content)


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
    if identity is None or not isinstance(identity, Mapping):  # None: delta has none
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
    if clean and min(clean)[:1] <= "@":  # see _without_annotations
        clean = _without_annotations(clean)
    etag = v.get("eTag") or fields.get("@odata.etag")
    item_id = v.get("id") or fields.get("id") or fields.get("ID") or ""
    return RawItem(  # positional: built once per item of every page
        item_id if type(item_id) is str else str(item_id),
        etag,
        clean,
        v.get("webUrl"),
        parse_dt(v.get("createdDateTime")),
        parse_dt(v.get("lastModifiedDateTime") or fields.get("Modified")),
        _person(v.get("lastModifiedBy")),
        "deleted" in v,
    )


def _without_annotations(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` without ``@odata…`` annotations (other than the eTag, they are rare).

    The caller only comes here when the smallest key sorts at or before ``@``: letters and
    ``_`` (how internal names begin) sort after it, so a first look at ``min(keys)`` (in C)
    rules annotations out for almost every item without a loop over the keys.
    """
    if not any(k.startswith("@odata") for k in fields):
        return fields
    return {k: val for k, val in fields.items() if not k.startswith("@odata")}


@dataclass(frozen=True)
class Poisoned:
    """An item of a page that breaks the bounds: skipped and reported, never applied."""

    id: str | None  # None: not even its id could be read
    reason: str


_SCALARS = frozenset({int, float, bool, type(None)})


def _bounds_problem(
    value: Any, max_depth: int, max_chars: int, depth: int = 1
) -> str | None:
    """Why ``value`` (at nesting level ``depth``) breaks the bounds, or ``None``.
    Iterative: no recursion to blow.

    Runs once per item of every page, so it looks at each container once and checks its
    texts (keys and values) in the same loop; scalars cost one type test.
    """
    too_long = "a text value of {:,} characters (limit {:,})"
    if isinstance(value, str):
        return too_long.format(len(value), max_chars) if len(value) > max_chars else None
    stack: list[tuple[Any, int]] = [(value, depth)]
    push = stack.append
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            pairs: Iterable[tuple[Any, Any]] = node.items()
        elif isinstance(node, list):
            pairs = ((None, v) for v in node)
        else:
            continue
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        for key, child in pairs:
            if type(key) is str and len(key) > max_chars:
                return too_long.format(len(key), max_chars)
            kind = type(child)
            if kind is str:
                if len(child) > max_chars:
                    return too_long.format(len(child), max_chars)
            elif kind is dict or kind is list:
                push((child, depth + 1))
            elif kind not in _SCALARS:
                if isinstance(child, str):
                    if len(child) > max_chars:
                        return too_long.format(len(child), max_chars)
                elif isinstance(child, (Mapping, list)):
                    push((child, depth + 1))
    return None


# What raw_item keeps of an item, its fields first. The rest (parentReference,
# contentType …) is dropped unread: its decoding was bounded by the response's size.
_KEPT = ("fields", "id", "eTag", "webUrl", "createdDateTime", "lastModifiedDateTime",
         "lastModifiedBy")


def _item_problem(v: Mapping[str, Any], max_depth: int, max_chars: int) -> str | None:
    """Why an item breaks the bounds, or ``None``: what sp-sync keeps of it is checked
    (each at level 2, the item being level 1)."""
    for key in _KEPT:
        value = v.get(key)
        if value is None or (type(value) is str and len(value) <= max_chars):
            continue  # the usual case, without a call
        problem = _bounds_problem(value, max_depth, max_chars, 2)
        if problem is not None:
            return problem
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
        if type(v) is not dict and not isinstance(v, Mapping):  # a dict: no ABC check
            poisoned.append(Poisoned(None, f"an item that is a {type(v).__name__}"))
            continue
        raw_id = v.get("id")
        item_id = str(raw_id) if isinstance(raw_id, (str, int)) and raw_id != "" else None
        problem = _item_problem(v, max_depth, max_chars)
        fields = v.get("fields")
        if problem is None and type(fields) is not dict and not isinstance(
                fields, (Mapping, type(None))):
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


_NEXT_LINK_KEY = b'"@odata.nextLink"'
_KEY_VALUE_SEP = re.compile(r'\s*:\s*"')
_LINK_MAX = 16_384  # bytes after the key searched for its value (Graph's links are ~1 KB)


def peek_next_link(content: bytes) -> str | None:
    """A page's ``@odata.nextLink`` read from its raw JSON without decoding the page.

    So the next request can leave while this page is still being decoded. A guess: the
    first occurrence of the key followed by ``:`` is taken (Graph writes it once, at the
    top level, before or after ``value``; inside strings a quote is escaped, so only a
    key or a whole value reading ``@odata.nextLink`` match, and a value is followed by
    ``,``). The caller checks the guess against the decoded page before relying on it.
    """
    at = content.find(_NEXT_LINK_KEY)
    while at >= 0:
        start = at + len(_NEXT_LINK_KEY)
        rest = content[start:start + _LINK_MAX].decode("utf-8", "replace")
        sep = _KEY_VALUE_SEP.match(rest)
        if sep is not None:
            try:
                link, _ = scanstring(rest, sep.end())
            except ValueError:
                return None
            return link if isinstance(link, str) and link else None
        at = content.find(_NEXT_LINK_KEY, start)
    return None


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
