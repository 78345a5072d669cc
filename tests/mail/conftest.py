"""A real SMTP server (aiosmtpd) on 127.0.0.1 and a random free port, per test."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "sp-sync", "s3cret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """What the server received; ``delay`` stalls the reply after DATA (an ambiguous send)."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    delay: float = 0.0
    refuse: set[str] = field(default_factory=set)
    data_reply: str | None = None  # e.g. "554 …": refuse the message after its body

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        msg = message_from_bytes(envelope.content, policy=default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"

    def ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages]


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: Inbox
    ca_file: Path | None = None

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def _serve(inbox: Inbox, tls: ssl.SSLContext | None = None) -> Iterator[Controller]:
    kwargs: dict[str, Any] = {"authenticator": _auth, "auth_require_tls": tls is not None}
    if tls is not None:
        kwargs.update(tls_context=tls, require_starttls=True)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    inbox = Inbox()
    for c in _serve(inbox):
        yield SmtpServer("127.0.0.1", int(c.port), inbox)


@pytest.fixture
def smtp_tls_server(tmp_path: Path) -> Iterator[SmtpServer]:
    from sp_sync.emulator.tls import ensure_certs

    certs = ensure_certs(tmp_path / "certs")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(certs.server_cert), str(certs.server_key))
    inbox = Inbox()
    for c in _serve(inbox, ctx):
        yield SmtpServer("127.0.0.1", int(c.port), inbox, certs.ca_bundle)
