"""The interfaces (ports) between the engine and the outside world.

The engine (``sp_sync.engine``) only talks to these protocols; adapters
(``sp_sync.adapters``) implement them. Each protocol's contract is in its docstrings,
and one contract test suite runs against every implementation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from sp_sync.domain.digest import WeeklyDigest
from sp_sync.domain.mail_content import Notices, NoticeText, Rendered
from sp_sync.domain.model import (
    FieldChange,
    MirrorItem,
    RawItem,
    RunRecord,
    WriteAction,
    WriteOutcome,
)
from sp_sync.domain.personal import CoordinatorDigest, LeadDigest
from sp_sync.domain.reminders import CalendarEvent, Reminder

# --------------------------------------------------------------------------- SharePoint


@dataclass(frozen=True)
class ListRef:
    """Where a list lives: site URL (``https://host/sites/name``) and list title."""

    site_url: str
    title: str


@dataclass(frozen=True)
class DeltaPage:
    """One page of a delta feed. Exactly one of ``next_link``/``delta_link`` is set."""

    items: Sequence[RawItem]
    next_link: str | None = None
    delta_link: str | None = None
    # Ids of items the adapter skipped as poison (over the bounds; reported there): the
    # pull keeps their mirrored rows as they were instead of treating them as gone.
    poisoned: Sequence[str] = ()


@dataclass(frozen=True)
class ColumnInfo:
    """A column as SharePoint reports it (for the schema check and provisioning)."""

    name: str  # internal name
    display_name: str
    type: str  # ColumnType value as far as it can be derived, else Graph's facet name
    indexed: bool = False
    lookup_list_id: str | None = None


@dataclass
class RequestStats:
    """What a run cost: requests sent, resource units, retries, time waited."""

    requests: int = 0
    resource_units: int = 0
    retries: int = 0
    throttled: int = 0
    waited_seconds: float = 0.0
    writes: int = 0
    poisoned: int = 0  # items skipped because they broke the response bounds

    def as_dict(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "resource_units": self.resource_units,
            "retries": self.retries,
            "throttled": self.throttled,
            "waited_seconds": round(self.waited_seconds, 3),
            "writes": self.writes,
            "poisoned": self.poisoned,
        }

    def add(self, **counts: float) -> None:
        """Add to the named counters (``requests=1, resource_units=2``)."""
        for name, amount in counts.items():
            setattr(self, name, getattr(self, name) + amount)


@dataclass
class RunMeter:
    """What one job run costs and how long it may wait: its own counters and time budget.

    The runner activates a fresh meter for each run (:func:`metered`) in the thread that
    runs it; adapters charge the active meter (:func:`charge`) as well as their own
    process-wide totals. Two runs that overlap on the daemon's two worker threads thus
    neither count each other's requests nor reset each other's budget.
    """

    stats: RequestStats = field(default_factory=RequestStats)
    deadline: float | None = None  # on the adapter's clock; set by it at the first request


_ACTIVE_METER: ContextVar[RunMeter | None] = ContextVar("sp_sync_run_meter", default=None)


def active_meter() -> RunMeter | None:
    """The meter of the run this thread (or context) is working for, if any."""
    return _ACTIVE_METER.get()


@contextmanager
def metered(meter: RunMeter) -> Iterator[RunMeter]:
    """Make ``meter`` the active one for the block (this thread/context only)."""
    token = _ACTIVE_METER.set(meter)
    try:
        yield meter
    finally:
        _ACTIVE_METER.reset(token)


def charge(total: RequestStats, **counts: float) -> None:
    """Count ``counts`` in ``total`` (an adapter's lifetime figures) and the active run."""
    total.add(**counts)
    meter = _ACTIVE_METER.get()
    if meter is not None and meter.stats is not total:
        meter.stats.add(**counts)


class ListSource(Protocol):
    """Reads SharePoint lists."""

    @property
    def stats(self) -> RequestStats:
        """What this source's requests cost so far (shared with the writer)."""
        ...

    def delta(
        self, ref: ListRef, select: Sequence[str], cursor: str | None
    ) -> Iterator[DeltaPage]:
        """Yield the pages of the list's delta feed.

        ``cursor`` is a deltaLink from an earlier run, or ``None`` for a full enumeration
        (every live item). The last page carries ``delta_link``. Deleted items come as
        ``RawItem(deleted=True)``. The same item may appear twice: the last one wins.
        Raises ``CursorExpired`` (410) when the cursor is no longer valid, ``NotFound``
        when the list does not exist.
        """
        ...

    def get_item(self, ref: ListRef, item_id: str, select: Sequence[str]) -> RawItem | None:
        """One item with its current eTag and ``lastModifiedBy``, or ``None`` if deleted."""
        ...

    def find_by_key(
        self, ref: ListRef, key_column: str, key: str, select: Sequence[str]
    ) -> RawItem | None:
        """The item whose (indexed) ``key_column`` equals ``key``, or ``None``."""
        ...

    def columns(self, ref: ListRef) -> Sequence[ColumnInfo]:
        """The list's columns (one request)."""
        ...


class ListWriter(Protocol):
    """Writes list items: ``$batch`` of 20, the real eTag as ``If-Match``."""

    def apply(self, ref: ListRef, actions: Sequence[WriteAction]) -> list[WriteOutcome]:
        """Send the actions; one outcome per action, in the same order.

        Never retries a create blindly: a create whose result is unknown comes back
        ``AMBIGUOUS`` and the engine looks it up by SyncKey. A stale eTag comes back
        ``CONFLICT``. Throttled sub-requests are re-sent after ``Retry-After``.
        """
        ...


class ListAdmin(Protocol):
    """Creates lists and columns (``sp-sync provision``)."""

    def ensure_list(self, ref: ListRef, columns: Sequence[Mapping[str, Any]]) -> bool:
        """Create the list with the given Graph column definitions if missing.

        Adds missing columns to an existing list. Returns True when anything was created.
        """
        ...


# --------------------------------------------------------------------------- State store


@dataclass(frozen=True)
class LeaderInfo:
    """Who holds the replicas' lease (``holder`` is ``host:pid:nonce``), with which fencing
    token, until when (database time); ``valid`` is False once it has expired."""

    holder: str
    token: int
    expires_at: datetime
    valid: bool


@dataclass(frozen=True)
class OutboxEntry:
    """A rendered mail waiting to be (or already) sent. One per (job, period, recipient)."""

    id: int
    job: str
    period: str
    recipient: str
    message_id: str
    mime: bytes  # the whole message, as it will be sent
    status: str  # "pending" | "sending" | "sent" | "failed"
    created_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0
    error: str | None = None
    claimed_at: datetime | None = None  # since when a sender holds it ("sending")


class ListSyncTransaction(Protocol):
    """Everything one list's sync writes, committed together or not at all."""

    def upsert(self, items: Sequence[MirrorItem]) -> None:
        """Insert or replace items (a tombstoned item that reappears is revived)."""
        ...

    def tombstone(self, item_ids: Sequence[str], seen_at: datetime) -> None:
        """Mark items deleted at ``seen_at`` (kept, never forgotten)."""
        ...

    def record_changes(self, changes: Sequence[FieldChange]) -> None:
        """Append field-level history."""
        ...

    def mark_seen(self, item_ids: Sequence[str]) -> None:
        """During a full enumeration: remember which ids the feed contained."""
        ...

    def unseen_ids(self) -> list[str]:
        """Live ids not marked seen since the enumeration began (to tombstone after it)."""
        ...

    def set_cursor(self, cursor: str | None) -> None:
        """Store the list's delta cursor (committed with the items above)."""
        ...


KeyIndexEntry = tuple[Any, str, str | None, str]  # (key value, item id, eTag, content hash)


@dataclass(frozen=True)
class Resolved:
    """Something looked up in SharePoint and kept (a site or list id, a schema verdict),
    with when it was looked up: the caller decides how old is too old."""

    value: Any  # JSON: str, number, bool, None, lists and objects of them
    at: datetime


class ResolvedStore(Protocol):
    """Lookups kept across processes, by kind ("site", "list", "schema") and key, so a
    fresh process (cron, systemd timer) does not pay for them on every run."""

    def resolved(self, kind: str, key: str) -> Resolved | None:
        """The kept value and its age, or ``None``."""
        ...

    def put_resolved(self, kind: str, values: Mapping[str, Any], at: datetime) -> None:
        """Keep (replace) the values of these keys, looked up at ``at``."""
        ...

    def drop_resolved(self, kind: str, keys: Sequence[str] | None = None) -> None:
        """Forget these keys (``None``: every key of the kind)."""
        ...


class MirrorStore(Protocol):
    """The mirror of the lists: items, tombstones, field history and delta cursors.

    Cursors are only ever written inside ``list_sync`` so they commit with their data.
    """

    def list_sync(self, list_key: str) -> AbstractContextManager[ListSyncTransaction]:
        """A transaction for one list; rolled back entirely if the block raises."""
        ...

    def cursor(self, list_key: str) -> str | None: ...

    def get(self, list_key: str, item_id: str) -> MirrorItem | None: ...

    def get_many(self, list_key: str, ids: Sequence[str]) -> dict[str, MirrorItem]:
        """The mirrored items (tombstones included) among ``ids``, keyed by id; ids the
        mirror does not know are absent. One query per 500 ids (the pull reads a page)."""
        ...

    def items(self, list_key: str, include_deleted: bool = False) -> Iterator[MirrorItem]:
        """All mirrored items of a list, ordered by id (numeric where ids are numeric)."""
        ...

    def count(self, list_key: str) -> int:
        """Live (not tombstoned) items of a list."""
        ...

    def key_index(
        self, list_key: str, key_field: str, by_key: bool = False
    ) -> Iterator[KeyIndexEntry]:
        """(value of ``key_field``, id, eTag, content hash) of every live item, ordered
        as :meth:`items`: the planner's light view of a list (no other fields held).
        The value is what ``item.fields.get(key_field)`` gives (``None`` when absent).
        ``by_key``: ordered by the key's text instead (code point order; then by id) and
        streamed, for the merge planner; a key whose raw text sorts differently from its
        canonical form (blanks around it) is caught there, which then plans the other way."""
        ...

    def changes(
        self, list_key: str | None = None, since: datetime | None = None
    ) -> list[FieldChange]:
        """Field history, oldest first, optionally for one list and after ``since``."""
        ...

    def last_synced(self, list_key: str) -> datetime | None:
        """When the list's cursor was last committed."""
        ...


class RunHistory(Protocol):
    """One record per job run: when, outcome, what it cost, what went wrong."""

    def start_run(self, job: str, started_at: datetime) -> int: ...

    def finish_run(
        self,
        run_id: int,
        status: str,
        finished_at: datetime,
        stats: Mapping[str, Any],
        message: str | None = None,
    ) -> None: ...

    def runs(self, job: str | None = None, limit: int = 50) -> list[RunRecord]:
        """Newest first."""
        ...

    def runs_since(self, since: datetime) -> list[RunRecord]:
        """Every run (any job, running ones too) started at or after ``since``, oldest
        first (ties by id): the run-history list's input (kind ``runlog``)."""
        ...


class MailLedger(Protocol):
    """Exactly-once mail: an outbox entry per (job, period, recipient) and a ledger of
    what each mail job did with each period."""

    def outbox_add(
        self, job: str, period: str, recipient: str, message_id: str, mime: bytes, now: datetime
    ) -> OutboxEntry | None:
        """Add a mail unless (job, period, recipient) already has one; then ``None``."""
        ...

    def outbox_get(self, job: str, period: str, recipient: str) -> OutboxEntry | None: ...

    def outbox_entries(self, job: str, period: str) -> list[OutboxEntry]:
        """Every entry of one job's period (any status), ordered by recipient."""
        ...

    def outbox_pending(self, job: str | None = None) -> list[OutboxEntry]:
        """Entries with status "pending" or "sending", oldest first."""
        ...

    def outbox_mark(
        self, entry_id: int, status: str, now: datetime, error: str | None = None
    ) -> None:
        """Set status; "sending" increments attempts; "sent" sets sent_at."""
        ...

    def outbox_claim(
        self, entry_id: int, now: datetime, stale_before: datetime | None = None
    ) -> OutboxEntry | None:
        """Take the entry for sending, atomically (one conditional UPDATE / under a lock).

        Succeeds from "pending" or "failed"; from "sending" only when its claim is older
        than ``stale_before`` (its holder died; ``None``: never). On success the entry is
        "sending", ``attempts`` + 1, ``claimed_at`` = ``now``, and is returned; otherwise
        (sent, or held by another sender) ``None``. Of any number of processes claiming
        the same entry at once, exactly one succeeds.
        """
        ...

    def ledger_get(self, job: str, period: str) -> Mapping[str, Any] | None:
        """The job's record of a period ("sent", "skipped", "late" …) or ``None``."""
        ...

    def ledger_put(self, job: str, period: str, status: str, now: datetime,
                   detail: Mapping[str, Any] | None = None) -> None: ...

    def ledger_periods(self, job: str) -> list[tuple[str, str]]:
        """(period, status) of a job, oldest first."""
        ...


class Replicas(Protocol):
    """Runs whose process died, and one leader among replicas (docs/reliability.md)."""

    def interrupt_runs(self, now: datetime, message: str, job: str | None = None) -> int:
        """Mark every "running" run (of ``job``, or of all jobs) not started by this
        store's process as "interrupted" with ``message``; returns how many. Call only
        where no other live process can own such a run: holding the SQLite lock, holding
        the job's lock (:meth:`job_lock`), or as the replicas' new leader."""
        ...

    def acquire_lease(self, holder: str, ttl_s: float) -> int | None:
        """Take or renew the leader lease for ``ttl_s`` seconds; the fencing token, or
        ``None`` while another holder's lease is valid. Taking it over (or back after it
        expired) always gives a new, higher token."""
        ...

    def renew_lease(self, holder: str, token: int, ttl_s: float) -> bool:
        """Extend the lease if ``holder`` still holds it with ``token``; False if lost."""
        ...

    def release_lease(self, holder: str, token: int) -> None:
        """End the lease now (clean shutdown), so a follower takes over at once."""
        ...

    def leader(self) -> LeaderInfo | None:
        """The current (or last) lease holder; ``None`` if there never was one."""
        ...

    def job_lock(self, job: str, wait: bool = True) -> AbstractContextManager[bool]:
        """Hold the job's lock across processes for the block (PostgreSQL: a session
        advisory lock, dropped by the server if the process dies); yields False when
        ``wait`` is off and another process holds it. One process per SQLite file and
        in memory: always True."""
        ...

    def fence(self, token: int | None) -> None:
        """From now on every write transaction of this store first checks that ``token``
        is still the lease's token, in the same transaction (``LeaseLost`` otherwise, and
        nothing is written). ``None``: no check (single process)."""
        ...


class StateStore(MirrorStore, RunHistory, MailLedger, ResolvedStore, Replicas, Protocol):
    """sp-sync's own state, every role in one store (one SQL database or memory)."""

    def close(self) -> None: ...


# --------------------------------------------------------------------------- Mail


@dataclass(frozen=True)
class SendResult:
    accepted: bool
    detail: str | None = None


class MailTransport(Protocol):
    """Sends one fully built message (``Message-ID`` set by the caller)."""

    name: str

    def send(self, message: EmailMessage) -> SendResult:
        """Raises ``MailError`` when the outcome is known to be a failure and
        ``TransientError`` when it is unknown (the server may have accepted it)."""
        ...

    def was_sent(self, message_id: str) -> bool | None:
        """Whether the message already went out (Graph: Sent Items); ``None``: can't tell."""
        ...


class Renderer(Protocol):
    """Digest models and event texts → mails and calendar files (``sp_sync.render``).

    ``locale`` is "de"/"de_DE" (default) or "en"; ``templates_dir`` holds templates that
    override the packaged ones; ``notices`` (late, stale data) go before everything else.
    """

    def weekly(self, digest: WeeklyDigest, locale: str, templates_dir: Path | None,
               organisation: str | None, notices: Notices | None = None) -> Rendered: ...

    def lead(self, digest: LeadDigest, tz: str, locale: str, templates_dir: Path | None,
             organisation: str | None, notices: Notices | None = None) -> Rendered: ...

    def coordinator(self, digest: CoordinatorDigest, tz: str, locale: str,
                    templates_dir: Path | None, organisation: str | None,
                    notices: Notices | None = None) -> Rendered: ...

    def reminder(self, reminder: Reminder, tz: str, locale: str, templates_dir: Path | None,
                 organisation: str | None, notices: Notices | None = None) -> Rendered: ...

    def notice(self, text: NoticeText, tz: str, locale: str) -> Rendered:
        """One event's mail (a promotion, a cancellation, attendance, minutes …)."""
        ...

    def message(self, rendered: Rendered, sender: str, recipient: str, key: str,
                ics: bytes | None = None, date: datetime | None = None,
                method: str = "REQUEST") -> EmailMessage:
        """The whole MIME message: text and HTML, a calendar part when ``ics`` is given;
        header values cleaned; ``key`` is the outbox key (job/period/recipient)."""
        ...

    def invitation(self, event: CalendarEvent, organizer: str, attendee: str | None,
                   tz: str, stamp: datetime | None = None) -> bytes:
        """A calendar file that invites (METHOD:REQUEST, stable UID)."""
        ...

    def cancellation(self, event: CalendarEvent, organizer: str, attendee: str | None,
                     tz: str, stamp: datetime | None = None) -> bytes:
        """A calendar file that cancels the invitation with the same UID (METHOD:CANCEL)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...
