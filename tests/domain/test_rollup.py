"""Roll-ups: the three shipped declarations against independent, straightforward counts.

Every property builds random source lists (lookups to deleted items, empty values, items
in any group) and compares :func:`compute` with a count written the obvious way here.
"""

from __future__ import annotations

import tomllib
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sp_sync.config.mapping import load_mapping
from sp_sync.domain.conditions import resolve_date
from sp_sync.domain.digest import build_portfolio
from sp_sync.domain.model import Lookup, Record, Value
from sp_sync.domain.rollup import (
    EMPTY_KEY,
    GroupRow,
    RollupError,
    RollupSpec,
    compile_rollup,
    compute,
)
from sp_sync.kinds.rollup import RollupParams

REPO = Path(__file__).resolve().parents[2]
MAPPING = load_mapping(REPO / "config" / "lists.toml")
TZ = ZoneInfo("Europe/Berlin")
TODAY = date(2026, 11, 30)
ACTIVE = ("Idee", "Planung", "Umsetzung")
STATUSES = ("Idee", "Planung", "Umsetzung", "Abgeschlossen", "Pausiert", "Abgebrochen")
DEZERNATE = MAPPING.get("departments").column("dezernat").choices
FIELDS = MAPPING.get("projects").column("field").choices
CATEGORIES = MAPPING.get("trainings").column("category").choices
REG_STATUSES = ("Angemeldet", "Warteliste", "Teilgenommen", "Nicht erschienen", "Storniert")
HYP = settings(max_examples=60, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def job_spec(name: str) -> RollupSpec:
    raw = tomllib.loads((REPO / "jobs" / f"{name}.toml").read_text(encoding="utf-8"))
    return compile_rollup(RollupParams(**raw["params"]).declaration(), MAPPING)


def rec(list_key: str, item_id: int, **values: Value) -> Record:
    return Record(list_key, str(item_id), values)


def by_key(rows: list[GroupRow], grain: str) -> dict[str, GroupRow]:
    return {r.key.split(":", 1)[1]: r for r in rows if r.grain == grain}


# --------------------------------------------------------------------------- strategies

@st.composite
def departments(draw: Any) -> tuple[list[Record], set[int]]:
    """Live departments; ids 1..n, some of them deleted (not among the records)."""
    n = draw(st.integers(1, 8))
    live = draw(st.sets(st.integers(1, n), min_size=0, max_size=n))
    out = [rec("departments", i, name=f"FB {i}",
               dezernat=draw(st.one_of(st.none(), st.sampled_from(DEZERNATE))),
               active=draw(st.booleans()))
           for i in sorted(live)]
    return out, set(range(1, n + 2))  # n + 1: never existed


def day_strategy() -> st.SearchStrategy[date | None]:
    return st.one_of(st.none(), st.integers(-400, 400).map(lambda d: TODAY + timedelta(d)))


@st.composite
def projects(draw: Any, dept_ids: set[int]) -> list[Record]:
    out = []
    for i in range(1, draw(st.integers(0, 25)) + 1):
        dept = draw(st.one_of(st.none(), st.sampled_from(sorted(dept_ids))))
        out.append(rec(
            "projects", i, title=f"P{i}",
            department=Lookup(dept, f"FB {dept}") if dept is not None else None,
            field=draw(st.one_of(st.none(), st.sampled_from(FIELDS))),
            status=draw(st.one_of(st.none(), st.sampled_from(STATUSES))),
            traffic_light=draw(st.one_of(st.none(), st.sampled_from(("Grün", "Gelb", "Rot")))),
            budget=draw(st.one_of(st.none(), st.integers(0, 10_000).map(lambda b: b * 50.0))),
            milestone_date=draw(day_strategy()),
            planned_end=draw(day_strategy()),
        ))
    return out


# --------------------------------------------------------------------------- Portfolio


def expected_portfolio(depts: list[Record], projs: list[Record]) -> dict[str, dict[str, Any]]:
    live = {int(d.id): d for d in depts}
    groups: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))

    def dept_of(p: Record) -> Record | None:
        v = p["department"]
        return live.get(v.id) if isinstance(v, Lookup) else None

    for p in projs:
        d = dept_of(p)
        keys = [
            "Dezernat:" + (str(d["dezernat"]) if d and d["dezernat"] else EMPTY_KEY),
            "Fachbereich:" + (d.id if d else EMPTY_KEY),
            "Handlungsfeld:" + (str(p["field"]) if p["field"] else EMPTY_KEY),
        ]
        for k in keys:
            g = groups[k]
            g["projects"] += 1
            g["budget"] += p["budget"] or 0.0
            status = p["status"]
            for col, name in zip(("idea", "planning", "implementation", "done", "paused",
                                  "cancelled"), STATUSES, strict=True):
                g[col] += status == name
            if status in ACTIVE:
                g["active"] += 1
                light = p["traffic_light"]
                g["green"] += light == "Grün"
                g["yellow"] += light == "Gelb"
                g["red"] += light == "Rot"
                md = p["milestone_date"]
                g["overdue"] += isinstance(md, date) and md < TODAY
                pe = p["planned_end"]
                if isinstance(pe, date) and pe >= TODAY:
                    g["ends"] = [*g.get("ends", []), pe] if "ends" in g else [pe]
    for z in DEZERNATE:  # every Dezernat, also without projects
        groups["Dezernat:" + z]["projects"] += 0
    for d in depts:  # every active department
        if d["active"]:
            groups["Fachbereich:" + d.id]["projects"] += 0
    for f in FIELDS:
        groups["Handlungsfeld:" + f]["projects"] += 0
    return groups


