"""Roll-ups (pure): declared aggregations of a source list into grouped rows.

A roll-up (:class:`RollupSpec`) names a **source** list, an optional **filter**
(structured conditions, relative dates allowed), an optional **window** (a date range on
the source, or the last N parents such as the last 6 held round tables), **measures**
(count, count with a condition, count distinct, sum, avg, min, max, a rate of two
measures, the window's size) and one or more **grains** (a grain = a name and its
dimensions). Measures over a **child list** (registrations of a training) are computed
per parent first and then combined per group, so a parent with many children is never
counted twice and children of parents outside the filter never count.

:func:`compile_rollup` turns a job file's declaration (plain dicts, as TOML gives them)
into a spec, checked against the list mapping; every problem is reported with its key.
:func:`compute` turns normalised records into :class:`GroupRow` values with
deterministic keys ``<grain>:<group key>``. Groups a known domain implies (every value of
a choice column, every item of a lookup list, optionally filtered such as active
departments) appear with zeros instead of missing.

Lookups to deleted items resolve to nothing: a project whose department was deleted
counts in the empty group, like a project without department.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sp_sync.domain.conditions import (
    ALWAYS,
    Clause,
    Condition,
    EvalEnv,
    Evaluator,
    Path,
    compile_clause,
    compile_condition,
    compile_path,
    local_day,
)
from sp_sync.domain.model import (
    ColumnType,
    ListMapping,
    ListSpec,
    Lookup,
    Person,
    Record,
    Value,
)

EMPTY_KEY = "~"  # the group key of an empty value (no department, no category …)
EMPTY_LABEL = "(ohne)"  # and what the group column shows (user-facing: German)

TRUNCATIONS = ("month", "quarter", "year")
AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max")

Problem = tuple[str, str, str]  # (key, reason, what to do)


class RollupError(ValueError):
    """A declaration that cannot be compiled; ``problems`` lists every (key, reason, hint)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{k}: {r} ({h})" for k, r, h in self.problems))


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Dimension:
    column: str  # target column key that shows the group value
    path: Path
    truncate: str | None = None  # month | quarter | year for dates
    domain: bool = True  # fill in every value the column's domain implies
    domain_filter: Condition = ALWAYS  # for lookups: which items of the list (e.g. active)


@dataclass(frozen=True)
class Grain:
    name: str
    dimensions: tuple[Dimension, ...]


@dataclass(frozen=True)
class Child:
    list: str  # the child list
    via: str  # its lookup column pointing at the source item


@dataclass(frozen=True)
class Measure:
    column: str  # target column key
    op: str  # an AGGREGATE, "rate" or "window"
    path: Path | None = None  # what sum/avg/min/max/count_distinct read
    where: Condition = ALWAYS  # on the source item, or on the child for child measures
    child: Child | None = None
    rate: tuple[str, str] | None = None  # numerator, denominator (measure columns)
    percent: bool = False
    digits: int = 2  # rounding of sums, averages and rates


@dataclass(frozen=True)
class LastN:
    """The last ``n`` parents by ``order`` among those matching ``where`` (``on`` None: the
    source items themselves; else a lookup column of the source pointing at the parent)."""

    n: int
    parent_list: str
    order: Path
    where: Condition = ALWAYS
    on: Path | None = None


@dataclass(frozen=True)
class RollupSpec:
    source: str
    grains: tuple[Grain, ...]
    measures: tuple[Measure, ...]
    filter: Condition = ALWAYS
    last: LastN | None = None
    grain_column: str | None = None  # target column naming the grain
    empty_label: str = EMPTY_LABEL

    @property
    def lists(self) -> tuple[str, ...]:
        """Every list the roll-up reads (source, lookups, children, parents)."""
        out: list[str] = [self.source]

        def add_path(p: Path | None) -> None:
            if p is not None:
                out.extend(p.lists)

        def add_filter(f: Condition) -> None:
            out.extend(f.lists)

        add_filter(self.filter)
        for g in self.grains:
            for d in g.dimensions:
                add_path(d.path)
                add_filter(d.domain_filter)
        for m in self.measures:
            add_path(m.path)
            add_filter(m.where)
            if m.child:
                out.append(m.child.list)
        if self.last:
            out.append(self.last.parent_list)
            add_path(self.last.order)
            add_path(self.last.on)
            add_filter(self.last.where)
        return tuple(dict.fromkeys(out))


