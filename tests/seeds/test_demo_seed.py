from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sp_sync.config.mapping import load_mapping
from sp_sync.domain.model import ColumnType, ListMapping
from sp_sync.emulator.seeds.demo import DATA_PROBLEMS, DEMO_COUNTS, demo_counts, demo_seed

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 12, 1)
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def mapping() -> ListMapping:
    return load_mapping(REPO / "config" / "lists.toml")


@pytest.fixture(scope="module")
def seed() -> dict[str, Any]:
    return demo_seed(TODAY)


def _lists(seed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lst["displayName"]: lst for lst in seed["sites"][0]["lists"]}


def _items(seed: dict[str, Any], mapping: ListMapping, key: str) -> dict[str, dict[str, Any]]:
    lst = _lists(seed)[mapping.get(key).title]
    return {i["id"]: i["fields"] for i in lst["items"]}


def _utc(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _day(value: str) -> date:
    local = _utc(value).astimezone(BERLIN)
    assert (local.hour, local.minute) == (0, 0), value  # date-only: local midnight
    return local.date()


def test_shape_every_mapped_column_typed(seed: dict[str, Any], mapping: ListMapping) -> None:
    lists = _lists(seed)
    users = {u["id"] for u in seed["users"]}
    assert seed["hostname"] == "mannheim.sharepoint.com" and seed["mailboxes"] == [
        "dtc@mannheim.de"]
    assert all(u["email"].endswith("@mannheim.de") for u in seed["users"])
    for spec in mapping.lists:
        if spec.key == "users":
            assert spec.title not in lists  # built from seed["users"]
            continue
        if spec.role == "target":  # sp-sync provisions the lists it writes
            assert spec.title not in lists
            continue
        lst = lists[spec.title]
        defined = {c["name"] for c in lst["columns"]}
        for col in spec.columns:
            assert col.name in defined or col.name == "Title", (spec.key, col.name)
        ids = [i["id"] for i in lst["items"]]
        assert ids == [str(n) for n in range(1, len(ids) + 1)]
        seen: set[str] = set()
        for item in lst["items"]:
            assert item["createdBy"].endswith("@mannheim.de")
            assert _utc(item["created"]) <= _utc(item["modified"])
            fields = item["fields"]
            assert set(fields) <= {c.field_name for c in spec.columns}
            seen.update(fields)
            for col in spec.columns:
                v = fields.get(col.field_name)
                if v is None:
                    continue
                t = col.type
                if t is ColumnType.DATE:
                    _day(v)
                elif t is ColumnType.DATETIME:
                    _utc(v)
                elif t in (ColumnType.CHOICE,):
                    assert v in col.choices, (spec.key, col.key, v)
                elif t is ColumnType.BOOLEAN:
                    assert isinstance(v, bool)
                elif t in (ColumnType.NUMBER, ColumnType.CURRENCY):
                    assert isinstance(v, int | float)
                elif t is ColumnType.PERSON:
                    assert isinstance(v, str) and int(v) in users
                elif t is ColumnType.LOOKUP:
                    target = _items(seed, mapping, col.lookup_list or "")
                    assert isinstance(v, str) and v in target, (spec.key, col.key, v)
                elif t is ColumnType.MULTILOOKUP:
                    target = _items(seed, mapping, col.lookup_list or "")
                    for ref in v:
                        assert str(ref["LookupId"]) in target
                        assert ref["LookupValue"] == target[str(ref["LookupId"])]["Title"]
                elif t is ColumnType.URL:
                    assert set(v) == {"Url", "Description"}
                else:
                    assert isinstance(v, str)
        if lst["items"]:  # every mapped column is used somewhere in the data
            assert seen == {c.field_name for c in spec.columns}, (spec.key, seen)


def test_counts_and_content_relative_to_today(seed: dict[str, Any], mapping: ListMapping) -> None:
    counts = {spec.key: len(_items(seed, mapping, spec.key)) for spec in mapping.lists
              if spec.key != "users" and spec.role != "target"}  # targets: sp-sync fills them
    assert counts == {k: v for k, v in DEMO_COUNTS.items() if k != "users"}
    assert len(seed["users"]) == DEMO_COUNTS["users"] == 40
    assert demo_counts() == DEMO_COUNTS
    projects = _items(seed, mapping, "projects")
    assert set(Counter(p["Status"] for p in projects.values())) == set(
        mapping.get("projects").column("status").choices)
    assert {p.get("Ampel") for p in projects.values()} >= {"Grün", "Gelb", "Rot"}
    assert 12 <= sum(bool(p["_x00d6_ffentlich"]) for p in projects.values()) <= 28
    soon = [p for p in projects.values() if "Meilenstein_x002d_Datum" in p
            and TODAY < _day(p["Meilenstein_x002d_Datum"]) <= TODAY + timedelta(days=14)]
    assert len(soon) >= 3
    trainings = _items(seed, mapping, "trainings")
    ahead = [t for t in trainings.values() if t["Status"] == "Geplant"
             and _utc(t["Beginn"]).date() <= TODAY + timedelta(days=14)]
    assert len(ahead) >= 4
    regs = _items(seed, mapping, "registrations")
    assert {r["Status"] for r in regs.values()} == set(
        mapping.get("registrations").column("status").choices)
    rts = sorted(_items(seed, mapping, "round_tables").values(), key=lambda r: r["Termin"])
    planned = [r for r in rts if r["Status"] == "Geplant"]
    assert _utc(planned[0]["Termin"]).date() <= TODAY + timedelta(days=3)
    assert all(r.get("Protokoll") for r in rts if r["Status"] == "Durchgeführt")
    radar = _items(seed, mapping, "trend_radar").values()
    assert any(t["Status"] == "Neu" and t["Relevante_x0020_Fachbereiche"] for t in radar)


def test_deliberate_problems_present(seed: dict[str, Any], mapping: ListMapping) -> None:
    assert len(DATA_PROBLEMS) >= 8
    by = {p.description: (p.list, p.item_id) for p in DATA_PROBLEMS}
    for lst, item_id in by.values():
        assert item_id in _items(seed, mapping, lst)

    def item(description: str) -> dict[str, Any]:
        lst, item_id = by[description]
        return _items(seed, mapping, lst)[item_id]

    assert "DTC_x002d_LeitungLookupId" not in item("project without DTC lead")
    p = item("planned end before start")
    assert _day(p["Geplantes_x0020_Ende"]) < _day(p["Start"])
    p = item("status Umsetzung without traffic light")
    assert p["Status"] == "Umsetzung" and "Ampel" not in p
    p = item("milestone date in the past on an active project")
    assert p["Status"] == "Umsetzung" and _day(p["Meilenstein_x002d_Datum"]) < TODAY
    assert "<script>alert(1)</script>" in item("title contains a script tag")["Title"]
    assert item("javascript: source link")["Quelle"]["Url"] == "javascript:alert(1)"
    assert "IT_x002d_KoordinationLookupId" not in item("department without IT coordinator")
    assert "Trainer_x002f_inLookupId" not in item("training without trainer")
    lst, tid = by["more registrations Angemeldet than seats"]
    regs = _items(seed, mapping, "registrations").values()
    booked = sum(r["SchulungLookupId"] == tid and r["Status"] == "Angemeldet" for r in regs)
    assert booked > _items(seed, mapping, "trainings")[tid]["Max_x002e__x0020_Teilnehmende"]
    reg = item("registration for a cancelled training")
    assert _items(seed, mapping, "trainings")[reg["SchulungLookupId"]]["Status"] == "Abgesagt"
    task = item("action item without owner")
    assert task["Art"] == "Aufgabe" and "VerantwortlichLookupId" not in task
    task = item("overdue open action item")
    assert task["Status"] == "Offen" and _day(task["F_x00e4_llig_x0020_am"]) < TODAY


def test_deterministic_and_ids_independent_of_today(seed: dict[str, Any]) -> None:
    assert demo_seed(TODAY) == seed
    later = demo_seed(TODAY + timedelta(days=100))
    for a, b in zip(_lists(seed).values(), _lists(later).values(), strict=True):
        assert [(i["id"], sorted(i["fields"])) for i in a["items"]] == [
            (i["id"], sorted(i["fields"])) for i in b["items"]]
    assert later["users"] == seed["users"]


def test_emulator_accepts_the_seed(seed: dict[str, Any], mapping: ListMapping) -> None:
    from sp_sync.emulator.seed import load_seed

    site = load_seed(seed).default_site()
    for spec in mapping.lists:
        if spec.role == "target":
            continue
        lst = site.find_list(spec.title)
        assert lst is not None
        assert len(lst.items) == (len(seed["users"]) + 1 if spec.key == "users"
                                  else DEMO_COUNTS.get(spec.key, 0))
