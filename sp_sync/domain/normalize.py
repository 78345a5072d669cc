"""Graph wire values → typed values, and the canonical form used to compare raw values.

Two views of one value:

* :func:`normalize_column` gives what rules, digests and jobs read (``Person``, ``date`` …).
* :func:`canonical` gives a JSON-able form of the *raw* value in which every spelling
  of "the same" collapses: null / "" / missing / [] are one value, 5 equals 5.0, lookup
  ids "3" equal 3, dict key order and multi-value order do not matter. Hashes and the
  planner compare this form, so a value that reads back in another spelling never
  causes a write loop.

Nothing here raises on bad data: an unparseable value normalises to ``None`` and
:func:`problems` reports it (rules turn that into a finding).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache, partial
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sp_sync.domain import jsontext
from sp_sync.domain.model import (
    ColumnSpec,
    ColumnType,
    Link,
    ListSpec,
    Lookup,
    Person,
    Value,
)

_NUMBERS = frozenset({ColumnType.NUMBER, ColumnType.CURRENCY})
_TEXTS = frozenset({ColumnType.TEXT, ColumnType.NOTE, ColumnType.CHOICE})
_TRUE = frozenset({"true", "1", "yes", "ja"})
_FALSE = frozenset({"false", "0", "no", "nein"})


class Resolver(Protocol):
    """Resolves lookup ids to people and referenced items (from the mirror)."""

    def person(self, lookup_id: int) -> Person | None: ...

    def lookup(self, list_key: str, lookup_id: int) -> Lookup | None: ...


class BadValue(ValueError):
    """A raw value that does not fit its column type (internal; never escapes)."""


@dataclass(frozen=True)
class Problem:
    """A raw value that could not be read as its column's type."""

    column: str  # logical column key
    raw: Any
    reason: str


# --------------------------------------------------------------------------- parsing


def is_empty(raw: Any) -> bool:
    """null, "", whitespace, [] and {} all mean "no value"."""
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, list | tuple | dict):
        return len(raw) == 0
    return False


def parse_datetime(raw: Any) -> datetime:
    """ISO text (``Z`` allowed) → aware UTC datetime; naive text is taken as UTC."""
    if isinstance(raw, datetime):
        dt = raw
    elif isinstance(raw, str):
        try:
            dt = datetime.fromisoformat(raw.strip())
        except ValueError as exc:
            raise BadValue(f"not a date/time: {raw!r}") from exc
    else:
        raise BadValue(f"not a date/time: {raw!r}")
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_date(raw: Any, tz: ZoneInfo) -> date:
    """A date-only column: local midnight stored in UTC → the local calendar date.

    A bare ``YYYY-MM-DD`` (some clients write that) is taken as that date.
    """
    if isinstance(raw, str) and len(raw.strip()) == 10:
        try:
            return date.fromisoformat(raw.strip())
        except ValueError as exc:
            raise BadValue(f"not a date: {raw!r}") from exc
    return parse_datetime(raw).astimezone(tz).date()