@given(data=st.data())
@HYP
def test_portfolio_equals_an_independent_count(data: st.DataObject) -> None:
    depts, ids = data.draw(departments())
    projs = data.draw(projects(ids))
    rows = compute(job_spec("portfolio"), {"departments": depts, "projects": projs}, TODAY, TZ)
    expected = expected_portfolio(depts, projs)
    got = {r.key: r for r in rows}
    assert set(got) == set(expected)
    for key, want in expected.items():
        row = got[key]
        for col in ("projects", "active", "idea", "planning", "implementation", "done",
                    "paused", "cancelled", "green", "yellow", "red", "overdue"):
            assert row.values[col] == want.get(col, 0), (key, col)
        assert row.values["budget"] == pytest.approx(want.get("budget", 0.0))
        ends = want.get("ends")
        assert row.values["next_end"] == (min(ends) if ends else None)
        active, red = want.get("active", 0), want.get("red", 0)
        assert row.values["share_red"] == (round(100 * red / active, 1) if active else None)


def test_portfolio_groups_show_names_and_moving_a_project_changes_two_groups() -> None:
    depts = [rec("departments", 1, name="Bürgerdienste", dezernat="Dezernat I", active=True),
             rec("departments", 2, name="Schulen", dezernat="Dezernat II", active=True)]
    projs = [rec("projects", 1, department=Lookup(1, "Bürgerdienste"), status="Planung"),
             rec("projects", 2, department=Lookup(2, "Schulen"), status="Umsetzung"),
             rec("projects", 3, department=Lookup(9, "Gelöscht"), status="Idee")]
    spec = job_spec("portfolio")
    before = {r.key: r for r in compute(spec, {"departments": depts, "projects": projs},
                                        TODAY, TZ)}
    assert before["Fachbereich:1"].group == {"title": "Bürgerdienste"}
    # a lookup to a deleted department counts as "no department"
    assert before[f"Fachbereich:{EMPTY_KEY}"].group == {"title": "(ohne)"}
    assert before[f"Dezernat:{EMPTY_KEY}"].values["projects"] == 1
    assert before["Dezernat:Dezernat VII"].values["projects"] == 0
    moved = [projs[0], rec("projects", 2, department=Lookup(2, "Schulen"), status="Pausiert"),
             projs[2]]
    after = {r.key: r for r in compute(spec, {"departments": depts, "projects": moved},
                                       TODAY, TZ)}
    changed = {k for k in before if before[k] != after[k]}
    field_key = f"Handlungsfeld:{EMPTY_KEY}"
    assert changed == {"Dezernat:Dezernat II", "Fachbereich:2", field_key}


# --------------------------------------------------------------------------- trainings


@st.composite
def training_lists(draw: Any) -> tuple[list[Record], list[Record]]:
    trainings = []
    n = draw(st.integers(0, 12))
    for i in range(1, n + 1):
        start = draw(st.one_of(st.none(), st.integers(-500, 300).map(
            lambda d: datetime(2026, 11, 30, 9, tzinfo=TZ) + timedelta(days=d, hours=d % 17))))
        trainings.append(rec(
            "trainings", i, topic=f"T{i}",
            category=draw(st.one_of(st.none(), st.sampled_from(CATEGORIES))), start=start,
            max_participants=draw(st.one_of(st.none(), st.integers(0, 30).map(float))),
            status=draw(st.one_of(st.none(), st.sampled_from(
                ("Geplant", "Abgesagt", "Durchgeführt"))))))
    regs = []
    for j in range(1, draw(st.integers(0, 60)) + 1):
        t = draw(st.one_of(st.none(), st.integers(1, n + 2)))  # n+1, n+2: deleted
        regs.append(rec("registrations", j,
                        training=Lookup(t, f"T{t}") if t is not None else None,
                        status=draw(st.one_of(st.none(), st.sampled_from(REG_STATUSES)))))
    return trainings, regs


