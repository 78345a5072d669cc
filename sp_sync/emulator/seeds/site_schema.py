"""The emulator's description of a seeded site's lists (``dtc_site.toml``).

The emulator is a separate system: it knows SharePoint's shapes, not sp-sync's list
mapping. A seed describes its site's lists here — titles, internal column names, types —
and turns them into Graph column definitions and wire values. The file's syntax follows
sp-sync's mapping on purpose (one way to write a list down); a test checks that sp-sync's
shipped mapping reads this site without a schema problem.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUILTIN = frozenset({"Title", "ID", "Created", "Modified", "Author", "Editor"})
LOOKUP_ID_TYPES = frozenset({"person", "lookup"})


@dataclass(frozen=True)
class SiteColumn:
    key: str  # the seed's own name for the column
    name: str  # SharePoint internal name
    type: str  # text, note, number, currency, boolean, datetime, date, choice, multichoice,
    #            person, lookup, multilookup, url
    display: str | None = None
    choices: tuple[str, ...] = ()
    lookup_list: str | None = None  # key of the list a lookup points to
    indexed: bool = False
    required: bool = False

    @property
    def field_name(self) -> str:
        """The key under which Graph returns the column in ``fields``."""
        return f"{self.name}LookupId" if self.type in LOOKUP_ID_TYPES else self.name


@dataclass(frozen=True)
class SiteList:
    key: str
    title: str
    columns: dict[str, SiteColumn]


def load_site(path: Path) -> dict[str, SiteList]:
    """The lists of a site description, by key (file order)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[str, SiteList] = {}
    for key, lst in data.get("lists", {}).items():
        cols = {
            ckey: SiteColumn(
                key=ckey, name=c["name"], type=c["type"], display=c.get("display"),
                choices=tuple(c.get("choices", ())), lookup_list=c.get("list"),
                indexed=bool(c.get("indexed", False)), required=bool(c.get("required", False)),
            )
            for ckey, c in lst.get("columns", {}).items()
        }
        out[key] = SiteList(key=key, title=lst["title"], columns=cols)
    return out


def _facet(col: SiteColumn, site: dict[str, SiteList]) -> dict[str, Any]:
    t = col.type
    if t in ("text", "note"):
        return {"text": {"allowMultipleLines": t == "note"}}
    if t == "number":
        return {"number": {}}
    if t == "currency":
        return {"currency": {"locale": "de-DE"}}
    if t == "boolean":
        return {"boolean": {}}
    if t in ("date", "datetime"):
        return {"dateTime": {"format": "dateOnly" if t == "date" else "dateTime"}}
    if t in ("choice", "multichoice"):
        facet: dict[str, Any] = {"choices": list(col.choices)}
        if t == "multichoice":
            facet["allowMultipleValues"] = True
        return {"choice": facet}
    if t == "person":
        return {"personOrGroup": {}}
    if t in ("lookup", "multilookup"):
        target = site[col.lookup_list or ""]
        return {"lookup": {"listId": target.title, "columnName": "Title",
                           "allowMultipleValues": t == "multilookup"}}
    if t == "url":
        return {"hyperlinkOrPicture": {"isPicture": False}}
    raise ValueError(f"column {col.key!r}: unknown type {t!r}")


def column_definitions(lst: SiteList, site: dict[str, SiteList]) -> list[dict[str, Any]]:
    """Graph ``columnDefinition`` JSON of a list's own (non built-in) columns."""
    return [
        {"name": c.name, "displayName": c.display or c.key, "indexed": c.indexed,
         "required": c.required, **_facet(c, site)}
        for c in lst.columns.values() if c.name not in BUILTIN
    ]
