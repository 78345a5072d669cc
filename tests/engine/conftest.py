"""Engine tests: the in-memory SharePoint fake at the list ports, a real state store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sp_sync.adapters.store import open_store
from sp_sync.config.mapping import load_mapping
from sp_sync.domain.model import ListMapping, ListSpec
from sp_sync.ports import ListRef, StateStore
from sp_sync.testing.memory_lists import MemoryLists

REPO = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANNA, BEN = "anna.becker@mannheim.de", "ben.schulz@mannheim.de"


@pytest.fixture(scope="session")
def mapping() -> ListMapping:
    return load_mapping(REPO / "config" / "lists.toml")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    s = open_store("memory://" if request.param == "memory"
                   else f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


@pytest.fixture
def sp(mapping: ListMapping) -> MemoryLists:
    lists = MemoryLists(page_size=3)
    lists.add_user(7, "Anna Becker", ANNA)
    lists.add_user(8, "Ben Schulz", BEN)
    for spec in mapping.lists:
        lists.add_list(spec.title)
    return lists


def refs_for(sp: MemoryLists) -> Callable[[ListSpec], ListRef]:
    def refs(spec: ListSpec) -> ListRef:
        return sp.ref(spec.title)

    return refs