def date_to_wire(value: date, tz: ZoneInfo) -> str:
    """A date as Graph stores a date-only column: local midnight in UTC ("…T23:00:00Z")."""
    local = datetime.combine(value, time(0), tzinfo=tz)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def datetime_to_wire(value: datetime) -> str:
    return parse_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_number(raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise BadValue(f"not a number: {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        num = raw
    elif isinstance(raw, str):
        try:
            num = float(raw.strip().replace(",", "."))
        except ValueError as exc:
            raise BadValue(f"not a number: {raw!r}") from exc
    else:
        raise BadValue(f"not a number: {raw!r}")
    if not math.isfinite(num):
        raise BadValue(f"not a finite number: {raw!r}")
    return int(num) if num.is_integer() and abs(num) < 2**53 else num


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise BadValue(f"not yes/no: {raw!r}")


def parse_id(raw: Any) -> int:
    if isinstance(raw, bool):
        raise BadValue(f"not an item id: {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    raise BadValue(f"not an item id: {raw!r}")


def _multi(raw: Any) -> list[Any]:
    if isinstance(raw, list | tuple):
        return list(raw)
    if isinstance(raw, str):  # SharePoint REST spelling ";#a;#b;#"
        return [p for p in raw.split(";#")] if ";#" in raw else [raw]
    return [raw]


def _lookup_pairs(raw: Any) -> list[tuple[int, str | None]]:
    pairs: list[tuple[int, str | None]] = []
    for entry in _multi(raw):
        if is_empty(entry):
            continue
        if isinstance(entry, Mapping):
            title = entry.get("LookupValue")
            pairs.append((parse_id(entry.get("LookupId")), None if title is None else str(title)))
        else:
            pairs.append((parse_id(entry), None))
    return pairs


def _url_parts(raw: Any) -> tuple[str, str | None]:
    if isinstance(raw, Mapping):
        url = raw.get("Url", raw.get("url"))
        desc = raw.get("Description", raw.get("description"))
    else:
        url, desc = raw, None
    if not isinstance(url, str):
        raise BadValue(f"not a link: {raw!r}")
    url = url.strip()
    description = desc.strip() if isinstance(desc, str) and desc.strip() else None
    return url, None if description == url else description


# --------------------------------------------------------------------------- normalise


def _normalize(col: ColumnSpec, raw: Any, resolver: Resolver, tz: ZoneInfo) -> Value:
    t = col.type
    if t in _TEXTS:
        text = raw if isinstance(raw, str) else str(raw)
        return text.strip() or None
    if t in _NUMBERS:
        return parse_number(raw)
    if t is ColumnType.BOOLEAN:
        return parse_bool(raw)
    if t is ColumnType.DATETIME:
        return parse_datetime(raw)
    if t is ColumnType.DATE:
        return parse_date(raw, tz)
    if t is ColumnType.MULTICHOICE:
        items = tuple(str(v).strip() for v in _multi(raw) if not is_empty(v))
        return items or None
    if t is ColumnType.PERSON:
        pid = parse_id(raw)
        return resolver.person(pid) or Person(name=f"#{pid}", id=pid)
    if t is ColumnType.LOOKUP:
        lid = parse_id(raw)
        found = resolver.lookup(col.lookup_list, lid) if col.lookup_list else None
        return Lookup(id=lid, title=found.title if found else None)
    if t is ColumnType.MULTILOOKUP:
        looks = []
        for lid, title in _lookup_pairs(raw):
            if title is None and col.lookup_list:
                found = resolver.lookup(col.lookup_list, lid)
                title = found.title if found else None
            looks.append(Lookup(id=lid, title=title))
        return tuple(looks) or None
    if t is ColumnType.URL:
        url, desc = _url_parts(raw)
        return Link(url=url, description=desc) if url else None
    raise BadValue(f"unknown column type {t!r}")


def normalize_column(
    col: ColumnSpec, fields: Mapping[str, Any], resolver: Resolver, tz: ZoneInfo
) -> Value:
    """One column's typed value; ``None`` when empty or unreadable (see :func:`problems`)."""
    raw = fields.get(col.field_name)
    if is_empty(raw):
        return None
    try:
        return _normalize(col, raw, resolver, tz)
    except (BadValue, TypeError, ValueError, OverflowError):
        return None


def normalize_fields(
    spec: ListSpec, fields: Mapping[str, Any], resolver: Resolver, tz: ZoneInfo
) -> dict[str, Value]:
    """Every mapped column, keyed by logical column key."""
    return {c.key: normalize_column(c, fields, resolver, tz) for c in spec.columns}


Normalizer = Callable[[Mapping[str, Any]], dict[str, Value]]


@lru_cache(maxsize=8192)
def _cached_datetime(raw: str) -> datetime:
    return parse_datetime(raw)


@lru_cache(maxsize=8192)
def _cached_date(raw: str, tz: ZoneInfo) -> date:
    return parse_date(raw, tz)


def normalizer(spec: ListSpec, resolver: Resolver, tz: ZoneInfo) -> Normalizer:
    """``normalize_fields(spec, ·, resolver, tz)`` as one function (same values, faster)."""
    cols = [(c.key, c.field_name, _column_normalizer(c, resolver, tz)) for c in spec.columns]

    def normalize(fields: Mapping[str, Any]) -> dict[str, Value]:
        get = fields.get
        return {key: norm(get(name)) for key, name, norm in cols}

    return normalize


def _column_normalizer(
    col: ColumnSpec, resolver: Resolver, tz: ZoneInfo
) -> Callable[[Any], Value]:
    name = col.field_name

    def slow(raw: Any) -> Value:
        return normalize_column(col, {name: raw}, resolver, tz)

    t = col.type
    if t in _TEXTS:
        def norm(raw: Any) -> Value:
            if type(raw) is str:
                return raw.strip() or None
            return None if raw is None else slow(raw)
    elif t in _NUMBERS:
        def norm(raw: Any) -> Value:
            tp = type(raw)
            if tp is int:
                return raw  # type: ignore[no-any-return]
            if tp is float and math.isfinite(raw):
                num: float = raw
                return int(num) if num.is_integer() and abs(num) < 2**53 else num
            return None if raw is None else slow(raw)
    elif t is ColumnType.BOOLEAN:
        def norm(raw: Any) -> Value:
            if type(raw) is bool:
                return raw
            return None if raw is None else slow(raw)
    elif t in (ColumnType.DATETIME, ColumnType.DATE):
        def norm(raw: Any) -> Value:
            if type(raw) is str and raw.strip():
                try:
                    if t is ColumnType.DATE:
                        return _cached_date(raw, tz)
                    return _cached_datetime(raw)
                except (BadValue, TypeError, ValueError, OverflowError):
                    return None
            return None if raw is None else slow(raw)
    elif t is ColumnType.PERSON:
        def norm(raw: Any) -> Value:
            if type(raw) is str and raw.strip().isdigit():
                try:
                    pid = int(raw)
                    return resolver.person(pid) or Person(name=f"#{pid}", id=pid)
                except (BadValue, TypeError, ValueError, OverflowError):
                    return None
            return None if raw is None else slow(raw)
    else:
        norm = slow
    return norm


class _NoResolver:
    def person(self, lookup_id: int) -> Person | None:
        return None

    def lookup(self, list_key: str, lookup_id: int) -> Lookup | None:
        return None


def problems(spec: ListSpec, fields: Mapping[str, Any], tz: ZoneInfo) -> list[Problem]:
    """Mapped columns whose non-empty raw value could not be read as the column's type."""
    found: list[Problem] = []
    for col in spec.columns:
        raw = fields.get(col.field_name)
        if is_empty(raw):
            continue
        try:
            _normalize(col, raw, _NoResolver(), tz)
        except (BadValue, TypeError, ValueError, OverflowError) as exc:
            found.append(Problem(column=col.key, raw=raw, reason=str(exc)))
    return found


# --------------------------------------------------------------------------- canonical


def _canonical_number(raw: Any) -> Any:
    try:
        return float(parse_number(raw))
    except BadValue:
        return str(raw).strip()


def _canonical_id(raw: Any) -> Any:
    try:
        return parse_id(raw)
    except BadValue:
        return str(raw).strip()


def _canonical_typed(t: ColumnType, raw: Any) -> Any:
    if t in _NUMBERS:
        return _canonical_number(raw)
    if t is ColumnType.BOOLEAN:
        try:
            return parse_bool(raw)
        except BadValue:
            return str(raw).strip()
    if t in (ColumnType.DATETIME, ColumnType.DATE):
        try:
            return parse_datetime(raw).isoformat()
        except BadValue:
            return str(raw).strip()
    if t in (ColumnType.PERSON, ColumnType.LOOKUP):
        return _canonical_id(raw)
    if t is ColumnType.MULTICHOICE:
        vals = sorted({str(v).strip() for v in _multi(raw) if not is_empty(v)})
        return vals or None
    if t is ColumnType.MULTILOOKUP:
        try:
            ids = sorted({lid for lid, _ in _lookup_pairs(raw)})
        except BadValue:
            return _canonical_generic("", raw)
        return ids or None
    if t is ColumnType.URL:
        try:
            url, desc = _url_parts(raw)
        except BadValue:
            return _canonical_generic("", raw)
        return [url, desc] if url else None
    return raw.strip() if isinstance(raw, str) else _canonical_generic("", raw)


def _canonical_generic(name: str, raw: Any) -> Any:
    """Type-less canonical form (for write fields known only by internal name)."""
    if is_empty(raw):
        return None
    if name.endswith("LookupId"):
        return _canonical_id(raw)
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) >= 19 and text[10:11] == "T":  # an ISO date/time: compare instants
            try:
                return parse_datetime(text).isoformat()
            except BadValue:
                return text
        return text
    if isinstance(raw, Mapping):
        if "LookupId" in raw:
            return _canonical_id(raw["LookupId"])
        if "Url" in raw:
            return _canonical_typed(ColumnType.URL, raw)
        # Built in key order: a content hash encodes it without sorting (same text).
        pairs = sorted(((str(k), v) for k, v in raw.items()), key=lambda kv: kv[0])
        return {k: _canonical_generic(k, v) for k, v in pairs}
    if isinstance(raw, list | tuple):
        vals = [_canonical_generic("", v) for v in raw if not is_empty(v)]
        return sorted(vals, key=lambda v: json.dumps(v, sort_keys=True)) or None
    return str(raw)


def canonical(col: ColumnSpec | str, raw: Any) -> Any:
    """The raw value in canonical, JSON-able form (``None`` for every kind of empty).

    ``col`` is a ColumnSpec (type-aware) or an internal field name (type-less rules).
    """
    if is_empty(raw):
        return None
    if isinstance(col, str):
        return _canonical_generic(col, raw)
    return _canonical_typed(col.type, raw)


def raw_equal(col: ColumnSpec | str, a: Any, b: Any) -> bool:
    """Whether two raw values of a column mean the same (see :func:`canonical`)."""
    return bool(canonical(col, a) == canonical(col, b))


# --------------------------------------------------------------------------- fast paths
#
# Per-column functions that give exactly what canonical()/normalize_column() give, with
# the dispatch on the column type done once per column instead of once per value, and
# shortcuts for the wire types Graph really sends (str, int, float, bool, None). Anything
# else goes the general way. Date/time texts repeat a lot (date-only columns, Modified):
# their parse is cached.

Canon = Callable[[Any], Any]


@lru_cache(maxsize=8192)
def _canonical_instant(raw: str) -> Any:
    return canonical(_INSTANT, raw)


_INSTANT = ColumnSpec("", "", ColumnType.DATETIME)


def canonicalizer(col: ColumnSpec | str) -> Canon:
    """``canonical(col, ·)`` as one function (same results, faster on common values)."""
    slow: Canon = partial(canonical, col)
    if isinstance(col, str):
        return _canon_id(slow) if col.endswith("LookupId") else _canon_name(slow)
    t = col.type
    if t in _TEXTS:
        return _canon_text(slow)
    if t in _NUMBERS:
        return _canon_number(slow)
    if t is ColumnType.BOOLEAN:
        return _canon_bool(slow)
    if t in (ColumnType.DATETIME, ColumnType.DATE):
        return _canon_instant(slow)
    if t in (ColumnType.PERSON, ColumnType.LOOKUP):
        return _canon_id(slow)
    return slow


def _canon_text(slow: Canon) -> Canon:
    def canon(raw: Any) -> Any:
        if type(raw) is str:
            return raw.strip() or None
        return None if raw is None else slow(raw)

    return canon


def _canon_number(slow: Canon) -> Canon:
    def canon(raw: Any) -> Any:
        tp = type(raw)
        if tp is float and math.isfinite(raw):
            return float(int(raw)) if raw.is_integer() and abs(raw) < 2**53 else raw
        if tp is int:
            return float(raw)
        return None if raw is None else slow(raw)

    return canon


def _canon_bool(slow: Canon) -> Canon:
    def canon(raw: Any) -> Any:
        if type(raw) is bool:
            return raw
        return None if raw is None else slow(raw)

    return canon


def _canon_instant(slow: Canon) -> Canon:
    def canon(raw: Any) -> Any:
        if type(raw) is str:
            return _canonical_instant(raw)
        return None if raw is None else slow(raw)

    return canon


def _canon_id(slow: Canon) -> Canon:
    def canon(raw: Any) -> Any:
        tp = type(raw)
        if tp is str:
            text = raw.strip()
            if text.isdigit():
                return int(text)
        elif tp is int:
            return raw
        return None if raw is None else slow(raw)

    return canon


def _canon_name(slow: Canon) -> Canon:
    def canon(raw: Any) -> Any:
        if type(raw) is str:
            text = raw.strip()
            if len(text) >= 19 and text[10:11] == "T":
                return slow(raw)
            return text or None
        return None if raw is None else slow(raw)

    return canon


Hasher = Callable[[Mapping[str, Any]], str]
_HASHERS: dict[ListSpec, Hasher] = {}
# The canonical form's dicts are built in key order, so encoding them as they are gives
# json.dumps(…, sort_keys=True, ensure_ascii=False, separators=(",", ":")) without the sort.
_ENCODE_IN_ORDER = jsontext.encoder(ensure_ascii=False, separators=(",", ":"))


def content_hasher(spec: ListSpec) -> Hasher:
    """``content_hash(spec, ·)`` as one function, built once per spec (same digests)."""
    try:
        return _HASHERS[spec]
    except KeyError:
        pass
    except TypeError:  # an unhashable spec (columns given as a list): not cached
        return _make_hasher(spec)
    if len(_HASHERS) > 256:
        _HASHERS.clear()
    hasher = _HASHERS[spec] = _make_hasher(spec)
    return hasher


def _make_hasher(spec: ListSpec) -> Hasher:
    parts = [(c.key, c.field_name, canonicalizer(c)) for c in spec.columns]
    key_col = spec.sync_key_column
    if key_col and all(c.field_name != key_col for c in spec.columns):
        parts.append(("\x00sync_key", key_col, canonicalizer(key_col)))
    # Built in key order, the dict encodes to the sorted text without sorting it per item.
    parts.sort(key=lambda part: part[0])
    sha256 = hashlib.sha256

    def hasher(fields: Mapping[str, Any]) -> str:
        get = fields.get
        blob = _ENCODE_IN_ORDER({key: canon(get(name)) for key, name, canon in parts})
        return sha256(blob.encode("utf-8")).hexdigest()

    return hasher


def content_hash(spec: ListSpec, fields: Mapping[str, Any]) -> str:
    """sha256 over the mapped columns' canonical values (and the SyncKey column).

    Independent of eTag, of unmapped fields and of how an empty value is spelled.
    """
    return content_hasher(spec)(fields)


def _content_hash_reference(spec: ListSpec, fields: Mapping[str, Any]) -> str:
    """The definition :func:`content_hasher` must match (kept for the tests)."""
    parts: dict[str, Any] = {
        c.key: canonical(c, fields.get(c.field_name)) for c in spec.columns
    }
    key_col = spec.sync_key_column
    if key_col and all(c.field_name != key_col for c in spec.columns):
        parts["\x00sync_key"] = canonical(key_col, fields.get(key_col))
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
