"""Validation rules: declared in job files, parsed once, evaluated over records (pure).

A rule (one ``[[params.rules]]`` table of a ``validate`` job) has a stable ``id`` (never
its position), the ``list`` it checks, a ``severity`` (error/warning/info — Fehler,
Warnung, Hinweis), an ``owner`` column (a person column of the list), a ``message``
template in German (``message_en`` in English) with ``{column}`` placeholders, an
optional ``when`` condition (:mod:`sp_sync.domain.conditions`, docs/conditions.md) and
one ``check``:

==============  ======================================================================
check           parameters → a finding when …
==============  ======================================================================
required        ``columns`` (or ``column``) → one of them is empty
allowed         ``column``, ``values`` → the value is none of ``values``
pattern         ``column``, ``pattern`` (regex) → the text does not match it whole
range           ``column``, ``min``/``max`` → the number lies outside
length          ``column``, ``min``/``max`` → the text is shorter/longer
date_order      ``first``, ``then`` → ``first`` is later than ``then``
overdue         ``column``, ``days`` (grace, default 0) → the date is > days in the past
stale           ``column``, ``days`` → the column has not changed for ``days`` (history)
unique          ``columns`` → several items share these values (one finding per group)
lookup          ``column``, ``target_when`` → the lookup points to no item, or to one
                that does not meet ``target_when``
children        ``children`` (list), ``via`` (its lookup to this list), ``counts``
                (name → condition on children), ``fails_when`` (name → comparison with
                a number or a column of this item) → every comparison holds
open_across     ``via`` (lookup), ``date`` (date column of the referenced list),
                ``parent_when``, ``min`` → at least ``min`` items of the referenced
                list that meet ``parent_when`` are dated after the referenced one
readable        — → a value of the item does not read as its column's type (a text
                where a date belongs, an unknown choice, a person or lookup that no
                longer exists)
==============  ======================================================================

Placeholders: any column key of the list, plus ``{count}``/``{limit}`` (children and
open_across: the counts by name), ``{since}`` (stale), ``{problems}`` (readable),
``{others}`` (unique: the other items' titles), ``{list}``. A value that does not
normalise never crashes a check: it is empty to the check, and ``readable`` reports it.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sp_sync.domain.conditions import (
    ALWAYS,
    Condition,
    EvalEnv,
    Evaluator,
    RuleError,
    local_day,
    matches_scalar,
    parse_condition,
)
from sp_sync.domain.model import ColumnType as CT
from sp_sync.domain.model import Link, ListMapping, ListSpec, Lookup, Person, Record, Value


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    def label(self, language: str = "de") -> str:
        return _SEVERITY_LABELS[language if language in _SEVERITY_LABELS else "de"][self]


_SEVERITY_LABELS = {
    "de": {Severity.ERROR: "Fehler", Severity.WARNING: "Warnung", Severity.INFO: "Hinweis"},
    "en": {Severity.ERROR: "Error", Severity.WARNING: "Warning", Severity.INFO: "Info"},
}
SEVERITY_ORDER = (Severity.ERROR, Severity.WARNING, Severity.INFO)

CHECKS = ("required", "allowed", "pattern", "range", "length", "date_order", "overdue",
          "stale", "unique", "lookup", "children", "open_across", "readable")
TIME_BASED = frozenset({"overdue", "stale"})  # results change with the date alone
_COMMON = {"id", "list", "severity", "owner", "message", "message_en", "when", "check",
           "description"}
_PARAMS: dict[str, tuple[set[str], set[str]]] = {  # check → (required keys, optional keys)
    "required": (set(), {"column", "columns"}),
    "allowed": ({"column", "values"}, set()),
    "pattern": ({"column", "pattern"}, set()),
    "range": ({"column"}, {"min", "max"}),
    "length": ({"column"}, {"min", "max"}),
    "date_order": ({"first", "then"}, set()),
    "overdue": ({"column"}, {"days"}),
    "stale": ({"column", "days"}, set()),
    "unique": ({"columns"}, set()),
    "lookup": ({"column"}, {"target_when"}),
    "children": ({"children", "via", "counts", "fails_when"}, set()),
    "open_across": ({"via", "date", "min"}, {"parent_when"}),
    "readable": (set(), set()),
}
_SPECIALS = {"count", "limit", "since", "problems", "others", "list"}
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class ValueProblem:
    """A raw value of an item that does not read as its column's type."""

    column: str  # column key
    raw: Any
    reason: str
    label: str = ""  # the column's display name (what people read); default: the key