# --------------------------------------------------------------------------- compiling


class _Compiler:
    def __init__(self, mapping: ListMapping) -> None:
        self.mapping = mapping
        self.problems: list[Problem] = []

    def bad(self, key: str, reason: str, hint: str) -> None:
        self.problems.append((key, reason, hint))

    def path(self, key: str, list_key: str, text: Any) -> Path | None:
        return compile_path(self.mapping, list_key, text, key, self.bad)

    def filter(self, key: str, list_key: str, raw: Any) -> Condition:
        return compile_condition(raw, self.mapping, list_key, key, self.bad)

    def dimension(self, key: str, list_key: str, column: str, raw: Any) -> Dimension | None:
        if isinstance(raw, str):
            raw = {"path": raw}
        if not isinstance(raw, Mapping):
            self.bad(key, "not a path or table", 'write "department.dezernat" or '
                     '{ path = "start", truncate = "month" }')
            return None
        unknown = set(raw) - {"path", "truncate", "domain", "domain_filter"}
        if unknown:
            self.bad(key, f"unknown keys {sorted(unknown)}",
                     "use path, truncate, domain, domain_filter")
        p = self.path(f"{key}.path", list_key, raw.get("path"))
        if p is None:
            return None
        truncate = raw.get("truncate")
        if truncate is not None and truncate not in TRUNCATIONS:
            self.bad(f"{key}.truncate", f"unknown truncation {truncate!r}",
                     f"use one of {', '.join(TRUNCATIONS)}")
            return None
        if truncate and p.type not in (ColumnType.DATE, ColumnType.DATETIME):
            self.bad(f"{key}.truncate", f"{p.text!r} is no date column",
                     "truncate only date or date-time columns")
            return None
        domain_filter: Condition = ALWAYS
        if raw.get("domain_filter") is not None:
            if not p.lookup_list:
                self.bad(f"{key}.domain_filter", f"{p.text!r} is no lookup",
                         "domain_filter chooses items of a lookup's list; leave it out")
            else:
                domain_filter = self.filter(f"{key}.domain_filter", p.lookup_list,
                                            raw["domain_filter"])
        return Dimension(column, p, truncate, bool(raw.get("domain", True)), domain_filter)

    def measure(self, key: str, list_key: str, column: str, raw: Any,
                names: set[str], has_last: bool) -> Measure | None:
        if not isinstance(raw, Mapping):
            self.bad(key, "not a table", "write e.g. { count = true }, { sum = \"budget\" }"
                     ", { rate = [\"red\", \"projects\"] }")
            return None
        ops = [k for k in (*AGGREGATES, "rate", "window") if k in raw]
        if len(ops) != 1:
            self.bad(key, f"needs exactly one of {', '.join((*AGGREGATES, 'rate', 'window'))}"
                     f" (found {ops or 'none'})", "choose one aggregate per measure")
            return None
        op = ops[0]
        unknown = set(raw) - {op, "where", "child", "percent", "digits"}
        if unknown:
            self.bad(key, f"unknown keys {sorted(unknown)}",
                     "use where, child, percent, digits besides the aggregate")
        digits = raw.get("digits", 2)
        if not isinstance(digits, int) or isinstance(digits, bool) or not 0 <= digits <= 6:
            self.bad(f"{key}.digits", f"{digits!r}", "use a whole number from 0 to 6")
            digits = 2
        if op == "rate":
            pair = raw["rate"]
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(isinstance(x, str) for x in pair)):
                self.bad(f"{key}.rate", f"{pair!r}", 'write rate = ["numerator", '
                         '"denominator"], two measure columns of this roll-up')
                return None
            for x in pair:
                if x not in names:
                    self.bad(f"{key}.rate", f"no measure {x!r}",
                             f"use measures of this roll-up: {', '.join(sorted(names))}")
            return Measure(column, "rate", rate=(pair[0], pair[1]),
                           percent=bool(raw.get("percent", False)), digits=digits)
        if op == "window":
            if not has_last:
                self.bad(key, "window counts the parents of a last-N window",
                         "declare params.window.last, or use count")
            return Measure(column, "window")
        child: Child | None = None
        where_list = list_key
        if raw.get("child") is not None:
            child = self.child(f"{key}.child", list_key, raw["child"])
            if child is None:
                return None
            where_list = child.list
        path: Path | None = None
        arg = raw[op]
        if op == "count":
            if arg is not True:
                self.bad(f"{key}.count", f"{arg!r}", "write count = true (conditions go "
                         "into where)")
        else:
            path = self.path(f"{key}.{op}", where_list, arg)
            if path is None:
                return None
            numeric = (ColumnType.NUMBER, ColumnType.CURRENCY)
            if op in ("sum", "avg") and path.type not in numeric:
                self.bad(f"{key}.{op}", f"{path.text!r} is no number column",
                         "sum and avg need a number or currency column")
        where = self.filter(f"{key}.where", where_list, raw.get("where"))
        return Measure(column, op, path, where, child, digits=digits)

    def child(self, key: str, list_key: str, raw: Any) -> Child | None:
        if (not isinstance(raw, Mapping) or not isinstance(raw.get("list"), str)
                or not isinstance(raw.get("via"), str)):
            self.bad(key, f"{raw!r}", 'write child = { list = "registrations", '
                     'via = "training" } (via: its lookup to the source list)')
            return None
        lst, via = raw["list"], raw["via"]
        if lst not in self.mapping:
            self.bad(f"{key}.list", f"unknown list {lst!r}", "use a list key of the mapping")
            return None
        col = next((c for c in self.mapping.get(lst).columns if c.key == via), None)
        if col is None or col.type is not ColumnType.LOOKUP or col.lookup_list != list_key:
            self.bad(f"{key}.via", f"{lst}.{via} is no lookup into {list_key!r}",
                     f"name the column of {lst!r} that looks up the source item")
            return None
        return Child(lst, via)

    def last(self, key: str, list_key: str, raw: Any) -> LastN | None:
        if not isinstance(raw, Mapping):
            self.bad(key, "not a table", 'write last = { n = 6, parent = "round_table", '
                     'order = "date", where = { status = "Durchgeführt" } }')
            return None
        n = raw.get("n")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            self.bad(f"{key}.n", f"{n!r}", "use a whole number of at least 1")
            return None
        on: Path | None = None
        parent_list = list_key
        if raw.get("parent") is not None:
            on = self.path(f"{key}.parent", list_key, raw["parent"])
            if on is None:
                return None
            if not on.lookup_list or on.steps:
                self.bad(f"{key}.parent", f"{on.text!r} is no lookup column of {list_key!r}",
                         "name the source's lookup to the parent list")
                return None
            parent_list = on.lookup_list
        order = self.path(f"{key}.order", parent_list, raw.get("order"))
        where = self.filter(f"{key}.where", parent_list, raw.get("where"))
        if order is None:
            return None
        return LastN(n, parent_list, order, where, on)


