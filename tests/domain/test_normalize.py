"""Normalisation of Graph wire values and the canonical hash (B1, B2, F16)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sp_sync.domain.model import ColumnSpec, ColumnType, Link, ListSpec, Lookup, Person
from sp_sync.domain.normalize import (
    content_hash,
    date_to_wire,
    normalize_column,
    normalize_fields,
    problems,
    raw_equal,
)

TZ = ZoneInfo("Europe/Berlin")
T = ColumnType
COLS = (
    ColumnSpec("title", "Title", T.TEXT),
    ColumnSpec("report", "Bericht", T.NOTE),
    ColumnSpec("count", "Anzahl", T.NUMBER),
    ColumnSpec("budget", "Budget", T.CURRENCY),
    ColumnSpec("public", "Oeffentlich", T.BOOLEAN),
    ColumnSpec("starts", "Beginn", T.DATETIME),
    ColumnSpec("due", "Faellig", T.DATE),
    ColumnSpec("status", "Status", T.CHOICE),
    ColumnSpec("tags", "Tags", T.MULTICHOICE),
    ColumnSpec("lead", "Leitung", T.PERSON),
    ColumnSpec("dept", "Fachbereich", T.LOOKUP, lookup_list="departments"),
    ColumnSpec("depts", "Fachbereiche", T.MULTILOOKUP, lookup_list="departments"),
    ColumnSpec("link", "Quelle", T.URL),
)
SPEC = ListSpec("things", "Dinge", COLS)
COL = {c.key: c for c in COLS}


class Directory:
    """A Resolver over fixed data (the engine's StoreResolver reads the mirror)."""

    def person(self, lookup_id: int) -> Person | None:
        return {7: Person("Anna Becker", "anna.becker@mannheim.de", 7)}.get(lookup_id)

    def lookup(self, list_key: str, lookup_id: int) -> Lookup | None:
        titles = {("departments", 3): "Bürgerservice"}
        title = titles.get((list_key, lookup_id))
        return Lookup(lookup_id, title) if title else None


FULL = {
    "Title": "  Digitale Akte  ",
    "Bericht": "Zeile 1\nZeile 2",
    "Anzahl": 5.0,
    "Budget": 1250.5,
    "Oeffentlich": True,
    "Beginn": "2026-12-01T08:00:00Z",
    "Faellig": "2026-11-30T23:00:00Z",
    "Status": "Umsetzung",
    "Tags": ["KI", "Cloud"],
    "LeitungLookupId": "7",
    "FachbereichLookupId": "3",
    "Fachbereiche": [{"LookupId": 3, "LookupValue": "Bürgerservice"}, {"LookupId": 4}],
    "Quelle": {"Url": "https://example.org/a", "Description": "Artikel"},
}


def test_every_type_normalises_to_its_python_value() -> None:
    values = normalize_fields(SPEC, FULL, Directory(), TZ)
    assert values == {
        "title": "Digitale Akte",
        "report": "Zeile 1\nZeile 2",
        "count": 5,
        "budget": 1250.5,
        "public": True,
        "starts": datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        "due": date(2026, 12, 1),
        "status": "Umsetzung",
        "tags": ("KI", "Cloud"),
        "lead": Person("Anna Becker", "anna.becker@mannheim.de", 7),
        "dept": Lookup(3, "Bürgerservice"),
        "depts": (Lookup(3, "Bürgerservice"), Lookup(4, None)),
        "link": Link("https://example.org/a", "Artikel"),
    }
    assert isinstance(values["count"], int)
    assert values["starts"].tzinfo is not None  # type: ignore[union-attr]


def test_unknown_person_and_lookup_keep_the_id() -> None:
    fields = {"LeitungLookupId": "99", "FachbereichLookupId": 42}
    assert normalize_column(COL["lead"], fields, Directory(), TZ) == Person("#99", id=99)
    assert normalize_column(COL["dept"], fields, Directory(), TZ) == Lookup(42, None)


@pytest.mark.parametrize("empty", [None, "", "   ", [], {}, "missing"])
def test_every_empty_spelling_is_none_and_hashes_alike(empty: object) -> None:
    base = {k: v for k, v in FULL.items() if k != "Status"}
    fields = dict(base) if empty == "missing" else {**base, "Status": empty}
    assert normalize_column(COL["status"], fields, Directory(), TZ) is None
    assert content_hash(SPEC, fields) == content_hash(SPEC, base)
    for col in COLS:
        one = {} if empty == "missing" else {col.field_name: empty}
        assert normalize_column(col, one, Directory(), TZ) is None


def test_hash_ignores_spelling_order_etag_and_unmapped_fields() -> None:
    same = {
        **FULL,
        "Anzahl": 5,  # 5 and 5.0
        "LeitungLookupId": 7,  # "7" and 7
        "FachbereichLookupId": 3,
        "Fachbereiche": [{"LookupValue": "x", "LookupId": "4"}, {"LookupId": "3"}],
        "Tags": ["Cloud", "KI"],
        "Quelle": {"Description": "Artikel", "Url": "https://example.org/a"},
        "Faellig": "2026-11-30T23:00:00.000Z",
        "Title": "Digitale Akte",
        "Modified": "2027-01-01T00:00:00Z",
        "@odata.etag": '"{X},9"',
        "Unmapped": "anything",
    }
    assert content_hash(SPEC, same) == content_hash(SPEC, dict(reversed(FULL.items())))
    assert raw_equal(COL["dept"], "3", 3)
    assert raw_equal(COL["count"], 5, 5.0)
    assert not raw_equal(COL["count"], 5, 6)
    assert not raw_equal(COL["title"], "a", "b")


def test_hash_changes_with_any_mapped_value() -> None:
    base = content_hash(SPEC, FULL)
    for col in COLS:
        changed = {**FULL, col.field_name: None}
        assert content_hash(SPEC, changed) != base, col.key
    assert content_hash(SPEC, {**FULL, "Oeffentlich": False}) != base


@pytest.mark.parametrize(
    ("wire", "local"),
    [
        ("2026-03-28T23:00:00Z", date(2026, 3, 29)),  # CET midnight: the DST Sunday
        ("2026-03-29T22:00:00Z", date(2026, 3, 30)),  # CEST midnight after the switch
        ("2026-10-24T22:00:00Z", date(2026, 10, 25)),  # CEST midnight: back to CET
        ("2026-10-25T23:00:00Z", date(2026, 10, 26)),
        ("2026-12-01", date(2026, 12, 1)),  # a bare date some clients write
    ],
)
def test_date_only_columns_are_local_dates_around_dst(wire: str, local: date) -> None:
    assert normalize_column(COL["due"], {"Faellig": wire}, Directory(), TZ) == local


def test_date_wire_shape_round_trips_every_day_of_the_year() -> None:
    day = date(2026, 1, 1)
    while day.year == 2026:
        wire = date_to_wire(day, TZ)
        assert wire.endswith("Z")
        assert normalize_column(COL["due"], {"Faellig": wire}, Directory(), TZ) == day
        day += timedelta(days=1)
    assert date_to_wire(date(2026, 3, 29), TZ) == "2026-03-28T23:00:00Z"
    assert date_to_wire(date(2026, 3, 30), TZ) == "2026-03-29T22:00:00Z"


def test_unusual_text_survives_unchanged() -> None:
    for text in ["🚀 Projekt ✨", "مشروع رقمي", "<script>alert(1)</script>", "x" * 60_000]:
        fields = {"Title": text}
        assert normalize_column(COL["title"], fields, Directory(), TZ) == text
        assert len(content_hash(SPEC, fields)) == 64
    link = {"Quelle": {"Url": "javascript:alert(1)", "Description": "klick"}}
    assert normalize_column(COL["link"], link, Directory(), TZ) == Link("javascript:alert(1)",
                                                                         "klick")


def test_bad_values_become_none_and_are_reported() -> None:
    bad = {
        "Anzahl": "viele",
        "Budget": float("nan"),
        "Oeffentlich": "vielleicht",
        "Beginn": "morgen früh",
        "Faellig": "30.11.2026",
        "LeitungLookupId": "anna",
        "FachbereichLookupId": True,
        "Fachbereiche": [{"LookupId": "x"}],
        "Quelle": 17,
    }
    values = normalize_fields(SPEC, bad, Directory(), TZ)
    assert all(values[c.key] is None for c in COLS if c.field_name in bad)
    found = {p.column: p for p in problems(SPEC, bad, TZ)}
    assert set(found) == {c.key for c in COLS if c.field_name in bad}
    assert found["count"].raw == "viele"
    assert "viele" in found["count"].reason
    assert problems(SPEC, FULL, TZ) == []
    content_hash(SPEC, bad)  # hashing bad data never raises


def test_lenient_spellings_are_read() -> None:
    assert normalize_column(COL["count"], {"Anzahl": "12,5"}, Directory(), TZ) == 12.5
    assert normalize_column(COL["public"], {"Oeffentlich": "true"}, Directory(), TZ) is True
    tags = normalize_column(COL["tags"], {"Tags": ";#a;#b;#"}, Directory(), TZ)
    assert tags == ("a", "b")
    assert normalize_column(COL["link"], {"Quelle": "https://x.de"}, Directory(), TZ) == Link(
        "https://x.de"
    )
    starts = normalize_column(COL["starts"], {"Beginn": "2026-06-01T10:00:00+02:00"},
                              Directory(), TZ)
    assert starts == datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