@dataclass(frozen=True)
class Dataset:
    """What rules read: records per list (by id), unreadable values, field history."""

    records: Mapping[str, Mapping[str, Record]]  # list key → item id → record
    problems: Mapping[tuple[str, str], Sequence[ValueProblem]] = field(default_factory=dict)
    # (list key, item id, column key) → when the column last changed (history, else created)
    changed_at: Callable[[str, str, str], datetime | None] = lambda lst, item, col: None
    title_columns: Mapping[str, str] = field(default_factory=dict)  # list key → column key
    list_titles: Mapping[str, str] = field(default_factory=dict)  # list key → display name

    def items(self, list_key: str) -> Mapping[str, Record]:
        return self.records.get(list_key, {})

    def title(self, rec: Record) -> str | None:
        col = self.title_columns.get(rec.list_key)
        value = rec.values.get(col) if col else None
        return fmt(value) if value is not None else None


@dataclass(frozen=True)
class Hit:
    """One failing item (or group) of a rule: what the finding is made of."""

    items: tuple[Record, ...]  # the first is the item the finding links to
    evidence: tuple[Any, ...]  # the offending values (hashed)
    extra: Mapping[str, Any] = field(default_factory=dict)  # placeholder values
    group: str | None = None  # set for findings over several items


# A check reads conditions, today and the zone through the run's evaluator.
Check = Callable[["Rule", Dataset, Evaluator, Iterable[Record]], Iterator[Hit]]


@dataclass(frozen=True)
class Rule:
    id: str
    list: str
    severity: Severity
    check: str
    messages: Mapping[str, str]  # language → template
    evaluate: Check
    owner: str | None = None
    when: Condition = ALWAYS
    reads: frozenset[str] = frozenset()  # other lists the check reads (dependencies)
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def time_based(self) -> bool:
        return self.check in TIME_BASED

    def message(self, language: str) -> str:
        return self.messages.get(language) or self.messages["de"]


# --------------------------------------------------------------------------- formatting


def fmt(value: Any, language: str = "de") -> str:
    """A typed value as people read it in a message."""
    if value is None:
        return "—"
    if isinstance(value, Person):
        return value.name
    if isinstance(value, Lookup):
        return value.title if value.title is not None else f"#{value.id}"
    if isinstance(value, Link):
        return value.description or value.url
    if isinstance(value, bool):
        return ("Ja" if value else "Nein") if language == "de" else ("yes" if value else "no")
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M") if language == "de" else value.strftime(
            "%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y") if language == "de" else value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple | list):
        return ", ".join(fmt(v, language) for v in value) or "—"
    return str(value)