def compile_rollup(raw: Mapping[str, Any], mapping: ListMapping) -> RollupSpec:
    """A roll-up declaration (a job's params) → a spec; :class:`RollupError` lists every
    problem with its key (``source``, ``grains[0].dimensions.group.path`` …)."""
    c = _Compiler(mapping)
    source = raw.get("source")
    if not isinstance(source, str) or source not in mapping:
        known = ", ".join(s.key for s in mapping.lists)
        raise RollupError([("source", f"unknown list {source!r}", f"use one of {known}")])
    flt = c.filter("filter", source, raw.get("filter"))
    window = raw.get("window") or {}
    last: LastN | None = None
    if not isinstance(window, Mapping):
        c.bad("window", "not a table", 'write window = { column = "start", from = '
              '"-12 months" } or window = { last = { n = 6, … } }')
        window = {}
    if window.get("column") is not None:
        p = c.path("window.column", source, window["column"])
        if p is not None and p.type not in (ColumnType.DATE, ColumnType.DATETIME):
            c.bad("window.column", f"{p.text!r} is no date column",
                  "a date window needs a date or date-time column")
        elif p is not None:
            for bound, op in (("from", "gte"), ("to", "lte")):
                if window.get(bound) is not None:
                    cond = compile_clause(p, op, window[bound], f"window.{bound}", c.bad)
                    if cond:
                        flt = flt & Condition((cond,))
    if window.get("last") is not None:
        last = c.last("window.last", source, window["last"])
    unknown_window = set(window) - {"column", "from", "to", "last"}
    if unknown_window:
        c.bad("window", f"unknown keys {sorted(unknown_window)}", "use column, from, to, last")
    measures_raw = raw.get("measures")
    measures: list[Measure] = []
    if not isinstance(measures_raw, Mapping) or not measures_raw:
        c.bad("measures", "missing or empty", "declare at least one measure, e.g. "
              "[params.measures] projects = { count = true }")
    else:
        names = set(measures_raw)
        for col, mraw in measures_raw.items():
            m = c.measure(f"measures.{col}", source, col, mraw, names, last is not None)
            if m:
                measures.append(m)
    grains: list[Grain] = []
    grains_raw = raw.get("grains")
    if not isinstance(grains_raw, list) or not grains_raw:
        c.bad("grains", "missing or empty", 'declare at least one [[params.grains]] with a '
              'name and dimensions (none: one total row)')
    else:
        seen: set[str] = set()
        for i, graw in enumerate(grains_raw):
            key = f"grains[{i}]"
            if not isinstance(graw, Mapping) or not isinstance(graw.get("name"), str):
                c.bad(key, "needs a name", 'write name = "Dezernat"')
                continue
            name = graw["name"]
            if name in seen or ":" in name:
                c.bad(f"{key}.name", f"{name!r} is used twice or has a ':'",
                      "give every grain its own name without ':'")
            seen.add(name)
            dims_raw = graw.get("dimensions") or {}
            if not isinstance(dims_raw, Mapping):
                c.bad(f"{key}.dimensions", "not a table", 'write dimensions = { group = '
                      '"department.dezernat" } (target column = path)')
                continue
            dims = [c.dimension(f"{key}.dimensions.{col}", source, col, d)
                    for col, d in dims_raw.items()]
            grains.append(Grain(name, tuple(d for d in dims if d is not None)))
    label = raw.get("empty_label", EMPTY_LABEL)
    grain_column = raw.get("grain_column")
    if c.problems:
        raise RollupError(c.problems)
    return RollupSpec(source, tuple(grains), tuple(measures), flt, last,
                      str(grain_column) if grain_column else None, str(label))


