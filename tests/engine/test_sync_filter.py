"""The list copy's ``filter`` is a condition like every other (docs/conditions.md):
operators, relative dates, people and lookups, paths through lookups — and the shipped
``{ public = true }`` keeps working (tests/engine/test_sync_job.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sp_sync.config.jobs import load_jobs
from sp_sync.domain.model import ListMapping
from sp_sync.errors import ConfigError
from sp_sync.kinds.sync import SyncParams
from sp_sync.ports import StateStore
from sp_sync.testing.memory_lists import MemoryLists
from tests.helpers.copying import run_copy

from .conftest import ANNA, BEN, NOW, TZ, refs_for

P, T = "Projekte", "ProjekteOeffentlich"
COLUMNS = {"title": "title", "number": "number", "status": "status"}


def seed(sp: MemoryLists) -> None:
    active = sp.create_item("Fachbereiche", {"Title": "Bürgerservice", "Aktiv": True}, ANNA)
    closed = sp.create_item("Fachbereiche", {"Title": "Altamt", "Aktiv": False}, ANNA)
    rows = [  # number, department, status, planned end (NOW is 1 December 2026), lead
        ("P-1", active, "Umsetzung", "2026-11-30T23:00:00Z", 7),  # 1 Dec: today → in
        ("P-2", active, "Planung", "2026-11-29T23:00:00Z", 7),  # 30 Nov: past → out
        ("P-3", closed, "Umsetzung", "2027-01-31T23:00:00Z", 7),  # inactive dept → out
        ("P-4", active, "Abgebrochen", "2027-01-31T23:00:00Z", 7),  # cancelled → out
        ("P-5", active, "Idee", "2027-05-31T22:00:00Z", 8),  # Ben leads → out
        ("P-6", active, "Idee", "2027-06-01T22:00:00Z", 7),  # after +6 months → out
        ("P-7", active, "Idee", "2027-05-31T22:00:00Z", 7),  # 1 June 2027: +6 months → in
    ]
    for number, dept, status, end, lead in rows:
        sp.create_item(P, {"Title": number, "Projektnummer": number, "Status": status,
                           "FachbereichLookupId": dept, "Geplantes_x0020_Ende": end,
                           "DTC_x002d_LeitungLookupId": lead}, ANNA)


def test_operators_relative_dates_people_and_paths_through_lookups(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    seed(sp)
    params = SyncParams(
        source="projects", target="public_projects", key="number", columns=COLUMNS,
        filter={"department.active": True, "status": {"not_in": ["Abgebrochen"]},
                "planned_end": {"gte": "today", "lte": "+6 months"},
                "lead": ANNA, "department": {"in": ["Bürgerservice", "Altamt"]}},
    )
    result = run_copy(params, mapping, sp, sp, store, refs_for(sp), TZ, NOW)
    assert result.writes == 2
    assert sorted(str(i.fields["SyncKey"]) for i in sp.items(T)) == [
        "copy:public-projects:P-1", "copy:public-projects:P-7"]
    assert "departments" in result.pulls  # the filter reads it through the lookup

    sp.edit("Fachbereiche", 2, {"Aktiv": True}, BEN)  # the department's edit counts
    again = run_copy(params, mapping, sp, sp, store, refs_for(sp), TZ, NOW)
    assert again.plan.creates == 1 and again.writes == 1
    assert "copy:public-projects:P-3" in {str(i.fields["SyncKey"]) for i in sp.items(T)}


def test_bad_filters_name_file_key_and_reason(tmp_path: Path, mapping: ListMapping) -> None:
    d = tmp_path
    (d / "copy.toml").write_text(
        'kind = "sync"\nschedule = "every 1h"\n[params]\nsource = "projects"\n'
        'target = "public_projects"\ncolumns = { title = "title" }\n'
        'filter = { planned_end = { gte = "next week" }, status = { like = "Plan" }, '
        '"department.nope" = 1, budget = { lt = "viel" } }\n')
    with pytest.raises(ConfigError) as err:
        load_jobs(d, mapping)
    text = "\n".join(err.value.problems)
    f = f"{d}/copy.toml"
    assert f"{f}: params.filter.planned_end.gte: 'next week' is no date" in text
    assert f"{f}: params.filter.status.like: unknown operator 'like'" in text
    assert f"{f}: params.filter.department.nope: list 'departments' has no column 'nope'" in text
    assert f"{f}: params.filter.budget.lt: 'viel' is no number" in text
