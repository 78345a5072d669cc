"""Schema check: broken columns are named for the admin and only they stop syncing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sp_sync.adapters.store import open_store
from sp_sync.adapters.store.scratch import ScratchStore
from sp_sync.clock import FixedClock
from sp_sync.domain.model import ListMapping, ListSpec
from sp_sync.domain.provisioning import column_definitions
from sp_sync.domain.schema import check_columns
from sp_sync.engine.context import Services
from sp_sync.engine.runner import run_job
from sp_sync.errors import GraphError, PermissionDenied
from sp_sync.kinds import KINDS
from sp_sync.kinds.pull import PullParams
from sp_sync.ports import ColumnInfo, DeltaPage, ListRef, StateStore
from sp_sync.testing.memory_lists import BUILTIN_COLUMNS, MemoryLists

from .conftest import ANNA, BEN, NOW

P = "Projekte"
RECREATED = (
    "list projects ('Projekte'): column key 'status' → internal name 'Status' is missing in "
    "SharePoint — fix lists.projects.columns.status.name in config/lists.toml (a column with "
    "display name 'Status' now has the internal name 'Status0')"
)


@dataclasses.dataclass(frozen=True)
class PullJob:
    name: str = "dtc-sync"
    kind: str = "pull"
    params: PullParams = dataclasses.field(default_factory=PullParams)


def run_pull(svc: Services, lists: Sequence[str], full: bool) -> tuple[str, list[str], Any]:
    outcome = run_job(svc, PullJob(params=PullParams(lists=tuple(lists), full=full)))
    return outcome.status, outcome.details, outcome.stats


class StrictLists(MemoryLists):
    """Refuses a delta that selects a field the list lacks (as Graph may, with a 400)."""

    def delta(self, ref: ListRef, select: Sequence[str], cursor: str | None
              ) -> Iterator[DeltaPage]:
        known = {c["name"] for c in (*BUILTIN_COLUMNS, *self._ref_list(ref).columns)}
        for name in select:
            base = name.removesuffix("LookupId")
            if base not in known and name not in known:
                raise GraphError(f"GET delta: HTTP 400 invalidRequest — Field '{name}' is not "
                                 "recognized", 400, "invalidRequest")
        return super().delta(ref, select, cursor)


class NoColumns(StrictLists):
    """The columns request is refused (e.g. a permission missing)."""

    def columns(self, ref: ListRef) -> Sequence[ColumnInfo]:
        super().columns(ref)  # counted as a request, then refused
        raise PermissionDenied("GET columns: HTTP 403", 403, "accessDenied")


@pytest.fixture(params=[StrictLists])
def tenant(
    mapping: ListMapping, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Services, StrictLists]]:
    sp: StrictLists = request.param(page_size=50)
    sp.add_user(7, "Anna Becker", ANNA)
    sp.add_user(8, "Ben Schulz", BEN)
    for spec in mapping.lists:
        sp.add_list(spec.title, column_definitions(spec, mapping))
    for i in range(1, 6):
        sp.create_item(P, {"Title": f"Projekt {i}", "Status": "Idee", "Budget": 100 * i}, ANNA)
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    svc = Services(mapping=mapping, store=store, source=sp, writer=sp, clock=FixedClock(NOW),
                   tz=ZoneInfo("Europe/Berlin"), site_url=sp.site_url, stats=sp.stats,
                   scratch_store=ScratchStore, kinds=KINDS)
    yield svc, sp
    store.close()


def columns_requests(sp: MemoryLists) -> list[str]:
    return [what for _, what in sp.log if what.endswith("/columns")]


def status_of(store: StateStore, item_id: str) -> Any:
    item = store.get("projects", item_id)
    return item.fields.get("Status") if item else None


# --------------------------------------------------------------------------- comparison


def info(name: str, type_: str, display: str | None = None) -> ColumnInfo:
    return ColumnInfo(name=name, display_name=display or name, type=type_)


def test_families_are_lenient_where_graph_is_ambiguous(mapping: ListMapping) -> None:
    spec = mapping.get("trainings")  # datetime, url, person, number, choice, text
    reported = [info(c.name, t) for c, t in zip(spec.columns, (
        "text", "multichoice", "date", "dateTime", "note", "hyperlinkOrPicture",
        "personOrGroup", "calculated", "choice"), strict=True)]
    assert check_columns(spec, reported) == []

    reported[7] = info(spec.columns[7].name, "text")  # the number became text
    reported[1] = info(spec.columns[1].name, "term")  # managed metadata: unreadable
    problems = check_columns(spec, reported)
    assert [(p.column_key, p.kind) for p in problems] == [
        ("category", "type"), ("max_participants", "type")]
    assert problems[1].message == (
        "list trainings ('Schulungen'): column key 'max_participants' → internal name "
        "'Max_x002e__x0020_Teilnehmende' is a text column in SharePoint but "
        "config/lists.toml says number — change the column back or fix "
        "lists.trainings.columns.max_participants.type")


def test_a_missing_column_without_a_successor_says_so(mapping: ListMapping) -> None:
    spec = mapping.get("users")
    [problem] = check_columns(spec, [info("Title", "text"), info("EMail", "text")])
    assert problem.kind == "missing" and problem.suggestion is None
    assert "'UserName' is missing in SharePoint — restore the column or fix " \
           "lists.users.columns.username.name" in problem.message


# --------------------------------------------------------------------------- runs


def test_healthy_lists_are_checked_once_then_daily_and_quiet_runs_cost_one_request(
    tenant: tuple[Services, StrictLists],
) -> None:
    svc, sp = tenant
    sources = [s for s in svc.mapping.lists if s.role == "source"]

    status, _, totals = run_pull(svc, [], False)
    assert status == "ok" and "schema_problems" not in totals
    assert len(columns_requests(sp)) == len(sources)

    before = sp.stats.requests
    assert run_pull(svc, [], False)[0] == "ok"
    assert sp.stats.requests - before == len(sources)  # one delta per list, no check

    assert isinstance(svc.clock, FixedClock)
    svc.clock.advance(timedelta(hours=25))
    sp.log.clear()
    assert run_pull(svc, [], False)[0] == "ok"
    assert len(columns_requests(sp)) == len(sources)  # the daily check


def test_a_recreated_column_is_named_and_only_it_stops_syncing(
    tenant: tuple[Services, StrictLists],
) -> None:
    svc, sp = tenant
    run_job(svc, PullJob())
    # An admin deletes "Status" and creates it again: SharePoint names it "Status0".
    sp.delete_column(P, "Status")
    sp.add_column(P, {"name": "Status0", "displayName": "Status",
                      "choice": {"choices": ["Idee", "Planung"]}})
    sp.edit(P, 1, {"Status0": "Planung", "Title": "Projekt Eins"}, BEN)
    sp.retype_column(P, "Budget", {"text": {"allowMultipleLines": False}})
    sp.edit(P, 2, {"Budget": "viel"}, BEN)
    assert isinstance(svc.clock, FixedClock)
    svc.clock.advance(timedelta(days=1))  # the daily check is due

    outcome = run_job(svc, PullJob())

    assert outcome.status == "partial"
    assert RECREATED in outcome.details
    run = svc.store.runs("dtc-sync", 1)[0]
    assert run.status == "partial" and run.stats["schema_problems"] == 2
    assert run.message and RECREATED in run.message
    assert "'Budget' is a text column in SharePoint but config/lists.toml says currency" \
        in run.message
    # the rest of the list synced; the broken columns keep their mirrored values
    one, two = svc.store.get("projects", "1"), svc.store.get("projects", "2")
    assert one is not None and one.fields["Title"] == "Projekt Eins"
    assert status_of(svc.store, "1") == "Idee"
    assert two is not None and two.fields["Budget"] == 200
    assert not [c for c in svc.store.changes("projects") if c.column in ("status", "budget")]
    assert svc.store.count("departments") == 0 and svc.store.count("users") == 3  # others ran

    # still broken: checked again at once (only this list), still partial
    sp.log.clear()
    assert run_job(svc, PullJob()).status == "partial"
    assert columns_requests(sp) == [f"{P}/columns"]

    # the admin fixes config/lists.toml: the list is read in full with the new column
    fixed = fix_mapping(svc.mapping, status="Status0", budget_type="text")
    svc.mapping = fixed
    outcome = run_job(svc, PullJob())
    assert outcome.status == "ok", outcome.message
    assert svc.store.get("projects", "1").fields["Status0"] == "Planung"  # type: ignore[union-attr]
    assert svc.store.get("projects", "2").fields["Budget"] == "viel"  # type: ignore[union-attr]


def fix_mapping(mapping: ListMapping, status: str, budget_type: str) -> ListMapping:
    from sp_sync.domain.model import ColumnType

    def fixed(spec: ListSpec) -> ListSpec:
        if spec.key != "projects":
            return spec
        cols = tuple(
            dataclasses.replace(c, name=status) if c.key == "status" else
            dataclasses.replace(c, type=ColumnType(budget_type)) if c.key == "budget" else c
            for c in spec.columns)
        return dataclasses.replace(spec, columns=cols)

    return ListMapping(tuple(fixed(s) for s in mapping.lists))


def test_a_pull_refused_for_a_missing_field_checks_the_columns_at_once(
    tenant: tuple[Services, StrictLists],
) -> None:
    svc, sp = tenant
    assert run_pull(svc, ["projects"], False)[0] == "ok"
    sp.delete_column(P, "Ampel")  # between two daily checks
    sp.edit(P, 3, {"Title": "Projekt Drei"}, BEN)

    status, details, totals = run_pull(svc, ["projects"], False)

    assert status == "partial" and totals["updated"] == 1
    assert any("'Ampel' is missing in SharePoint" in d for d in details)
    three = svc.store.get("projects", "3")
    assert three is not None and three.fields["Title"] == "Projekt Drei"


@pytest.mark.parametrize("tenant", [NoColumns], indirect=True)
def test_columns_that_cannot_be_read_do_not_stop_the_pull(
    tenant: tuple[Services, StrictLists],
) -> None:
    svc, sp = tenant
    assert run_pull(svc, ["projects"], False)[0] == "ok"
    assert svc.store.count("projects") == 5
    sp.log.clear()
    assert run_pull(svc, ["projects"], False)[0] == "ok"
    assert columns_requests(sp) == [f"{P}/columns"]  # not cached: tried again next run


def test_a_fresh_process_keeps_the_daily_verdict_of_healthy_lists_only(
    tenant: tuple[Services, StrictLists], tmp_path: Path
) -> None:
    from sp_sync.engine import schema as schema_mod

    svc, sp = tenant
    sources = [s for s in svc.mapping.lists if s.role == "source"]
    assert run_pull(svc, [], False)[0] == "ok"
    sp.retype_column(P, "Budget", {"text": {"allowMultipleLines": False}})

    def fresh_process() -> Services:
        """A new process (cron): no guard in memory, the same state file."""
        svc.store.close()
        schema_mod._GUARDS.pop(sp, None)
        svc.store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
        sp.log.clear()
        return svc

    before = sp.stats.requests
    assert run_pull(fresh_process(), [], False)[0] == "ok"  # the verdict is a day old at most
    assert columns_requests(sp) == [] and sp.stats.requests - before == len(sources)

    assert isinstance(svc.clock, FixedClock)
    svc.clock.advance(timedelta(hours=25))
    assert run_pull(fresh_process(), [], False)[0] == "partial"  # due: the retyped column
    assert len(columns_requests(sp)) == len(sources)
    # A list with a problem is checked on every run, in a fresh process too; the others not.
    assert run_pull(fresh_process(), [], False)[0] == "partial"
    assert columns_requests(sp) == [f"{P}/columns"]

    # Another mapping of a list is checked again, whatever another process found.
    specs = tuple(dataclasses.replace(s, columns=s.columns[:-1]) if s.key == "departments"
                  else s for s in svc.mapping.lists)
    svc.mapping = dataclasses.replace(svc.mapping, lists=specs)
    assert run_pull(fresh_process(), [], False)[0] == "partial"
    dept = svc.mapping.get("departments").title
    assert sorted(columns_requests(sp)) == sorted([f"{P}/columns", f"{dept}/columns"])
