"""Tokens from the emulated Entra ID with the real msal: certificate and secret, AADSTS errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sp_sync.adapters.graph.auth import TokenProvider, certificate_credential
from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.emulator import Emulator
from sp_sync.errors import AuthError
from tests.adapters.graph.conftest import FakeTime, config_for, token_requests


def other_certificate_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-registered")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return (key_pem + cert.public_bytes(serialization.Encoding.PEM)).decode()


@pytest.mark.parametrize("secret", [False, True], ids=["certificate", "secret"])
def test_token_then_a_graph_call(clean: Emulator, secret: bool) -> None:
    with GraphConnection(config_for(clean, secret=secret)) as conn:
        tok = conn.tokens.token()
        assert tok["token_type"] == "Bearer" and tok["expires_in"] > 0
        assert conn.get_json("sites/mannheim.sharepoint.com:/sites/dtc")["id"] == clean.site_id
        conn.tokens.token()  # cached by msal
    assert len(token_requests(clean)) == 1


def test_certificate_credential_uses_the_sha1_thumbprint(clean: Emulator) -> None:
    from pathlib import Path

    cred = certificate_credential(Path(clean.info.certificate).read_text())
    assert cred["thumbprint"].upper() == clean.info.certificate_thumbprint.upper()
    assert "BEGIN CERTIFICATE" in cred["public_certificate"]


def test_passphrase_protected_key(clean: Emulator) -> None:
    from pathlib import Path

    pem = Path(clean.info.certificate).read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    cert = x509.load_pem_x509_certificate(pem)
    enc = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"geheim"))
    both = (enc + cert.public_bytes(serialization.Encoding.PEM)).decode()
    cfg = dataclasses.replace(config_for(clean), certificate_pem=both,
                              certificate_passphrase="geheim")
    assert TokenProvider(cfg).token()["access_token"]
    with pytest.raises(AuthError, match="SP_SYNC_CERTIFICATE_PASSPHRASE"):
        TokenProvider(dataclasses.replace(cfg, certificate_passphrase="falsch")).token()


def test_bad_secret_is_one_request_and_says_what_to_check(clean: Emulator) -> None:
    cfg = dataclasses.replace(config_for(clean, secret=True), client_secret="abgelaufen")
    with pytest.raises(AuthError) as err:
        TokenProvider(cfg).token()
    assert err.value.code == 7000215
    assert "AADSTS7000215" in str(err.value)
    assert "SP_SYNC_CLIENT_SECRET" in str(err.value) and "Certificates & secrets" in str(err.value)
    assert "abgelaufen" not in str(err.value)  # never echo the secret
    assert len(token_requests(clean)) == 1


@pytest.mark.parametrize(("change", "code", "hint"), [
    ({"certificate_pem": "other"}, 700027, "certificate is not registered"),
    ({"client_id": "00000000-0000-0000-0000-000000000000"}, 700016, "client id unknown"),
    ({"tenant_id": "11111111-1111-1111-1111-111111111111"}, 90002, "tenant id unknown"),
])
def test_aadsts_codes_map_to_admin_messages(
    clean: Emulator, change: dict[str, Any], code: int, hint: str
) -> None:
    if change.get("certificate_pem") == "other":
        change = {"certificate_pem": other_certificate_pem()}
    cfg = dataclasses.replace(config_for(clean), **change)
    with pytest.raises(AuthError, match=hint) as err:
        TokenProvider(cfg).token()
    assert err.value.code == code


def test_invalidate_forces_a_fresh_token(clean: Emulator) -> None:
    tokens = TokenProvider(config_for(clean))
    first = tokens.token()["access_token"]
    tokens.invalidate()
    tokens.token()
    assert len(token_requests(clean)) == 2
    assert first


def test_environment_ca_bundle_cannot_override_the_configured_ca(
    clean: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    # The proxy IS honoured (issue 13), but NO_PROXY exempts the emulator's host.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with GraphConnection(config_for(clean)) as conn:
        assert conn.get_json("sites/mannheim.sharepoint.com:/sites/dtc")["id"] == clean.site_id


def test_entra_outage_is_transient_and_bounded(clean: Emulator) -> None:
    from sp_sync.emulator import FaultRule
    from sp_sync.errors import TransientError

    tokens = TokenProvider(config_for(clean, secret=True, time=FakeTime()))
    clean.faults.add(FaultRule(kind="reset", path=r"/oauth2/v2.0/token$"))
    assert tokens.token()["access_token"]  # a dropped connection, then a token
    tokens.invalidate()
    clean.clear_requests()
    clean.faults.add(FaultRule(kind="html", path=r"/oauth2/v2.0/token$", times=None))
    with pytest.raises(TransientError, match="unavailable"):
        tokens.token()
    assert 1 <= len(token_requests(clean)) <= 3
