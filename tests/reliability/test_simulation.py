"""A seeded simulation: people edit, create and delete items while Graph throws faults and
sp-sync "crashes" at random step boundaries (the crash switch, in-process); after the storm
a few clean runs must converge to the invariants — the mirror equals the lists, each public
project is in the target exactly once, a quiet run writes nothing.

CI runs a fixed budget of seeds; a longer soak is a command:

    SP_SYNC_SOAK_SEEDS=200 .venv/bin/pytest -q tests/reliability/test_simulation.py
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sp_sync import crashpoints
from sp_sync.adapters.graph import source as graph_source
from sp_sync.emulator.faults import FaultRule
from sp_sync.engine.pull import pull_list
from sp_sync.errors import SpSyncError
from sp_sync.kinds.sync import SyncParams
from tests.helpers.copying import run_copy

from .site import ANNA, PUBLIC, P, Site, open_site

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TZ = ZoneInfo("Europe/Berlin")
T = "ProjekteOeffentlich"
PARAMS = SyncParams(source="projects", target="public_projects", key="number",
                    filter={"public": True},
                    columns={"title": "title", "number": "number", "status": "status"})
SEEDS = int(os.environ.get("SP_SYNC_SOAK_SEEDS", "3"))
STEPS = 10
FAULTS = [
    FaultRule(kind="status", status=503, retry_after="0", path=r"/items/delta$"),
    FaultRule(kind="status", status=429, retry_after="0", path=r"/\$batch$"),
    FaultRule(kind="after_write", status=500, method="POST", path=r"/\$batch$"),
    FaultRule(kind="reset", path=r"/items/delta$"),
    FaultRule(kind="truncate", path=r"/items/delta$"),
    FaultRule(kind="html", path=r"/items/delta$"),
    FaultRule(kind="reset", method="POST", path=r"/\$batch$"),
]


class Crash(BaseException):
    """A simulated kill: passes every ``except Exception`` like the real thing."""


@pytest.fixture(autouse=True)
def _pages_and_crashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(graph_source, "DELTA_PAGE_SIZE", 3)
    yield
    crashpoints.arm(None)


def _person(site: Site, rng: random.Random, serial: int) -> None:
    items = site.emu.items(P)
    op = rng.choice(["create", "edit", "edit", "toggle", "delete"] if len(items) > 4
                    else ["create"])
    if op == "create":
        site.emu.create_item(P, {"Title": f"Sim {serial}", "Projektnummer": f"S-{serial}",
                                 PUBLIC: rng.random() < 0.6, "Status": "Idee"}, ANNA)
        return
    item = rng.choice(items)
    if op == "edit":
        site.emu.edit(P, item["id"], {"Title": f"Geändert {serial}"}, ANNA)
    elif op == "toggle":
        site.emu.edit(P, item["id"], {PUBLIC: not item["fields"].get(PUBLIC)}, ANNA)
    else:
        site.emu.delete_item(P, item["id"], ANNA)


def _run_once(site: Site, allow: bool = False) -> int:
    projects = site.mapping.get("projects")
    pull_list(site.lists, site.store, projects, site.ref(projects), NOW, allow_mass_delete=allow)
    return run_copy(PARAMS, site.mapping, site.lists, site.lists, site.store, site.ref, TZ,
                    NOW, allow_mass_delete=allow).writes


@pytest.mark.parametrize("seed", range(SEEDS))
def test_edits_faults_and_crashes_converge(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    with open_site(tmp_path, projects=8, sleep=lambda s: None) as site:
        for step in range(STEPS):
            for n in range(rng.randint(0, 3)):
                _person(site, rng, step * 10 + n)
            site.emu.faults.clear()
            for rule in rng.sample(FAULTS, rng.randint(0, 2)):
                site.emu.faults.add(FaultRule(**{**rule.to_dict(), "seen": 0, "fired": 0,
                                                 "skip": rng.randint(0, 2)}))
            if rng.random() < 0.15:
                site.emu.invalidate_delta(P)
            kind = rng.choice(["request", "write", "commit", "page", "none"])
            crashpoints.arm(None if kind == "none" else {kind: rng.randint(1, 6)}, Crash)
            try:
                _run_once(site)
                outcomes["ok"] += 1
            except Crash:
                outcomes["crash"] += 1
            except SpSyncError as exc:
                outcomes[type(exc).__name__] += 1
            finally:
                crashpoints.arm(None)
        site.emu.faults.clear()
        _run_once(site, allow=True)  # the storm is over: converge
        _run_once(site, allow=True)
        assert _run_once(site) == 0, outcomes  # a quiet run writes nothing
        assert site.mirror_equals_list("projects"), outcomes
        assert site.mirror_equals_list("public_projects"), outcomes
        wanted = {"copy:public-projects:" + str(i["fields"]["Projektnummer"])
                  for i in site.emu.items(P) if i["fields"].get(PUBLIC)}
        rows = Counter(str(i["fields"].get("SyncKey")) for i in site.emu.items(T))
        assert set(rows) == wanted and (not rows or max(rows.values()) == 1), outcomes
        print(f"seed {seed}: {dict(outcomes)}")
