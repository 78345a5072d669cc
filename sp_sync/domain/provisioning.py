"""Graph ``columnDefinition`` JSON for a mapped list (pure; used by provision and the seed).

Title, ID, Created, Modified, Author and Editor exist in every list and are never defined.
Lookups name their target list by display name (title); the Graph adapter resolves it to
the list id when it provisions a real site.
"""

from __future__ import annotations

from typing import Any

from sp_sync.domain.model import ColumnSpec, ColumnType, ListMapping, ListSpec

BUILTIN_COLUMNS = frozenset(
    {"Title", "ID", "Created", "Modified", "Author", "Editor", "AuthorLookupId",
     "EditorLookupId"}
)


def _facet(col: ColumnSpec, mapping: ListMapping) -> dict[str, Any]:
    t = col.type
    if t in (ColumnType.TEXT, ColumnType.NOTE):
        return {"text": {"allowMultipleLines": t is ColumnType.NOTE}}
    if t is ColumnType.NUMBER:
        return {"number": {}}
    if t is ColumnType.CURRENCY:
        return {"currency": {"locale": "de-DE"}}
    if t is ColumnType.BOOLEAN:
        return {"boolean": {}}
    if t in (ColumnType.DATE, ColumnType.DATETIME):
        return {"dateTime": {"format": "dateOnly" if t is ColumnType.DATE else "dateTime"}}
    if t in (ColumnType.CHOICE, ColumnType.MULTICHOICE):
        facet: dict[str, Any] = {"choices": list(col.choices)}
        if t is ColumnType.MULTICHOICE:
            facet["allowMultipleValues"] = True
        return {"choice": facet}
    if t is ColumnType.PERSON:
        return {"personOrGroup": {}}
    if t in (ColumnType.LOOKUP, ColumnType.MULTILOOKUP):
        target = mapping.get(col.lookup_list or "")
        return {
            "lookup": {
                "listId": target.title,
                "columnName": "Title",
                "allowMultipleValues": t is ColumnType.MULTILOOKUP,
            }
        }
    if t is ColumnType.URL:
        return {"hyperlinkOrPicture": {"isPicture": False}}
    raise ValueError(f"no column definition for type {t!r}")


def column_definition(col: ColumnSpec, mapping: ListMapping) -> dict[str, Any]:
    """One column's Graph ``columnDefinition``."""
    return {
        "name": col.name,
        "displayName": col.display or col.key,
        "indexed": col.indexed,
        "required": col.required,
        **_facet(col, mapping),
    }


def column_definitions(spec: ListSpec, mapping: ListMapping) -> list[dict[str, Any]]:
    """Definitions of every mapped, non built-in column; a target's SyncKey is always there
    (indexed, so lookups by key stay under the list view threshold)."""
    defs = [column_definition(c, mapping) for c in spec.columns if c.name not in BUILTIN_COLUMNS]
    key = sync_key_definition(spec)
    if key is not None and all(d["name"] != key["name"] for d in defs):
        defs.append(key)
    return defs


def sync_key_definition(spec: ListSpec) -> dict[str, Any] | None:
    """The indexed SyncKey text column of a list that declares ``sync_key``, else None."""
    if not spec.sync_key_column:
        return None
    return {"name": spec.sync_key_column, "displayName": spec.sync_key_column,
            "indexed": True, "required": False, "text": {"allowMultipleLines": False}}
