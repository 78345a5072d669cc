"""sendMail (JSON via the library, MIME raw) and the Sent Items folder."""

from __future__ import annotations

import base64
from email.message import EmailMessage

import requests

from sp_sync.emulator import Emulator
from tests.emulator.conftest import graph_client


def test_library_send_mail_lowercase(emu: Emulator) -> None:
    client = graph_client(emu)
    client.users[emu.info.mailbox].send_mail(
        "Wochenbericht", "<p>Hallo</p>", ["anna.becker@mannheim.de"], body_type="HTML"
    ).execute_query()
    [msg] = emu.mail()
    assert msg["subject"] == "Wochenbericht" and msg["html"] == "<p>Hallo</p>"
    assert msg["recipients"] == ["anna.becker@mannheim.de"]
    assert msg["savedToSentItems"] is False  # the wrapper's default
    assert any(r["path"].endswith("/sendmail") and r["status"] == 202 for r in emu.requests())


def test_json_saved_and_found_by_message_id(emu: Emulator, http: requests.Session) -> None:
    url = f"{emu.info.graph_url}/users/{emu.info.mailbox}"
    r = http.post(
        f"{url}/sendMail",
        json={
            "message": {
                "subject": "Digest",
                "body": {"contentType": "text", "content": "Text"},
                "toRecipients": [{"emailAddress": {"address": "x@mannheim.de"}}],
                "internetMessageId": "<digest-2026-W49@sp-sync>",
            },
            "saveToSentItems": True,
        },
    )
    assert r.status_code == 202 and r.content == b""
    r = http.get(
        f"{url}/mailFolders/sentitems/messages",
        params={"$filter": "internetMessageId eq '<digest-2026-W49@sp-sync>'"},
    )
    assert [m["subject"] for m in r.json()["value"]] == ["Digest"]
    r = http.get(
        f"{url}/mailFolders/sentitems/messages",
        params={"$filter": "internetMessageId eq '<other@x>'"},
    )
    assert r.json()["value"] == []


def test_mime_send(emu: Emulator, http: requests.Session) -> None:
    mime = EmailMessage()
    mime["From"], mime["To"], mime["Subject"] = emu.info.mailbox, "b@mannheim.de", "Übersicht"
    mime["Message-ID"] = "<mime-1@sp-sync>"
    mime.set_content("Nur Text")
    mime.add_alternative("<p>HTML</p>", subtype="html")
    r = http.post(
        f"{emu.info.graph_url}/users/{emu.info.mailbox}/sendMail",
        data=base64.b64encode(mime.as_bytes()),
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 202
    [msg] = emu.mail()
    assert msg["format"] == "mime" and msg["subject"] == "Übersicht"
    assert msg["text"].strip() == "Nur Text" and msg["html"].strip() == "<p>HTML</p>"
    assert msg["internetMessageId"] == "<mime-1@sp-sync>" and msg["savedToSentItems"]
    assert emu.mail() == http.get(f"{emu.info.base_url}/_emulator/mail").json()["value"]


def test_unknown_mailbox_404(emu: Emulator, http: requests.Session) -> None:
    r = http.post(
        f"{emu.info.graph_url}/users/nobody@mannheim.de/sendMail",
        json={
            "message": {"subject": "x", "toRecipients": [{"emailAddress": {"address": "a@b.de"}}]}
        },
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "ErrorInvalidUser"
    assert emu.mail() == []
