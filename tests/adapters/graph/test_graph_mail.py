"""Graph sendMail with the whole MIME message; Sent Items lookup; no blind re-send."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.mail import GraphMailTransport
from sp_sync.emulator import Emulator, FaultRule
from sp_sync.errors import MailError, TransientError
from tests.adapters.graph.conftest import graph_requests


def digest(to: str = "anna.becker@mannheim.de") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "DTC <dtc@mannheim.de>"
    msg["To"] = to
    msg["Subject"] = "Wochenübersicht KW 49 – Projekte & Schulungen"
    msg["Message-ID"] = make_msgid(domain="sp-sync.mannheim.de")
    msg.set_content("Guten Morgen,\nes gab 3 Änderungen.")
    msg.add_alternative("<p>Guten Morgen,<br>es gab <b>3</b> Änderungen.</p>", subtype="html")
    msg.add_attachment(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", maintype="text",
                       subtype="calendar", filename="runder-tisch.ics")
    return msg


@pytest.fixture
def mail(conn: GraphConnection, emu: Emulator) -> GraphMailTransport:
    return GraphMailTransport(conn, emu.info.mailbox)


def test_mime_send_keeps_message_id_parts_and_attachment(
    clean: Emulator, mail: GraphMailTransport
) -> None:
    msg = digest()
    assert mail.send(msg).accepted
    (got,) = [m for m in clean.mail() if m["internetMessageId"] == msg["Message-ID"]]
    assert got["format"] == "mime" and got["recipients"] == ["anna.becker@mannheim.de"]
    assert got["subject"] == "Wochenübersicht KW 49 – Projekte & Schulungen"
    assert "Änderungen" in got["text"] and "<b>3</b>" in got["html"]
    assert "runder-tisch.ics" in got["raw"]
    assert mail.was_sent(msg["Message-ID"]) is True
    assert mail.was_sent(make_msgid(domain="elsewhere")) is False
    assert mail.name == "graph"


def test_5xx_after_accepting_is_ambiguous_and_not_resent(
    clean: Emulator, mail: GraphMailTransport
) -> None:
    msg = digest()
    clean.faults.add(FaultRule(kind="after_write", method="POST", path=r"/sendMail$",
                               status=503))
    with pytest.raises(TransientError, match="not retried blindly"):
        mail.send(msg)
    assert len(graph_requests(clean, "/sendMail")) == 1
    assert [m["internetMessageId"] for m in clean.mail()].count(msg["Message-ID"]) == 1
    assert mail.was_sent(msg["Message-ID"]) is True  # the caller's lookup before a retry


def test_refused_mail_is_a_mail_error_and_unknown_lookup_is_none(
    clean: Emulator, conn: GraphConnection
) -> None:
    nobody = GraphMailTransport(conn, "niemand@mannheim.de")
    with pytest.raises(MailError, match=r"niemand@mannheim\.de"):
        nobody.send(digest())
    assert nobody.was_sent("<x@y>") is None
    with pytest.raises(MailError, match="Message-ID"):
        bare = digest()
        del bare["Message-ID"]
        GraphMailTransport(conn, clean.info.mailbox).send(bare)
