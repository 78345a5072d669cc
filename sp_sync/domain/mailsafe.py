"""What makes list data safe to mail (pure): recipients, header values, bounded values.

List data is typed by people, so a mail job treats every value as untrusted:

- **Recipients**: :func:`check_recipient` accepts exactly one plain address
  (``name@host.tld``) per value, in an allowed domain (or a subdomain of one). A value
  such as ``"a@mannheim.de, eve@evil.example"`` is *malformed*, not two addresses.
- **Header values** (:func:`clean_header`): line breaks, control and bidi characters
  become spaces or disappear, and the value is bounded, so a title can never add a
  header or fail the message.
- **Record values** (:func:`sanitise_records`): dates and times outside years
  1900–2199 (a 9999-12-31T23:30Z is year 10000 in Berlin), numbers that are not finite
  or absurdly large, and texts longer than ``text_limit`` are replaced by a marked
  display string or a clipped excerpt; control and bidi characters are removed. Each
  replacement is reported as a :class:`DataProblem`, so one bad item never stops a
  mail and is still visible to the admin.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sp_sync.domain.model import Link, Lookup, Person, Record, Value

#: Marks a value that could not be shown as what it claims to be.
INVALID_MARK = "⚠ "
CLIP_MARK = " …"
MIN_YEAR, MAX_YEAR = 1900, 2199
MAX_NUMBER = 1e12
TEXT_LIMIT = 1000
HEADER_LIMIT = 200

# Bidirectional embeddings/overrides/isolates and marks: they can make a subject or a
# name read differently from what it is.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROL = "".join(chr(c) for c in (*range(0, 32), *range(127, 160)))
_DROP = str.maketrans("", "", _BIDI + "".join(c for c in _CONTROL if c not in "\n\r\t"))
_HEADER = str.maketrans(dict.fromkeys(_BIDI, None) | {c: " " for c in _CONTROL})
# One address: a dot-atom local part and a domain of at least two labels. Anything else
# (display names, several addresses, quotes, spaces) is not accepted from list data.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


@dataclass(frozen=True)
class DataProblem:
    """A value a mail could not use as it is (reported in the run's figures)."""

    list_key: str
    item_id: str
    column: str
    problem: str  # English, for admins

    def as_dict(self) -> dict[str, str]:
        return {"list": self.list_key, "item": self.item_id, "column": self.column,
                "problem": self.problem}


# --------------------------------------------------------------------------- recipients


def parse_address(value: object) -> str | None:
    """``value`` as one lower-case address, or ``None`` when it is not exactly one."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) > 254 or not _ADDRESS.match(text):
        return None
    return text.lower()


def domain_allowed(address: str, allowed: Iterable[str]) -> bool:
    """The address's domain is one of ``allowed`` or a subdomain of one."""
    domain = address.rpartition("@")[2].lower()
    for entry in allowed:
        d = entry.strip().lower().lstrip("@.")
        if d and (domain == d or domain.endswith("." + d)):
            return True
    return False


def check_recipient(value: object, allowed: Sequence[str]) -> tuple[str | None, str | None]:
    """(address, None) when ``value`` may be mailed, else (None, why not)."""
    address = parse_address(value)
    if address is None:
        return None, "malformed address (exactly one name@domain expected)"
    if not domain_allowed(address, allowed):
        return None, (f"domain {address.rpartition('@')[2]!r} is not in the allowed "
                      "recipient domains")
    return address, None


def mask(value: object) -> str:
    """A recipient as shown in run figures: enough to find it, bounded and one line."""
    return clean_header(str(value), 80)


# --------------------------------------------------------------------------- headers


def clean_header(value: str, limit: int = HEADER_LIMIT) -> str:
    """One safe header line: no line breaks, control or bidi characters; bounded."""
    text = " ".join(value.translate(_HEADER).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clean_text(value: str) -> str:
    """Text without control (except line breaks and tabs) and bidi characters."""
    return value.translate(_DROP)


# --------------------------------------------------------------------------- values


def _date_ok(value: date) -> bool:
    return MIN_YEAR <= value.year <= MAX_YEAR


def _shown(value: date) -> str:
    if isinstance(value, datetime):
        return INVALID_MARK + value.isoformat(sep=" ", timespec="minutes")
    return INVALID_MARK + value.isoformat()


@dataclass
class _Cleaner:
    text_limit: int
    list_key: str = ""
    item_id: str = ""
    problems: list[DataProblem] | None = None

    def report(self, column: str, problem: str) -> None:
        if self.problems is not None:
            self.problems.append(DataProblem(self.list_key, self.item_id, column, problem))

    def text(self, column: str, value: str) -> str:
        cleaned = clean_text(value)
        if len(cleaned) > self.text_limit:
            self.report(column, f"text of {len(cleaned)} characters clipped to "
                                f"{self.text_limit}")
            return cleaned[: self.text_limit].rstrip() + CLIP_MARK
        return cleaned

    def value(self, column: str, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return self.text(column, value)
        if isinstance(value, date):  # datetime too
            if _date_ok(value):
                return value
            self.report(column, f"date out of range: {value.isoformat()}")
            return _shown(value)
        if isinstance(value, int | float):
            if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > MAX_NUMBER:
                self.report(column, f"number out of range: {value!r}")
                return INVALID_MARK + (f"{value:g}" if isinstance(value, float) else str(value))
            return value
        if isinstance(value, Person):
            return replace(value, name=self.text(column, value.name))
        if isinstance(value, Lookup):
            return value if value.title is None else replace(
                value, title=self.text(column, value.title))
        if isinstance(value, Link):
            return replace(value, url=clean_header(value.url, 2000),
                           description=None if value.description is None
                           else self.text(column, value.description))
        if isinstance(value, tuple):
            return tuple(self.value(column, v) for v in value)
        return value


def sanitise_record(record: Record, problems: list[DataProblem] | None = None,
                    text_limit: int = TEXT_LIMIT) -> Record:
    """The record with every value safe to render (problems appended to ``problems``)."""
    cleaner = _Cleaner(text_limit, record.list_key, record.id, problems)
    values: dict[str, Value] = {k: cleaner.value(k, v) for k, v in record.values.items()}
    modified = record.modified
    if modified is not None and not _date_ok(modified):
        cleaner.report("modified", f"date out of range: {modified.isoformat()}")
        modified = None
    return replace(record, values=values, modified=modified)


def sanitise_records(
    records: Mapping[str, Sequence[Record]], text_limit: int = TEXT_LIMIT
) -> tuple[dict[str, list[Record]], list[DataProblem]]:
    """Every list's records made safe to render, and what had to be changed."""
    problems: list[DataProblem] = []
    out = {key: [sanitise_record(r, problems, text_limit) for r in recs]
           for key, recs in records.items()}
    return out, problems


def safe_display(
    display: Callable[[str, str, Any], str], problems: list[DataProblem] | None = None,
    text_limit: int = TEXT_LIMIT,
) -> Callable[[str, str, Any], str]:
    """A display function for history values that never raises and stays bounded."""

    def show(list_key: str, column: str, raw: Any) -> str:
        try:
            text = display(list_key, column, raw)
        except (OverflowError, ValueError, TypeError) as exc:
            if problems is not None:
                problems.append(DataProblem(list_key, "", column,
                                            f"history value not shown as such: {exc}"))
            text = INVALID_MARK + str(raw)
        cleaned = clean_text(text)
        return cleaned if len(cleaned) <= text_limit else (
            cleaned[:text_limit].rstrip() + CLIP_MARK)

    return show