@given(data=st.data())
@HYP
def test_training_stats_equal_an_independent_count(data: st.DataObject) -> None:
    trainings, regs = data.draw(training_lists())
    rows = compute(job_spec("training-stats"),
                   {"trainings": trainings, "registrations": regs}, TODAY, TZ)
    lo, hi = resolve_date("-12 months", TODAY), resolve_date("+6 months", TODAY)
    kept: dict[str, Record] = {}
    for t in trainings:
        start = t["start"]
        if t["status"] in ("Geplant", "Durchgeführt") and isinstance(start, datetime) \
                and lo <= start.astimezone(TZ).date() <= hi:
            kept[t.id] = t
    want: dict[str, Counter[str]] = defaultdict(Counter)
    months: set[str] = set()
    for t in kept.values():
        cat = str(t["category"]) if t["category"] else EMPTY_KEY
        start = t["start"]
        assert isinstance(start, datetime)
        month = f"{start.astimezone(TZ):%Y-%m}"
        months.add(month)
        for key in (f"Monat:{cat}|{month}", f"Kategorie:{cat}"):
            want[key]["sessions"] += 1
            want[key]["seats"] += int(t["max_participants"] or 0)  # type: ignore[call-overload]
    for r in regs:
        v = r["training"]
        t = kept.get(str(v.id)) if isinstance(v, Lookup) else None
        if t is None:
            continue
        start = t["start"]
        assert isinstance(start, datetime)
        cat = str(t["category"]) if t["category"] else EMPTY_KEY
        for key in (f"Monat:{cat}|{start.astimezone(TZ):%Y-%m}", f"Kategorie:{cat}"):
            s = r["status"]
            want[key]["registrations"] += s != "Storniert"
            want[key]["taken"] += s in ("Angemeldet", "Teilgenommen")
            want[key]["attended"] += s == "Teilgenommen"
            want[key]["no_shows"] += s == "Nicht erschienen"
            want[key]["waiting"] += s == "Warteliste"
            want[key]["recorded"] += s in ("Teilgenommen", "Nicht erschienen")
    for c in CATEGORIES:  # every category, per observed month too
        want[f"Kategorie:{c}"]["sessions"] += 0
        for m in months:
            want[f"Monat:{c}|{m}"]["sessions"] += 0
    got = {r.key: r for r in rows}
    assert set(got) == set(want)
    for key, counts in want.items():
        v = got[key].values
        for col in ("sessions", "registrations", "taken", "attended", "no_shows", "waiting",
                    "recorded"):
            assert v[col] == counts[col], (key, col)
        assert v["seats"] == counts["seats"]
        seats = counts["seats"]
        assert v["utilisation"] == (round(100 * counts["taken"] / seats, 1) if seats else None)


# --------------------------------------------------------------------------- round tables


@st.composite
def attendance_lists(draw: Any) -> tuple[list[Record], list[Record], list[Record]]:
    depts = [rec("departments", i, name=f"FB {i}", active=draw(st.booleans()))
             for i in range(1, draw(st.integers(1, 6)) + 1)]
    tables = []
    n = draw(st.integers(0, 12))
    for i in range(1, n + 1):
        day = draw(st.one_of(st.none(), st.integers(-200, 60)))
        tables.append(rec(
            "round_tables", i,
            date=None if day is None else datetime(2026, 11, 30, 10, tzinfo=TZ)
            + timedelta(days=day),
            status=draw(st.sampled_from(("Geplant", "Durchgeführt", "Ausgefallen")))))
    att = []
    for j in range(1, draw(st.integers(0, 50)) + 1):
        rt = draw(st.integers(1, n + 1))
        dept = draw(st.one_of(st.none(), st.integers(1, len(depts) + 1)))
        att.append(rec("attendance", j, round_table=Lookup(rt, None),
                       department=Lookup(dept, f"FB {dept}") if dept else None,
                       present=draw(st.one_of(st.none(), st.booleans()))))
    return depts, tables, att


