"""F13/F18: two `sp-sync run` daemons on one PostgreSQL against the emulator — one leads,
each row is written once, kill -9 of the leader hands over within the lease time, and a
stalled (SIGSTOP) leader that wakes up after a takeover commits nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sp_sync.adapters.store.sql import SqlStore
from sp_sync.emulator import Emulator
from tests.helpers.tenant import provisioned_demo_seed

from .conftest import REPO, SP_SYNC, env_for, kill_all, wait_for, write_job

LEASE_S = 3
SYNC_JOB = """kind = "sync"
schedule = "every 2s"
[params]
source = "projects"
target = "public_projects"
key = "number"
filter = { public = true }
[params.columns]
title = "title"
number = "number"
status = "status"
"""
PULL_JOB = """kind = "pull"
schedule = "every 2s"
[params]
lists = ["users", "departments", "projects"]
"""


def _daemon(env: dict[str, str], log: Path) -> subprocess.Popen[Any]:
    return subprocess.Popen([*SP_SYNC, "run"], env=env, cwd=REPO, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)


def _public_rows(emu: Emulator) -> Counter[str]:
    return Counter(str(i["fields"].get("SyncKey")) for i in emu.items("ProjekteOeffentlich"))


def _runs_by_owner(store: SqlStore) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    with store.engine.connect() as conn:
        for owner, status in conn.execute(sa.text("SELECT owner, status FROM runs")):
            out.setdefault(str(owner).split(":")[1], Counter())[status] += 1
    return out


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_two_daemons_one_leader_each_row_once_failover_after_kill_9(
    tmp_path: Path, pg_url: str
) -> None:
    seed = provisioned_demo_seed()
    with Emulator(seed=seed, state_dir=tmp_path / "emulator") as emu:
        jobs = tmp_path / "jobs"
        write_job(jobs, "pull", PULL_JOB)
        write_job(jobs, "public", SYNC_JOB)
        env = env_for(emu, tmp_path, pg_url, SP_SYNC_JOBS_DIR=str(jobs),
                      SP_SYNC_LEASE_SECONDS=str(LEASE_S))
        # The seed has ProjekteOeffentlich already (as after provision).
        public = {"copy:public:" + str(i["fields"]["Projektnummer"])
                  for i in emu.items("Projekte") if i["fields"].get("_x00d6_ffentlich")}
        assert public

        store = SqlStore(pg_url)
        procs: list[subprocess.Popen[Any]] = []
        try:
            first = _daemon(env, tmp_path / "a.log")
            procs.append(first)
            leader = wait_for("a leader", store.leader)
            assert leader.holder.split(":")[1] == str(first.pid)
            second = _daemon(env, tmp_path / "b.log")
            procs.append(second)
            # Both daemons fire every job every 2 s; only the leader runs them.
            wait_for("public rows", lambda: set(_public_rows(emu)) == public, timeout=90)
            wait_for("a few sync runs", lambda: len(store.runs("public")) >= 3, timeout=60)
            rows = _public_rows(emu)
            assert set(rows) == public and max(rows.values()) == 1  # each row once
            owners = _runs_by_owner(store)
            assert set(owners) == {str(first.pid)}, owners  # the follower ran nothing

            os.kill(first.pid, signal.SIGKILL)  # the leader dies mid-whatever
            first.wait(timeout=10)
            killed = time.monotonic()
            new = wait_for(
                "the follower to lead",
                lambda: (info := store.leader()) and info.valid
                and info.holder.split(":")[1] == str(second.pid) and info,
                timeout=LEASE_S * 3,  # the lease, a renewal period, a loaded machine
            )
            took_over_s = time.monotonic() - killed
            print(f"failover after kill -9: {took_over_s:.1f} s (lease {LEASE_S} s)")
            assert new.token > leader.token

            # A person publishes one more project: the new leader brings it over, once.
            pid = emu.create_item("Projekte", {"Title": "Neu nach Failover",
                                               "Projektnummer": "P-9001",
                                               "_x00d6_ffentlich": True}, None)
            assert pid
            wait_for("the new row",
                     lambda: "copy:public:P-9001" in _public_rows(emu), timeout=60)
            time.sleep(3)  # a few more ticks of both schedules
            rows = _public_rows(emu)
            assert set(rows) == public | {"copy:public:P-9001"} and max(rows.values()) == 1
            owners = _runs_by_owner(store)
            assert owners.get(str(first.pid), Counter())["running"] == 0  # interrupted
            assert owners[str(second.pid)]["ok"] >= 1

            # The leader stalls (SIGSTOP: a frozen VM, a stopped container): a third
            # replica takes over; when the old one wakes up it commits nothing more.
            third = _daemon(env, tmp_path / "c.log")
            procs.append(third)
            time.sleep(2)  # let it start and stand by
            os.kill(second.pid, signal.SIGSTOP)
            newer = wait_for(
                "the third replica to lead",
                lambda: (info := store.leader()) and info.valid
                and info.holder.split(":")[1] == str(third.pid) and info,
                timeout=LEASE_S * 3,
            )
            taken_at = datetime.now(UTC)
            assert newer.token > new.token
            os.kill(second.pid, signal.SIGCONT)
            wait_for("the old leader to notice",
                     lambda: "lost the leader lease" in (tmp_path / "b.log").read_text(),
                     timeout=LEASE_S * 3)
            time.sleep(3)  # both schedules tick on
            with store.engine.connect() as conn:
                late = conn.execute(sa.text(
                    "SELECT count(*) FROM runs WHERE owner LIKE :who AND status = 'ok' "
                    "AND finished_at > :at"), {"who": f"%:{second.pid}:%", "at": taken_at}
                ).scalar_one()
            assert late == 0  # nothing committed by the stalled old leader
            assert _runs_by_owner(store)[str(third.pid)]["ok"] >= 1
            rows = _public_rows(emu)
            assert set(rows) == public | {"copy:public:P-9001"} and max(rows.values()) == 1

            for proc in (second, third):
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=30) == 0
            released = store.leader()
            assert released is not None and not released.valid  # handed over at once
        finally:
            kill_all(procs)
            store.close()


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_run_job_twice_at_once_on_postgres_writes_each_row_once(
    tmp_path: Path, pg_url: str
) -> None:
    """F18: two `sp-sync run-job public-projects` started together (an admin beside the
    daemon, or a second replica's manual run): the job lock makes the second wait, and it
    then finds every row in place — 16 rows, not 32."""
    with Emulator(seed=provisioned_demo_seed(), state_dir=tmp_path / "emulator",
                  latency_ms=20) as emu:
        env = env_for(emu, tmp_path, pg_url, SP_SYNC_JOBS_DIR=str(REPO / "jobs"))
        procs = [subprocess.Popen([*SP_SYNC, "run-job", "public-projects"], env=env, cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        try:
            outs = [p.communicate(timeout=150) for p in procs]
        finally:
            kill_all(procs)
        assert [p.returncode for p in procs] == [0, 0], outs
        wanted = {"copy:public-projects:" + str(i["fields"]["Projektnummer"])
                  for i in emu.items("Projekte") if i["fields"].get("_x00d6_ffentlich")}
        rows = _public_rows(emu)
        assert set(rows) == wanted and max(rows.values()) == 1