def placeholders(template: str) -> list[str]:
    """The ``{name}`` fields of a message template (format specs are not allowed)."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def render(template: str, values: Mapping[str, Any], language: str) -> str:
    """Fill a template checked by :func:`placeholders`; unknown names show as ``—``."""
    out: list[str] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(fmt(values.get(name), language))
    return "".join(out)


def evidence_hash(values: Iterable[Any]) -> str:
    """A short, stable hash of the offending values (finding identity across runs)."""
    basis = json.dumps([_plain(v) for v in values], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if isinstance(value, Person):
        return ["person", value.id, value.email]
    if isinstance(value, Lookup):
        return ["lookup", value.id]
    if isinstance(value, Link):
        return ["link", value.url]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


# --------------------------------------------------------------------------- checks


def _columns(params: Mapping[str, Any]) -> list[str]:
    cols = params.get("columns", params.get("column"))
    return [cols] if isinstance(cols, str) else list(cols or [])


def _required(rule: Rule, data: Dataset, env: Evaluator, recs: Iterable[Record]) -> Iterator[Hit]:
    cols = _columns(rule.params)
    for rec in recs:
        missing = [c for c in cols if rec.values.get(c) is None]
        if missing:
            yield Hit((rec,), tuple(missing))


def _allowed(rule: Rule, data: Dataset, env: Evaluator, recs: Iterable[Record]) -> Iterator[Hit]:
    col, values = rule.params["column"], list(rule.params["values"])
    for rec in recs:
        v = rec.values.get(col)
        if v is not None and not any(matches_scalar(v, w, env.tz) for w in values):
            yield Hit((rec,), (v,))


def _text(value: Value) -> str | None:
    if value is None:
        return None
    if isinstance(value, Link):
        return value.url
    return fmt(value) if not isinstance(value, str) else value


def _pattern(rule: Rule, data: Dataset, env: Evaluator, recs: Iterable[Record]) -> Iterator[Hit]:
    col, rx = rule.params["column"], re.compile(rule.params["pattern"])
    for rec in recs:
        text = _text(rec.values.get(col))
        if text is not None and not rx.fullmatch(text):
            yield Hit((rec,), (text,))


def _day(value: Any, env: Evaluator) -> date:
    day = local_day(value, env.tz)
    assert day is not None  # callers pass dates only
    return day


def _outside(n: float, lo: Any, hi: Any) -> bool:
    return (lo is not None and n < lo) or (hi is not None and n > hi)


def _range(rule: Rule, data: Dataset, env: Evaluator, recs: Iterable[Record]) -> Iterator[Hit]:
    col, lo, hi = rule.params["column"], rule.params.get("min"), rule.params.get("max")
    for rec in recs:
        v = rec.values.get(col)
        if isinstance(v, int | float) and not isinstance(v, bool) and _outside(v, lo, hi):
            yield Hit((rec,), (v,), {"limit": hi if hi is not None and v > hi else lo})


def _length(rule: Rule, data: Dataset, env: Evaluator, recs: Iterable[Record]) -> Iterator[Hit]:
    col, lo, hi = rule.params["column"], rule.params.get("min"), rule.params.get("max")
    for rec in recs:
        text = _text(rec.values.get(col))
        if text is not None and _outside(len(text), lo, hi):
            yield Hit((rec,), (text,), {"count": len(text)})


def _date_order(rule: Rule, data: Dataset, env: Evaluator, recs: Iterable[Record]
                ) -> Iterator[Hit]:
    first, then = rule.params["first"], rule.params["then"]
    for rec in recs:
        a, b = rec.values.get(first), rec.values.get(then)
        if isinstance(a, date) and isinstance(b, date) and _day(a, env) > _day(b, env):
            yield Hit((rec,), (a, b))


def _overdue(rule: Rule, data: Dataset, env: Evaluator, recs: Iterable[Record]) -> Iterator[Hit]:
    col, days = rule.params["column"], int(rule.params.get("days", 0))
    limit = env.today - timedelta(days=days)
    for rec in recs:
        v = rec.values.get(col)
        if isinstance(v, date) and _day(v, env) < limit:
            yield Hit((rec,), (v,))


def _stale(rule: Rule, data: Dataset, env: Evaluator, recs: Iterable[Record]) -> Iterator[Hit]:
    col, days = rule.params["column"], int(rule.params["days"])
    limit = env.today - timedelta(days=days)
    for rec in recs:
        since = data.changed_at(rec.list_key, rec.id, col)
        if since is not None and since.astimezone(env.tz).date() < limit:
            yield Hit((rec,), (since,), {"since": since.astimezone(env.tz).date()})


def _unique(rule: Rule, data: Dataset, env: Evaluator, recs: Iterable[Record]) -> Iterator[Hit]:
    cols = _columns(rule.params)
    groups: dict[tuple[Any, ...], list[Record]] = {}
    for rec in recs:
        vals = tuple(rec.values.get(c) for c in cols)
        if any(v is None for v in vals):
            continue
        groups.setdefault(vals, []).append(rec)  # typed values are hashable (frozen)
    for vals, members in groups.items():
        if len(members) > 1:
            members.sort(key=_id_order)
            others = [data.title(r) or f"#{r.id}" for r in members[1:]]
            yield Hit(tuple(members), (*vals, *(r.id for r in members)),
                      {"others": ", ".join(others), "count": len(members)},
                      group=evidence_hash(vals))


def _id_order(rec: Record) -> tuple[int, int, str]:
    return (0, int(rec.id), "") if rec.id.isdigit() else (1, 0, rec.id)


def _lookup(rule: Rule, data: Dataset, env: Evaluator, recs: Iterable[Record]) -> Iterator[Hit]:
    col = rule.params["column"]
    target_list: str = rule.params["_target_list"]
    target_when: Condition = rule.params["_target_when"]
    targets = data.items(target_list)
    for rec in recs:
        v = rec.values.get(col)
        looks = v if isinstance(v, tuple) else (v,)
        for look in looks:
            if not isinstance(look, Lookup):
                continue
            target = targets.get(str(look.id))
            if target is None:
                yield Hit((rec,), (look.id, "missing"))
                break
            if not env.holds(target_when, target):
                cols = rule.params.get("target_when") or {}
                yield Hit((rec,), (look.id, *(target.values.get(c) for c in sorted(cols))))
                break


def _children(rule: Rule, data: Dataset, env: Evaluator, recs: Iterable[Record]) -> Iterator[Hit]:
    counts_spec: Mapping[str, Condition] = rule.params["_counts"]
    fails: list[tuple[str, str, Any]] = rule.params["_fails"]  # (count, op, operand)
    child_list, via = rule.params["children"], rule.params["via"]
    tally: dict[str, dict[str, int]] = {}
    for child in data.items(child_list).values():
        parent = child.values.get(via)
        if not isinstance(parent, Lookup):
            continue
        row = tally.setdefault(str(parent.id), dict.fromkeys(counts_spec, 0))
        for name, cond in counts_spec.items():
            if env.holds(cond, child):
                row[name] += 1
    empty = dict.fromkeys(counts_spec, 0)
    for rec in recs:
        counts = tally.get(rec.id, empty)
        limits: dict[str, Any] = {}
        failing = True
        for name, op, operand in fails:
            limit = rec.values.get(operand) if isinstance(operand, str) else operand
            if not isinstance(limit, int | float) or isinstance(limit, bool):
                failing = False
                break
            limits[name] = limit
            if not _compare(counts[name], op, limit):
                failing = False
                break
        if failing:
            extra: dict[str, Any] = dict(counts)
            extra["count"] = counts[fails[0][0]] if fails else 0
            extra["limit"] = limits.get(fails[0][0]) if fails else None
            yield Hit((rec,), (tuple(sorted(counts.items())), tuple(sorted(limits.items()))),
                      extra)


def _compare(a: float, op: str, b: float) -> bool:
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b, "eq": a == b,
            "ne": a != b}[op]


def _open_across(rule: Rule, data: Dataset, env: Evaluator, recs: Iterable[Record]
                 ) -> Iterator[Hit]:
    via, col, least = rule.params["via"], rule.params["date"], int(rule.params["min"])
    parent_list: str = rule.params["_target_list"]
    parent_when: Condition = rule.params["_target_when"]
    parents = data.items(parent_list)
    dated = sorted(
        _day(p.values[col], env) for p in parents.values()
        if isinstance(p.values.get(col), date) and env.holds(parent_when, p)
    )
    for rec in recs:
        look = rec.values.get(via)
        parent = parents.get(str(look.id)) if isinstance(look, Lookup) else None
        when = parent.values.get(col) if parent is not None else None
        if not isinstance(when, date):
            continue
        day = _day(when, env)
        later = sum(1 for d in dated if d > day)
        if later >= least:
            yield Hit((rec,), (look.id if isinstance(look, Lookup) else None, later >= least),
                      {"count": later, "limit": least})


def _readable(rule: Rule, data: Dataset, env: Evaluator, recs: Iterable[Record]) -> Iterator[Hit]:
    for rec in recs:
        found = data.problems.get((rec.list_key, rec.id))
        if found:
            text = "; ".join(f"{p.label or p.column}: {p.reason}" for p in found)
            yield Hit((rec,), tuple((p.column, _plain(p.raw)) for p in found),
                      {"problems": text})


_IMPL: dict[str, Check] = {
    "required": _required, "allowed": _allowed, "pattern": _pattern, "range": _range,
    "length": _length, "date_order": _date_order, "overdue": _overdue, "stale": _stale,
    "unique": _unique, "lookup": _lookup, "children": _children,
    "open_across": _open_across, "readable": _readable,
}


# --------------------------------------------------------------------------- parsing


def parse_rules(raw: Sequence[Mapping[str, Any]], mapping: ListMapping
                ) -> tuple[list[Rule], list[RuleError]]:
    """Every rule of a job file; problems are collected (key relative to ``rules``), never
    raised, so an admin sees all of them at once."""
    rules: list[Rule] = []
    errors: list[RuleError] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        rule_id = entry.get("id") if isinstance(entry, Mapping) else None
        where = f"rules[{i}]" + (f" ({rule_id})" if isinstance(rule_id, str) else "")
        try:
            rule = parse_rule(entry, mapping)
        except RuleError as exc:
            errors.append(RuleError(f"{where}.{exc.key}", exc.reason, exc.hint))
            continue
        if rule.id in seen:
            errors.append(RuleError(f"{where}.id", f"id {rule.id!r} is used twice",
                                    "give every rule its own id"))
            continue
        seen.add(rule.id)
        rules.append(rule)
    return rules, errors


def _spec(mapping: ListMapping, key: str, where: str) -> ListSpec:
    if key not in mapping:
        known = ", ".join(s.key for s in mapping.lists)
        raise RuleError(where, f"unknown list {key!r}", f"use a list key from the mapping: {known}")
    return mapping.get(key)


def _need_column(spec: ListSpec, col: Any, where: str, types: Sequence[CT] = ()) -> str:
    keys = [c.key for c in spec.columns]
    if not isinstance(col, str) or col not in keys:
        raise RuleError(where, f"list {spec.key!r} has no column {col!r}",
                        f"use one of {', '.join(keys)}")
    if types and spec.column(col).type not in types:
        raise RuleError(where, f"column {col!r} is a {spec.column(col).type.value} column",
                        f"use a column of type {' or '.join(t.value for t in types)}")
    return col


_DATES = (CT.DATE, CT.DATETIME)
_LOOKUPS = (CT.LOOKUP, CT.MULTILOOKUP)


def parse_rule(entry: Mapping[str, Any], mapping: ListMapping) -> Rule:
    """One rule table → a :class:`Rule`; raises :class:`RuleError` for the first problem."""
    if not isinstance(entry, Mapping):
        raise RuleError("", "must be a table", "write [[params.rules]] with id, list, check …")
    rule_id = entry.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise RuleError("id", f"missing or invalid id {rule_id!r}",
                        'write a stable id of lower-case letters, digits, "-", "." and "_"')
    check = entry.get("check")
    if check not in _IMPL:
        raise RuleError("check", f"unknown check {check!r}", f"use one of {', '.join(CHECKS)}")
    needed, optional = _PARAMS[check]
    for key in entry:
        if key not in _COMMON | needed | optional:
            raise RuleError(key, f"unknown key for check {check!r}",
                            f"use {', '.join(sorted(needed | optional)) or 'no extra keys'}")
    for key in sorted(needed):
        if key not in entry:
            raise RuleError(key, "missing", f"check {check!r} needs {', '.join(sorted(needed))}")
    list_key = entry.get("list")
    if not isinstance(list_key, str):
        raise RuleError("list", "missing", "name the list key the rule checks")
    spec = _spec(mapping, list_key, "list")
    keys = [c.key for c in spec.columns]
    try:
        severity = Severity(entry.get("severity", "warning"))
    except ValueError:
        raise RuleError("severity", f"unknown severity {entry.get('severity')!r}",
                        "use error, warning or info") from None
    owner = entry.get("owner")
    if owner is not None:
        _need_column(spec, owner, "owner", (CT.PERSON,))
    messages: dict[str, str] = {}
    for key, lang in (("message", "de"), ("message_en", "en")):
        text = entry.get(key)
        if text is None:
            continue
        if not isinstance(text, str) or not text.strip():
            raise RuleError(key, "must be a non-empty text", "write the message people read")
        try:
            names = placeholders(text)
        except ValueError as exc:
            raise RuleError(key, f"bad template ({exc})", 'write placeholders as "{title}"'
                            ) from None
        for name in names:
            if name not in keys and name not in _SPECIALS and name not in entry.get(
                    "counts", {}):
                raise RuleError(key, f"unknown placeholder {{{name}}}",
                                f"use a column of {list_key!r} ({', '.join(keys)}) or one of "
                                f"{', '.join(sorted(_SPECIALS))}")
        messages[lang] = text
    if "de" not in messages:
        raise RuleError("message", "missing", "write the German message people read")
    when = parse_condition(entry.get("when"), spec, "when", mapping)
    params: dict[str, Any] = {k: entry[k] for k in needed | optional if k in entry}
    reads: set[str] = set(when.lists)
    _check_params(check, params, spec, mapping, reads)
    return Rule(id=rule_id, list=list_key, severity=severity, check=check, messages=messages,
                evaluate=_IMPL[check], owner=owner, when=when, reads=frozenset(reads),
                params=params)


def _check_params(check: str, p: dict[str, Any], spec: ListSpec, mapping: ListMapping,
                  reads: set[str]) -> None:
    if check == "required":
        cols = _columns(p)
        if not cols:
            raise RuleError("columns", "missing", "name the column(s) that must be filled")
        for c in cols:
            _need_column(spec, c, "columns" if "columns" in p else "column")
    elif check == "allowed":
        _need_column(spec, p["column"], "column")
        if not isinstance(p["values"], list) or not p["values"]:
            raise RuleError("values", "must be a non-empty list", 'write values = ["a", "b"]')
    elif check == "pattern":
        _need_column(spec, p["column"], "column")
        try:
            re.compile(p["pattern"])
        except (re.error, TypeError) as exc:
            raise RuleError("pattern", f"not a regular expression ({exc})",
                            'write a Python regex such as "^DTC-\\\\d{4}-\\\\d{3}$"') from None
    elif check in ("range", "length"):
        _need_column(spec, p["column"], "column")
        if "min" not in p and "max" not in p:
            raise RuleError("min", "missing", "give min, max or both")
        for k in ("min", "max"):
            if k in p and (not isinstance(p[k], int | float) or isinstance(p[k], bool)):
                raise RuleError(k, f"{p[k]!r} is no number", "write a number")
    elif check == "date_order":
        _need_column(spec, p["first"], "first", _DATES)
        _need_column(spec, p["then"], "then", _DATES)
    elif check in ("overdue", "stale"):
        _need_column(spec, p["column"], "column", _DATES if check == "overdue" else ())
        days = p.get("days", 0)
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise RuleError("days", f"{days!r} is no whole number of days", "write days = 30")
    elif check == "unique":
        cols = _columns(p)
        if not cols:
            raise RuleError("columns", "empty", "name one or more columns")
        for c in cols:
            _need_column(spec, c, "columns")
    elif check == "lookup":
        col = _need_column(spec, p["column"], "column", _LOOKUPS)
        target = _spec(mapping, spec.column(col).lookup_list or "", "column")
        reads.add(target.key)
        p["_target_list"] = target.key
        p["_target_when"] = parse_condition(p.get("target_when"), target, "target_when",
                                            mapping)
        reads.update(p["_target_when"].lists)
    elif check == "children":
        child = _spec(mapping, p["children"], "children")
        via = _need_column(child, p["via"], "via", _LOOKUPS)
        if child.column(via).lookup_list != spec.key:
            raise RuleError("via", f"{child.key}.{via} does not point to {spec.key!r}",
                            f"use a lookup column of {child.key!r} into {spec.key!r}")
        reads.add(child.key)
        if not isinstance(p["counts"], Mapping) or not p["counts"]:
            raise RuleError("counts", "must be a table of named conditions",
                            'write counts = { registered = { status = "Angemeldet" } }')
        p["_counts"] = {name: parse_condition(cond, child, f"counts.{name}", mapping)
                        for name, cond in p["counts"].items()}
        for cond in p["_counts"].values():
            reads.update(cond.lists)
        fails: list[tuple[str, str, Any]] = []
        if not isinstance(p["fails_when"], Mapping) or not p["fails_when"]:
            raise RuleError("fails_when", "must be a table", 'write fails_when = { registered '
                            '= { gt = "max_participants" } }')
        for name, ops in p["fails_when"].items():
            if name not in p["counts"]:
                raise RuleError(f"fails_when.{name}", f"no count {name!r}",
                                f"use a name from counts: {', '.join(p['counts'])}")
            if not isinstance(ops, Mapping) or not ops:
                raise RuleError(f"fails_when.{name}", "must be a table",
                                "write { gt = 0 } or { gt = \"<column>\" }")
            for op, operand in ops.items():
                if op not in ("gt", "gte", "lt", "lte", "eq", "ne"):
                    raise RuleError(f"fails_when.{name}.{op}", f"unknown operator {op!r}",
                                    "use gt, gte, lt, lte, eq or ne")
                if isinstance(operand, str):
                    _need_column(spec, operand, f"fails_when.{name}.{op}",
                                 (CT.NUMBER, CT.CURRENCY))
                elif not isinstance(operand, int | float) or isinstance(operand, bool):
                    raise RuleError(f"fails_when.{name}.{op}", f"{operand!r}",
                                    "compare with a number or a number column of the list")
                fails.append((name, op, operand))
        p["_fails"] = fails
    elif check == "open_across":
        via = _need_column(spec, p["via"], "via", (CT.LOOKUP,))
        parent = _spec(mapping, spec.column(via).lookup_list or "", "via")
        _need_column(parent, p["date"], "date", _DATES)
        reads.add(parent.key)
        if not isinstance(p["min"], int) or isinstance(p["min"], bool) or p["min"] < 1:
            raise RuleError("min", f"{p['min']!r}", "write a whole number ≥ 1")
        p["_target_list"] = parent.key
        p["_target_when"] = parse_condition(p.get("parent_when"), parent, "parent_when",
                                            mapping)
        reads.update(p["_target_when"].lists)


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Finding:
    """One failing item or group of one rule, ready to be written to Befunde."""

    key: str  # "<rule>:<list>:<item id>" or "<rule>:<list>:group:<hash>"
    rule: str
    list_key: str
    item_id: str  # the item the finding links to (the first of a group)
    severity: Severity
    message: str
    evidence: str
    item_title: str | None = None
    link: str | None = None
    owner: Person | None = None
    items: tuple[str, ...] = ()  # every item involved (a group: all of them)


def finding_key(rule: str, list_key: str, item_id: str, group: str | None = None) -> str:
    return f"{rule}:{list_key}:group:{group}" if group else f"{rule}:{list_key}:{item_id}"


def evaluate(
    rules: Iterable[Rule], data: Dataset, env: EvalEnv, language: str = "de",
    only: Mapping[str, Iterable[str]] | None = None,
) -> Iterator[Finding]:
    """Every finding of ``rules`` over ``data``.

    ``only`` (rule id → item ids) restricts per-item rules to those items (incremental
    evaluation); ``unique`` always sees its whole list. A check that fails on a value it
    did not expect yields a finding saying so, never an exception.
    """
    ev = Evaluator(env, data.items)
    for rule in rules:
        items = data.items(rule.list)
        if only is not None and rule.id in only and rule.check != "unique":
            recs: Iterable[Record] = (items[i] for i in only[rule.id] if i in items)
        else:
            recs = items.values()
        selected = [r for r in recs if _holds(rule, r, ev)]
        try:
            hits = list(rule.evaluate(rule, data, ev, selected))
        except Exception as exc:  # a bug must not stop the other rules: say so, keep going
            hits = [Hit((r,), ("error", repr(exc)), {"problems": repr(exc)}) for r in selected]
        for hit in hits:
            yield _finding(rule, data, hit, language)


def _holds(rule: Rule, rec: Record, ev: Evaluator) -> bool:
    try:
        return ev.holds(rule.when, rec)
    except Exception:  # an unexpected value type: the condition does not hold
        return False


def _finding(rule: Rule, data: Dataset, hit: Hit, language: str) -> Finding:
    first = hit.items[0]
    values: dict[str, Any] = dict(first.values)
    values.update(hit.extra)
    values.setdefault("list", data.list_titles.get(rule.list, rule.list))
    owner = first.values.get(rule.owner) if rule.owner else None
    return Finding(
        key=finding_key(rule.id, rule.list, first.id, hit.group),
        rule=rule.id,
        list_key=rule.list,
        item_id=first.id,
        severity=rule.severity,
        message=render(rule.message(language), values, language),
        evidence=evidence_hash(hit.evidence),
        item_title=data.title(first),
        link=first.web_url,
        owner=owner if isinstance(owner, Person) else None,
        items=tuple(r.id for r in hit.items),
    )
