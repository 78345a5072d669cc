"""Exactly-once mail over the outbox (``StateStore``) and any ``MailTransport``.

    Mailer(store, transport, copy_to=None, limiter=None, clock=None, lease=None)
    mailer.deliver(job, period, recipient, build) -> "sent" | "already_sent" | "failed"
                                                    | "unknown" | "in_progress"
    mailer.flush_pending() -> {"sent": n, "confirmed": n, "failed": n, "unknown": n}
                              (+ "in_progress": n when another process holds entries)
    RateLimiter(max_messages=30, window=60.0, clock=time.monotonic, sleep=time.sleep)

One outbox entry per (job, period, recipient) holds the complete MIME message with our
own Message-ID. Steps: render → outbox (pending) → **claim** → send → mark "sent".
The claim (``StateStore.outbox_claim``) is one conditional update in the store: of any
number of processes delivering the same entry at once exactly one gets it ("sending");
the others answer "in_progress" (held) or "already_sent". A "sending" entry is only
taken over once its claim is older than ``lease`` (its holder crashed); without a lease
(single process, tests) any "sending" entry left by an earlier run is taken over.

A crash can leave an entry "sending"; ``flush_pending`` (at start) then asks the
transport: ``was_sent`` True (Graph: found in Sent Items) → mark sent, no resend;
False → resend; None (SMTP can't tell) → resend the SAME bytes with the same
Message-ID — at most one duplicate, which mail clients usually fold into one
(see docs/runbook-mail.md).

A transport's ``MailError`` (known failure) marks the entry "failed"; the next
``deliver`` of the same key retries it (up to ``max_attempts``). ``TransientError``
(outcome unknown) leaves it "sending" for ``flush_pending``. Every sent mail is also
written to ``copy_to`` (a ``FileTransport``) when given.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import make_msgid

from sp_sync.errors import MailError, TransientError
from sp_sync.ports import Clock, MailTransport, OutboxEntry, StateStore

log = logging.getLogger(__name__)

SYNC_KEY_HEADER = "X-SP-Sync-Key"


class RateLimiter:
    """Sliding window: never more than ``max_messages`` sends in any ``window`` seconds.

    30 per minute is Exchange Online's per-mailbox limit. ``clock`` and ``sleep`` are
    injectable so tests run on a fake clock.
    """

    def __init__(
        self,
        max_messages: int = 30,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_messages < 1 or window <= 0:
            raise ValueError("the rate limit needs max_messages >= 1 and window > 0")
        self.max_messages = max_messages
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()

    def acquire(self) -> float:
        """Wait until one more send fits; returns the seconds waited."""
        waited = 0.0
        while True:
            now = self._clock()
            # same expression as the pause below, so float rounding can't stall the loop
            while self._sent and self._sent[0] + self.window <= now:
                self._sent.popleft()
            if len(self._sent) < self.max_messages:
                self._sent.append(now)
                return waited
            pause = self._sent[0] + self.window - now
            self._sleep(pause)
            waited += pause


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def sync_key(job: str, period: str, recipient: str) -> str:
    return f"{job}/{period}/{recipient}"


class Mailer:
    def __init__(
        self,
        store: StateStore,
        transport: MailTransport,
        copy_to: MailTransport | None = None,
        limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        max_attempts: int = 5,
        lease: timedelta | None = None,
    ) -> None:
        self.store = store
        self.transport = transport
        self.copy_to = copy_to
        self.limiter = limiter or RateLimiter()
        self.clock = clock or _SystemClock()
        self.max_attempts = max_attempts
        self.lease = lease

    # ------------------------------------------------------------------ public

    def deliver(
        self, job: str, period: str, recipient: str, build: Callable[[], EmailMessage]
    ) -> str:
        """Send the mail for (job, period, recipient) unless it already went out."""
        recipient = recipient.lower()
        entry = self.store.outbox_get(job, period, recipient)
        if entry is None:
            msg = build()
            self._stamp(msg, job, period, recipient)
            added = self.store.outbox_add(job, period, recipient, str(msg["Message-ID"]),
                                          msg.as_bytes(policy=SMTP), self.clock.now())
            entry = added or self.store.outbox_get(job, period, recipient)
            assert entry is not None
        if entry.status == "sent":
            return "already_sent"
        if entry.status == "sending":
            return self._settle(entry)
        if entry.status == "failed" and entry.attempts >= self.max_attempts:
            return "failed"
        return self._send(entry)

    def flush_pending(self, job: str | None = None) -> dict[str, int]:
        """Finish what a crash or an unknown outcome left behind (call at start)."""
        counts = {"sent": 0, "confirmed": 0, "failed": 0, "unknown": 0}
        for entry in self.store.outbox_pending(job):
            status = self._settle(entry) if entry.status == "sending" else self._send(entry)
            counts[status] = counts.get(status, 0) + 1
        return counts

    # ------------------------------------------------------------------ steps

    def _stamp(self, msg: EmailMessage, job: str, period: str, recipient: str) -> None:
        if not msg.get("Message-ID"):
            domain = str(msg.get("From", "")).rpartition("@")[2].strip("> ") or None
            msg["Message-ID"] = make_msgid(idstring="spsync", domain=domain)
        if not msg.get(SYNC_KEY_HEADER):
            msg[SYNC_KEY_HEADER] = sync_key(job, period, recipient)

    def _stale_before(self, now: datetime) -> datetime:
        """Claims older than this belong to a sender that died."""
        if self.lease is None:
            return now + timedelta(seconds=1)  # every claim made before this call
        return now - self.lease

    def _claim(self, entry: OutboxEntry, take_over: bool) -> OutboxEntry | str:
        """The claimed entry, or why not: "already_sent" or "in_progress" (held)."""
        now = self.clock.now()
        claimed = self.store.outbox_claim(
            entry.id, now, self._stale_before(now) if take_over else None)
        if claimed is not None:
            return claimed
        current = self.store.outbox_get(entry.job, entry.period, entry.recipient)
        if current is not None and current.status == "sent":
            return "already_sent"
        if current is not None and current.status == "failed":
            return "failed"
        log.info("mail %s to %s is being sent by another process; leaving it to it",
                 entry.message_id, entry.recipient)
        return "in_progress"

    def _settle(self, entry: OutboxEntry) -> str:
        """An entry left "sending": take it over (only when its claim is stale), then ask
        the transport before sending again."""
        claimed = self._claim(entry, take_over=True)
        if isinstance(claimed, str):
            return claimed
        known = self.transport.was_sent(claimed.message_id)
        if known is True:
            log.info("mail %s already went out (found by %s); not sending it again",
                     claimed.message_id, self.transport.name)
            self.store.outbox_mark(claimed.id, "sent", self.clock.now())
            self._copy(claimed)
            return "confirmed"
        if known is None:
            log.warning("cannot tell whether mail %s went out (%s); resending the same "
                        "message — the recipient may get it twice", claimed.message_id,
                        self.transport.name)
        return self._transmit(claimed)

    def _send(self, entry: OutboxEntry) -> str:
        self.limiter.acquire()  # before the claim: never hold an entry while waiting
        claimed = self._claim(entry, take_over=False)
        if isinstance(claimed, str):
            return claimed
        return self._transmit(claimed)

    def _transmit(self, entry: OutboxEntry) -> str:
        """Hand a claimed entry to the transport and record the outcome."""
        msg = message_from_bytes(entry.mime, policy=default)
        try:
            self.transport.send(msg)
        except TransientError as exc:
            log.warning("mail %s to %s: outcome unknown (%s); settled on the next start",
                        entry.message_id, entry.recipient, exc)
            return "unknown"
        except MailError as exc:
            log.error("mail %s to %s failed: %s", entry.message_id, entry.recipient, exc)
            self.store.outbox_mark(entry.id, "failed", self.clock.now(), error=str(exc))
            return "failed"
        self.store.outbox_mark(entry.id, "sent", self.clock.now())
        self._copy(entry, msg)
        return "sent"

    def _copy(self, entry: OutboxEntry, msg: EmailMessage | None = None) -> None:
        """The admin's copy of every sent mail; its failure never fails the send."""
        if self.copy_to is None or self.copy_to.was_sent(entry.message_id):
            return
        try:
            self.copy_to.send(msg or message_from_bytes(entry.mime, policy=default))
        except (MailError, OSError) as exc:
            log.warning("could not write the copy of mail %s: %s", entry.message_id, exc)
