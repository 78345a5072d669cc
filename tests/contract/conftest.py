"""One ``store`` fixture, three implementations: the same contract tests run on each.

PostgreSQL runs when ``SP_SYNC_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it); every
test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sp_sync.adapters.store import MemoryStore
from sp_sync.adapters.store.sql import SqlStore
from sp_sync.ports import StateStore

POSTGRES_URL = os.environ.get("SP_SYNC_TEST_POSTGRES_URL")
NO_POSTGRES = "SP_SYNC_TEST_POSTGRES_URL is not set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/sp_sync_test)"


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 8, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[StateStore]:
    made: StateStore
    if request.param == "memory":
        made = MemoryStore(clock=clock)
    elif request.param == "sqlite":
        made = SqlStore(f"sqlite:///{tmp_path / 'state' / 'sp-sync.db'}", clock=clock)
    else:
        schema = request.getfixturevalue("pg_schema")
        assert POSTGRES_URL
        made = SqlStore(POSTGRES_URL, schema=schema, clock=clock)
    yield made
    made.close()
