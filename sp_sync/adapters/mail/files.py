"""``MailTransport`` "files": every message as an ``.eml`` file (plus its HTML part).

Used for demos and previews, and as the copy of every sent mail that admins can open.
File names are ``<UTC timestamp>-<slug>-<hash of Message-ID>.eml``, so ``was_sent``
finds a message by its Message-ID without reading the files. Writes are atomic
(temporary file, then rename): a crash never leaves half a message that counts as sent.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from sp_sync.errors import MailError
from sp_sync.ports import SendResult


def _slug(text: str, limit: int = 40) -> str:
    ascii_text = (text.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
                  .replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue").replace("ß", "ss"))
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-").lower()
    return slug[:limit].rstrip("-") or "mail"


def message_hash(message_id: str) -> str:
    return hashlib.sha256(message_id.strip().encode()).hexdigest()[:12]


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FileTransport:
    """Writes messages into ``folder`` (created on first use)."""

    name = "files"

    def __init__(self, folder: Path | str, clock: Callable[[], datetime] | None = None) -> None:
        self.folder = Path(folder)
        self._clock = clock or (lambda: datetime.now(UTC))

    def send(self, message: EmailMessage) -> SendResult:
        message_id = message.get("Message-ID")
        if not message_id:
            raise MailError("the message has no Message-ID; the outbox must set one")
        stamp = self._clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        slug = _slug(f"{message.get('Subject', '')}-{message.get('To', '')}")
        base = f"{stamp}-{slug}-{message_hash(str(message_id))}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            html = message.get_body(preferencelist=("html",))
            if html is not None:
                content = html.get_content()
                _write_atomic(self.folder / f"{base}.html", str(content).encode("utf-8"))
            # the .eml last: its existence is what ``was_sent`` reports
            _write_atomic(self.folder / f"{base}.eml", message.as_bytes(policy=SMTP))
        except OSError as exc:
            raise MailError(f"cannot write the mail to {self.folder}: {exc}") from exc
        return SendResult(accepted=True, detail=str(self.folder / f"{base}.eml"))

    def was_sent(self, message_id: str) -> bool:
        if not self.folder.is_dir():
            return False
        return any(self.folder.glob(f"*-{message_hash(message_id)}.eml"))

    def find(self, message_id: str) -> Path | None:
        """The ``.eml`` file of a message, if written."""
        if not self.folder.is_dir():
            return None
        return next(iter(sorted(self.folder.glob(f"*-{message_hash(message_id)}.eml"))), None)
