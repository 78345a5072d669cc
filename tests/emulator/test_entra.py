"""Entra token endpoint driven by the real msal ConfidentialClientApplication."""

from __future__ import annotations

import time

import jwt
import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sp_sync.emulator import Emulator
from tests.emulator.conftest import http_session, msal_app


def _pem(emu: Emulator) -> str:
    return open(emu.info.certificate, encoding="ascii").read()


def _assert_token(emu: Emulator, result: dict) -> None:
    assert result.get("token_type") == "Bearer", result
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == emu.info.base_url
    assert claims["tid"] == emu.info.tenant_id
    assert claims["appid"] == emu.info.client_id


def test_openid_configuration_is_https(emu: Emulator) -> None:
    r = http_session(emu).get(f"{emu.info.authority}/v2.0/.well-known/openid-configuration")
    body = r.json()
    assert r.status_code == 200
    for key in ("token_endpoint", "authorization_endpoint", "issuer"):
        assert body[key].startswith("https://127.0.0.1:")
    assert body["token_endpoint"] == f"{emu.info.authority}/oauth2/v2.0/token"


def test_client_secret(emu: Emulator) -> None:
    result = msal_app(emu).acquire_token_for_client(scopes=[emu.info.scope])
    _assert_token(emu, result)
    assert result["expires_in"] > 3000


def test_certificate_thumbprint_rs256(emu: Emulator) -> None:
    cred = {"private_key": _pem(emu), "thumbprint": emu.info.certificate_thumbprint}
    _assert_token(emu, msal_app(emu, cred).acquire_token_for_client(scopes=[emu.info.scope]))


def test_certificate_public_certificate_ps256(emu: Emulator) -> None:
    cred = {"private_key": _pem(emu), "public_certificate": _pem(emu)}
    _assert_token(emu, msal_app(emu, cred).acquire_token_for_client(scopes=[emu.info.scope]))


def _error(result: dict, code: int) -> None:
    assert result["error_codes"] == [code], result
    assert result["error_description"].startswith(f"AADSTS{code}: ")
    for key in ("timestamp", "trace_id", "correlation_id"):
        assert result[key]


def test_bad_secret_is_7000215(emu: Emulator) -> None:
    result = msal_app(emu, "wrong").acquire_token_for_client(scopes=[emu.info.scope])
    _error(result, 7000215)
    assert result["error"] == "invalid_client"
    assert "Invalid client secret provided." in result["error_description"]


def test_unknown_app_is_700016(emu: Emulator) -> None:
    app = msal_app(emu, client_id="00000000-0000-0000-0000-000000000001")
    _error(app.acquire_token_for_client(scopes=[emu.info.scope]), 700016)


def test_unknown_tenant_is_90002(emu: Emulator) -> None:
    s = http_session(emu)
    r = s.post(
        f"{emu.info.base_url}/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token",
        data={
            "client_id": emu.info.client_id,
            "client_secret": emu.info.client_secret,
            "grant_type": "client_credentials",
            "scope": emu.info.scope,
        },
    )
    assert r.status_code == 400
    _error(r.json(), 90002)
    with pytest.raises(ValueError):  # msal fails on discovery of an unknown tenant
        msal_app(emu, authority=f"{emu.info.base_url}/11111111-2222-3333-4444-555555555555")


def _foreign_cert() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other")])
    now = __import__("datetime").datetime.now(__import__("datetime").UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now.replace(year=now.year + 1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def test_unknown_certificate_is_700027(emu: Emulator) -> None:
    key_pem, cert_pem = _foreign_cert()
    cred = {"private_key": key_pem, "public_certificate": cert_pem}
    result = msal_app(emu, cred).acquire_token_for_client(scopes=[emu.info.scope])
    _error(result, 700027)
    # right thumbprint, wrong key: the signature check must fail
    cred = {"private_key": key_pem, "thumbprint": emu.info.certificate_thumbprint}
    _error(msal_app(emu, cred).acquire_token_for_client(scopes=[emu.info.scope]), 700027)


def test_expired_assertion_is_700024(emu: Emulator) -> None:
    token_url = f"{emu.info.authority}/oauth2/v2.0/token"
    now = int(time.time())
    assertion = jwt.encode(
        {
            "aud": token_url,
            "iss": emu.info.client_id,
            "sub": emu.info.client_id,
            "iat": now - 1200,
            "exp": now - 600,
            "jti": "x",
        },
        _pem(emu),
        algorithm="RS256",
        headers={"x5t": emu.certs.x5t},
    )
    r = http_session(emu).post(
        token_url,
        data={
            "client_id": emu.info.client_id,
            "grant_type": "client_credentials",
            "scope": emu.info.scope,
            "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        },
    )
    assert r.status_code == 401
    _error(r.json(), 700024)


def _graph_401(emu: Emulator, token: str | None) -> dict:
    s = http_session(emu)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = s.get(f"{emu.info.graph_url}/sites/{emu.site_id}", headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    body = r.json()["error"]
    assert body["code"] == "InvalidAuthenticationToken"
    assert body["innerError"]["request-id"] == r.headers["request-id"]
    return body


def test_graph_rejects_missing_expired_foreign_and_wrong_audience(emu: Emulator) -> None:
    assert "empty" in _graph_401(emu, None)["message"]
    now = int(time.time())
    claims = {"aud": emu.info.base_url, "appid": emu.info.client_id, "tid": emu.info.tenant_id}
    expired = jwt.encode({**claims, "exp": now - 10}, emu.entra.signing_key, algorithm="HS256")
    assert "expired" in _graph_401(emu, expired)["message"]
    foreign = jwt.encode({**claims, "exp": now + 600}, "x" * 64, algorithm="HS256")
    _graph_401(emu, foreign)
    other = msal_app(emu).acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "audience" in _graph_401(emu, other["access_token"])["message"]


def test_msal_caches_the_token(emu: Emulator) -> None:
    app: msal.ConfidentialClientApplication = msal_app(emu)
    first = app.acquire_token_for_client(scopes=[emu.info.scope])
    second = app.acquire_token_for_client(scopes=[emu.info.scope])
    assert first["access_token"] == second["access_token"]
    posts = [r for r in emu.requests() if r["path"].endswith("/oauth2/v2.0/token")]
    assert len(posts) == 1
