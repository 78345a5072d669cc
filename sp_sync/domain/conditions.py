"""Structured conditions over records, as written in job files (pure).

The one way job files select items: validation rules (``when``, ``target_when``,
``parent_when``, ``counts``), roll-ups (``filter``, ``where``, ``domain_filter``, the
window) and the list copy (``filter``). Syntax for admins: docs/conditions.md.

A condition is a TOML table ``{ path = spec, … }``; every entry must hold (AND). A path is a
column key (``status``) or a way through single lookups (``department.dezernat``). Specs:

* a scalar ``"Abgesagt"``, ``3``, ``true`` — the value equals it;
* a list ``["Planung", "Umsetzung"]`` — the value is one of them;
* a table of operators ``{ gte = "today", lt = 10, empty = false, ne = "Rot", in = […],
  not_in = […] }`` — every operator must hold.

Operands of ``gt/gte/lt/lte`` are numbers, ISO dates (``"2026-12-01"``) or relative dates:
``"today"``, ``"-30 days"``, ``"+2 weeks"``, ``"-12 months"``, ``"+1 quarter"``,
``"today -1 year"``. Months, quarters and years keep the day of the month, or take the
month's last day where it has fewer (31 January + 1 month = 28/29 February); days and
weeks count calendar days. Date-times compare by their local calendar date, so a
daylight-saving change never shifts a day. People match by name, e-mail or id; lookups
by title or id; a lookup to a deleted item is empty. An empty value (nothing, ``""``,
``[]``) never satisfies a comparison, only ``empty = true``.

Conditions are compiled once (:func:`compile_condition`, :func:`parse_condition`) against
the list mapping into plain data (:class:`Condition`), never parsed from strings at run
time; problems name the key and what to write instead. :class:`Evaluator` evaluates them
(lookups through the items of other lists, relative dates against its day).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sp_sync.domain.model import (
    ColumnSpec,
    ColumnType,
    Link,
    ListMapping,
    ListSpec,
    Lookup,
    Person,
    Record,
    Report,
    Value,
)


class RuleError(ValueError):
    """A problem in a declaration (rule, condition): ``key`` (dotted, relative to what was
    parsed), ``reason``, ``hint`` (what to do)."""

    def __init__(self, key: str, reason: str, hint: str) -> None:
        super().__init__(f"{key}: {reason} ({hint})")
        self.key, self.reason, self.hint = key, reason, hint


@dataclass(frozen=True)
class EvalEnv:
    """What conditions compare against besides the record: today's date and the zone."""

    today: date
    tz: ZoneInfo


# --------------------------------------------------------------------------- relative dates

_RELATIVE = re.compile(
    r"^(today)?\s*(?:([+-])\s*(\d{1,6})\s*(day|week|month|quarter|year)s?)?$", re.IGNORECASE)
_UNITS = {"day": (0, 1), "week": (0, 7), "month": (1, 0), "quarter": (3, 0), "year": (12, 0)}
DATE_HINT = ('write an ISO date "2026-12-01" or a relative date: "today", "-30 days", '
             '"+2 weeks", "-12 months", "today +1 year"')


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months; a day the target month lacks becomes its last day."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    last = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


@dataclass(frozen=True)
class RelativeDate:
    """A date relative to the run's day: whole months first, then calendar days."""

    months: int = 0
    days: int = 0

    def __call__(self, today: date) -> date:
        return add_months(today, self.months) + timedelta(days=self.days)


def relative_date(text: str) -> RelativeDate | None:
    """``"today"``, ``"-30 days"``, ``"today +2 weeks"``, ``"-12 months"`` …; else None."""
    m = _RELATIVE.match(text.strip())
    if not m or not (m.group(1) or m.group(2)):
        return None
    if not m.group(2):
        return RelativeDate()
    months, days = _UNITS[m.group(4).lower()]
    n = int(m.group(3)) * (-1 if m.group(2) == "-" else 1)
    return RelativeDate(months * n, days * n)


