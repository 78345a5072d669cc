"""Graph mail: ``POST users/{id}/sendMail`` (JSON or base64 MIME) and the Sent Items folder."""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import uuid
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from sp_sync.emulator.state import Message, Tenant, now_iso
from sp_sync.emulator.wire import GraphError, Req, Resp, json_resp


def _addresses(recipients: Any) -> list[str]:
    out = []
    for r in recipients or []:
        addr = ((r or {}).get("emailAddress") or {}).get("address")
        if addr:
            out.append(str(addr))
    return out


class MailApi:
    def __init__(self, tenant: Tenant) -> None:
        self.t = tenant

    def _mailbox(self, user: str) -> str:
        box = self.t.mailbox(user)
        if box is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        return box

    def send_mail(self, req: Req, user: str) -> Resp:
        box = self._mailbox(user)
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        msg = self._from_mime(box, req.body) if ctype == "text/plain" else self._from_json(box, req)
        with self.t.lock:
            self.t.outbox.append(msg)
            if msg.saved:
                self.t.mailboxes[box].append(msg)
        return Resp(202)

    def _from_mime(self, box: str, body: bytes) -> Message:
        try:
            raw = base64.b64decode(body.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise GraphError(
                400,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
            ) from None
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        if not isinstance(parsed, EmailMessage) or not parsed.get("To"):
            raise GraphError(400, "ErrorMimeContentInvalid", "The MIME content is invalid.")
        rcpts = [
            a
            for _, a in getaddresses(
                parsed.get_all("To", []) + parsed.get_all("Cc", []) + parsed.get_all("Bcc", [])
            )
        ]
        html = parsed.get_body(("html",))
        text = parsed.get_body(("plain",))
        return Message(
            mailbox=box,
            sender=str(parsed.get("From") or box),
            recipients=rcpts,
            subject=str(parsed.get("Subject") or ""),
            internet_message_id=str(parsed.get("Message-ID") or f"<{uuid.uuid4()}@emulator>"),
            received=now_iso(),
            format="mime",
            raw=raw,
            html=html.get_content() if isinstance(html, EmailMessage) else None,
            text=text.get_content() if isinstance(text, EmailMessage) else None,
            saved=True,  # Graph saves MIME sends to Sent Items
        )

    def _from_json(self, box: str, req: Req) -> Message:
        try:
            data = req.json() or {}
        except ValueError:
            raise GraphError(400, "ErrorInvalidRequest", "Invalid JSON body.") from None
        message = data.get("message")
        if not isinstance(message, dict):
            raise GraphError(400, "ErrorInvalidRequest", "The message parameter is missing.")
        rcpts = (
            _addresses(message.get("toRecipients"))
            + _addresses(message.get("ccRecipients"))
            + _addresses(message.get("bccRecipients"))
        )
        if not rcpts:
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
        body = message.get("body") or {}
        content = str(body.get("content") or "")
        is_html = str(body.get("contentType") or "text").lower() == "html"
        sender = _addresses([message.get("from")]) or [box]
        save = data.get("saveToSentItems", True)
        return Message(
            mailbox=box,
            sender=sender[0],
            recipients=rcpts,
            subject=str(message.get("subject") or ""),
            internet_message_id=str(
                message.get("internetMessageId") or f"<{uuid.uuid4().hex}@emulator.local>"
            ),
            received=now_iso(),
            format="json",
            raw=data,
            html=content if is_html else None,
            text=None if is_html else content,
            saved=save is not False and str(save).lower() != "false",
        )

    def sent_items(self, req: Req, user: str, folder: str) -> Resp:
        box = self._mailbox(user)
        if folder.lower() not in ("sentitems", "sent items"):
            raise GraphError(404, "ErrorItemNotFound", "The specified folder could not be found.")
        flt = req.query.get("$filter", "")
        wanted = None
        if flt:
            key, _, lit = flt.partition(" eq ")
            if key.strip() != "internetMessageId":
                raise GraphError(400, "ErrorInvalidProperty", "Unsupported $filter.")
            wanted = lit.strip().strip("'").replace("''", "'")
        with self.t.lock:
            msgs = [
                m
                for m in self.t.mailboxes[box]
                if wanted is None or m.internet_message_id == wanted
            ]
        value = [
            {
                "id": base64.urlsafe_b64encode(m.internet_message_id.encode()).decode(),
                "internetMessageId": m.internet_message_id,
                "subject": m.subject,
                "sentDateTime": m.received,
                "from": {"emailAddress": {"address": m.sender}},
                "toRecipients": [{"emailAddress": {"address": a}} for a in m.recipients],
            }
            for m in msgs
        ]
        return json_resp(200, {"value": value})