# --------------------------------------------------------------------------- evaluating


@dataclass(frozen=True)
class GroupRow:
    """One group of one grain: its key, the group columns' values and the measures."""

    key: str  # "<grain>:<group key>" (the SyncKey without the job's prefix)
    grain: str
    group: Mapping[str, Value]  # dimension target column → shown value
    values: Mapping[str, Value]  # measure target column → value


class _Acc:
    """One measure's accumulator (per parent, then per group)."""

    __slots__ = ("best", "n", "seen", "total")

    def __init__(self) -> None:
        self.n = 0
        self.total = 0.0
        self.best: Any = None
        self.seen: set[Any] | None = None


def _key_of(value: Value) -> Any:
    """What makes two values the same group / the same distinct value."""
    if isinstance(value, Lookup):
        return ("lookup", value.id)
    if isinstance(value, Person):
        return ("person", value.id if value.id is not None else value.email or value.name)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _Eval(Evaluator):
    """The evaluator over a roll-up's inputs (records by list, indexed by id on demand)."""

    def __init__(self, records: Mapping[str, Sequence[Record]], today: date,
                 tz: ZoneInfo) -> None:
        super().__init__(EvalEnv(today, tz), self.by_id)
        self.records = records
        self.index: dict[str, dict[str, Record]] = {}

    def by_id(self, list_key: str) -> dict[str, Record]:
        idx = self.index.get(list_key)
        if idx is None:
            idx = self.index[list_key] = {r.id: r for r in self.records.get(list_key, ())}
        return idx