@given(data=st.data())
@HYP
def test_attendance_rate_equals_an_independent_count(data: st.DataObject) -> None:
    depts, tables, att = data.draw(attendance_lists())
    rows = compute(job_spec("attendance-rate"),
                   {"departments": depts, "round_tables": tables, "attendance": att},
                   TODAY, TZ)
    held = sorted(((t["date"], int(t.id)) for t in tables
                   if t["status"] == "Durchgeführt" and t["date"]),
                  reverse=True)[:6]
    window = {str(i) for _, i in held}
    dates = {t.id: t["date"] for t in tables}
    live = {d.id for d in depts}
    met: dict[str, set[str]] = defaultdict(set)
    for a in att:
        rt, dept = a["round_table"], a["department"]
        assert isinstance(rt, Lookup)
        if str(rt.id) not in window:
            continue
        key = str(dept.id) if isinstance(dept, Lookup) and str(dept.id) in live else EMPTY_KEY
        met.setdefault(key, set())
        if a["present"] is True:
            met[key].add(str(rt.id))
    expected_keys = set(met) | {d.id for d in depts if d["active"]}
    got = {r.key: r for r in rows}
    assert set(got) == {f"Fachbereich:{k}" for k in expected_keys}
    for k in expected_keys:
        v = got[f"Fachbereich:{k}"].values
        attended = met.get(k, set())
        assert v["meetings"] == len(window)
        assert v["attended"] == len(attended)
        assert v["rate"] == (round(100 * len(attended) / len(window), 1) if window else None)
        last = max((dates[i] for i in attended), default=None)  # type: ignore[type-var]
        assert v["last_attended"] == (last.astimezone(TZ) if last else None)  # type: ignore[union-attr]


# --------------------------------------------------------------------------- declarations


def test_relative_dates() -> None:
    assert resolve_date("today", TODAY) == TODAY
    assert resolve_date("-12 months", TODAY) == date(2025, 11, 30)
    assert resolve_date("+3 months", date(2026, 11, 30)) == date(2027, 2, 28)
    assert resolve_date("-2 weeks", TODAY) == date(2026, 11, 16)
    assert resolve_date("+1 year", TODAY) == date(2027, 11, 30)
    assert resolve_date("2026-01-05", TODAY) == date(2026, 1, 5)
    with pytest.raises(ValueError):
        resolve_date("last tuesday", TODAY)


def test_bad_declarations_name_every_problem_with_its_key() -> None:
    raw: dict[str, Any] = {
        "source": "projects",
        "filter": {"colour": "Rot", "planned_end": {"before": "today"}},
        "window": {"column": "status", "from": "-1 year"},
        "grains": [{"name": "X", "dimensions": {"title": "department.nope"}},
                   {"name": "Y", "dimensions": {"title": {"path": "field",
                                                          "truncate": "month"}}}],
        "measures": {"a": {"sum": "title"}, "b": {"rate": ["a", "zzz"]},
                     "c": {"count": True, "max": "budget"}, "d": {"window": True},
                     "e": {"count": True, "child": {"list": "registrations",
                                                    "via": "training"}}},
    }
    with pytest.raises(RollupError) as err:
        compile_rollup(raw, MAPPING)
    keys = [k for k, _, _ in err.value.problems]
    assert keys == [
        "filter.colour", "filter.planned_end.before", "window.column", "measures.a.sum",
        "measures.b.rate", "measures.c", "measures.d", "measures.e.child.via",
        "grains[0].dimensions.title.path", "grains[1].dimensions.title.truncate",
    ]
    for _, reason, hint in err.value.problems:
        assert reason and hint


def test_total_grain_without_dimensions_and_avg_min_max() -> None:
    raw = {"source": "projects", "grains": [{"name": "Gesamt"}],
           "measures": {"n": {"count": True}, "avg": {"avg": "budget"},
                        "lo": {"min": "budget"}, "hi": {"max": "planned_end"},
                        "fields": {"count_distinct": "field"}}}
    spec = compile_rollup(raw, MAPPING)
    projs = [rec("projects", 1, budget=100.0, field="Bildung", planned_end=date(2027, 1, 1)),
             rec("projects", 2, budget=None, field="Bildung"),
             rec("projects", 3, budget=50.0, field="Smart City")]
    (row,) = compute(spec, {"projects": projs}, TODAY, TZ)
    assert row.key == "Gesamt:"
    assert row.values == {"n": 3, "avg": 75.0, "lo": 50.0, "hi": date(2027, 1, 1),
                          "fields": 2}
    (empty,) = compute(spec, {"projects": []}, TODAY, TZ)
    assert empty.values == {"n": 0, "avg": None, "lo": None, "hi": None, "fields": 0}


