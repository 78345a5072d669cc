"""A job started by cron (`sp-sync run-job` in a fresh process each time) costs what a
daemon's run costs: one request per list when nothing changed (issue 15).

The site id, the list ids and the daily schema verdict are kept in the state store; counts
come from the emulator's request log, never timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sp_sync.app.wiring import provision_targets
from sp_sync.emulator import Emulator
from sp_sync.ports import ListRef

from .conftest import REPO, Tenant

SP_SYNC = [sys.executable, "-m", "sp_sync.app.cli"]


def _run_job(t: Tenant, tmp: Path, job: str) -> dict[str, Any]:
    """``sp-sync run-job <job>`` in a new process, with its own state file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SP_SYNC_")}
    env.update(t.emu.info.env)
    env.update(SP_SYNC_STATE_URL=f"sqlite:///{tmp / 'cron-state.db'}",
               SP_SYNC_OUTBOX_DIR=str(tmp / "cron-outbox"),
               SP_SYNC_CONFIG=str(tmp / "absent.toml"))
    done = subprocess.run([*SP_SYNC, "run-job", job], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    summary: dict[str, Any] = json.loads(done.stdout[done.stdout.index("{"):])
    return summary


def _graph(emu: Emulator) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["path"].startswith("/v1.0") and not r.get("batch")]


def _delta_lists(requests: list[dict[str, Any]]) -> list[str]:
    """The list id of each delta request."""
    return [r["path"].split("/lists/")[1].split("/")[0] for r in requests
            if r["method"] == "GET" and r["path"].endswith("/items/delta")]


def test_a_quiet_run_in_a_fresh_process_costs_one_request_per_list(
    tenant: Tenant, tmp_path: Path
) -> None:
    emu = tenant.emu
    sources = [s for s in tenant.config.mapping.lists if s.role == "source"]
    first = _run_job(tenant, tmp_path, "dtc-sync")  # empty store: ids, columns, full reads
    assert first["status"] == "ok"

    emu.clear_requests()
    quiet = _run_job(tenant, tmp_path, "dtc-sync")
    sent = _graph(emu)
    assert quiet["status"] == "ok"
    assert len(sent) == len(sources) == quiet["stats"]["requests"]
    assert sorted(_delta_lists(sent)) == sorted(emu.list_id(s.title) for s in sources)

    # The list-to-list job: its first run writes, the second is quiet.
    assert _run_job(tenant, tmp_path, "public-projects")["status"] == "ok"
    emu.clear_requests()
    sync = _run_job(tenant, tmp_path, "public-projects")
    pulled = _delta_lists(_graph(emu))
    assert sync["status"] == "ok" and sync["stats"]["written"] == 0
    assert len(_graph(emu)) == len(pulled) == len(set(pulled)) == sync["stats"]["requests"]
    assert emu.list_id("ProjekteOeffentlich") in pulled


def test_a_list_deleted_and_re_created_is_found_again_by_a_fresh_process(
    tenant: Tenant, tmp_path: Path
) -> None:
    emu, target = tenant.emu, "ProjekteOeffentlich"
    assert _run_job(tenant, tmp_path, "public-projects")["status"] == "ok"
    rows = len(emu.items(target))
    assert rows > 0
    old_id = emu.list_id(target)

    emu.delete_list(target)  # an admin deletes the list; provisioning creates it anew
    tenant.svc.source.forget(ListRef(tenant.settings.site_url or "", target))  # type: ignore[attr-defined]
    provision_targets(tenant.svc, tenant.config.mapping)
    assert emu.list_id(target) != old_id and emu.items(target) == []

    emu.clear_requests()
    again = _run_job(tenant, tmp_path, "public-projects")  # kept id and cursor are stale
    assert again["status"] == "ok"
    assert len(emu.items(target)) == rows  # the new list is filled again
    lists_reads = [r for r in _graph(emu) if r["path"].endswith("/lists")]
    assert len(lists_reads) == 1  # every list's id in one request

    emu.clear_requests()
    quiet = _run_job(tenant, tmp_path, "public-projects")
    assert quiet["stats"]["written"] == 0
    assert len(_graph(emu)) == len(set(_delta_lists(_graph(emu))))  # one per list again
