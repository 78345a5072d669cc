"""Faults against the whole engine on the emulator: nothing is lost, nothing is doubled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sp_sync.emulator.faults import FaultRule
from sp_sync.engine.runner import run_job

from .conftest import Tenant, open_tenant


@pytest.fixture
def impatient(tmp_path: Path) -> Iterator[Tenant]:
    """The DTC tenant with a run time budget of 3 s, so throttling can outlast a run."""
    with open_tenant(tmp_path, run_time_budget_s=3) as t:
        yield t


def test_throttling_past_the_budget_ends_partial_and_loses_nothing(impatient: Tenant) -> None:
    t = impatient
    projects = t.config.mapping.get("projects")
    list_id = t.emu.list_id(projects.title)
    t.emu.faults.add(FaultRule(status=429, retry_after="1", times=None,
                               path=f"/lists/{list_id}/items/delta"))

    first = run_job(t.svc, t.config.job("dtc-sync"))

    assert first.status == "partial"
    assert "budget" in (first.message or "")
    assert t.svc.store.cursor("projects") is None  # not advanced past data it does not cover
    assert t.svc.store.count("projects") == 0
    throttled = [r for r in t.emu.requests() if r["status"] == 429]
    assert throttled and first.stats["throttled"] >= len(throttled) - 1

    t.emu.faults.clear()
    second = run_job(t.svc, t.config.job("dtc-sync"))

    assert second.status == "ok"
    assert t.svc.store.count("projects") == len(t.emu.items(projects.title)) == 40
    assert t.svc.store.cursor("projects")


def test_expired_cursor_re_enumerates_and_tombstones_after_completion(tenant: Tenant) -> None:
    t = tenant
    run_job(t.svc, t.config.job("dtc-sync"))
    projects = t.config.mapping.get("projects")
    gone = t.emu.items(projects.title)[5]["id"]
    t.emu.delete_item(projects.title, gone, "anna.becker@mannheim.de")
    t.emu.invalidate_delta(projects.title)

    outcome = run_job(t.svc, t.config.job("dtc-sync"))

    assert outcome.status == "ok"
    assert any(r["status"] == 410 for r in t.emu.requests())
    tomb = t.svc.store.get("projects", gone)
    assert tomb is not None and tomb.deleted
    assert t.svc.store.count("projects") == 39
    assert any(c.item_id == gone and c.kind == "deleted" for c in t.svc.store.changes("projects"))


def test_server_error_after_a_create_leaves_no_duplicate_rows(tenant: Tenant) -> None:
    t = tenant
    target = t.config.mapping.get("public_projects")
    t.emu.faults.add(FaultRule(kind="after_write", status=502, method="POST",
                               path=r"/items$", times=3))

    first = run_job(t.svc, t.config.job("public-projects"))
    second = run_job(t.svc, t.config.job("public-projects"))

    rows = t.emu.items(target.title)
    keys = [r["fields"]["SyncKey"] for r in rows]
    assert len(keys) == len(set(keys)) == 16
    assert first.status in ("ok", "partial")
    assert second.status == "ok" and second.stats["written"] == 0


def test_a_persons_edit_between_read_and_write_is_never_overwritten(tenant: Tenant) -> None:
    t = tenant
    target = t.config.mapping.get("public_projects")
    run_job(t.svc, t.config.job("public-projects"))
    projects = t.config.mapping.get("projects")
    status = projects.column("status").name
    src = next(i for i in t.emu.items(projects.title)
               if i["fields"].get(projects.column("public").name) and
               i["fields"].get(status) == "Umsetzung")
    t.emu.edit(projects.title, src["id"], {status: "Abgeschlossen"}, "anna.becker@mannheim.de")
    # Whoever PATCHes the target row next finds that a person changed it in between.
    row = next(r for r in t.emu.items(target.title)
               if r["fields"]["SyncKey"].endswith(":" + str(src["fields"]["Projektnummer"])))
    t.emu.faults.add(FaultRule(kind="edit", method="PATCH", path=r"/items/\d+/fields$",
                               user="anna.becker@mannheim.de", times=2,
                               fields={"Status": "Von Hand gesetzt"}))

    outcome = run_job(t.svc, t.config.job("public-projects"))

    after = next(r for r in t.emu.items(target.title) if r["id"] == row["id"])
    assert after["fields"]["Status"] == "Von Hand gesetzt"  # the person's value survives
    assert outcome.status == "partial" and outcome.stats["conflicts"] == 1

