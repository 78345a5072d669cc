"""Shared fixtures: one emulator per test module, reset to the tiny seed before each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msal
import pytest
import requests

from sp_sync.adapters.graph.client import RootedGraphClient
from sp_sync.emulator import Emulator


def http_session(emu: Emulator) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = emu.info.ca_bundle
    return s


def msal_app(
    emu: Emulator,
    credential: Any = None,
    client_id: str | None = None,
    authority: str | None = None,
) -> msal.ConfidentialClientApplication:
    info = emu.info
    return msal.ConfidentialClientApplication(
        client_id or info.client_id,
        client_credential=credential if credential is not None else info.client_secret,
        authority=authority or info.authority,
        instance_discovery=False,
        http_client=http_session(emu),
    )


def graph_client(
    emu: Emulator, app: msal.ConfidentialClientApplication | None = None
) -> RootedGraphClient:
    app = app or msal_app(emu)

    def token() -> dict[str, Any]:
        result = app.acquire_token_for_client(scopes=[emu.info.scope])
        assert "access_token" in result, result
        return dict(result)

    client = RootedGraphClient(emu.info.graph_url, token)
    client.with_transport(verify=emu.info.ca_bundle)
    return client


@pytest.fixture(scope="module")
def emu_server() -> Iterator[Emulator]:
    with Emulator(seed="tiny") as emu:
        yield emu


@pytest.fixture
def emu(emu_server: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    emu_server.reset("tiny")
    emu_server.graph.batch_order = "request"
    emu_server.throttle.budget = None
    # the library's $batch transport ignores with_transport(): it trusts REQUESTS_CA_BUNDLE
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emu_server.info.ca_bundle)
    return emu_server


@pytest.fixture
def http(emu: Emulator) -> requests.Session:
    """A plain session carrying a valid bearer token."""
    s = http_session(emu)
    r = s.post(
        f"{emu.info.authority}/oauth2/v2.0/token",
        data={
            "client_id": emu.info.client_id,
            "client_secret": emu.info.client_secret,
            "grant_type": "client_credentials",
            "scope": emu.info.scope,
        },
    )
    s.headers["Authorization"] = "Bearer " + r.json()["access_token"]
    return s


@pytest.fixture
def items_url(emu: Emulator) -> str:
    return f"{emu.info.graph_url}/sites/{emu.site_id}/lists/Projekte/items"
