"""Initial load: a run writes at most its share (max_writes_per_run / write_ru_per_run) and
the next runs continue from the mirror until the target is complete."""

from __future__ import annotations

import pytest

from sp_sync.clock import FixedClock
from sp_sync.domain.model import ListMapping
from sp_sync.engine.context import RunContext
from sp_sync.engine.pipeline import write
from sp_sync.errors import MassDeleteRefused
from sp_sync.kinds.sync import SyncParams, copy_producer
from sp_sync.ports import StateStore
from sp_sync.testing.memory_lists import MemoryLists
from tests.helpers.copying import JOB, run_copy, services_for

from .conftest import BEN, NOW, TZ, refs_for
from .test_sync_job import PARAMS, PUBLIC, P, seed, target
from .test_sync_job_indexed import light_mapping

LIMITED = PARAMS.model_copy(update={"max_writes_per_run": 3})
ALL = {f"copy:public-projects:P-{i}" for i in range(12) if i % 3 != 2}  # 8 public projects


@pytest.fixture(params=["full plan", "key index"])
def job_mapping(request: pytest.FixtureRequest, mapping: ListMapping) -> ListMapping:
    """The shipped mapping plans the full way, the light one from the key index (merged)."""
    return mapping if request.param == "full plan" else light_mapping(mapping)


def test_each_run_writes_its_share_and_the_next_continues(
    sp: MemoryLists, store: StateStore, job_mapping: ListMapping
) -> None:
    seed(sp, n=12)
    done: list[tuple[int, int]] = []
    for _ in range(4):
        res = run_copy(LIMITED, job_mapping, sp, sp, store, refs_for(sp), TZ, NOW)
        done.append((res.writes, res.deferred))
        if res.deferred:
            assert "writes left for the next" in (res.progress or "")
        else:
            assert res.progress is None
    assert done == [(3, 5), (3, 2), (2, 0), (0, 0)]
    assert set(target(sp)) == ALL


def test_the_report_shows_progress_and_what_is_left(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    seed(sp, n=12)
    svc = services_for(mapping, sp, sp, store, refs_for(sp), TZ, FixedClock(NOW))
    ctx = RunContext(JOB, svc, NOW, store)

    [res] = write(ctx, [copy_producer(ctx, JOB, LIMITED)])

    assert res.deferred == 5 and ctx.report.figures["deferred_writes"] == 5
    assert ctx.report.figures["written"] == 3
    [line] = [d for d in ctx.report.details if "initial load" in d]
    assert "3 writes in this run (max_writes 3); 3 of 8 rows in the list (38%)" in line
    assert "5 writes left for the next 2 run(s)" in line and "of writing at this" in line
    assert len(target(sp)) == 3


def test_a_dry_run_shows_this_runs_share_and_writes_nothing(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    seed(sp, n=12)
    writes = sp.stats.writes

    res = run_copy(LIMITED, mapping, sp, sp, store, refs_for(sp), TZ, NOW, dry_run=True)

    assert (res.plan.creates, res.deferred) == (3, 5)
    assert "… 5 more writes left for later runs (max_writes 3)" in res.plan_text
    assert res.plan_text.splitlines()[-1].startswith("3 to create")
    assert sp.stats.writes == writes and target(sp) == {}


def test_the_limit_from_a_resource_unit_budget() -> None:
    assert PARAMS.write_limit() is None
    assert PARAMS.model_copy(update={"write_ru_per_run": 9}).write_limit() == 4
    both = PARAMS.model_copy(update={"write_ru_per_run": 9, "max_writes_per_run": 2})
    assert both.write_limit() == 2
    with pytest.raises(ValueError):
        SyncParams.model_validate({**PARAMS.model_dump(), "write_ru_per_run": 1})


def test_the_mass_delete_guard_sees_the_whole_plan_not_one_runs_share(
    sp: MemoryLists, store: StateStore, job_mapping: ListMapping
) -> None:
    seed(sp, n=12)
    assert run_copy(PARAMS, job_mapping, sp, sp, store, refs_for(sp), TZ, NOW).writes == 8
    for i in (1, 2, 4, 5, 7):  # five of the eight public projects no longer public
        sp.edit(P, i, {PUBLIC: False}, BEN)
    limited = LIMITED.model_copy(update={"max_writes_per_run": 2})

    with pytest.raises(MassDeleteRefused, match="deletes 5 of 8"):
        run_copy(limited, job_mapping, sp, sp, store, refs_for(sp), TZ, NOW)
    assert len(target(sp)) == 8