def parse_date(value: Any) -> date | RelativeDate | None:
    """A fixed (ISO text or TOML date) or relative date; None if ``value`` is neither."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    rel = relative_date(value)
    if rel is not None:
        return rel
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def resolve_date(text: str, today: date) -> date:
    """A date text (ISO or relative) as a date; ``ValueError`` when it is none."""
    parsed = parse_date(text)
    if parsed is None:
        raise ValueError(f"{text!r} is no date ({DATE_HINT})")
    if isinstance(parsed, RelativeDate):
        try:
            return parsed(today)
        except OverflowError:
            raise ValueError(f"{text!r} lies outside the calendar") from None
    return parsed


def local_day(value: Any, tz: ZoneInfo) -> date | None:
    """A date or date-time as the local calendar day (``None`` for anything else)."""
    if isinstance(value, datetime):
        return (value.astimezone(tz) if value.tzinfo else value).date()
    if isinstance(value, date):
        return value
    return None


# --------------------------------------------------------------------------- paths


@dataclass(frozen=True)
class Path:
    """A column of the list, possibly reached through lookups (``department.dezernat``)."""

    text: str
    steps: tuple[tuple[str, str], ...]  # (lookup column key, the list it points into)
    column: str  # final column key on the last list
    type: ColumnType
    lookup_list: str | None = None  # the final column is a lookup into this list
    choices: tuple[str, ...] = ()
    title_column: str | None = None  # the lookup list's column a lookup shows (Title)

    @property
    def lists(self) -> tuple[str, ...]:
        """The other lists reading this path needs (lookups followed, the lookup's list)."""
        out = [lst for _, lst in self.steps]
        if self.lookup_list:
            out.append(self.lookup_list)
        return tuple(out)


def compile_path(mapping: ListMapping, list_key: str, text: Any, key: str,
                 bad: Report) -> Path | None:
    """A path of ``list_key`` (see :class:`Path`); problems go to ``bad``."""
    if not isinstance(text, str) or not text.strip():
        bad(key, f"{text!r} is no column path", "write a column key such as 'status' or a "
            "path through a lookup such as 'department.dezernat'")
        return None
    parts = text.strip().split(".")
    steps: list[tuple[str, str]] = []
    spec = mapping.get(list_key)
    for i, part in enumerate(parts):
        col = next((c for c in spec.columns if c.key == part), None)
        if col is None:
            known = ", ".join(sorted(c.key for c in spec.columns))
            bad(key, f"list {spec.key!r} has no column {part!r}", f"use one of {known}")
            return None
        if i == len(parts) - 1:
            target = (col.lookup_list if col.type is ColumnType.LOOKUP
                      and col.lookup_list in mapping else None)
            title = None
            if target:
                title = next((c.key for c in mapping.get(target).columns
                              if c.name == "Title"), None)
            return Path(text.strip(), tuple(steps), col.key, col.type, target, col.choices,
                        title)
        if col.type is not ColumnType.LOOKUP or not col.lookup_list:
            bad(key, f"{spec.key}.{part} is no lookup, so {text!r} cannot go on through it",
                "only single lookups can be followed with '.'")
            return None
        if col.lookup_list not in mapping:
            bad(key, f"{spec.key}.{part} points into {col.lookup_list!r}, which is not in "
                "the mapping", "map that list in config/lists.toml")
            return None
        steps.append((col.key, col.lookup_list))
        spec = mapping.get(col.lookup_list)
    return None  # pragma: no cover - the loop always returns


# --------------------------------------------------------------------------- conditions

OPERATORS = ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "empty")
_ORDER = frozenset({"lt", "lte", "gt", "gte"})
_DATES = (ColumnType.DATE, ColumnType.DATETIME)
_NUMBERS = (ColumnType.NUMBER, ColumnType.CURRENCY)
_SCALAR_HINT = "write one value: a text, a number, true/false or a date"


@dataclass(frozen=True)
class Clause:
    """One ``op = value`` on one path. ``value``: a scalar (eq/ne), a tuple (in/not_in), a
    bool (empty), a number, date or :class:`RelativeDate` (lt/lte/gt/gte)."""

    path: Path
    op: str
    value: Any


@dataclass(frozen=True)
class Condition:
    """Clauses that must all hold; no clauses: always true."""

    clauses: tuple[Clause, ...] = ()

    @property
    def lists(self) -> tuple[str, ...]:
        """The other lists evaluating it reads (through lookups)."""
        return tuple(dict.fromkeys(lst for c in self.clauses for lst in c.path.lists))

    def __and__(self, other: Condition) -> Condition:
        return Condition((*self.clauses, *other.clauses))

    def __call__(self, rec: Record, env: EvalEnv) -> bool:
        """Evaluate on ``rec`` alone (lookups are not followed into other lists)."""
        return Evaluator(env).holds(self, rec)


