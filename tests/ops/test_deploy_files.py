"""The deployment files say what the docs promise (Docker itself cannot run on the CI host:
the image build is left to a machine with a Docker daemon)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO


def _directives(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()
            and not line.lstrip().startswith("#")]


def test_dockerfile_runs_as_a_user_with_a_healthcheck() -> None:
    lines = _directives((REPO / "Dockerfile").read_text(encoding="utf-8"))
    users = [line for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("USER root", "USER 0")
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert "/healthz" in (REPO / "Dockerfile").read_text(encoding="utf-8")
    for path in ("pyproject.toml", "sp_sync", "config/lists.toml", "jobs"):
        assert (REPO / path).exists(), path  # everything COPY names exists


def test_compose_has_postgres_and_no_password_in_clear() -> None:
    text = (REPO / "deploy" / "compose.yaml").read_text(encoding="utf-8")
    assert "image: postgres:" in text and "POSTGRES_PASSWORD_FILE" in text
    assert "127.0.0.1:9108:9108" in text


def test_systemd_unit_restarts_hardened_as_service_user() -> None:
    text = (REPO / "deploy" / "systemd" / "sp-sync.service").read_text(encoding="utf-8")
    lines = set(_directives(text))
    for wanted in ("User=sp-sync", "Restart=on-failure", "NoNewPrivileges=yes",
                   "ProtectSystem=strict", "StateDirectory=sp-sync", "UMask=0077",
                   "RestartPreventExitStatus=2 3"):
        assert wanted in lines, wanted


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    text = (REPO / "deploy" / "systemd" / "sp-sync.service").read_text(encoding="utf-8")
    unit = tmp_path / "sp-sync.service"
    unit.write_text(text.replace("/opt/sp-sync/bin/sp-sync", "/bin/true"), encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60)
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if "sp-sync.service" in line]
    assert not problems, problems
