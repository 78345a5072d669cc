"""An admin's view: `sp-sync emulator serve` in one process, `sp-sync run-job` in another,
connected only by the SP_SYNC_… variables the emulator prints."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import REPO

SP_SYNC = [sys.executable, "-m", "sp_sync.app.cli"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("emulator")
    proc = subprocess.Popen(
        [*SP_SYNC, "emulator", "serve", "--seed", "demo", "--state-dir", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "no output"
        info = json.loads(line)
        yield info
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _env(info: dict[str, Any], tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SP_SYNC_")}
    env.update(info["env"])
    env["SP_SYNC_STATE_URL"] = f"sqlite:///{tmp_path / 'state.db'}"
    env["SP_SYNC_OUTBOX_DIR"] = str(tmp_path / "outbox")
    env["SP_SYNC_CONFIG"] = str(tmp_path / "absent.toml")
    env.update(extra)
    return env


def test_serve_prints_how_to_reach_it(served: dict[str, Any]) -> None:
    for key in ("graph_url", "authority", "tenant_id", "client_id", "certificate",
                "ca_bundle", "site_url", "mailbox", "env"):
        assert served[key], key
    assert served["graph_url"].startswith("https://127.0.0.1:")
    assert Path(served["certificate"]).read_text().count("BEGIN") >= 2  # key and certificate
    assert all(k.startswith("SP_SYNC_") for k in served["env"])


def test_run_job_against_the_served_emulator(served: dict[str, Any], tmp_path: Path) -> None:
    done = subprocess.run([*SP_SYNC, "run-job", "dtc-sync"], env=_env(served, tmp_path),
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    assert summary["status"] == "ok"
    assert summary["stats"]["items_seen"] > 300

    again = subprocess.run([*SP_SYNC, "runs"], env=_env(served, tmp_path), cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "dtc-sync" in again.stdout


def test_wrong_secret_names_the_aadsts_code_and_exits_3(
    served: dict[str, Any], tmp_path: Path
) -> None:
    env = _env(served, tmp_path, SP_SYNC_CLIENT_SECRET="not-the-secret")
    env.pop("SP_SYNC_CERTIFICATE_PATH", None)
    env.pop("SP_SYNC_CERTIFICATE_PEM", None)
    done = subprocess.run([*SP_SYNC, "run-job", "dtc-sync"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr + done.stdout
    out = " ".join((done.stderr + done.stdout).split())
    assert "AADSTS7000215" in out
    assert "secret" in out.lower()


def test_missing_setting_stops_the_start_with_key_and_reason(
    served: dict[str, Any], tmp_path: Path
) -> None:
    env = _env(served, tmp_path)
    env.pop("SP_SYNC_SITE_URL")
    done = subprocess.run([*SP_SYNC, "run-job", "dtc-sync"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    out = " ".join((done.stderr + done.stdout).split())
    assert "site_url" in out


def test_daemon_runs_jobs_on_schedule_and_serves_metrics(
    served: dict[str, Any], tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "quick-sync.toml").write_text(
        'kind = "pull"\nschedule = "every 1s"\n[params]\nlists = ["departments"]\n',
        encoding="utf-8",
    )
    port = _free_port()
    env = _env(served, tmp_path, SP_SYNC_JOBS_DIR=str(jobs))
    proc = subprocess.Popen([*SP_SYNC, "run", "--metrics-port", str(port)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except requests.ConnectionError:
                text = ""
            if 'sp_sync_job_runs_total{job="quick-sync",status="ok"} 2.0' in text:
                break
            time.sleep(0.5)
        assert 'sp_sync_job_runs_total{job="quick-sync",status="ok"} 2.0' in text, text[-2000:]
    finally:
        proc.terminate()
        out, log = proc.communicate(timeout=30)
    # SIGTERM stops it cleanly (the daemon logs on stderr)
    assert proc.returncode == 0 and "sp-sync stopped" in out + log
    runs = subprocess.run([*SP_SYNC, "runs", "--job", "quick-sync"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert runs.stdout.count("quick-sync") >= 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
