"""Mail through Graph ``sendMail`` with the whole MIME message (``MailTransport`` "graph").

Graph's documented MIME send (base64 body, ``Content-Type: text/plain``) keeps our
Message-ID, the text+HTML alternatives and attachments; the library's JSON ``send_mail``
can't, and defaults ``saveToSentItems`` to false, which would break ``was_sent``.
sendMail is not idempotent: a 5xx or timeout raises ``TransientError`` (ambiguous) and the
caller asks ``was_sent`` (Sent Items) before trying again.
"""

from __future__ import annotations

import base64
import logging
from email.message import EmailMessage
from email.policy import SMTP
from urllib.parse import quote

from sp_sync.adapters.graph.client import GraphConnection
from sp_sync.adapters.graph.wire import odata_literal, query
from sp_sync.errors import AuthError, GraphError, MailError, SpSyncError, TransientError
from sp_sync.ports import SendResult

log = logging.getLogger(__name__)


class GraphMailTransport:
    """Sends as ``mailbox`` (needs Mail.Send, ideally scoped by an application access policy)."""

    name = "graph"

    def __init__(self, conn: GraphConnection, mailbox: str) -> None:
        self.conn = conn
        self.mailbox = mailbox

    def _user(self) -> str:
        return f"users/{quote(self.mailbox, safe='@')}"

    def send(self, message: EmailMessage) -> SendResult:
        if not message.get("Message-ID"):
            raise MailError("the message has no Message-ID; the outbox must set one")
        mime = message.as_bytes(policy=SMTP)
        try:
            resp = self.conn.request(
                "POST", f"{self._user()}/sendMail", data=base64.b64encode(mime),
                headers={"Content-Type": "text/plain"}, expect_json=False,
                idempotent=False,
            )
        except (TransientError, AuthError):
            raise
        except GraphError as exc:
            raise MailError(
                f"Graph refused the mail to {message.get('To')} from {self.mailbox}: {exc}"
            ) from None
        if resp.status_code != 202:
            log.warning("sendMail answered HTTP %d (expected 202)", resp.status_code)
        return SendResult(accepted=True, detail=f"HTTP {resp.status_code}")

    def was_sent(self, message_id: str) -> bool | None:
        params = {
            "$filter": f"internetMessageId eq {odata_literal(message_id)}",
            "$select": "id",
            "$top": "1",
        }
        url = f"{self._user()}/mailFolders/sentitems/messages?{query(params)}"
        try:
            body = self.conn.get_json(url)
        except SpSyncError as exc:
            log.warning("cannot check Sent Items of %s: %s", self.mailbox, exc)
            return None
        return bool((body or {}).get("value"))
