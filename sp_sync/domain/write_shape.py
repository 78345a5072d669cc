"""Typed values → the write shape of a target column (pure).

Values are written in the target's wire shape (date-only → local midnight in UTC,
person/lookup → their id for person/lookup columns and display text for text columns …)
so that they read back *equal* on the next pull: a second run with no change in
SharePoint makes zero writes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sp_sync.domain.model import ColumnSpec, ColumnType, Link, Lookup, Person, Value
from sp_sync.domain.normalize import date_to_wire, datetime_to_wire

_YES, _NO = "Ja", "Nein"  # booleans written into text columns (user-facing: German)


def text_of(value: Value) -> str | None:
    """A typed value as plain text (people and lookups by name, booleans Ja/Nein)."""
    if value is None:
        return None
    if isinstance(value, Person):
        return value.name
    if isinstance(value, Lookup):
        return value.title if value.title is not None else f"#{value.id}"
    if isinstance(value, Link):
        return value.url
    if isinstance(value, bool):
        return _YES if value else _NO
    if isinstance(value, datetime):
        return datetime_to_wire(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        parts = [t for t in (text_of(v) for v in value) if t]
        return "; ".join(parts) or None
    return str(value)


def to_wire(value: Value, col: ColumnSpec, tz: ZoneInfo) -> Any:
    """A typed value in the write shape of the target column ``col``."""
    if value is None:
        return None
    t = col.type
    if t is ColumnType.DATE and isinstance(value, date):
        day = value.astimezone(tz).date() if isinstance(value, datetime) else value
        return date_to_wire(day, tz)
    if t is ColumnType.DATETIME and isinstance(value, datetime):
        return datetime_to_wire(value)
    if t in (ColumnType.PERSON, ColumnType.LOOKUP) and isinstance(value, Person | Lookup):
        return value.id
    if t is ColumnType.MULTICHOICE and isinstance(value, tuple):
        return [text_of(v) for v in value]
    if t is ColumnType.URL and isinstance(value, Link):
        return {"Url": value.url, "Description": value.description or value.url}
    if t is ColumnType.BOOLEAN and isinstance(value, bool):
        return value
    if t in (ColumnType.NUMBER, ColumnType.CURRENCY) and isinstance(value, int | float):
        return value
    return text_of(value)


def wire_writer(col: ColumnSpec, tz: ZoneInfo) -> Callable[[Value], Any]:
    """``to_wire(·, col, tz)`` as one function: the common same-type cases short-cut."""
    t = col.type
    plain: type | None = None  # a value of exactly this type is written as it is
    if t in (ColumnType.TEXT, ColumnType.NOTE, ColumnType.CHOICE):
        plain = str
    elif t is ColumnType.BOOLEAN:
        plain = bool
    elif t in (ColumnType.NUMBER, ColumnType.CURRENCY):
        plain = int  # float handled below

    days: dict[date, str] = {}  # date-only values repeat: convert each day once per job

    def write(value: Value) -> Any:
        tp = type(value)
        if value is None or tp is plain or (tp is float and plain is int):
            return value
        if tp is date and t is ColumnType.DATE and isinstance(value, date):
            wire = days.get(value)
            if wire is None:
                wire = days[value] = date_to_wire(value, tz)
            return wire
        return to_wire(value, col, tz)

    return write
