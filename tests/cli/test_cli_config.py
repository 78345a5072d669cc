"""Bad configuration stops the start with file or variable, key and reason (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sp_sync.app.cli import EXIT_CONFIG, app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    for key in list(__import__("os").environ):
        if key.startswith("SP_SYNC_"):
            monkeypatch.delenv(key)
    values = {
        "SP_SYNC_CONFIG": str(tmp_path / "absent.toml"),
        "SP_SYNC_LISTS_FILE": str(REPO / "config" / "lists.toml"),
        "SP_SYNC_JOBS_DIR": str(REPO / "jobs"),
        "SP_SYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def test_check_passes_on_the_shipped_files(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.ops.conftest import write_pem

    # `check` also wants what a run needs: tenant, app, site, mailbox and a credential.
    monkeypatch.setenv("SP_SYNC_TENANT_ID", "11111111-2222-3333-4444-555555555555")
    monkeypatch.setenv("SP_SYNC_CLIENT_ID", "66666666-7777-8888-9999-000000000000")
    monkeypatch.setenv("SP_SYNC_SITE_URL", "https://mannheim.sharepoint.com/sites/dtc")
    monkeypatch.setenv("SP_SYNC_MAILBOX", "dtc@mannheim.de")
    monkeypatch.setenv("SP_SYNC_CERTIFICATE_PATH", str(write_pem(tmp_path / "c.pem", 365)))
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output
    assert "weekly-digest" in result.output


def test_every_bad_setting_is_named_at_once(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SP_SYNC_TIMEZONE", "Europe/Berln")
    monkeypatch.setenv("SP_SYNC_GRAPH_URL", "http://graph.example")
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == EXIT_CONFIG
    out = result.output
    assert "SP_SYNC_TIMEZONE" in out and "timezone" in out and "Europe/Berlin" in out
    assert "SP_SYNC_GRAPH_URL" in out and "https://" in out


def test_bad_job_file_names_file_key_and_reason(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "weekly.toml").write_text(
        'kind = "digest"\nschedule = "0 7 * * mon"\n[params]\naudience = "everyone"\n',
        encoding="utf-8",
    )
    (jobs / "copy.toml").write_text(
        'kind = "sync"\nschedule = "every 1h"\n[params]\n'
        'source = "projekte"\ntarget = "public_projects"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SP_SYNC_JOBS_DIR", str(jobs))
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == EXIT_CONFIG
    out = result.output.replace("\n", " ")
    assert "weekly.toml" in out and "audience" in out
    assert "copy.toml" in out and "projekte" in out


def test_jobs_json_lists_next_runs(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["jobs", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    weekly = rows["weekly-digest"]
    assert weekly["kind"] == "digest"
    assert weekly["next_run"] is not None and "T07:00:00+01:00" in weekly["next_run"]
