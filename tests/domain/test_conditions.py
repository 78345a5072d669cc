"""The one conditions module (rules, roll-ups, the copy filter): relative dates at month
ends and across daylight-saving changes, operators, people and lookups, paths through
lookups, and problems that name their key (Hypothesis)."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sp_sync.domain.conditions import (
    ALWAYS,
    Condition,
    EvalEnv,
    Evaluator,
    RelativeDate,
    RuleError,
    add_months,
    compile_condition,
    parse_condition,
    parse_date,
    relative_date,
    resolve_date,
)
from sp_sync.domain.model import ColumnSpec, ListMapping, ListSpec, Lookup, Person, Record
from sp_sync.domain.model import ColumnType as CT

TZ = ZoneInfo("Europe/Berlin")
DEPTS = ListSpec("departments", "Fachbereiche", (
    ColumnSpec("name", "Title", CT.TEXT),
    ColumnSpec("active", "Aktiv", CT.BOOLEAN),
))
PROJECTS = ListSpec("projects", "Projekte", (
    ColumnSpec("title", "Title", CT.TEXT),
    ColumnSpec("status", "Status", CT.CHOICE, choices=("Idee", "Planung", "Umsetzung")),
    ColumnSpec("tags", "Tags", CT.MULTICHOICE),
    ColumnSpec("lead", "Lead", CT.PERSON),
    ColumnSpec("department", "Fachbereich", CT.LOOKUP, lookup_list="departments"),
    ColumnSpec("end", "Ende", CT.DATE),
    ColumnSpec("meeting", "Termin", CT.DATETIME),
    ColumnSpec("budget", "Budget", CT.NUMBER),
))
MAPPING = ListMapping((PROJECTS, DEPTS))
ANNA = Person("Anna Becker", "anna.becker@mannheim.de", 11)

days = st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31))
counts = st.integers(min_value=0, max_value=600)


def cond(raw: Any) -> Condition:
    return parse_condition(raw, PROJECTS, "when", MAPPING)


def project(**values: Any) -> Record:
    return Record("projects", "1", values)


def holds(raw: Any, today: date = date(2026, 11, 30), **values: Any) -> bool:
    return Evaluator(EvalEnv(today, TZ)).holds(cond(raw), project(**values))


# --------------------------------------------------------------------------- relative dates


def last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


@given(days, st.integers(min_value=-1200, max_value=1200))
def test_months_keep_the_day_or_take_the_month_end(day: date, n: int) -> None:
    got = add_months(day, n)
    months = day.year * 12 + day.month - 1 + n
    assert got.year * 12 + got.month - 1 == months
    assert got.day == min(day.day, last_day(got.year, got.month))


@given(days, st.integers(min_value=1, max_value=100))
def test_month_ends_stay_month_ends_only_where_the_month_is_shorter(day: date, n: int
                                                                    ) -> None:
    there = resolve_date(f"+{n} months", day)
    back = resolve_date(f"-{n} months", there)
    assert back <= day  # clamped on the way there: never later on the way back
    if day.day <= 28:
        assert back == day


@pytest.mark.parametrize(("text", "today", "expected"), [
    ("+1 month", date(2026, 1, 31), date(2026, 2, 28)),
    ("+1 month", date(2028, 1, 31), date(2028, 2, 29)),  # leap year
    ("-1 month", date(2026, 3, 31), date(2026, 2, 28)),
    ("+1 quarter", date(2026, 11, 30), date(2027, 2, 28)),
    ("-1 year", date(2028, 2, 29), date(2027, 2, 28)),
    ("+4 years", date(2028, 2, 29), date(2032, 2, 29)),
    ("-12 months", date(2026, 12, 31), date(2025, 12, 31)),
    ("today -3 days", date(2026, 3, 1), date(2026, 2, 26)),
    ("  Today  +2 Weeks ", date(2026, 12, 25), date(2027, 1, 8)),
    ("+1 day", date(2026, 12, 31), date(2027, 1, 1)),
    ("2026-01-05", date(2026, 11, 30), date(2026, 1, 5)),
])
def test_month_ends_leap_years_and_year_ends(text: str, today: date, expected: date) -> None:
    assert resolve_date(text, today) == expected


@given(days, counts, st.sampled_from(["+", "-"]), st.booleans())
def test_days_and_weeks_are_calendar_days(today: date, n: int, sign: str, prefix: bool
                                          ) -> None:
    step = n if sign == "+" else -n
    lead = "today " if prefix else ""
    assert resolve_date(f"{lead}{sign}{n} days", today) == today + timedelta(days=step)
    assert resolve_date(f"{lead}{sign} {n} weeks", today) == today + timedelta(weeks=step)
    assert resolve_date("today", today) == today


@given(days, days)
def test_iso_dates_do_not_depend_on_today(day: date, today: date) -> None:
    assert resolve_date(day.isoformat(), today) == day
    assert relative_date(day.isoformat()) is None


@given(st.text(max_size=20))
def test_any_text_is_a_date_or_a_value_error(text: str) -> None:
    parsed = parse_date(text)
    if parsed is None:
        with pytest.raises(ValueError):
            resolve_date(text, date(2026, 11, 30))
    else:
        assert isinstance(resolve_date(text, date(2026, 11, 30)), date)


def test_far_relative_dates_never_crash_a_run() -> None:
    ev = Evaluator(EvalEnv(date(9999, 12, 1), TZ))
    c = cond({"end": {"lt": "+999 years"}})
    assert not ev.holds(c, project(end=date(9999, 12, 5)))
    with pytest.raises(ValueError):
        resolve_date("+999 years", date(9999, 12, 1))


# --------------------------------------------------------------------------- daylight saving

# Around the changes of 2026 in Europe/Berlin (29 March: 02:00 → 03:00; 25 October: 03:00 →
# 02:00), every minute for two days.
dst_moments = st.sampled_from([datetime(2026, 3, 28, tzinfo=UTC),
                               datetime(2026, 10, 24, tzinfo=UTC)]).flatmap(
    lambda start: st.integers(min_value=0, max_value=3 * 24 * 60).map(
        lambda m: start + timedelta(minutes=m)))


@given(dst_moments, st.integers(min_value=-3, max_value=3))
def test_date_times_compare_by_their_local_day_across_dst(moment: datetime, shift: int
                                                          ) -> None:
    local = moment.astimezone(TZ).date()
    today = local - timedelta(days=shift)
    text = f"{'+' if shift >= 0 else '-'}{abs(shift)} days"
    assert holds({"meeting": {"gte": text, "lte": text}}, today, meeting=moment)
    assert holds({"meeting": {"lt": "today"}}, today, meeting=moment) is (shift < 0)
    assert holds({"meeting": {"gt": "today"}}, today, meeting=moment) is (shift > 0)
    # equality with an ISO day means the local day too
    assert holds({"meeting": local.isoformat()}, today, meeting=moment)


def test_the_dst_sunday_is_one_calendar_day() -> None:
    # 23 hours on 29 March, 25 on 25 October: "-1 days" is still yesterday
    assert resolve_date("-1 days", date(2026, 3, 30)) == date(2026, 3, 29)
    late = datetime(2026, 3, 29, 21, 59, tzinfo=UTC)  # 23:59 local, summer time
    assert holds({"meeting": {"gte": "-1 days", "lt": "today"}}, date(2026, 3, 30),
                 meeting=late)
    assert not holds({"meeting": {"gte": "today"}}, date(2026, 3, 30), meeting=late)


# --------------------------------------------------------------------------- operators

scalars = st.one_of(st.sampled_from(["Idee", "Planung", "Umsetzung", ""]),
                    st.integers(-3, 3), st.booleans())
values = st.one_of(st.none(), scalars, st.tuples(scalars, scalars),
                   st.builds(Lookup, st.integers(1, 3), st.sampled_from(["A", "B", None])),
                   st.just(ANNA), st.dates(date(2026, 1, 1), date(2026, 12, 31)))


@given(values, scalars, st.lists(scalars, min_size=1, max_size=3))
def test_negations_and_the_list_shorthand(value: Any, want: Any, options: list[Any]) -> None:
    ev = Evaluator(EvalEnv(date(2026, 11, 30), TZ))
    rec = project(title=value)

    def h(raw: Any) -> bool:
        return ev.holds(cond({"title": raw}), rec)

    assert h({"ne": want}) is not h(want)
    assert h({"eq": want}) is h(want)
    assert h({"not_in": options}) is not h({"in": options})
    assert h(options) is h({"in": options})
    assert h({"in": options}) is any(h(o) for o in options)
    assert h({"empty": True}) is (value in (None, "", ()))
    assert h({"empty": False}) is not h({"empty": True})


@given(st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False)),
       st.integers(-5, 5))
def test_number_comparisons_are_a_total_order(n: float, bound: int) -> None:
    def h(op: str) -> bool:
        return holds({"budget": {op: bound}}, budget=n)

    assert h("lt") is not h("gte")
    assert h("gt") is not h("lte")
    assert h("lt") is (n < bound) and h("gte") is (n >= bound)


@given(st.sampled_from(["lt", "lte", "gt", "gte"]),
       st.sampled_from([None, "", (), True, False, "Text", ANNA, Lookup(1, "A")]))
def test_empty_and_incomparable_values_never_satisfy_a_comparison(op: str, value: Any
                                                                  ) -> None:
    assert not holds({"budget": {op: 0}}, budget=value)
    assert not holds({"end": {op: "today"}}, end=value)


def test_people_by_name_e_mail_or_id_lookups_by_title_or_id() -> None:
    for want in ("Anna Becker", "anna.becker@mannheim.de", 11):
        assert holds({"lead": want}, lead=ANNA)
    assert not holds({"lead": "Ben Schulz"}, lead=ANNA)
    for want in ("Bürgerservice", 3):
        assert holds({"department": want}, department=Lookup(3, "Bürgerservice"))
    assert holds({"tags": "b"}, tags=("a", "b"))  # several values: one of them


def test_paths_through_lookups_and_deleted_lookups() -> None:
    depts = {"3": Record("departments", "3", {"name": "Bürgerservice", "active": True}),
             "4": Record("departments", "4", {"name": "Altamt", "active": False})}
    items = {"departments": depts}
    ev = Evaluator(EvalEnv(date(2026, 11, 30), TZ), lambda key: items.get(key, {}))
    c = cond({"department.active": True})
    assert c.lists == ("departments",)
    assert ev.holds(c, project(department=Lookup(3, "Bürgerservice")))
    assert not ev.holds(c, project(department=Lookup(4, "Altamt")))
    assert not ev.holds(c, project(department=Lookup(9, "gelöscht")))
    # a lookup to a deleted item is empty
    gone = project(department=Lookup(9, "gelöscht"))
    assert ev.holds(cond({"department": {"empty": True}}), gone)
    assert not ev.holds(cond({"department": "gelöscht"}), gone)
    assert ALWAYS(gone, EvalEnv(date(2026, 11, 30), TZ))


@pytest.mark.parametrize(("raw", "key", "reason"), [
    ({"nope": 1}, "when.nope", "list 'projects' has no column 'nope'"),
    ({"status": {"like": "x"}}, "when.status.like", "unknown operator 'like'"),
    ({"end": {"gt": "yesterday-ish"}}, "when.end.gt", "'yesterday-ish' is no date"),
    ({"budget": {"gt": "today"}}, "when.budget.gt", "'today' is no number"),
    ({"status": {"gt": "Idee"}}, "when.status.gt", "cannot compare with 'Idee'"),
    ({"status": []}, "when.status", "in needs a non-empty list"),
    ({"status": {"in": "Idee"}}, "when.status.in", "in needs a non-empty list"),
    ({"status": {"empty": "ja"}}, "when.status.empty", "empty needs true or false"),
    ({"status": {"eq": ["a"]}}, "when.status.eq", "['a'] is no single value"),
    ({"title.x": 1}, "when.title.x", "projects.title is no lookup"),
    ({"department.nope": 1}, "when.department.nope", "list 'departments' has no column"),
    ("status = 1", "when", "must be a table"),
])
def test_problems_name_key_and_reason(raw: Any, key: str, reason: str) -> None:
    with pytest.raises(RuleError) as err:
        cond(raw)
    assert err.value.key == key and reason in err.value.reason and err.value.hint


toml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=12), st.dates()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["status", "end", "budget", "lead", "department.active", "gt",
                         "in", "empty", "x"]), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=200)
@given(toml_values)
def test_any_declaration_compiles_or_names_its_problems(raw: Any) -> None:
    problems: list[tuple[str, str, str]] = []
    c = compile_condition(raw, MAPPING, "projects", "params.filter",
                          lambda *p: problems.append(p))
    assert all(k.startswith("params.filter") and r and h for k, r, h in problems)
    if not problems:  # what compiles evaluates on anything without raising
        ev = Evaluator(EvalEnv(date(2026, 11, 30), TZ), lambda key: {})
        for v in (None, "", 0, ANNA, Lookup(1, "A"), date(2026, 1, 1),
                  datetime(2026, 3, 29, 1, 30, tzinfo=UTC), ("a",)):
            ev.holds(c, project(status=v, end=v, budget=v, lead=v, department=v))


def test_relative_date_values() -> None:
    assert relative_date("today") == RelativeDate()
    assert relative_date("-12 months") == RelativeDate(months=-12)
    assert relative_date("+1 quarter") == RelativeDate(months=3)
    assert relative_date("today -2 weeks") == RelativeDate(days=-14)
    assert relative_date("last tuesday") is None