@given(data=st.data())
@HYP
def test_the_digest_portfolio_and_the_portfolio_list_agree(data: st.DataObject) -> None:
    depts, ids = data.draw(departments())
    projs = data.draw(projects(ids))
    records = {"departments": depts, "projects": projs}
    digest = build_portfolio(records)
    rows = compute(job_spec("portfolio"), records, TODAY, TZ)

    def listed(grain: str) -> dict[str, int]:
        out = {}
        for r in rows:
            n = r.values["projects"]
            if r.grain == grain and isinstance(n, int) and n:
                label = str(r.group["title"])
                out["—" if label == "(ohne)" else label] = n
        return out

    assert {b.label: b.count for b in digest.by_dezernat} == listed("Dezernat")
    assert {b.label: b.count for b in digest.by_field} == listed("Handlungsfeld")
    assert digest.total == sum(listed("Dezernat").values()) == len(projs)
    assert digest.active == sum(int(r.values["active"] or 0)  # type: ignore[call-overload]
                                for r in rows if r.grain == "Handlungsfeld")
    red = sum(int(r.values["red"] or 0) for r in rows  # type: ignore[call-overload]
              if r.grain == "Dezernat")
    assert {b.label: b.count for b in digest.by_light}.get("Rot", 0) == red


def straightforward_digest_portfolio(depts: list[Record], projs: list[Record]) -> Any:
    """The digest's portfolio as it was counted before it used the roll-up engine."""
    live = {d.id: d for d in depts}

    def text(v: Value) -> str | None:
        return None if v in (None, "") else str(v)

    active = [p for p in projs if p.get("status") in ACTIVE]
    by_dez: Counter[str] = Counter()
    for p in projs:
        v = p.get("department")
        dept = live.get(str(v.id)) if isinstance(v, Lookup) else None
        by_dez[(text(dept.get("dezernat")) if dept else None) or "—"] += 1
    return (len(projs), len(active),
            dict(Counter(text(p.get("status")) or "—" for p in projs)),
            dict(Counter(text(p.get("traffic_light")) or "—" for p in active)),
            dict(by_dez), dict(Counter(text(p.get("field")) or "—" for p in projs)))


@given(data=st.data())
@HYP
def test_the_digest_portfolio_counts_as_before(data: st.DataObject) -> None:
    depts, ids = data.draw(departments())
    projs = data.draw(projects(ids))
    p = build_portfolio({"departments": depts, "projects": projs})

    def bars(bs: Any) -> dict[str, int]:
        return {b.label: b.count for b in bs}

    assert (p.total, p.active, bars(p.by_status), bars(p.by_light), bars(p.by_dezernat),
            bars(p.by_field)) == straightforward_digest_portfolio(depts, projs)


def _groups_of(p: Record, depts: list[Record]) -> set[str]:
    live = {d.id: d for d in depts}
    v = p["department"]
    d = live.get(str(v.id)) if isinstance(v, Lookup) else None
    return {"Dezernat:" + (str(d["dezernat"]) if d and d["dezernat"] else EMPTY_KEY),
            "Fachbereich:" + (d.id if d else EMPTY_KEY),
            "Handlungsfeld:" + (str(p["field"]) if p["field"] else EMPTY_KEY)}


@given(data=st.data())
@HYP
def test_a_project_that_moves_changes_only_its_old_and_new_groups(
    data: st.DataObject,
) -> None:
    depts, ids = data.draw(departments())
    projs = data.draw(projects(ids))
    if not projs:
        return
    i = data.draw(st.integers(0, len(projs) - 1))
    (other,) = data.draw(projects(ids).filter(lambda ps: len(ps) >= 1).map(lambda ps: ps[:1]))
    moved = Record("projects", projs[i].id, other.values)  # same item, new values
    spec = job_spec("portfolio")
    before = {r.key: r for r in compute(spec, {"departments": depts, "projects": projs},
                                        TODAY, TZ)}
    after_list = [*projs[:i], moved, *projs[i + 1:]]
    after = {r.key: r for r in compute(spec, {"departments": depts, "projects": after_list},
                                       TODAY, TZ)}
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed <= _groups_of(projs[i], depts) | _groups_of(moved, depts)
