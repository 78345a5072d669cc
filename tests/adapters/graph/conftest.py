"""Fixtures for the Graph adapter tests: a real emulator over HTTPS, real msal + office365."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.config import GraphConfig
from sp_sync.adapters.graph.source import GraphLists
from sp_sync.emulator import Emulator
from sp_sync.emulator.tiny_seed import tiny_seed
from sp_sync.ports import ListRef


class FakeTime:
    """Injectable sleep/clock: records waits instead of sleeping; time moves only by sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[float], None] | None = None  # e.g. snapshot the request log

    def sleep(self, seconds: float) -> None:
        if self.on_sleep is not None:
            self.on_sleep(seconds)
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def config_for(emu: Emulator, *, secret: bool = False, time: FakeTime | None = None,
               **overrides: Any) -> GraphConfig:
    info = emu.info
    cfg = GraphConfig(
        tenant_id=info.tenant_id,
        client_id=info.client_id,
        client_secret=info.client_secret if secret else None,
        certificate_pem=None if secret else Path(info.certificate).read_text(),
        authority_host=info.base_url,
        graph_url=info.graph_url,
        ca_bundle=info.ca_bundle,
    )
    if time is not None:
        cfg = dataclasses.replace(cfg, sleep=time.sleep, clock=time.clock)
    return dataclasses.replace(cfg, **overrides) if overrides else cfg


def graph_requests(emu: Emulator, path_part: str = "", method: str | None = None
                   ) -> list[dict[str, Any]]:
    """Graph requests in the emulator log (outer requests only, not $batch sub-requests)."""
    return [r for r in emu.requests()
            if r["path"].startswith("/v1.0") and not r.get("batch")
            and path_part in r["path"] and (method is None or r["method"] == method)]


def token_requests(emu: Emulator) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["path"].endswith("/oauth2/v2.0/token")]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(seed=tiny_seed()) as e:
        yield e


@pytest.fixture
def clean(emu: Emulator) -> Iterator[Emulator]:
    emu.faults.clear()
    emu.clear_requests()
    yield emu
    emu.faults.clear()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def conn(emu: Emulator, fake_time: FakeTime) -> Iterator[GraphConnection]:
    with GraphConnection(config_for(emu, time=fake_time)) as c:
        yield c


@pytest.fixture
def lists(conn: GraphConnection, emu: Emulator) -> GraphLists:
    return GraphLists(conn, emu.info.site_url)


@pytest.fixture
def projekte(emu: Emulator) -> ListRef:
    return ListRef(emu.info.site_url, "Projekte")
