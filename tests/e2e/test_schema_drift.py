"""A tenant whose columns drifted from config/lists.toml: named, skipped, fixed (issue 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sp_sync.app.demo import demo_clock
from sp_sync.app.wiring import load_config, provision_targets, services
from sp_sync.domain.model import ColumnType, ListMapping
from sp_sync.emulator import Emulator
from sp_sync.emulator.seeds.demo import demo_seed
from sp_sync.engine.runner import run_job

from .conftest import MONDAY, TZ, Tenant, settings_for

RECREATED = (
    "list projects ('Projekte'): column key 'status' → internal name 'Status' is missing in "
    "SharePoint — fix lists.projects.columns.status.name in config/lists.toml (a column with "
    "display name 'Status' now has the internal name 'Status0')"
)


def drifted_seed() -> dict[str, Any]:
    """The demo tenant after an admin re-created "Status" and turned "Budget" into text."""
    seed = demo_seed(MONDAY)
    projects = next(lst for lst in seed["sites"][0]["lists"] if lst["displayName"] == "Projekte")
    for col in projects["columns"]:
        if col["name"] == "Status":
            col["name"] = "Status0"
        elif col["name"] == "Budget":
            del col["currency"]
            col["text"] = {"allowMultipleLines": False}
    for item in projects["items"]:
        fields = item["fields"]
        if "Status" in fields:
            fields["Status0"] = fields.pop("Status")
        if "Budget" in fields:
            fields["Budget"] = f"{fields['Budget']:.0f} EUR"
    return seed


@pytest.fixture
def drifted(tmp_path: Path) -> Iterator[Tenant]:
    clock = demo_clock(MONDAY, TZ)
    seed = drifted_seed()
    with Emulator(seed=seed, state_dir=tmp_path / "emulator") as emu:
        config = load_config(settings_for(emu, tmp_path))
        with services(config, clock=clock) as svc:
            provision_targets(svc, config.mapping)  # the lists sp-sync writes, as an admin would
            emu.clear_requests()
            yield Tenant(emu, config, svc, clock, seed)


def fixed(mapping: ListMapping) -> ListMapping:
    """config/lists.toml after the admin followed the messages."""
    projects = mapping.get("projects")
    cols = tuple(
        dataclasses.replace(c, name="Status0") if c.key == "status"
        else dataclasses.replace(c, type=ColumnType.TEXT) if c.key == "budget" else c
        for c in projects.columns
    )
    new = dataclasses.replace(projects, columns=cols)
    return ListMapping(tuple(new if s.key == "projects" else s for s in mapping.lists))


def test_drifted_columns_are_named_skipped_and_picked_up_once_fixed(drifted: Tenant) -> None:
    t = drifted
    sources = [s for s in t.config.mapping.lists if s.role == "source"]
    job = t.config.job("dtc-sync")

    first = run_job(t.svc, job)

    assert first.status == "partial"
    assert first.message and RECREATED in first.message
    assert ("'Budget' is a text column in SharePoint but config/lists.toml says currency"
            in first.message)
    checks = [r for r in t.emu.requests() if r["path"].endswith("/columns")]
    assert len(checks) == len(sources)  # one check per list on the first run
    for spec in sources:  # every list and every other column still synced
        assert t.svc.store.count(spec.key) == len(t.emu.items(spec.title)), spec.key
    one = t.svc.store.get("projects", "1")
    assert one is not None and one.fields["Title"] == "E-Akte in den Bürgerdiensten"
    assert "Status0" not in one.fields and "Budget" not in one.fields

    # a sync job reading the same list keeps leaving the broken columns out
    assert run_job(t.svc, t.config.job("public-projects")).status == "ok"
    t.emu.clear_requests()
    second = run_job(t.svc, job)

    assert second.status == "partial" and second.stats["items_seen"] == 0
    log = t.emu.requests()
    # the broken list is checked again (and only it); every list costs one delta request
    assert len([r for r in log if r["path"].endswith("/columns")]) == 1
    assert len([r for r in log if r["path"].endswith("/items/delta")]) == len(sources)

    t.svc.mapping = fixed(t.svc.mapping)
    third = run_job(t.svc, job)

    assert third.status == "ok", third.message
    one = t.svc.store.get("projects", "1")
    assert one is not None
    assert one.fields["Status0"] == "Abgeschlossen" and one.fields["Budget"] == "234500 EUR"
