"""A real `sp-sync run` holds the SQLite store; admins read it from other processes:
`runs`, `runs show`, `status`, `check`; the daemon answers /healthz, /readyz, /metrics."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sp_sync.emulator import Emulator

from .conftest import REPO, clean_environ

SP_SYNC = [sys.executable, "-m", "sp_sync.app.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SP_SYNC, *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("daemon")
    jobs = tmp / "jobs"
    jobs.mkdir()
    (jobs / "quick-sync.toml").write_text(
        'kind = "pull"\nschedule = "every 1s"\n[params]\nlists = ["departments"]\n',
        encoding="utf-8",
    )
    weekly = (REPO / "jobs" / "weekly-digest.toml").read_text(encoding="utf-8")
    (jobs / "weekly-digest.toml").write_text(  # for `digest preview`; the daemon leaves it
        weekly.replace('kind = "digest"', 'kind = "digest"\nenabled = false'), encoding="utf-8")
    with Emulator(seed="demo", state_dir=tmp / "emu") as emu:
        env = clean_environ()
        env.update(emu.info.env)
        port = _free_port()
        env.update({
            "SP_SYNC_STATE_URL": f"sqlite:///{tmp / 'state' / 'sp-sync.db'}",
            "SP_SYNC_OUTBOX_DIR": str(tmp / "outbox"),
            "SP_SYNC_CONFIG": str(tmp / "absent.toml"),
            "SP_SYNC_JOBS_DIR": str(jobs),
            "SP_SYNC_METRICS_PORT": str(port),
        })
        proc = subprocess.Popen([*SP_SYNC, "--log-format", "json", "run"], env=env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            ok_runs = 0
            while time.monotonic() < deadline and ok_runs < 2:
                time.sleep(0.5)
                try:
                    text = requests.get(f"{base}/metrics", timeout=2).text
                except requests.ConnectionError:
                    continue
                for line in text.splitlines():
                    if line.startswith('sp_sync_job_runs_total{job="quick-sync",status="ok"}'):
                        ok_runs = int(float(line.split()[-1]))
            assert ok_runs >= 2, proc.stderr.read() if proc.poll() is not None else "no runs"
            yield {"env": env, "base": base, "proc": proc, "tmp": tmp, "emu": emu}
        finally:
            proc.terminate()
            _, log = proc.communicate(timeout=30)
            (tmp / "daemon.log").write_text(log, encoding="utf-8")


def test_runs_work_while_the_daemon_holds_the_store(daemon: dict[str, Any]) -> None:
    env = daemon["env"]
    assert daemon["proc"].poll() is None  # still running, still holding the lock
    done = _run(["runs", "--json", "--job", "quick-sync"], env)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows and {r["job"] for r in rows} == {"quick-sync"}
    assert any(r["status"] == "ok" for r in rows)
    started = rows[0]["started_at"]
    assert started[-6:] in ("+01:00", "+02:00")  # Europe/Berlin with its offset

    table = _run(["runs"], env)
    assert table.returncode == 0 and "quick-sync" in table.stdout

    one = _run(["runs", "show", str(rows[-1]["id"]), "--json"], env)
    assert one.returncode == 0, one.stderr
    shown = json.loads(one.stdout)
    assert shown["id"] == rows[-1]["id"] and shown["stats"]["requests"] >= 1
    missing = _run(["runs", "show", "999999"], env)
    assert missing.returncode == 1 and "there is no run 999999" in missing.stderr


def test_status_and_check_work_while_the_daemon_runs(daemon: dict[str, Any]) -> None:
    env = daemon["env"]
    done = _run(["status", "--json"], env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    job = next(j for j in data["jobs"] if j["job"] == "quick-sync")
    assert job["last_status"] in ("ok", "running") and job["last_success"]
    assert job["failing_since"] is None and job["next_run"]
    lists = {r["list"]: r for r in data["lists"]}
    assert lists["departments"]["last_synced"] and lists["departments"]["cursor"] is True
    assert lists["departments"]["items"] > 0
    assert lists["projects"]["last_synced"] is None
    assert data["mails_pending"] == 0

    table = _run(["status"], env)
    assert table.returncode == 0 and "quick-sync" in table.stdout
    assert "mails pending: 0" in table.stdout

    check = _run(["check"], env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "in use by a running sp-sync (pid" in check.stdout

    # Writers still exclude each other: a second writer is refused, naming the pid.
    writer = _run(["pull", "departments"], env)
    assert writer.returncode != 0
    assert "in use by another sp-sync process" in " ".join(writer.stderr.split())
    assert "Traceback" not in writer.stderr


def test_digest_preview_works_while_the_daemon_runs_and_is_private(
    daemon: dict[str, Any]
) -> None:
    done = _run(["digest", "preview", "weekly-digest"], daemon["env"])
    assert done.returncode == 0, done.stderr
    html = Path(done.stdout.strip())
    assert html.suffix == ".html" and html.is_file()
    assert stat.S_IMODE(html.stat().st_mode) == 0o600  # it holds list data


def test_health_endpoints_of_the_running_daemon(daemon: dict[str, Any]) -> None:
    base = daemon["base"]
    health = requests.get(f"{base}/healthz", timeout=5)
    assert health.status_code == 200 and health.text == "ok\n"
    ready = requests.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"ready": True, "problems": []}
    metrics = requests.get(f"{base}/metrics", timeout=5)
    assert "sp_sync_job_runs_total" in metrics.text
    assert requests.get(f"{base}/", timeout=5).status_code == 404
    assert requests.get(f"{base}/anything", timeout=5).status_code == 404


def test_state_files_are_private(daemon: dict[str, Any]) -> None:
    state = daemon["tmp"] / "state"
    for name in ("sp-sync.db", "sp-sync.db.lock"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name


def test_daemon_log_is_json_lines_with_a_start_line(daemon: dict[str, Any]) -> None:
    # Runs last (module order): reads the log the fixture keeps after stopping the daemon.
    proc = daemon["proc"]
    proc.terminate()
    _, log = proc.communicate(timeout=30)
    assert proc.returncode == 0
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert lines, log
    start = next(x for x in lines if "started" in x["msg"])
    emu = daemon["emu"]
    assert emu.info.tenant_id in start["msg"] and emu.info.site_url in start["msg"]
    assert "sqlite:///" in start["msg"] and "quick-sync" in start["msg"]
    assert daemon["base"] in start["msg"]
    assert start["ts"][10] == "T" and start["ts"][-6:] in ("+01:00", "+02:00")
    assert not [x for x in lines if x["logger"].startswith("apscheduler")]
    assert any(x["msg"] == "sp-sync stopped" for x in lines)