ALWAYS = Condition()


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | date)


def compile_clause(path: Path, op: str, value: Any, key: str, bad: Report) -> Clause | None:
    """``op = value`` on ``path`` (``key`` names it in problems)."""
    if op not in OPERATORS:
        bad(key, f"unknown operator {op!r}", f"use one of {', '.join(OPERATORS)}")
        return None
    if op == "empty":
        if not isinstance(value, bool):
            bad(key, "empty needs true or false", "write empty = true")
            return None
        return Clause(path, op, value)
    if op in ("eq", "ne"):
        if not _is_scalar(value):
            bad(key, f"{value!r} is no single value", _SCALAR_HINT)
            return None
        return Clause(path, op, value)
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            bad(key, f"{op} needs a non-empty list", f'write {op} = ["a", "b"]')
            return None
        odd = [v for v in value if not _is_scalar(v)]
        if odd:
            bad(key, f"{odd[0]!r} is no single value", _SCALAR_HINT)
            return None
        return Clause(path, op, tuple(value))
    # lt, lte, gt, gte: a number, or a (relative) date; the column's type decides which.
    number = isinstance(value, int | float) and not isinstance(value, bool)
    day = None if number else parse_date(value)
    if path.type in _DATES and day is None:
        bad(key, f"{value!r} is no date", DATE_HINT)
        return None
    if path.type in _NUMBERS and not number:
        bad(key, f"{value!r} is no number", f"{path.text!r} is a number column: write a number")
        return None
    if not number and day is None:
        bad(key, f"cannot compare with {value!r}", f"write a number or a date; {DATE_HINT}")
        return None
    return Clause(path, op, value if number else day)


def compile_condition(raw: Any, mapping: ListMapping, list_key: str, key: str,
                      bad: Report) -> Condition:
    """``{ path = spec, … }`` over the items of ``list_key`` (module doc); every problem goes
    to ``bad`` with its key (``<key>.<path>`` or ``<key>.<path>.<operator>``)."""
    if raw is None:
        return ALWAYS
    if not isinstance(raw, Mapping):
        bad(key, f"must be a table, not {raw!r}",
            'write { status = ["Planung", "Umsetzung"], due = { lt = "today" } }')
        return ALWAYS
    out: list[Clause] = []
    for col, spec in raw.items():
        where = f"{key}.{col}"
        path = compile_path(mapping, list_key, col, where, bad)
        if path is None:
            continue
        if isinstance(spec, Mapping):
            if not spec:
                bad(where, "empty table", 'write operators such as { gte = "today" }')
            for op, value in spec.items():
                clause = compile_clause(path, str(op), value, f"{where}.{op}", bad)
                if clause is not None:
                    out.append(clause)
            continue
        clause = compile_clause(path, "in" if isinstance(spec, list) else "eq", spec,
                                where, bad)
        if clause is not None:
            out.append(clause)
    return Condition(tuple(out))


def parse_condition(raw: Any, columns: ListSpec | Sequence[str], key: str = "when",
                    mapping: ListMapping | None = None) -> Condition:
    """:func:`compile_condition` that raises :class:`RuleError` for the first problem.

    ``columns``: the list the condition is about (with ``mapping`` for paths through
    lookups), or bare column keys (typeless: comparisons take numbers or dates).
    """
    if isinstance(columns, ListSpec):
        spec = columns
    else:
        spec = ListSpec("_", "_", tuple(ColumnSpec(c, c, ColumnType.TEXT) for c in columns))
    if mapping is None or spec.key not in mapping:
        mapping = ListMapping((spec,))
    problems: list[RuleError] = []

    def bad(where: str, reason: str, hint: str) -> None:
        problems.append(RuleError(where, reason, hint))

    cond = compile_condition(raw, mapping, spec.key, key, bad)
    if problems:
        raise problems[0]
    return cond


# --------------------------------------------------------------------------- evaluating


