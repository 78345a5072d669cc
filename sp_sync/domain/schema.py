"""Does a list in SharePoint still have the columns the mapping names? (pure comparison)

Each mapped column must exist under its internal name with a type of the same *family*
as the configured one. Families are coarse on purpose: Graph does not tell a choice
from a multi-choice column, and date vs. date-with-time is a display format, so only
a change that breaks reading the wire value counts (a number column that became text).
Types Graph reports ambiguously (calculated, unknown facets) are accepted.

A column deleted and created again under the same display name gets a new internal
name ("Status" → "Status0"); the problem message names it, so the admin can put it into
``config/lists.toml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sp_sync.domain.model import ColumnSpec, ListSpec

# ColumnType values (Graph adapter) and Graph facet names (emulator, fakes) → family.
FAMILIES: dict[str, str] = {
    "text": "text", "note": "text",
    "number": "number", "currency": "number",
    "boolean": "boolean",
    "date": "dateTime", "datetime": "dateTime", "dateTime": "dateTime",
    "choice": "choice", "multichoice": "choice",
    "person": "personOrGroup", "personOrGroup": "personOrGroup",
    "lookup": "lookup", "multilookup": "lookup",
    "url": "hyperlinkOrPicture", "hyperlinkOrPicture": "hyperlinkOrPicture",
}
# Facets whose values sp-sync cannot read as any of its types.
FOREIGN = frozenset({"term", "geolocation", "thumbnail", "contentApprovalStatus"})

CONFIG_FILE = "config/lists.toml"


class ColumnLike(Protocol):
    """What the check reads of a reported column (``sp_sync.ports.ColumnInfo``)."""

    @property
    def name(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def type(self) -> str: ...


@dataclass(frozen=True)
class SchemaProblem:
    """A mapped column SharePoint no longer has as configured."""

    list_key: str
    column_key: str  # logical key in the mapping
    kind: str  # "missing" | "type"
    message: str  # for the admin: what is wrong and which config line to fix
    suggestion: str | None = None  # internal name of a column that probably replaced it


def compatible(configured: str, reported: str) -> bool:
    """Whether a column reported as ``reported`` can be read as ``configured``."""
    if reported in FOREIGN:
        return False
    family = FAMILIES.get(reported)
    return family is None or family == FAMILIES.get(configured)


def _label(spec: ListSpec, col: ColumnSpec) -> str:
    return (f"list {spec.key} ('{spec.title}'): column key '{col.key}' → internal name "
            f"'{col.name}'")


def _missing(spec: ListSpec, col: ColumnSpec, by_name: dict[str, ColumnLike],
             mapped: set[str]) -> SchemaProblem:
    wanted = {n.casefold() for n in (col.display, col.name) if n}
    same_display = [
        c for c in by_name.values()
        if c.display_name.casefold() in wanted and c.name not in mapped
    ]
    # Prefer a column that could be read as the configured type.
    same_display.sort(key=lambda c: not compatible(col.type.value, c.type))
    fix = f"fix lists.{spec.key}.columns.{col.key}.name in {CONFIG_FILE}"
    if same_display:
        new = same_display[0]
        return SchemaProblem(
            spec.key, col.key, "missing",
            f"{_label(spec, col)} is missing in SharePoint — {fix} (a column with display "
            f"name '{new.display_name}' now has the internal name '{new.name}')",
            suggestion=new.name,
        )
    display = col.display or col.name
    return SchemaProblem(
        spec.key, col.key, "missing",
        f"{_label(spec, col)} is missing in SharePoint — restore the column or {fix} "
        f"(no column with display name '{display}' exists either)",
    )


def check_columns(spec: ListSpec, columns: Sequence[ColumnLike]) -> list[SchemaProblem]:
    """Problems of ``spec``'s mapped columns against the columns SharePoint reports."""
    by_name = {c.name: c for c in columns}
    mapped = {c.name for c in spec.columns}
    problems: list[SchemaProblem] = []
    for col in spec.columns:
        found = by_name.get(col.name)
        if found is None:
            problems.append(_missing(spec, col, by_name, mapped))
        elif not compatible(col.type.value, found.type):
            problems.append(SchemaProblem(
                spec.key, col.key, "type",
                f"{_label(spec, col)} is a {found.type} column in SharePoint but "
                f"{CONFIG_FILE} says {col.type.value} — change the column back or fix "
                f"lists.{spec.key}.columns.{col.key}.type",
            ))
    return problems
