"""`sp-sync check`: every problem at once, each naming the setting or file and the fix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sp_sync.app.cli import EXIT_CONFIG, app
from sp_sync.emulator import Emulator
from tests.e2e.test_schema_drift import drifted_seed

from .conftest import REPO, clean_environ, write_pem


def _check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", *args])
    return result.exit_code, " ".join(result.output.split())


def test_a_complete_configuration_passes(env: dict[str, str]) -> None:
    code, out = _check()
    assert code == 0, out
    assert "configuration OK" in out and "certificate valid until" in out


def test_every_problem_is_named_at_once(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in ("SP_SYNC_TENANT_ID", "SP_SYNC_MAILBOX"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("SP_SYNC_CERTIFICATE_PATH", str(tmp_path / "nope.pem"))
    monkeypatch.setenv("SP_SYNC_CA_BUNDLE", str(tmp_path / "ca.pem"))
    jobs = tmp_path / "jobs"
    shutil.copytree(REPO / "jobs", jobs)
    (jobs / "broken.toml").write_text('kind = "sync"\nschedule = "every 1h"\n[params]\n'
                                      'source = "projekte"\ntarget = "public_projects"\n',
                                      encoding="utf-8")
    monkeypatch.setenv("SP_SYNC_JOBS_DIR", str(jobs))
    code, out = _check()
    assert code == EXIT_CONFIG
    assert "tenant_id: not set" in out and "SP_SYNC_TENANT_ID" in out
    assert "mailbox: not set" in out
    assert "SP_SYNC_CERTIFICATE_PATH: certificate_path: file not found" in out
    assert "ca_bundle" in out and "ca.pem" in out
    assert "broken.toml" in out and "projekte" in out
    assert out.count("FAIL") >= 5 and f"{out.count('FAIL')} problem(s)" in out


def test_certificate_expiry(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                            tmp_path: Path) -> None:
    monkeypatch.setenv("SP_SYNC_CERTIFICATE_PATH", str(write_pem(tmp_path / "soon.pem", 10)))
    code, out = _check()
    assert code == 0, out
    assert "warn" in out and "expires on" in out and "rotate it now" in out

    monkeypatch.setenv("SP_SYNC_CERTIFICATE_PATH", str(write_pem(tmp_path / "old.pem", -2)))
    code, out = _check()
    assert code == EXIT_CONFIG
    assert "certificate_path: the certificate expired on" in out


def test_a_pem_without_key_is_a_problem(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    pem = write_pem(tmp_path / "full.pem", 100).read_text()
    only_cert = tmp_path / "cert-only.pem"
    only_cert.write_text(pem[pem.index("-----BEGIN CERTIFICATE"):])
    monkeypatch.setenv("SP_SYNC_CERTIFICATE_PATH", str(only_cert))
    code, out = _check()
    assert code == EXIT_CONFIG and "no usable private key" in out


def test_postgres_password_is_never_printed(env: dict[str, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SP_SYNC_STATE_URL",
                       "postgresql+psycopg://spsync:s3cr3t-pw@127.0.0.1:1/spsync")
    result = CliRunner().invoke(app, ["check", "--settings"])
    assert result.exit_code == EXIT_CONFIG  # nothing listens on port 1
    assert "s3cr3t-pw" not in result.output
    assert "postgresql+psycopg://spsync:***@127.0.0.1:1/spsync" in result.output
    assert "state_url" in result.output


def test_secrets_are_never_printed(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SP_SYNC_CLIENT_SECRET", "very-secret-value")
    result = CliRunner().invoke(app, ["check", "--settings", "--json"])
    assert "very-secret-value" not in result.output
    data = json.loads(result.output)
    assert data["ok"] is True and data["settings"]["client_secret"] == "(set)"


# --------------------------------------------------------------------------- permissions


def _read_only_state_dir(tmp_path: Path) -> Path:
    """A state folder this process may not write: root writes anywhere except on a
    read-only file system (/proc/sys); others get a chmod 0555 folder."""
    if os.geteuid() == 0:
        assert not os.access("/proc/sys", os.W_OK)
        return Path("/proc/sys/sp-sync-state")
    folder = tmp_path / "state"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def _sp_sync(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sp_sync.app.cli", *args], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def test_read_only_state_dir_is_one_line_naming_state_url(
    tmp_path: Path, env: dict[str, str]
) -> None:
    state = _read_only_state_dir(tmp_path)
    base = state if state.exists() else state.parent
    environ = clean_environ()
    environ.update(env)
    environ["SP_SYNC_STATE_URL"] = f"sqlite:///{state / 'sp-sync.db'}"
    done = _sp_sync(["check"], environ)
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == EXIT_CONFIG, out
    assert "Traceback" not in out
    assert f"SP_SYNC_STATE_URL: state_url: the folder {base} is not writable" in out

    # A command that writes says so in one line too (it was an 82-line traceback).
    wrote = _sp_sync(["pull", "departments"], environ)
    text = wrote.stdout + wrote.stderr
    assert wrote.returncode != 0
    assert "Traceback" not in text and "state_url" in text, text
    assert len(text.strip().splitlines()) <= 3, text
    # Reading commands say there is nothing yet, in one line.
    runs = _sp_sync(["runs"], environ)
    assert runs.returncode != 0 and "Traceback" not in runs.stderr + runs.stdout
    assert "state_url: there is no state store" in " ".join(runs.stderr.split())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_certificate_is_named(env: dict[str, str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cert = write_pem(tmp_path / "locked.pem", 365)
    cert.chmod(0o000)
    monkeypatch.setenv("SP_SYNC_CERTIFICATE_PATH", str(cert))
    code, out = _check()
    assert code == EXIT_CONFIG and "certificate_path: cannot read" in out


def test_certificate_path_that_is_a_folder_is_named(env: dict[str, str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SP_SYNC_CERTIFICATE_PATH", str(tmp_path))
    code, out = _check()
    assert code == EXIT_CONFIG and "certificate_path" in out and "is a folder" in out


# --------------------------------------------------------------------------- --connect


def test_connect_finds_every_missing_list_and_column_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    seed = drifted_seed()  # Projekte: "Status" re-created as "Status0", "Budget" now text
    gone = {"Schulungen", "RundeTische"}  # two source lists deleted, too
    site = seed["sites"][0]
    site["lists"] = [lst for lst in site["lists"] if lst["displayName"] not in gone]
    with Emulator(seed=seed, state_dir=tmp_path / "emu") as emu:
        for key, value in emu.info.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("SP_SYNC_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
        code, out = _check("--connect")
    assert code == EXIT_CONFIG, out
    assert "token from" in out and "Sites.Selected" in out
    assert f"site {emu.info.site_url} reachable" in out
    # both drifted columns of Projekte, with the config line to fix
    assert "lists.projects.columns.status.name" in out
    assert "lists.projects.columns.budget.type" in out
    # every missing list, not just the first
    assert "lists.trainings: list 'Schulungen' not found" in out
    assert "lists.round_tables: list 'RundeTische' not found" in out
    assert "Anmeldungen (source): " in out and "columns present with their types" in out
    assert "mailbox" in out and "dtc@mannheim.de reachable" in out


def test_connect_with_a_wrong_secret_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    with Emulator(seed="tiny", state_dir=tmp_path / "emu") as emu:
        for key, value in emu.info.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("SP_SYNC_CERTIFICATE_PATH", raising=False)
        monkeypatch.delenv("SP_SYNC_CERTIFICATE_PEM", raising=False)
        monkeypatch.setenv("SP_SYNC_CLIENT_SECRET", "Xq7-not-the-secret")
        code, out = _check("--connect")
    assert code == EXIT_CONFIG
    assert "AADSTS7000215" in out and "Xq7-not-the-secret" not in out
    assert "Traceback" not in out

