"""Shared set-up for the operations tests: a clean SP_SYNC_ environment, certificates."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sp_sync.emulator import Emulator
from sp_sync.emulator.seeds.demo import demo_seed
from tests.e2e.conftest import MONDAY

REPO = Path(__file__).resolve().parents[2]


def write_pem(path: Path, days: int) -> Path:
    """A self-signed key + certificate PEM valid for ``days`` more days (negative: expired)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sp-sync test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return path


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SP_SYNC_")}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A complete offline configuration: the shipped mapping and jobs, a fresh state file."""
    for key in list(os.environ):
        if key.startswith("SP_SYNC_"):
            monkeypatch.delenv(key)
    values = {
        "SP_SYNC_CONFIG": str(tmp_path / "absent.toml"),
        "SP_SYNC_LISTS_FILE": str(REPO / "config" / "lists.toml"),
        "SP_SYNC_JOBS_DIR": str(REPO / "jobs"),
        "SP_SYNC_STATE_URL": f"sqlite:///{tmp_path / 'state' / 'state.db'}",
        "SP_SYNC_TENANT_ID": "11111111-2222-3333-4444-555555555555",
        "SP_SYNC_CLIENT_ID": "66666666-7777-8888-9999-000000000000",
        "SP_SYNC_SITE_URL": "https://mannheim.sharepoint.com/sites/dtc",
        "SP_SYNC_MAILBOX": "dtc@mannheim.de",
        "SP_SYNC_CERTIFICATE_PATH": str(write_pem(tmp_path / "sp-sync.pem", 365)),
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
        ) -> Iterator[Emulator]:
    """The demo tenant before `sp-sync provision` (no ProjekteOeffentlich), with the
    environment of a CLI run against it (its state store in ``tmp_path``)."""
    seed = demo_seed(MONDAY)
    site = seed["sites"][0]
    site["lists"] = [lst for lst in site["lists"] if lst["displayName"] != "ProjekteOeffentlich"]
    with Emulator(seed=seed, state_dir=tmp_path / "emu") as emulator:
        for key, value in emulator.info.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("SP_SYNC_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
        monkeypatch.setenv("SP_SYNC_JOBS_DIR", str(REPO / "jobs"))
        yield emulator
