"""Logs, --config and relative paths, repair commands, /readyz refusing, --help."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from sp_sync.adapters.store import MemoryStore
from sp_sync.app.cli import app
from sp_sync.app.health import HealthServer, Readiness
from sp_sync.app.logging_setup import OneLineFormatter
from sp_sync.emulator import Emulator

from .conftest import REPO, clean_environ, write_pem

CONNECTION_KEYS = ("SP_SYNC_TENANT_ID", "SP_SYNC_CLIENT_ID", "SP_SYNC_SITE_URL",
                   "SP_SYNC_MAILBOX")

# --------------------------------------------------------------------------- logs


def _record(exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("sp_sync.daemon", logging.ERROR, __file__, 1,
                             "dtc-sync crashed\nsecond line", None, info)


def _raised() -> BaseException:
    try:
        raise ValueError("boom\nmore detail")
    except ValueError as exc:
        return exc


def test_plain_log_line_is_one_line_with_iso_time_and_offset() -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    line = OneLineFormatter("plain").format(_record(_raised()))
    assert "\n" not in line and "Traceback" not in line
    stamp, level, rest = line.split(" ", 2)
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
    assert level == "ERROR" and rest.startswith("sp_sync.daemon: dtc-sync crashed second line")
    assert rest.endswith("(ValueError: boom)")


def test_traceback_only_at_debug_and_json_lines() -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    assert "Traceback" in OneLineFormatter("plain").format(_record(_raised()))
    data = json.loads(OneLineFormatter("json").format(_record(_raised())))
    assert data["level"] == "ERROR" and data["logger"] == "sp_sync.daemon"
    assert "Traceback" in data["exc"] and data["ts"][-6:] in ("+01:00", "+02:00")
    root.setLevel(logging.INFO)
    data = json.loads(OneLineFormatter("json").format(_record(_raised())))
    assert "exc" not in data and data["msg"].endswith("(ValueError: boom)")


def test_wrong_secret_is_one_log_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    with Emulator(seed="tiny", state_dir=tmp_path / "emu") as emu:
        environ = clean_environ()
        environ.update(env)
        environ.update(emu.info.env)
        environ.pop("SP_SYNC_CERTIFICATE_PATH")
        environ["SP_SYNC_CLIENT_SECRET"] = "Xq7-not-the-secret"
        environ["SP_SYNC_JOBS_DIR"] = str(REPO / "jobs")
        done = subprocess.run([sys.executable, "-m", "sp_sync.app.cli", "run-job", "dtc-sync"],
                              env=environ, cwd=REPO, capture_output=True, text=True, timeout=60)
    text = done.stdout + done.stderr
    assert done.returncode == 3, text
    assert "Traceback" not in text and "AADSTS7000215" in text
    assert "Xq7-not-the-secret" not in text
    assert len(done.stderr.strip().splitlines()) <= 4, done.stderr


def test_log_level_setting_applies(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SP_SYNC_LOG_LEVEL", "warning")
    result = CliRunner().invoke(app, ["jobs", "--json"])
    assert result.exit_code == 0
    assert logging.getLogger().level == logging.WARNING
    monkeypatch.setenv("SP_SYNC_LOG_LEVEL", "chatty")
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 2 and "log_level" in result.output


# --------------------------------------------------------------------------- --config, paths


def test_paths_in_the_settings_file_resolve_against_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    etc = tmp_path / "etc" / "sp-sync"
    etc.mkdir(parents=True)
    shutil.copy(REPO / "config" / "lists.toml", etc / "lists.toml")
    shutil.copytree(REPO / "jobs", etc / "jobs")
    write_pem(etc / "sp-sync.pem", 365)
    (etc / "settings.toml").write_text(
        'lists_file = "lists.toml"\njobs_dir = "jobs"\ncertificate_path = "sp-sync.pem"\n'
        'state_url = "sqlite:///state/sp-sync.db"\noutbox_dir = "/var/lib/sp-sync/outbox"\n',
        encoding="utf-8",
    )
    for key in ("SP_SYNC_LISTS_FILE", "SP_SYNC_JOBS_DIR", "SP_SYNC_CERTIFICATE_PATH",
                "SP_SYNC_STATE_URL"):
        monkeypatch.delenv(key)
    environ = clean_environ()
    environ.update({k: v for k, v in env.items() if k in CONNECTION_KEYS})
    done = subprocess.run(
        [sys.executable, "-m", "sp_sync.app.cli", "--config", str(etc / "settings.toml"),
         "check", "--json", "--settings"],
        env={**environ, "PYTHONPATH": str(REPO)}, cwd="/", capture_output=True, text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    s = json.loads(done.stdout)["settings"]
    assert s["lists_file"] == str(etc / "lists.toml")
    assert s["jobs_dir"] == str(etc / "jobs")
    assert s["certificate_path"] == str(etc / "sp-sync.pem")
    assert s["state_url"] == f"sqlite:///{etc / 'state' / 'sp-sync.db'}"
    assert s["outbox_dir"] == "/var/lib/sp-sync/outbox"
    assert s["config_file"] == str(etc / "settings.toml")


def test_config_option_with_a_missing_file(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["--config", "/nonexistent/settings.toml", "check"])
    assert result.exit_code == 2 and "--config: settings file not found" in result.output


def test_help_shows_no_bool_placeholders() -> None:
    result = CliRunner().invoke(app, ["check", "--help"], terminal_width=120)
    assert result.exit_code == 0 and "<bool>" not in result.output and "--connect" in result.output


# --------------------------------------------------------------------------- /readyz


@pytest.fixture
def health() -> Iterator[tuple[HealthServer, Readiness, str]]:
    now = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    store = MemoryStore(clock=lambda: now - timedelta(hours=25))
    readiness = Readiness(store=store, source_keys=["projects"],
                          stale_after=timedelta(hours=26), now=lambda: now,
                          started=now - timedelta(days=2))
    server = HealthServer(CollectorRegistry(), readiness)
    port = server.serve(0)
    try:
        yield server, readiness, f"http://127.0.0.1:{port}"
    finally:
        server.close()


def test_readyz_refuses_with_the_reasons(health: tuple[HealthServer, Readiness, str]) -> None:
    _, readiness, base = health
    answer = requests.get(f"{base}/readyz", timeout=5)
    assert answer.status_code == 503
    assert answer.json()["problems"] == ["scheduler not running", "source projects: never synced"]
    readiness.scheduler_running = lambda: True
    with readiness.store.list_sync("projects") as tx:
        tx.set_cursor("x")
    answer = requests.get(f"{base}/readyz", timeout=5)
    assert answer.status_code == 200, answer.text  # synced 25 h ago: fresh (limit 26 h)
    readiness.store.close()
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{base}/metricsx", timeout=5).status_code == 404
