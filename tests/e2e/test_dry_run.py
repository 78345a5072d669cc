"""Dry runs of every job kind against the emulator: nothing leaves, nothing is recorded as
done — and the real run afterwards does exactly what the dry run printed.

Also: two runs that overlap on the daemon's two worker threads each count only their own
requests.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from sp_sync.emulator.faults import FaultRule
from sp_sync.engine.runner import RunOutcome, run_job
from sp_sync.ports import StateStore

from .conftest import Tenant, open_tenant

WRITE_METHODS = ("POST", "PATCH", "DELETE", "PUT")


def state_of(store: StateStore, lists: list[str], jobs: list[str]) -> dict[str, Any]:
    """Everything a run could change in the state store, but the run history."""
    return {
        "mirror": {k: (store.cursor(k), sorted((i.id, i.etag, i.content_hash, i.deleted)
                                               for i in store.items(k, include_deleted=True)))
                   for k in lists},
        "history": len(store.changes()),
        "outbox": sorted((e.job, e.period, e.recipient, e.status)
                         for e in store.outbox_pending()),
        "ledger": {j: store.ledger_periods(j) for j in jobs},
    }


def writes_in(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requests that change something (the token endpoint and control API aside)."""
    return [r for r in log if r["method"] in WRITE_METHODS and "/_emulator" not in r["path"]
            and "/oauth2/" not in r["path"]]


JOBS = ["dtc-sync", "public-projects", "weekly-digest", "lead-digests", "coordinator-digests",
        "reminders"]


@pytest.mark.parametrize("first", [False, True], ids=["fresh", "after-a-sync"])
def test_a_dry_run_of_every_kind_touches_nothing_and_the_real_run_does_what_it_said(
    tmp_path: Path, first: bool,
) -> None:
    with open_tenant(tmp_path) as t:
        lists = [s.key for s in t.config.mapping.lists]
        names = [j.name for j in t.config.jobs]
        assert set(JOBS) <= set(names)
        if first:  # the mirror is filled and a person edits: a pull has news to show
            assert run_job(t.svc, t.config.job("dtc-sync")).status == "ok"
            edit_one_project(t)
        kinds = {t.config.job(n).kind for n in names}
        assert {"pull", "sync", "digest", "reminders"} <= kinds
        for name in names:
            store = t.svc.store
            before = state_of(store, lists, names)
            mails = len(t.emu.mail())
            t.emu.clear_requests()

            dry = run_job(t.svc, t.config.job(name), dry_run=True)

            assert dry.status in ("ok", "partial"), (name, dry.message)
            assert writes_in(t.emu.requests()) == [], name
            assert len(t.emu.mail()) == mails, name
            assert state_of(store, lists, names) == before, name
            [recorded] = store.runs(name, 1)
            assert recorded.stats.get("dry_run") is True
            real = run_job(t.svc, t.config.job(name))
            assert real.status == "ok", (name, real.message)
            same_effect(t, name, dry, real, mails)


def edit_one_project(t: Tenant) -> None:
    [item] = [i for i in t.emu.items("Projekte") if i["fields"].get("Status") == "Planung"][:1]
    t.emu.edit("Projekte", item["id"], {"Status": "Umsetzung"}, "anna.becker@mannheim.de")


def same_effect(t: Tenant, name: str, dry: RunOutcome, real: RunOutcome, mails: int) -> None:
    """The real run did exactly what the dry run planned."""
    kind = t.config.job(name).kind
    if kind == "sync":
        for key in ("planned_creates", "planned_updates", "planned_deletes"):
            assert dry.stats[key] == real.stats[key], (name, key)
        assert real.stats["written"] == sum(
            dry.stats[k] for k in ("planned_creates", "planned_updates", "planned_deletes"))
        assert dry.plan_text is not None and real.plan_text is not None
        assert dry.plan_text.splitlines()[-1] == real.plan_text.splitlines()[-1]
    elif kind == "pull":
        for key in ("items_seen", "created", "updated", "deleted"):
            assert dry.stats[key] == real.stats[key], (name, key)
    elif planned_mails(dry) or real.stats.get("sent"):  # mail: who gets which mail
        sent = t.emu.mail()[mails:]
        planned = sorted(planned_mails(dry))
        assert len(planned) == len(sent) == real.stats.get("sent", 0), name
        got = sorted(r for m in sent for r in m["recipients"])
        assert got == sorted(line.split(" → ")[1].split(":")[0] for line in planned), name
    if kind == "runlog":  # the dry run is itself a finished run, listed by the real run
        assert real.stats["planned_creates"] == dry.stats["planned_creates"] + 1, name
        for key in ("planned_updates", "planned_deletes"):
            assert dry.stats[key] == real.stats[key], (name, key)
    elif kind not in ("pull", "sync") and "planned_creates" in dry.stats:  # other producers
        for key in ("planned_creates", "planned_updates", "planned_deletes"):
            assert dry.stats[key] == real.stats[key], (name, key)


def planned_mails(outcome: RunOutcome) -> list[str]:
    return [line for line in (outcome.plan_text or "").splitlines() if line.startswith("mail ")]


# --------------------------------------------------------------------------- context


def test_two_overlapping_runs_count_only_their_own_requests(tmp_path: Path) -> None:
    with open_tenant(tmp_path, run_time_budget_s=600) as t:
        # Slow answers, so the two runs really overlap on two threads.
        t.emu.faults.add(FaultRule(kind="slow", delay_ms=15, times=None))
        t.emu.clear_requests()
        outcomes: dict[str, RunOutcome] = {}
        start = threading.Barrier(2)

        def run(name: str) -> None:
            start.wait()
            outcomes[name] = run_job(t.svc, t.config.job(name))

        threads = [threading.Thread(target=run, args=(n,))
                   for n in ("dtc-sync", "public-projects")]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        served = [r for r in t.emu.requests() if "/_emulator" not in r["path"]
                  and "/oauth2/" not in r["path"] and not r.get("batch")]
        a, b = outcomes["dtc-sync"], outcomes["public-projects"]
        assert a.status == b.status == "ok", (a.message, b.message)
        # Each request is counted once, by the run that sent it (the old shared counter
        # gave each overlapping run the other's requests too).
        assert a.stats["requests"] + b.stats["requests"] == len(served)
        assert a.stats["requests"] >= 9 and b.stats["requests"] >= 4
        assert b.stats["written"] == 16 and "written" not in a.stats
