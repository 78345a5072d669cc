"""Behind a mandatory outbound proxy: every Graph and login request goes through it
(HTTPS_PROXY or the proxy_url setting); a TLS verification failure is permanent and
names ca_bundle."""

from __future__ import annotations

import json
import select
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sp_sync.adapters.graph.auth import proxies_for
from sp_sync.app.cli import EXIT_FAILED, app
from sp_sync.emulator import Emulator

from .conftest import REPO, write_pem


class ConnectProxy(socketserver.ThreadingTCPServer):
    """A minimal HTTP CONNECT proxy on 127.0.0.1 that counts tunnels per target and can
    send a target to another port (``routes``)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, routes: dict[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.routes = routes
        self.connects: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Tunnel(socketserver.StreamRequestHandler):
    server: ConnectProxy

    def handle(self) -> None:
        request = self.rfile.readline().decode("latin-1").split()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # headers
        if len(request) < 2 or request[0] != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        target = request[1]
        with self.server.lock:
            self.server.connects.append(target)
        host, _, port = target.rpartition(":")
        port_no = self.server.routes.get(target, int(port))
        try:
            upstream = socket.create_connection((host, port_no), timeout=10)
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        client = self.connection
        with upstream:
            sockets = [client, upstream]
            while True:
                ready, _, _ = select.select(sockets, [], [], 30)
                if not ready:
                    return
                for sock in ready:
                    try:
                        data = sock.recv(65536)
                        if not data:
                            return
                        (upstream if sock is client else client).sendall(data)
                    except OSError:  # a side hung up (the TLS test's client does)
                        return


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens here once the socket closes


@pytest.fixture
def proxied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
            ) -> Iterator[tuple[Emulator, ConnectProxy, str]]:
    """The emulator reachable ONLY through the proxy: sp-sync is told a port where nothing
    listens; the proxy routes that port to the emulator. A request that bypassed the proxy
    would be refused."""
    with Emulator(seed="demo", state_dir=tmp_path / "emu") as emu:
        real = emu.info.base_url
        real_port = int(real.rsplit(":", 1)[1])
        fake_port = _closed_port()
        fake = f"https://127.0.0.1:{fake_port}"
        for key, value in emu.info.env.items():
            monkeypatch.setenv(key, value.replace(real, fake))
        # The tenant believes it is served at the fake address (token audience, links).
        emu.entra.base_url = fake
        emu.graph.set_base(fake)
        monkeypatch.setenv("SP_SYNC_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
        monkeypatch.setenv("SP_SYNC_JOBS_DIR", str(REPO / "jobs"))
        for var in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
            monkeypatch.delenv(var, raising=False)
        proxy = ConnectProxy({f"127.0.0.1:{fake_port}": real_port})
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        try:
            yield emu, proxy, f"127.0.0.1:{fake_port}"
        finally:
            proxy.shutdown()
            proxy.server_close()


def test_every_request_of_a_run_goes_through_https_proxy(
    proxied: tuple[Emulator, ConnectProxy, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _emu, proxy, target = proxied
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    result = CliRunner().invoke(app, ["run-job", "dtc-sync"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["status"] == "ok" and summary["stats"]["requests"] > 10
    # Login and Graph both tunnelled (pooled connections: a few tunnels carry them all).
    assert proxy.connects and set(proxy.connects) == {target}


def test_proxy_url_setting_wins_over_the_environment(
    proxied: tuple[Emulator, ConnectProxy, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _emu, proxy, target = proxied
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # discard port: would fail
    monkeypatch.setenv("SP_SYNC_PROXY_URL", proxy.url)
    result = CliRunner().invoke(app, ["check", "--connect"])
    out = " ".join(result.output.split())
    assert "token from" in out and "reachable" in out, out
    assert target in proxy.connects


def test_tls_failure_is_permanent_and_names_ca_bundle(
    proxied: tuple[Emulator, ConnectProxy, str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _emu, proxy, _ = proxied
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    # A CA that did not sign the emulator's certificate (as behind a TLS-inspecting proxy).
    pem = write_pem(tmp_path / "other.pem", 100).read_text()
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(pem[pem.index("-----BEGIN CERTIFICATE"):])
    monkeypatch.setenv("SP_SYNC_CA_BUNDLE", str(other_ca))
    result = CliRunner().invoke(app, ["run-job", "dtc-sync"])
    out = " ".join(result.output.split())
    assert result.exit_code == EXIT_FAILED, out
    assert "TLS verification" in out and "ca_bundle" in out and "not retried" in out
    assert "Traceback" not in out

    proxy.connects.clear()
    result = CliRunner().invoke(app, ["check", "--connect"])
    out = " ".join(result.output.split())
    assert result.exit_code != 0 and "ca_bundle" in out
    assert len(proxy.connects) == 1  # the sign-in tried once: no retries


def test_no_proxy_and_proxy_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "login.example.org,.internal")
    assert proxies_for("https://graph.microsoft.com/v1.0", None)["https"] == (
        "http://proxy.example:3128")
    assert proxies_for("https://login.example.org", None) == {}
    assert proxies_for("https://graph.internal/v1.0", "http://other:8080") == {}
    assert proxies_for("https://graph.microsoft.com", "http://other:8080")["https"] == (
        "http://other:8080")
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.delenv("NO_PROXY")
    assert proxies_for("https://graph.microsoft.com", None) == {}
