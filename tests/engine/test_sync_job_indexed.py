"""The list-to-list job on its light path: the target's key index, fields only on demand.

The shipped mapping declares SyncKey as a target column, so the target hashes one column
more than the job compares and the job plans the full way. Without that declaration the
hash basis matches and ``plan_indexed`` runs: every scenario of test_sync_job again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from sp_sync.domain.model import ListMapping, MirrorItem
from sp_sync.ports import StateStore
from sp_sync.testing.memory_lists import MemoryLists
from tests.helpers.copying import run_copy

from .conftest import BEN, NOW, TZ, refs_for
from .test_sync_job import (  # noqa: F401  (collected again here, on the light mapping)
    PARAMS,
    P,
    T,
    seed,
    target,
    test_a_persons_edit_in_the_target_is_put_back_and_duplicates_removed,
    test_dry_run_prints_the_plan_and_writes_nothing,
    test_empty_source_is_refused,
    test_mass_delete_is_refused_without_the_flag,
    test_source_edits_flow_through_with_only_changed_fields,
    test_sync_creates_then_converges_to_zero_writes,
    test_writes_survive_faults_and_converge,
)


def light_mapping(mapping: ListMapping) -> ListMapping:
    """The shipped mapping, its target without a SyncKey column spec (hash basis = job)."""
    def light(spec: Any) -> Any:
        if spec.key != PARAMS.target:
            return spec
        key = spec.sync_key_column
        return replace(spec, columns=tuple(c for c in spec.columns if c.field_name != key))

    return ListMapping(tuple(light(s) for s in mapping.lists))


@pytest.fixture
def mapping(mapping: ListMapping) -> ListMapping:
    return light_mapping(mapping)


class Recording:
    """The store, recording the target reads of the planner (a fake at the port)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self.indexed: list[str] = []
        self.loaded: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def key_index(self, list_key: str, key_field: str, by_key: bool = False) -> Any:
        self.indexed.append(list_key)
        return self._store.key_index(list_key, key_field, by_key)

    def get_many(self, list_key: str, ids: Sequence[str]) -> dict[str, MirrorItem]:
        if list_key == PARAMS.target:
            self.loaded += ids
        return self._store.get_many(list_key, ids)

    def items(self, list_key: str, include_deleted: bool = False) -> Any:
        assert list_key != PARAMS.target, "the light path never reads the whole target"
        return self._store.items(list_key, include_deleted)


def test_only_the_changed_rows_are_read_with_their_fields(
    sp: MemoryLists, store: StateStore, mapping: ListMapping
) -> None:
    seed(sp)
    recording = Recording(store)

    def run() -> Any:
        return run_copy(PARAMS, mapping, sp, sp, recording,  # type: ignore[arg-type]
                            refs_for(sp), TZ, NOW)

    assert run().writes == 4
    recording.loaded.clear()
    assert run().writes == 0 and recording.loaded == []  # all equal by hash
    sp.edit(P, 1, {"Status": "Umsetzung"}, BEN)
    item_id = next(i.id for i in sp.items(T) if i.fields["SyncKey"] == "copy:public-projects:P-0")
    recording.loaded.clear()
    result = run()
    assert result.writes == 1 and recording.loaded == [item_id]
    assert target(sp)["copy:public-projects:P-0"]["Status"] == "Umsetzung"
    assert recording.indexed == [PARAMS.target] * 3


def test_a_key_a_person_padded_is_still_its_row(
    sp: MemoryLists, store: StateStore, mapping: ListMapping, caplog: pytest.LogCaptureFixture
) -> None:
    """Blanks around a SyncKey sort it elsewhere in the database (SQLite orders raw text):
    the merge notices and plans from a dict of keys — the same plan, nothing duplicated."""
    seed(sp)
    assert run_copy(PARAMS, mapping, sp, sp, store, refs_for(sp), TZ, NOW).writes == 4
    item_id = next(i.id for i in sp.items(T) if i.fields["SyncKey"] == "copy:public-projects:P-3")
    sp.edit(T, int(item_id), {"SyncKey": "  copy:public-projects:P-3"}, BEN)
    sp.edit(P, 1, {"Status": "Umsetzung"}, BEN)

    caplog.set_level("INFO", logger="sp_sync.engine.pipeline")
    result = run_copy(PARAMS, mapping, sp, sp, store, refs_for(sp), TZ, NOW)

    assert (result.plan.creates, result.plan.updates, result.plan.deletes) == (0, 1, 0)
    assert len(sp.items(T)) == 4
    assert target(sp)["copy:public-projects:P-0"]["Status"] == "Umsetzung"
    fell_back = "not in key order" in caplog.text
    assert fell_back == (store.__class__.__name__ == "SqlStore")