def _truncate(value: Value, how: str, tz: ZoneInfo) -> str | None:
    day = local_day(value, tz)
    if day is None:
        return None
    if how == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if how == "quarter":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year:04d}"


def _group_key(value: Any) -> str:
    if value is None or value == "":
        return EMPTY_KEY
    if isinstance(value, Lookup):
        return str(value.id)
    if isinstance(value, Person):
        return str(value.id if value.id is not None else value.email or value.name)
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _shown(value: Any, empty: str) -> Value:
    if value is None or value == "":
        return empty
    if isinstance(value, Lookup):
        return value.title if value.title is not None else f"#{value.id}"
    if isinstance(value, Person):
        return value.name
    return value  # type: ignore[no-any-return]


def _round(x: float, digits: int) -> float:
    r = round(x, digits)
    return r + 0.0  # no -0.0


@dataclass
class _Group:
    shown: tuple[Value, ...]
    accs: list[_Acc] = field(default_factory=list)


def compute(
    spec: RollupSpec,
    records: Mapping[str, Sequence[Record]],
    today: date,
    tz: ZoneInfo,
) -> list[GroupRow]:
    """Every group row of every grain, ordered by key (see the module docstring).

    ``records``: live records by list key, for the source and every list the spec reads
    (``spec.lists``); a list left out reads as empty.
    """
    ev = _Eval(records, today, tz)
    source = [r for r in records.get(spec.source, ()) if ev.holds(spec.filter, r)]
    window_size = 0
    if spec.last is not None:
        last = spec.last
        parents = [p for p in records.get(last.parent_list, ()) if ev.holds(last.where, p)]
        ordered: list[tuple[Any, int, str]] = []
        for p in parents:
            o = ev.value(last.order, p)
            if o is not None:  # a parent without date cannot be placed in time
                ordered.append((o, int(p.id) if p.id.isdigit() else 0, p.id))
        ordered.sort(reverse=True)  # latest first; equal dates: the later item first
        chosen = {pid for _, _, pid in ordered[: last.n]}
        window_size = len(chosen)
        if last.on is None:
            source = [r for r in source if r.id in chosen]
        else:
            on = last.on
            kept = []
            for r in source:
                v = ev.value(on, r)
                if isinstance(v, Lookup) and str(v.id) in chosen:
                    kept.append(r)
            source = kept
    # Children per parent, once per (child list, lookup column).
    kids: dict[Child, dict[str, list[Record]]] = {}
    for m in spec.measures:
        if m.child is not None and m.child not in kids:
            per: dict[str, list[Record]] = {}
            for c in records.get(m.child.list, ()):
                v = c[m.child.via]
                if isinstance(v, Lookup):
                    per.setdefault(str(v.id), []).append(c)
            kids[m.child] = per
    plain = [m for m in spec.measures if m.op not in ("rate", "window")]
    # Each source item's part of every measure, once for all grains: its own value, or
    # its children's aggregate (per parent first, so a parent counts once per group).
    parts: list[list[_Acc]] = []
    for rec in source:
        item: list[_Acc] = []
        for m in plain:
            part = _Acc()
            if m.child is None:
                if ev.holds(m.where, rec):
                    _add(part, m, ev, rec)
            else:
                for c in kids[m.child].get(rec.id, ()):
                    if ev.holds(m.where, c):
                        _add(part, m, ev, c)
            item.append(part)
        parts.append(item)
    rows: list[GroupRow] = []
    for grain in spec.grains:
        groups: dict[tuple[str, ...], _Group] = {}
        observed: list[dict[str, Value]] = [{} for _ in grain.dimensions]
        for rec, item_parts in zip(source, parts, strict=True):
            keys: list[str] = []
            shown: list[Value] = []
            for i, dim in enumerate(grain.dimensions):
                v = ev.value(dim.path, rec)
                g: Any = _truncate(v, dim.truncate, tz) if dim.truncate else v
                k = _group_key(g)
                keys.append(k)
                shown.append(_shown(g, spec.empty_label))
                observed[i].setdefault(k, shown[-1])
            group = groups.get(tuple(keys))
            if group is None:
                group = groups[tuple(keys)] = _Group(tuple(shown),
                                                     [_Acc() for _ in plain])
            for m, acc, part in zip(plain, group.accs, item_parts, strict=True):
                _merge(acc, part, m)
        _fill_domain(spec, grain, ev, groups, observed, len(plain))
        for keys_t, group in sorted(groups.items()):
            values: dict[str, Value] = {}
            for m, acc in zip(plain, group.accs, strict=True):
                values[m.column] = _result(acc, m)
            for m in spec.measures:
                if m.op == "window":
                    values[m.column] = window_size
            for m in spec.measures:
                if m.op == "rate" and m.rate:
                    num, den = values.get(m.rate[0]), values.get(m.rate[1])
                    if isinstance(num, int | float) and isinstance(den, int | float) and den:
                        ratio = float(num) * (100 if m.percent else 1) / float(den)
                        values[m.column] = _round(ratio, m.digits)
                    else:
                        values[m.column] = None
            shown_map = {d.column: s for d, s in zip(grain.dimensions, group.shown,
                                                      strict=True)}
            rows.append(GroupRow(f"{grain.name}:{'|'.join(keys_t)}", grain.name,
                                 shown_map, values))
    return rows


