"""Structured conditions over records, as written in job files (pure).

A condition is a TOML table ``{ column = spec, … }``; every entry must hold (AND). Specs:

* a list ``["Planung", "Umsetzung"]`` — the value is one of them;
* a scalar ``"Abgesagt"``, ``3``, ``true`` — the value equals it;
* a table of operators ``{ gte = "today", lt = 10, empty = false, ne = "Rot", in = […],
  not_in = […] }`` — every operator must hold.

Operands of ``gt/gte/lt/lte`` are numbers, ISO dates (``"2026-12-01"``) or relative dates:
``"today"``, ``"-30 days"``, ``"+14 days"``, ``"today -3 days"``. Date-times are compared
by their local calendar date. People match by name, e-mail or id; lookups by title or id.
An empty value never satisfies a comparison (only ``empty = true``).

Conditions are parsed once (:func:`parse_condition`), never from strings at run time; a
bad condition raises :class:`RuleError` naming the key and what to write instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sp_sync.domain.model import Link, Lookup, Person, Record, Value


class RuleError(ValueError):
    """A problem in a rule declaration: ``key`` (dotted, relative to the rule), ``reason``,
    ``hint`` (what to do)."""

    def __init__(self, key: str, reason: str, hint: str) -> None:
        super().__init__(f"{key}: {reason} ({hint})")
        self.key, self.reason, self.hint = key, reason, hint


@dataclass(frozen=True)
class EvalEnv:
    """What conditions compare against besides the record: today's date and the zone."""

    today: date
    tz: ZoneInfo


Cond = Callable[[Record, EvalEnv], bool]
Operand = Callable[[EvalEnv], Any]

_REL = re.compile(r"^\s*(today)?\s*(?:([+-])\s*(\d+)\s*(days?|weeks?))?\s*$", re.IGNORECASE)
_OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "empty")
DATE_HINT = 'use a number, an ISO date "2026-12-01", "today", "-30 days" or "today +3 days"'


def relative_date(text: str) -> Callable[[date], date] | None:
    """``"today"``, ``"-30 days"``, ``"today +2 weeks"`` → a function of today; else None."""
    m = _REL.match(text)
    if not m or not (m.group(1) or m.group(2)):
        return None
    days = 0
    if m.group(2):
        days = int(m.group(3)) * (7 if m.group(4).lower().startswith("week") else 1)
        days = -days if m.group(2) == "-" else days
    return lambda today: today + timedelta(days=days)


def parse_operand(value: Any, key: str) -> Operand:
    """A comparison operand: number, ISO date or relative date (see the module doc)."""
    if isinstance(value, bool):
        raise RuleError(key, f"{value!r} cannot be compared by size", DATE_HINT)
    if isinstance(value, int | float):
        return lambda env: value
    if isinstance(value, date):
        day = value.date() if isinstance(value, datetime) else value
        return lambda env: day
    if isinstance(value, str):
        rel = relative_date(value)
        if rel is not None:
            return lambda env: rel(env.today)
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise RuleError(key, f"cannot compare with {value!r}", DATE_HINT) from None
        return lambda env: day
    raise RuleError(key, f"cannot compare with {value!r}", DATE_HINT)


def comparable(value: Value, env: EvalEnv) -> Any:
    """A typed value in the form comparisons use (date-times → local dates)."""
    if isinstance(value, datetime):
        return value.astimezone(env.tz).date()
    return value


def matches_scalar(value: Value, want: Any) -> bool:
    """Equality of a typed value with a scalar from a job file (people, lookups, lists)."""
    if value is None:
        return False
    if isinstance(value, tuple):
        return any(matches_scalar(v, want) for v in value)
    if isinstance(value, Person):
        return want in (value.name, value.email, value.id)
    if isinstance(value, Lookup):
        return want in (value.title, value.id)
    if isinstance(value, Link):
        return bool(want == value.url)
    if isinstance(value, bool) or isinstance(want, bool):
        return value is want
    if isinstance(value, date) and isinstance(want, str):
        day = value.date() if isinstance(value, datetime) else value
        return day.isoformat() == want.strip()
    return bool(value == want)


