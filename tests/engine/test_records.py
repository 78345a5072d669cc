"""Records from the mirror: people and lookups resolved, tombstones left out."""

from __future__ import annotations

from datetime import date

from sp_sync.domain.model import Link, ListMapping, Lookup, Person
from sp_sync.engine.pull import pull_lists
from sp_sync.engine.records import StoreResolver, load_records
from sp_sync.ports import StateStore
from sp_sync.testing.memory_lists import MemoryLists

from .conftest import ANNA, BEN, NOW, TZ, refs_for


def test_load_records_resolves_people_and_lookups(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    dept = sp.create_item("Fachbereiche", {"Title": "Bürgerservice", "Aktiv": True}, ANNA)
    sp.create_item("TrendRadar", {
        "Title": "Sprachmodelle", "Relevante_x0020_Fachbereiche": [
            {"LookupId": int(dept), "LookupValue": "Bürgerservice"}],
        "Quelle": {"Url": "https://example.org", "Description": "Quelle"},
    }, ANNA)
    sp.create_item("Projekte", {"Title": "Digitale Akte", "FachbereichLookupId": dept,
                                "DTC_x002d_LeitungLookupId": 8, "AnsprechpersonLookupId": 99,
                                "Start": "2026-03-28T23:00:00Z"}, BEN)
    gone = sp.create_item("Projekte", {"Title": "Gelöscht"}, BEN)
    pull_lists(sp, store, mapping, ["projects", "departments", "trend_radar", "users"],
               refs_for(sp), NOW)
    sp.delete_item("Projekte", gone, ANNA)
    pull_lists(sp, store, mapping, ["projects"], refs_for(sp), NOW)

    [project] = load_records(store, mapping, "projects", TZ)
    assert project["title"] == "Digitale Akte"
    assert project["department"] == Lookup(int(dept), "Bürgerservice")
    assert project["lead"] == Person("Ben Schulz", BEN, 8)
    assert project["contact"] == Person("#99", id=99)  # not in the User Information List
    assert project["start"] == date(2026, 3, 29)
    assert project["status"] is None and project.get("status", "–") == "–"
    assert project.modified_by == "Ben Schulz" and project.web_url
    [trend] = load_records(store, mapping, "trend_radar", TZ)
    assert trend["departments"] == (Lookup(int(dept), "Bürgerservice"),)
    assert trend["source_link"] == Link("https://example.org", "Quelle")

    resolver = StoreResolver(store, mapping)
    assert resolver.person(7) == Person("Anna Becker", ANNA, 7)
    assert resolver.lookup("departments", 12345) is None
