"""A seeded simulation on the demo tenant: people edit the lists while the real runner pulls,
validates (a second producer writing the Befunde list) and sends mails (reminders, the weekly
digest), Graph throws faults (also on sendMail and Sent Items), sp-sync "crashes" at random
step boundaries (the crash switch, in-process; e.g. after a sendMail was accepted, before the
ledger knows) and restarts at random (new Services: store and Graph connection re-opened, so
the in-memory caches — list ids, schema verdicts, the mailer's flushed flag — are lost).

After the storm a few clean runs must converge: each (job, period, recipient) arrived exactly
once in the emulator's mailbox, nothing is left pending in the outbox, a quiet re-run of every
job sends nothing, and the mirror equals the lists.

CI runs a fixed budget of seeds; a longer soak is a command:

    SP_SYNC_SOAK_SEEDS=20 .venv/bin/pytest -q -s tests/reliability/test_simulation_mail.py
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from email import message_from_string
from pathlib import Path
from typing import Any

import pytest

from sp_sync import crashpoints
from sp_sync.adapters.graph.config import GraphConfig
from sp_sync.app import wiring
from sp_sync.app.demo import demo_clock
from sp_sync.app.wiring import Config, load_config, provision_targets, services
from sp_sync.clock import FixedClock
from sp_sync.config.settings import Settings
from sp_sync.domain.normalize import content_hash
from sp_sync.emulator import Emulator
from sp_sync.emulator.faults import FaultRule
from sp_sync.emulator.seeds.demo import demo_seed
from sp_sync.engine.context import Services
from sp_sync.engine.runner import run_job
from sp_sync.render.mail import SYNC_KEY_HEADER
from tests.e2e.conftest import MONDAY, TZ, settings_for

SEEDS = int(os.environ.get("SP_SYNC_SOAK_SEEDS", "3"))
STEPS = 14
JOBS = ["dtc-sync", "dtc-sync", "reminders", "reminders", "reminders", "weekly-digest",
        "dtc-validate"]
MAIL_JOBS = ("reminders", "weekly-digest")
ANNA = "anna.becker@mannheim.de"
MAIL = r"/sendMail$"
SENT = r"/mailFolders/[^/]+/messages$"
FAULTS = [
    FaultRule(kind="status", status=503, retry_after="0", method="POST", path=MAIL),
    FaultRule(kind="status", status=429, retry_after="0", method="POST", path=MAIL),
    # the server sent the mail, the answer is lost: the next run must find it in Sent Items
    FaultRule(kind="after_write", status=500, method="POST", path=MAIL),
    FaultRule(kind="reset", method="POST", path=MAIL),
    FaultRule(kind="status", status=503, retry_after="0", path=SENT),
    FaultRule(kind="reset", path=SENT),
    FaultRule(kind="status", status=503, retry_after="0", path=r"/items/delta$"),
    FaultRule(kind="truncate", path=r"/items/delta$"),
    FaultRule(kind="status", status=429, retry_after="0", path=r"/\$batch$"),
    FaultRule(kind="after_write", status=500, method="POST", path=r"/\$batch$"),
]


class Crash(BaseException):
    """A simulated kill: passes every ``except Exception`` like the real thing."""


@pytest.fixture(autouse=True)
def _no_waits_and_disarm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = wiring.graph_config

    def no_sleep(settings: Settings) -> GraphConfig:  # backoffs recorded, not slept
        return dataclasses.replace(real(settings), sleep=lambda s: None)

    monkeypatch.setattr(wiring, "graph_config", no_sleep)
    yield
    crashpoints.arm(None)


class Process:
    """One sp-sync process: Services opened on the tenant; ``restart`` drops all of it."""

    def __init__(self, config: Config, clock: FixedClock) -> None:
        self.config, self.clock = config, clock
        self._stack = ExitStack()
        self.svc = self._open()

    def _open(self) -> Services:
        return self._stack.enter_context(services(self.config, clock=self.clock))

    def restart(self) -> None:
        self._stack.close()
        self._stack = ExitStack()
        self.svc = self._open()

    def close(self) -> None:
        self._stack.close()

    def run(self, name: str) -> Any:
        return run_job(self.svc, self.config.job(name))


def _person(emu: Emulator, rng: random.Random, serial: int) -> None:
    items = emu.items("Projekte")
    item = rng.choice(items)
    if rng.random() < 0.7:
        emu.edit("Projekte", item["id"], {"Title": f"Geändert {serial}"}, ANNA)
    else:
        emu.create_item("Projekte", {"Title": f"Sim {serial}",
                                     "Projektnummer": f"SIM-{serial}"}, ANNA)


def _to_next_monday(clock: FixedClock) -> timedelta:
    """From now to the next Monday 07:30 local (the weekly digest is due at 07:00)."""
    now = clock.now().astimezone(TZ)
    day = now.date() + timedelta(days=7 - now.weekday())
    return datetime(day.year, day.month, day.day, 7, 30, tzinfo=TZ) - now


def _mail_keys(emu: Emulator) -> list[str]:
    keys = []
    for mail in emu.mail():
        raw = mail["raw"]
        assert isinstance(raw, str), "sp-sync sends MIME"
        # a long key is folded onto continuation lines: unfold it
        keys.append("".join(str(message_from_string(raw)[SYNC_KEY_HEADER]).split()))
    return keys


def _mirror_equals_list(proc: Process, emu: Emulator, key: str) -> bool:
    spec = proc.config.mapping.get(key)
    live = {str(i["id"]): (i["eTag"], content_hash(spec, i["fields"]))
            for i in emu.items(spec.title)}
    return {i.id: (i.etag, i.content_hash) for i in proc.svc.store.items(key)} == live


@pytest.mark.parametrize("seed", range(SEEDS))
def test_mails_writes_faults_crashes_and_restarts_converge(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    clock = demo_clock(MONDAY, TZ)
    with Emulator(seed=demo_seed(MONDAY), state_dir=tmp_path / "emulator") as emu:
        config = load_config(settings_for(emu, tmp_path))
        proc = Process(config, clock)
        try:
            provision_targets(proc.svc, config.mapping)
            proc.run("dtc-sync")  # the first pull: the mail jobs have data from the start
            for step in range(STEPS):
                for n in range(rng.randint(0, 2)):
                    _person(emu, rng, step * 10 + n)
                # across the week: reminders fall due day by day, the digest next Monday
                clock.advance(timedelta(hours=rng.choice([0, 1, 6, 12, 24])))
                emu.faults.clear()
                for rule in rng.sample(FAULTS, rng.randint(0, 2)):
                    emu.faults.add(FaultRule(**{**rule.to_dict(), "seen": 0, "fired": 0,
                                                "skip": rng.randint(0, 2)}))
                name = rng.choice(JOBS)
                # "write" counts every non-GET answer: a $batch, a sendMail the server accepted
                kind = rng.choice(["request", "write", "write", "commit", "none"])
                crashpoints.arm(None if kind == "none" else {kind: rng.randint(1, 4)}, Crash)
                try:
                    outcome = proc.run(name)
                    outcomes[f"{name}:{outcome.status}"] += 1
                    restart = rng.random() < 0.3
                except Crash:
                    outcomes["crash"] += 1
                    outcomes[f"crash:{name}:{kind}"] += 1
                    restart = True  # a killed process comes back with nothing in memory
                finally:
                    crashpoints.arm(None)
                    outcomes["faults"] += sum(r.fired for r in emu.faults.rules())
                if restart:
                    proc.restart()
                    outcomes["restart"] += 1

            emu.faults.clear()  # the storm is over: converge
            proc.run("dtc-sync")
            clock.advance(_to_next_monday(clock))  # a due time after a sync: the digest goes
            for _ in range(2):
                for name in ("dtc-sync", "dtc-validate", *MAIL_JOBS):
                    proc.run(name)
            proc.restart()
            sent = len(emu.mail())
            for name in ("dtc-sync", "dtc-validate", *MAIL_JOBS):  # quiet re-run
                outcome = proc.run(name)
                assert outcome.status == "ok", (name, outcome.status, outcomes)
                assert outcome.stats.get("writes", 0) == 0, (name, outcome.stats, outcomes)
            assert len(emu.mail()) == sent, outcomes  # a quiet re-run sends nothing

            mails = emu.mail()
            keys = Counter(_mail_keys(emu))
            assert keys and max(keys.values()) == 1, (keys.most_common(3), outcomes)
            ids = Counter(m["internetMessageId"] for m in mails)
            assert max(ids.values()) == 1, outcomes
            pairs = Counter((tuple(m["recipients"]), m["subject"]) for m in mails)
            assert max(pairs.values()) == 1, (pairs.most_common(3), outcomes)
            jobs = Counter(k.split("/", 1)[0] for k in keys)
            assert jobs["weekly-digest"] >= 1 and jobs["reminders"] >= 1, (jobs, outcomes)
            assert proc.svc.store.outbox_pending() == [], outcomes
            for period, status in proc.svc.store.ledger_periods("weekly-digest"):
                assert status in ("sent", "late"), (period, status, outcomes)
            assert _mirror_equals_list(proc, emu, "projects"), outcomes
            assert _mirror_equals_list(proc, emu, "findings"), outcomes
            outcomes["mails"] = len(mails)
            print(f"seed {seed}: {dict(sorted(outcomes.items()))}")
        finally:
            proc.close()