def _order(a: Any, op: str, b: Any) -> bool:
    if isinstance(a, bool) or a is None:
        return False
    if isinstance(a, date) != isinstance(b, date):
        return False  # a number against a date: not comparable, never true
    try:
        if op == "gt":
            return bool(a > b)
        if op == "gte":
            return bool(a >= b)
        if op == "lt":
            return bool(a < b)
        return bool(a <= b)
    except TypeError:
        return False


def parse_value_spec(spec: Any, key: str) -> Callable[[Value, EvalEnv], bool]:
    """One column's spec (list, scalar or operator table) → a test of its typed value."""
    if isinstance(spec, list):
        options = list(spec)
        if not options:
            raise RuleError(key, "empty list", "name at least one allowed value")
        return lambda v, env: any(matches_scalar(v, o) for o in options)
    if isinstance(spec, str | int | float | bool):
        return lambda v, env: matches_scalar(v, spec)
    if not isinstance(spec, Mapping) or not spec:
        raise RuleError(key, f"unsupported condition {spec!r}",
                        'write a value, a list of values or a table like { gte = "today" }')
    tests: list[Callable[[Value, EvalEnv], bool]] = []
    for op, arg in spec.items():
        where = f"{key}.{op}"
        if op not in _OPS:
            raise RuleError(where, f"unknown operator {op!r}", f"use one of {', '.join(_OPS)}")
        tests.append(_operator(op, arg, where))
    return lambda v, env: all(t(v, env) for t in tests)


def _operator(op: str, arg: Any, where: str) -> Callable[[Value, EvalEnv], bool]:
    """One ``op = arg`` of an operator table as a test."""
    if op == "empty":
        if not isinstance(arg, bool):
            raise RuleError(where, "must be true or false", "write empty = true")

        def empty(v: Value, env: EvalEnv) -> bool:
            return (v is None) is arg
        return empty
    if op in ("eq", "ne"):
        if not isinstance(arg, str | int | float | bool):
            raise RuleError(where, f"{arg!r} is no single value", "write one value")
        negate = op == "ne"

        def equal(v: Value, env: EvalEnv) -> bool:
            return matches_scalar(v, arg) is not negate
        return equal
    if op in ("in", "not_in"):
        if not isinstance(arg, list) or not arg:
            raise RuleError(where, "must be a non-empty list", 'write in = ["a", "b"]')
        options, negate = tuple(arg), op == "not_in"

        def member(v: Value, env: EvalEnv) -> bool:
            return any(matches_scalar(v, w) for w in options) is not negate
        return member
    operand = parse_operand(arg, where)

    def order(v: Value, env: EvalEnv) -> bool:
        return _order(comparable(v, env), op, operand(env))
    return order


def parse_condition(spec: Any, columns: Sequence[str], key: str = "when") -> Cond:
    """``{ column = spec, … }`` over a list with ``columns`` → a condition (module doc)."""
    if spec is None:
        return lambda rec, env: True
    if not isinstance(spec, Mapping):
        raise RuleError(key, f"must be a table, not {spec!r}",
                        'write when = { status = ["Planung", "Umsetzung"] }')
    parts: list[tuple[str, Callable[[Value, EvalEnv], bool]]] = []
    for column, col_spec in spec.items():
        if column not in columns:
            raise RuleError(f"{key}.{column}", f"no column {column!r} in the list",
                            f"use one of {', '.join(sorted(columns))}")
        parts.append((column, parse_value_spec(col_spec, f"{key}.{column}")))
    if not parts:
        return lambda rec, env: True
    return lambda rec, env: all(test(rec.values.get(c), env) for c, test in parts)