def _add(acc: _Acc, m: Measure, ev: _Eval, rec: Record) -> None:
    if m.op == "count":
        acc.n += 1
        return
    assert m.path is not None
    v = ev.value(m.path, rec)
    if v is None or v == "":
        return
    if m.op == "count_distinct":
        if acc.seen is None:
            acc.seen = set()
        acc.seen.add(_key_of(v))
        return
    if m.op in ("sum", "avg"):
        if isinstance(v, int | float) and not isinstance(v, bool):
            acc.n += 1
            acc.total += float(v)
        return
    comparable: Any = v
    if isinstance(v, datetime) and v.tzinfo:
        comparable = v.astimezone(ev.tz)
    if acc.best is None:
        acc.best = comparable
        return
    try:
        if (m.op == "min" and comparable < acc.best) or (m.op == "max"
                                                         and comparable > acc.best):
            acc.best = comparable
    except TypeError:
        pass  # mixed types in one column: keep the first


def _merge(acc: _Acc, part: _Acc, m: Measure) -> None:
    op = m.op
    if op == "count_distinct":
        if m.child is not None:
            acc.n += len(part.seen or ())  # distinct per parent, then summed
        elif part.seen:
            acc.seen = (acc.seen or set()) | part.seen
        return
    acc.n += part.n
    acc.total += part.total
    if part.best is not None and (acc.best is None or (op == "min" and part.best < acc.best)
                                  or (op == "max" and part.best > acc.best)):
        acc.best = part.best


def _result(acc: _Acc, m: Measure) -> Value:
    if m.op == "count":
        return acc.n
    if m.op == "count_distinct":
        return acc.n + len(acc.seen or ())
    if m.op == "sum":
        return _round(acc.total, m.digits)
    if m.op == "avg":
        return _round(acc.total / acc.n, m.digits) if acc.n else None
    return acc.best  # type: ignore[no-any-return]


def _domain(dim: Dimension, ev: _Eval, spec: RollupSpec) -> list[tuple[str, Value]] | None:
    """Every (group key, shown value) the dimension's column implies, or None."""
    if not dim.domain or dim.truncate:
        return None
    p = dim.path
    if p.lookup_list:
        out = []
        for r in ev.records.get(p.lookup_list, ()):
            if ev.holds(dim.domain_filter, r):
                title = r.get(p.title_column) if p.title_column else None
                lk = Lookup(int(r.id) if r.id.isdigit() else 0,
                            str(title) if title is not None else None)
                out.append((r.id, _shown(lk, spec.empty_label)))
        return out
    if p.type is ColumnType.CHOICE and p.choices:
        return [(c, c) for c in p.choices]
    if p.type is ColumnType.BOOLEAN:
        return [("ja", True), ("nein", False)]
    return None



