"""Shared fixtures: one emulator per test module, reset to the tiny seed before each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msal
import pytest
import requests
from office365.graph_client import GraphClient
from office365.graph_request import GraphRequest

from sp_sync.emulator import Emulator


class EmulatorGraphRequest(GraphRequest):
    """GraphRequest whose service root is the emulator (the seam the reference describes)."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self._root = root

    @property
    def service_root_url(self) -> str:
        return self._root


class EmulatorGraphClient(GraphClient):
    def __init__(self, root: str, token_callback: Callable[[], dict[str, Any]]) -> None:
        self._root = root
        super().__init__(token_callback=token_callback)

    def pending_request(self) -> GraphRequest:
        if self._pending_request is None:
            self._pending_request = EmulatorGraphRequest(self._root)
            self._pending_request.with_access_token(self._token_callback)
        return self._pending_request


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
) -> EmulatorGraphClient:
    app = app or msal_app(emu)

    def token() -> dict[str, Any]:
        result = app.acquire_token_for_client(scopes=[emu.info.scope])
        assert "access_token" in result, result
        return dict(result)

    client = EmulatorGraphClient(emu.info.graph_url, token)
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
