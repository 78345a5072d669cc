"""List-to-list sync (Projekte → ProjekteOeffentlich): convergence, dry run, guards."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sp_sync.domain.model import ListMapping
from sp_sync.engine.pipeline import WriteResult
from sp_sync.errors import MassDeleteRefused
from sp_sync.kinds.sync import SyncParams
from sp_sync.ports import StateStore
from sp_sync.testing.memory_lists import MemoryLists
from tests.helpers.copying import run_copy

from .conftest import ANNA, BEN, NOW, TZ, refs_for

P, T = "Projekte", "ProjekteOeffentlich"
PARAMS = SyncParams(
    source="projects", target="public_projects", key="number", filter={"public": True},
    columns={"title": "title", "number": "number", "department": "department",
             "field": "field", "status": "status", "planned_end": "planned_end"},
)
PUBLIC = "_x00d6_ffentlich"


def seed(sp: MemoryLists, n: int = 6) -> None:
    dept = sp.create_item("Fachbereiche", {"Title": "Bürgerservice"}, ANNA)
    for i in range(n):
        sp.create_item(P, {
            "Title": f"Projekt {i} 🚀", "Projektnummer": f"P-{i}", PUBLIC: i % 3 != 2,
            "FachbereichLookupId": dept, "Handlungsfeld": "Smart City", "Status": "Idee",
            "Geplantes_x0020_Ende": "2026-03-28T23:00:00Z",  # 29 March, the DST Sunday
            "DTC_x002d_LeitungLookupId": 7,
        }, ANNA)


def run(sp: MemoryLists, store: StateStore, mapping: ListMapping, **kw: object) -> WriteResult:
    return run_copy(PARAMS, mapping, sp, sp, store, refs_for(sp), TZ, NOW, **kw)  # type: ignore[arg-type]


def target(sp: MemoryLists) -> dict[str, dict[str, object]]:
    return {str(i.fields["SyncKey"]): dict(i.fields) for i in sp.items(T)}


def test_sync_creates_then_converges_to_zero_writes(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    seed(sp)
    first = run(sp, store, mapping)
    assert first.writes == 4 and first.plan.creates == 4
    rows = target(sp)
    assert sorted(rows) == [f"copy:public-projects:P-{i}" for i in (0, 1, 3, 4)]
    row = rows["copy:public-projects:P-0"]
    assert row["Title"] == "Projekt 0 🚀" and row["Fachbereich"] == "Bürgerservice"
    assert row["Geplantes_x0020_Ende"] == "2026-03-28T23:00:00Z"
    assert row["Projektnummer"] == "P-0" and row["Status"] == "Idee"

    writes = sp.stats.writes
    second = run(sp, store, mapping)  # reads its own 4 writes back: equal, nothing to do
    assert second.plan.actions == [] and second.writes == 0
    assert second.pulls["public_projects"].items_seen == 4
    assert sp.stats.writes == writes
    requests = sp.stats.requests
    assert run(sp, store, mapping).writes == 0
    assert sp.stats.requests - requests == 4  # a quiet run: one delta request per list


def test_source_edits_flow_through_with_only_changed_fields(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    seed(sp)
    run(sp, store, mapping)
    sp.edit(P, 1, {"Status": "Umsetzung"}, BEN)
    sp.edit(P, 2, {PUBLIC: False}, BEN)  # no longer public → removed from the target
    sp.edit(P, 3, {PUBLIC: True}, BEN)  # now public → added
    sp.edit(P, 4, {"Budget": 5}, BEN)  # column not synced → nothing
    result = run(sp, store, mapping, allow_mass_delete=True)
    assert (result.plan.creates, result.plan.updates, result.plan.deletes) == (1, 1, 1)
    [update] = [a for a in result.plan.actions if a.kind == "update"]
    assert dict(update.fields) == {"Status": "Umsetzung"}
    assert sorted(target(sp)) == [f"copy:public-projects:P-{i}" for i in (0, 2, 3, 4)]
    assert run(sp, store, mapping).writes == 0


def test_a_persons_edit_in_the_target_is_put_back_and_duplicates_removed(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    seed(sp)
    run(sp, store, mapping)
    sp.edit(T, 1, {"Title": "von Hand geändert"}, BEN)
    # a duplicate
    sp.create_item(T, {"Title": "Projekt 1 🚀", "SyncKey": "copy:public-projects:P-1"}, BEN)
    result = run(sp, store, mapping)
    assert (result.plan.updates, result.plan.deletes, result.plan.duplicates) == (1, 1, 1)
    rows = target(sp)
    assert len(sp.items(T)) == len(rows) == 4
    assert rows["copy:public-projects:P-0"]["Title"] == "Projekt 0 🚀"
    assert run(sp, store, mapping).writes == 0


def test_dry_run_prints_the_plan_and_writes_nothing(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    seed(sp)
    result = run(sp, store, mapping, dry_run=True)
    assert result.applied is None and sp.stats.writes == 0
    assert sp.items(T) == []
    # The plan was made on fresh data, but nothing reached the state store.
    assert all(store.cursor(k) is None and store.count(k) == 0 for k in result.pulls)
    assert result.plan_text.count("+ create copy:public-projects:P-") == 4
    assert "4 to create, 0 to update, 0 to delete" in result.plan_text


def test_mass_delete_is_refused_without_the_flag(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    seed(sp)
    run(sp, store, mapping)
    for i in (1, 2, 4):
        sp.edit(P, i, {PUBLIC: False}, BEN)  # 3 of 4 public projects disappear
    with pytest.raises(MassDeleteRefused, match=r"3 of 4.*--allow-mass-delete"):
        run(sp, store, mapping)
    assert len(sp.items(T)) == 4  # nothing deleted
    result = run(sp, store, mapping, allow_mass_delete=True)
    assert result.plan.deletes == 3 and len(sp.items(T)) == 1


def test_empty_source_is_refused(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    seed(sp, 2)
    run(sp, store, mapping)
    for item in sp.items(P):
        sp.delete_item(P, item.id, ANNA)
    with pytest.raises(MassDeleteRefused, match="source reads empty"):
        run(sp, store, mapping)
    assert len(sp.items(T)) == 2


def test_writes_survive_faults_and_converge(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    from sp_sync.domain.model import OutcomeStatus

    seed(sp)
    sp.fail_next_writes(2, OutcomeStatus.AMBIGUOUS, apply_first=True)
    first = run(sp, store, mapping)
    assert first.writes == 4 and len(sp.items(T)) == 4  # no duplicates after 5xx
    sp.edit(P, 1, {"Title": "Neuer Titel"}, BEN)
    sp.conflict_next_writes(2, {"Title": "Person"}, ANNA)
    second = run(sp, store, mapping)
    assert len(second.applied.conflicts) == 1  # type: ignore[union-attr]
    assert target(sp)["copy:public-projects:P-0"]["Title"] == "Person"  # kept this run
    later = run_copy(PARAMS, mapping, sp, sp, store, refs_for(sp), TZ,
                         NOW + timedelta(hours=1))
    assert later.writes == 1 and target(sp)["copy:public-projects:P-0"]["Title"] == "Neuer Titel"
    assert run(sp, store, mapping).writes == 0


def test_the_shipped_job_file_runs_as_is(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    from sp_sync.config.jobs import load_jobs
    from sp_sync.kinds.sync import SyncParams as JobParams

    from .conftest import REPO

    [job] = [j for j in load_jobs(REPO / "jobs", mapping) if j.name == "public-projects"]
    params = job.params_as(JobParams)
    seed(sp)
    result = run_copy(params, mapping, sp, sp, store, refs_for(sp), TZ, NOW,
                          allow_mass_delete=params.allow_mass_delete)
    assert result.writes == 4
    assert run_copy(params, mapping, sp, sp, store, refs_for(sp), TZ, NOW).writes == 0
