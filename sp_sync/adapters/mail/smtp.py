"""``MailTransport`` "smtp": one connection per message, STARTTLS and login when set.

Outcome classes (what the outbox does next):
- refused before the message body was sent (connect, STARTTLS, login, MAIL FROM,
  RCPT TO): ``MailError`` for permanent 5xx answers and bad credentials,
  ``TransientError`` for 4xx answers and network trouble — either way nothing went out;
- after the body was sent (the end of DATA): a 5xx answer is ``MailError``, anything
  else — 4xx, a dropped connection, a timeout — is ``TransientError`` and *ambiguous*:
  the server may have queued the message. SMTP can't be asked later (``was_sent`` is
  ``None``), so the outbox resends the same bytes: at most one duplicate, same Message-ID.

Credentials only travel encrypted: a user name without STARTTLS is refused at
construction (``ConfigError``) unless ``allow_plaintext_auth`` (the setting
``smtp_allow_plaintext_auth``) says the relay is trusted; and if the server does not
offer STARTTLS, nothing is sent.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import getaddresses, parseaddr

from sp_sync.errors import ConfigError, MailError, TransientError
from sp_sync.ports import SendResult


def _reply(code: int, detail: object) -> str:
    text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    return f"{code} {text}".strip()


class SmtpTransport:
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int = 587,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        from_address: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        allow_plaintext_auth: bool = False,
    ) -> None:
        if username and not starttls and not allow_plaintext_auth:
            raise ConfigError(
                f"smtp_allow_plaintext_auth: SMTP login as {username!r} to {host}:{port} "
                "without STARTTLS would send the password unencrypted — set smtp_starttls "
                "= true, or smtp_allow_plaintext_auth = true for a trusted relay"
            )
        self.allow_plaintext_auth = allow_plaintext_auth
        self.host = host
        self.port = port
        self.starttls = starttls
        self.username = username
        self.password = password
        self.from_address = from_address
        self.timeout = timeout
        self.ssl_context = ssl_context

    def __repr__(self) -> str:  # never show the password
        return f"SmtpTransport({self.host}:{self.port}, starttls={self.starttls})"

    def _where(self) -> str:
        return f"SMTP server {self.host}:{self.port}"

    def _connect(self) -> smtplib.SMTP:
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(f"cannot reach the {self._where()}: {exc}; "
                                 "nothing was sent, it is retried") from exc
        try:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise MailError(f"the {self._where()} refused the login of {self.username!r}: "
                            f"{_reply(exc.smtp_code, exc.smtp_error)}; check the SMTP "
                            "user name and password") from None
        except smtplib.SMTPNotSupportedError as exc:
            smtp.close()
            raise MailError(f"the {self._where()} does not support {exc}; "
                            "check the SMTP STARTTLS/login settings") from None
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            raise TransientError(f"the {self._where()} failed before sending: {exc}") from exc
        return smtp

    def send(self, message: EmailMessage) -> SendResult:
        sender = self.from_address or parseaddr(str(message.get("From", "")))[1]
        recipients = [addr for _, addr in getaddresses(
            [str(v) for h in ("To", "Cc") for v in message.get_all(h, [])]) if addr]
        if not sender or not recipients:
            raise MailError("the message needs a From and a To address")
        data = message.as_bytes(policy=SMTP)
        smtp = self._connect()
        try:
            self._envelope(smtp, str(sender), recipients)
            try:
                # smtplib raises for a refused DATA command but only *returns* the reply
                # to the message body, so both are checked here
                code, detail = smtp.data(data)
                if code != 250:
                    raise smtplib.SMTPDataError(code, detail)
            except smtplib.SMTPDataError as exc:
                if exc.smtp_code >= 500:
                    raise MailError(f"the {self._where()} rejected the message: "
                                    f"{_reply(exc.smtp_code, exc.smtp_error)}") from None
                raise TransientError(f"the {self._where()} deferred the message: "
                                     f"{_reply(exc.smtp_code, exc.smtp_error)}") from None
            except (TimeoutError, OSError, smtplib.SMTPException) as exc:
                raise TransientError(f"the connection to the {self._where()} broke during "
                                     f"DATA ({exc}); the message may have been accepted")\
                    from exc
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
        return SendResult(accepted=True, detail=_reply(code, detail))

    def _envelope(self, smtp: smtplib.SMTP, sender: str, recipients: list[str]) -> None:
        """MAIL FROM and RCPT TO: nothing has been sent yet when these fail."""
        try:
            code, detail = smtp.mail(sender)
            if code != 250:
                self._refused("sender", sender, code, detail)
            for rcpt in recipients:
                code, detail = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    self._refused("recipient", rcpt, code, detail)
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise TransientError(f"the {self._where()} dropped the connection before "
                                 f"DATA: {exc}; nothing was sent") from exc

    def _refused(self, what: str, address: str, code: int, detail: bytes) -> None:
        smtp_text = _reply(code, detail)
        if code >= 500:
            raise MailError(f"the {self._where()} refused the {what} {address}: {smtp_text}")
        raise TransientError(f"the {self._where()} deferred the {what} {address}: {smtp_text}")

    def was_sent(self, message_id: str) -> bool | None:
        return None  # SMTP has no way to ask
