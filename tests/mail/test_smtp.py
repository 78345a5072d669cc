"""SMTP end to end against a real aiosmtpd server, and the outbox's crash recovery (F14)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sp_sync.adapters.mail.files import FileTransport
from sp_sync.adapters.mail.smtp import SmtpTransport
from sp_sync.adapters.store.memory import MemoryStore
from sp_sync.domain.digest import build_weekly
from sp_sync.engine.mailing import Mailer, RateLimiter
from sp_sync.errors import MailError, TransientError
from sp_sync.render.mail import build_message, html_part, render_weekly, text_part
from tests.digest.dataset import NOW, PERIOD, SINCE, TZ, changes, dataset, health
from tests.mail.conftest import PASSWORD, USER, SmtpServer, free_port

JOB, TO = "weekly-digest", "dtc-team@mannheim.de"


class Crash(BaseException):
    """The process dies (kill -9 stand-in): nothing after it runs."""


class CrashAfterSend:
    """A StateStore that dies right after the transport accepted, before the outbox
    records "sent" — the window F14 is about. Everything else is the real store."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.armed = True

    def outbox_mark(self, entry_id: int, status: str, now: datetime,
                    error: str | None = None) -> None:
        if status == "sent" and self.armed:
            self.armed = False
            raise Crash()
        self._store.outbox_mark(entry_id, status, now, error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def weekly_message():  # type: ignore[no-untyped-def]
    r = render_weekly(build_weekly(dataset(), changes(), health(), PERIOD, NOW, TZ, SINCE))
    return lambda: build_message(r, "dtc@mannheim.de", TO, f"{JOB}/{PERIOD}/{TO}", date=NOW)


def transport(server: SmtpServer, **kw: Any) -> SmtpTransport:
    return SmtpTransport(server.host, server.port, starttls=False, timeout=5, **kw)


def test_digest_arrives_with_both_parts_and_a_file_copy(smtp_server: SmtpServer,
                                                        tmp_path: Path) -> None:
    store = MemoryStore()
    copy = FileTransport(tmp_path / "outbox")
    mailer = Mailer(store, transport(smtp_server, username=USER, password=PASSWORD,
                                     allow_plaintext_auth=True),  # a test relay on loopback
                    copy_to=copy)
    assert mailer.deliver(JOB, PERIOD, TO, weekly_message()) == "sent"
    assert mailer.deliver(JOB, PERIOD, TO, weekly_message()) == "already_sent"

    (msg,) = smtp_server.inbox.messages
    assert smtp_server.inbox.envelopes == [("dtc@mannheim.de", [TO])]
    assert msg.get_content_type() == "multipart/alternative"
    assert "Portfolio auf einen Blick" in (text_part(msg) or "")
    assert "Portfolio auf einen Blick" in (html_part(msg) or "")
    entry = store.outbox_get(JOB, PERIOD, TO)
    assert entry is not None and entry.status == "sent" and entry.attempts == 1
    assert msg["Message-ID"] == entry.message_id
    assert msg["X-SP-Sync-Key"] == f"{JOB}/{PERIOD}/{TO}"
    assert copy.was_sent(entry.message_id)
    assert len(list((tmp_path / "outbox").glob("*.html"))) == 1


def test_starttls_and_login(smtp_tls_server: SmtpServer) -> None:
    t = SmtpTransport(smtp_tls_server.host, smtp_tls_server.port, starttls=True,
                      username=USER, password=PASSWORD, timeout=5,
                      ssl_context=smtp_tls_server.client_context())
    assert t.send(weekly_message()()).accepted
    assert len(smtp_tls_server.inbox.messages) == 1
    bad = SmtpTransport(smtp_tls_server.host, smtp_tls_server.port, starttls=True,
                        username=USER, password="wrong", timeout=5,
                        ssl_context=smtp_tls_server.client_context())
    with pytest.raises(MailError, match="refused the login"):
        bad.send(weekly_message()())
    assert "wrong" not in repr(bad)
    assert len(smtp_tls_server.inbox.messages) == 1


def test_refused_recipient_is_a_known_failure_and_retried_later(smtp_server: SmtpServer) -> None:
    smtp_server.inbox.refuse.add(TO)
    store = MemoryStore()
    mailer = Mailer(store, transport(smtp_server))
    assert mailer.deliver(JOB, PERIOD, TO, weekly_message()) == "failed"
    entry = store.outbox_get(JOB, PERIOD, TO)
    assert entry is not None and entry.status == "failed" and "550" in (entry.error or "")
    smtp_server.inbox.refuse.clear()
    assert mailer.deliver(JOB, PERIOD, TO, weekly_message()) == "sent"
    assert smtp_server.inbox.ids() == [entry.message_id]


def test_message_refused_after_data_is_a_known_failure(smtp_server: SmtpServer) -> None:
    smtp_server.inbox.data_reply = "554 5.7.1 message content rejected"
    with pytest.raises(MailError, match="554"):
        transport(smtp_server).send(weekly_message()())
    smtp_server.inbox.data_reply = "451 4.3.0 try again later"
    with pytest.raises(TransientError, match="451"):
        transport(smtp_server).send(weekly_message()())
    assert smtp_server.inbox.messages == []


def test_unreachable_server_is_transient_and_nothing_is_lost() -> None:
    store = MemoryStore()
    t = SmtpTransport("127.0.0.1", free_port(), starttls=False, timeout=2)
    with pytest.raises(TransientError, match="cannot reach"):
        t.send(weekly_message()())
    mailer = Mailer(store, t)
    assert mailer.deliver(JOB, PERIOD, TO, weekly_message()) == "unknown"
    assert [e.status for e in store.outbox_pending()] == ["sending"]


def test_crash_between_send_and_outbox_gives_one_duplicate_then_nothing(
    smtp_server: SmtpServer,
) -> None:
    store = MemoryStore()
    crashing = CrashAfterSend(store)
    with pytest.raises(Crash):
        Mailer(crashing, transport(smtp_server)).deliver(  # type: ignore[arg-type]
            JOB, PERIOD, TO, weekly_message())
    assert len(smtp_server.inbox.messages) == 1
    # restart: SMTP can't tell whether it went out, so the SAME message is sent again
    mailer = Mailer(store, transport(smtp_server))
    assert mailer.flush_pending() == {"sent": 1, "confirmed": 0, "failed": 0, "unknown": 0}
    first, second = smtp_server.inbox.messages
    assert first["Message-ID"] == second["Message-ID"]
    assert text_part(first) == text_part(second)
    # and then never again
    assert mailer.deliver(JOB, PERIOD, TO, weekly_message()) == "already_sent"
    assert mailer.flush_pending() == {"sent": 0, "confirmed": 0, "failed": 0, "unknown": 0}
    assert len(smtp_server.inbox.messages) == 2


def test_no_reply_after_data_is_ambiguous_and_resent_once(smtp_server: SmtpServer) -> None:
    smtp_server.inbox.delay = 1.5  # the server queues the mail but answers too late
    store = MemoryStore()
    slow = SmtpTransport(smtp_server.host, smtp_server.port, starttls=False, timeout=0.5)
    mailer = Mailer(store, slow)
    assert mailer.deliver(JOB, PERIOD, TO, weekly_message()) == "unknown"
    assert len(smtp_server.inbox.messages) == 1
    smtp_server.inbox.delay = 0
    assert Mailer(store, transport(smtp_server)).flush_pending()["sent"] == 1
    assert len(set(smtp_server.inbox.ids())) == 1 and len(smtp_server.inbox.messages) == 2


def test_rate_limited_sends_to_many_recipients(smtp_server: SmtpServer) -> None:
    clock = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        clock[0] += s

    store = MemoryStore()
    mailer = Mailer(store, transport(smtp_server),
                    limiter=RateLimiter(3, 60.0, clock=lambda: clock[0], sleep=sleep))
    for i in range(5):
        to = f"person{i}@mannheim.de"
        r = render_weekly(build_weekly(dataset(), [], health(), PERIOD, NOW, TZ, SINCE))
        assert mailer.deliver(JOB, PERIOD, to, lambda r=r, to=to: build_message(
            r, "dtc@mannheim.de", to, f"{JOB}/{PERIOD}/{to}")) == "sent"
    assert len(smtp_server.inbox.messages) == 5
    assert waits == [60.0]  # the 4th waited for the first window to pass, the 5th fit


def test_login_without_tls_is_refused_unless_allowed(smtp_server: SmtpServer) -> None:
    """The password never goes over a plain connection by accident (issue 9)."""
    from sp_sync.config.settings import load_settings
    from sp_sync.errors import ConfigError

    with pytest.raises(ConfigError, match="smtp_allow_plaintext_auth"):
        transport(smtp_server, username=USER, password=PASSWORD)
    with pytest.raises(ConfigError, match="smtp_allow_plaintext_auth"):
        load_settings(mail_transport="smtp", smtp_host="relay.mannheim.de",
                      smtp_username=USER, smtp_starttls=False)
    assert smtp_server.inbox.messages == []
    # without credentials a plain relay is fine, and the explicit setting allows a login
    assert transport(smtp_server).send(weekly_message()()).accepted
    allowed = load_settings(mail_transport="smtp", smtp_host="relay.mannheim.de",
                            smtp_username=USER, smtp_starttls=False,
                            smtp_allow_plaintext_auth=True)
    assert allowed.smtp_allow_plaintext_auth
    assert transport(smtp_server, username=USER, password=PASSWORD,
                     allow_plaintext_auth=True).send(weekly_message()()).accepted
    assert len(smtp_server.inbox.messages) == 2