def matches_scalar(value: Value, want: Any, tz: ZoneInfo | None = None) -> bool:
    """Equality of a typed value with a scalar from a job file: people by name, e-mail or
    id, lookups by title or id, links by URL, several values when one of them matches,
    dates and date-times by ISO text or date (date-times: their local day)."""
    if value is None:
        return False
    if isinstance(value, tuple):
        return any(matches_scalar(v, want, tz) for v in value)
    if isinstance(value, Person):
        return want in (value.name, value.email, value.id)
    if isinstance(value, Lookup):
        return want in (value.title, value.id)
    if isinstance(value, Link):
        return bool(want == value.url)
    if isinstance(value, bool) or isinstance(want, bool):
        return value is want
    if isinstance(value, date) and isinstance(want, str | date):
        day = local_day(value, tz) if tz is not None else (
            value.date() if isinstance(value, datetime) else value)
        if isinstance(want, date):
            return not isinstance(want, datetime) and day == want
        text = want.strip()
        return text in (value.isoformat(), day.isoformat() if day else None)
    return bool(value == want)


def _is_empty(value: Value) -> bool:
    return value is None or value == "" or value == ()


_EQUALITY = frozenset({"eq", "ne", "in", "not_in", "empty"})
_PLAIN = frozenset({str, int, float, bool, type(None)})

Items = Callable[[str], Mapping[str, Record]]  # list key → item id → record


class Evaluator:
    """Evaluates conditions on records of one run: relative dates against ``env.today``,
    date-times in ``env.tz``, lookups through ``items`` (without: not followed)."""

    def __init__(self, env: EvalEnv, items: Items | None = None) -> None:
        self.env = env
        self.today = env.today
        self.tz = env.tz
        self._items = items
        # Equality tests on plain values repeat (a status per registration): one answer
        # per (clause, value) instead of one per item. The entry holds the clause, so its
        # id is not reused by another clause while the answer is kept.
        self.memo: dict[tuple[int, type, Any], tuple[Clause, bool]] = {}
        self._days: dict[RelativeDate, date | None] = {}

    def value(self, path: Path, rec: Record) -> Value:
        """The path's value on ``rec``; a lookup to a deleted item reads as empty."""
        if not path.steps and path.lookup_list is None:
            return rec.values.get(path.column)
        if self._items is None:
            return rec.values.get(path.column) if not path.steps else None
        cur: Record | None = rec
        for col, lst in path.steps:
            v = cur[col] if cur is not None else None
            cur = self._items(lst).get(str(v.id)) if isinstance(v, Lookup) else None
            if cur is None:
                return None
        assert cur is not None
        v = cur[path.column]
        if path.lookup_list and isinstance(v, Lookup):
            return v if str(v.id) in self._items(path.lookup_list) else None
        return v

    def holds(self, cond: Condition, rec: Record) -> bool:
        return all(self.test(c, rec) for c in cond.clauses)

    def test(self, c: Clause, rec: Record) -> bool:
        v = self.value(c.path, rec)
        if c.op in _EQUALITY and type(v) in _PLAIN:
            key = (id(c), type(v), v)
            hit = self.memo.get(key)
            if hit is None:
                hit = self.memo[key] = (c, self.check(c, v))
            return hit[1]
        return self.check(c, v)

    def check(self, c: Clause, v: Value) -> bool:
        """Whether the value ``v`` satisfies the clause."""
        op = c.op
        if op == "empty":
            return _is_empty(v) is c.value
        if op == "eq":
            return matches_scalar(v, c.value, self.tz)
        if op == "ne":
            return not matches_scalar(v, c.value, self.tz)
        if op == "in":
            return any(matches_scalar(v, w, self.tz) for w in c.value)
        if op == "not_in":
            return not any(matches_scalar(v, w, self.tz) for w in c.value)
        if v is None or isinstance(v, bool):
            return False
        right: Any = c.value
        if isinstance(right, RelativeDate):
            right = self.day(right)
        left: Any = local_day(v, self.tz) if isinstance(v, date) else v
        if right is None or isinstance(left, date) != isinstance(right, date):
            return False  # a number against a date: not comparable, never true
        try:
            if op == "lt":
                return bool(left < right)
            if op == "lte":
                return bool(left <= right)
            if op == "gt":
                return bool(left > right)
            return bool(left >= right)
        except TypeError:
            return False

    def day(self, rel: RelativeDate) -> date | None:
        """``rel`` on this run's day (None: beyond the calendar)."""
        if rel not in self._days:
            try:
                self._days[rel] = rel(self.today)
            except (OverflowError, ValueError):
                self._days[rel] = None
        return self._days[rel]