def _fill_domain(spec: RollupSpec, grain: Grain, ev: _Eval,
                 groups: dict[tuple[str, ...], _Group],
                 observed: list[dict[str, Value]], n_accs: int) -> None:
    if not grain.dimensions:
        if () not in groups:
            groups[()] = _Group((), [_Acc() for _ in range(n_accs)])
        return
    axes: list[list[tuple[str, Value]]] = []
    any_domain = False
    for i, dim in enumerate(grain.dimensions):
        dom = _domain(dim, ev, spec)
        if dom is None:
            axes.append(list(observed[i].items()))
        else:
            any_domain = True
            axes.append(dom)
    if not any_domain:
        return
    for combo in itertools.product(*axes):
        keys = tuple(k for k, _ in combo)
        if keys not in groups:
            groups[keys] = _Group(tuple(s for _, s in combo),
                                  [_Acc() for _ in range(n_accs)])


def target_columns(spec: RollupSpec) -> tuple[str, ...]:
    """Every target column key the roll-up writes (grain, dimensions, measures)."""
    out: list[str] = []
    if spec.grain_column:
        out.append(spec.grain_column)
    for g in spec.grains:
        out.extend(d.column for d in g.dimensions)
    out.extend(m.column for m in spec.measures)
    return tuple(dict.fromkeys(out))


def check_target(spec: RollupSpec, target: ListSpec) -> list[Problem]:
    """Problems with writing ``spec`` into ``target`` (columns the target does not have),
    keyed like the declaration (``grain_column``, ``grains[0].dimensions.x``, ``measures.y``)."""
    have = {c.key for c in target.columns}
    wanted: list[tuple[str, str]] = []
    if spec.grain_column:
        wanted.append(("grain_column", spec.grain_column))
    for i, g in enumerate(spec.grains):
        wanted.extend((f"grains[{i}].dimensions.{d.column}", d.column) for d in g.dimensions)
    wanted.extend((f"measures.{m.column}", m.column) for m in spec.measures)
    return [(key, f"list {target.key!r} has no column {col!r}",
             f"add it to the mapping or use one of {', '.join(sorted(have))}")
            for key, col in wanted if col not in have]


# --------------------------------------------------------------------------- the digest's portfolio

_ACTIVE = ("Idee", "Planung", "Umsetzung")


def _choice(column: str) -> Path:
    return Path(column, (), column, ColumnType.CHOICE)


#: The weekly digest's "portfolio at a glance", declared like the Portfolio job
#: (jobs/portfolio.toml) over the default schema's column keys, so the digest and the
#: Portfolio list count with the same engine: projects and active projects per status,
#: traffic light, Dezernat and Handlungsfeld, and in total.
PORTFOLIO_OVERVIEW = RollupSpec(
    source="projects",
    grains=(
        Grain("Gesamt", ()),
        Grain("Status", (Dimension("group", _choice("status")),)),
        Grain("Ampel", (Dimension("group", _choice("traffic_light")),)),
        Grain("Dezernat", (Dimension("group", Path(
            "department.dezernat", (("department", "departments"),), "dezernat",
            ColumnType.CHOICE)),)),
        Grain("Handlungsfeld", (Dimension("group", _choice("field")),)),
    ),
    measures=(
        Measure("projects", "count"),
        Measure("active", "count",
                where=Condition((Clause(_choice("status"), "in", _ACTIVE),))),
    ),
    empty_label="—",
)


def portfolio_overview(
    records: Mapping[str, Sequence[Record]],
) -> dict[str, dict[str, tuple[int, int]]]:
    """grain → group label → (projects, active projects), groups with projects only."""
    out: dict[str, dict[str, tuple[int, int]]] = {g.name: {} for g in PORTFOLIO_OVERVIEW.grains}
    rows = compute(PORTFOLIO_OVERVIEW, records, date(2000, 1, 1), ZoneInfo("UTC"))
    for row in rows:
        projects, active = row.values["projects"], row.values["active"]
        assert isinstance(projects, int) and isinstance(active, int)
        if projects:
            label = str(row.group.get("group", ""))
            out[row.grain][label] = (projects, active)
    return out
