"""Real processes against a real emulator: helpers to run `sp-sync` as an admin would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from sp_sync.adapters.store.sql import normalise_url
from sp_sync.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
SP_SYNC = [sys.executable, "-m", "sp_sync.app.cli"]
POSTGRES_URL = os.environ.get("SP_SYNC_TEST_POSTGRES_URL")
T = TypeVar("T")


def env_for(emu: Emulator, tmp: Path, state_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SP_SYNC_")}
    env.update(emu.info.env)
    env.update(
        SP_SYNC_STATE_URL=state_url,
        SP_SYNC_OUTBOX_DIR=str(tmp / "outbox"),
        SP_SYNC_CONFIG=str(tmp / "absent.toml"),
        SP_SYNC_LISTS_FILE=str(REPO / "config" / "lists.toml"),
        SP_SYNC_MAIL_PER_MINUTE="1000",
    )
    env.update(extra)
    return env


def sp_sync(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SP_SYNC, *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60,
             every: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def write_job(jobs: Path, name: str, text: str) -> None:
    jobs.mkdir(parents=True, exist_ok=True)
    (jobs / f"{name}.toml").write_text(text, encoding="utf-8")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A state store URL on a fresh PostgreSQL schema, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("SP_SYNC_TEST_POSTGRES_URL is not set")
    schema = f"r_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}schema={schema}"
    engine = sa.create_engine(normalise_url(POSTGRES_URL))
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def kill_all(procs: list[subprocess.Popen[Any]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
