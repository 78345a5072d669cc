"""The findings lifecycle: what a Befunde row should say, given the finding and the row (pure).

States (German values of the Befunde ``status`` column):

* **Offen** — the rule fails for the item;
* **Behoben** — it failed and passes now (closed with the date);
* **Entfallen** — the item was deleted or the rule removed (closed with the date);
* **Zurückgestellt** — the owner set exception *Zurückstellen* with a date *until*; it is
  open again the day after that date (a snooze without a date does nothing);
* **Akzeptiert** — the owner set exception *Akzeptieren*: it stays accepted while the
  offending values (the evidence hash) stay the same; new values re-open it, and it is
  accepted again only when the owner confirms after the change (edits the exception,
  until or reason column again).

A closed finding that fails again re-opens the **same** row (its key does not change),
and the re-open count goes up by one. The owner's columns (exception, until, reason) are
read, never written. Every function here is deterministic in its inputs, so a run with
no change writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sp_sync.domain.model import Link, Person
from sp_sync.domain.rules import Finding


class Status(StrEnum):
    OPEN = "Offen"
    RESOLVED = "Behoben"
    SNOOZED = "Zurückgestellt"
    ACCEPTED = "Akzeptiert"
    OBSOLETE = "Entfallen"


CLOSED = frozenset({Status.RESOLVED, Status.OBSOLETE})
SNOOZE = "Zurückstellen"
ACCEPT = "Akzeptieren"
EXCEPTIONS = (SNOOZE, ACCEPT)
STATUSES = tuple(s.value for s in Status)
SYNC_PREFIX = "finding:"

# The Befunde columns sp-sync writes, and those the owner edits (read only).
WRITTEN = ("message", "rule", "severity", "link", "list", "item_title", "owner",
           "first_seen", "status", "closed_at", "reopened", "evidence")
OWNER_EDITED = ("exception", "until", "reason")
TITLE_LIMIT = 255  # a SharePoint single line of text


@dataclass(frozen=True)
class Row:
    """A Befunde row as read from the mirror (``None`` fields: empty)."""

    status: str | None = None
    first_seen: date | None = None
    closed_at: date | None = None
    reopened: int = 0
    evidence: str | None = None
    exception: str | None = None
    until: date | None = None
    # the owner's last edit of exception/until/reason is not older than the evidence
    confirmed: bool = True

    @classmethod
    def of(cls, values: Mapping[str, Any], confirmed: bool = True) -> Row:
        def day(v: Any) -> date | None:
            return v if isinstance(v, date) else None

        reopened = values.get("reopened")
        return cls(
            status=values.get("status") if isinstance(values.get("status"), str) else None,
            first_seen=day(values.get("first_seen")),
            closed_at=day(values.get("closed_at")),
            reopened=int(reopened) if isinstance(reopened, int | float) else 0,
            evidence=str(values["evidence"]) if values.get("evidence") else None,
            exception=values.get("exception") if isinstance(values.get("exception"), str)
            else None,
            until=day(values.get("until")),
            confirmed=confirmed,
        )


def state(finding_evidence: str, row: Row | None, today: date) -> tuple[Status, int]:
    """The status a failing finding should have, and its re-open count."""
    if row is None:
        return Status.OPEN, 0
    reopened = row.reopened
    status = Status.OPEN
    if row.exception == ACCEPT and row.evidence == finding_evidence and row.confirmed:
        status = Status.ACCEPTED
    elif row.exception == SNOOZE and row.until is not None and row.until >= today:
        status = Status.SNOOZED
    was = row.status
    if was in CLOSED:
        reopened += 1  # failing again: the same row re-opens
    elif was == Status.ACCEPTED and status is not Status.ACCEPTED:
        reopened += 1  # new offending values under an acceptance
    return status, reopened


def desired_fields(finding: Finding, row: Row | None, today: date, list_title: str
                   ) -> dict[str, Any]:
    """The written Befunde columns for a failing finding (keys: Befunde column keys)."""
    status, reopened = state(finding.evidence, row, today)
    first = row.first_seen if row is not None and row.first_seen else today
    message = finding.message
    if len(message) > TITLE_LIMIT:
        message = message[:TITLE_LIMIT - 1] + "…"
    link = Link(finding.link, finding.item_title or finding.link) if finding.link else None
    return {
        "message": message,
        "rule": finding.rule,
        "severity": finding.severity.label("de"),
        "link": link,
        "list": list_title,
        "item_title": finding.item_title,
        "owner": finding.owner if isinstance(finding.owner, Person) else None,
        "first_seen": first,
        "status": status.value,
        "closed_at": None,
        "reopened": reopened,
        "evidence": finding.evidence,
    }


def closing(row: Row, obsolete: bool, today: date) -> dict[str, Any] | None:
    """What to set on a row whose finding no longer fails (None: already closed).

    ``obsolete``: the item was deleted or the rule removed → Entfallen, else Behoben.
    """
    if row.status in CLOSED:
        return None
    status = Status.OBSOLETE if obsolete else Status.RESOLVED
    return {"status": status.value, "closed_at": today}


def parse_key(sync_key: str) -> tuple[str, str, str] | None:
    """``finding:<rule>:<list>:<item or group:hash>`` → (rule, list, item); None if not one."""
    if not sync_key.startswith(SYNC_PREFIX):
        return None
    parts = sync_key[len(SYNC_PREFIX):].split(":", 2)
    if len(parts) != 3:
        return None
    return parts[0], parts[1], parts[2]


def opening(finding_evidence: str, row: Row | None, today: date) -> int | None:
    """The finding's open count when this run opens it (new, re-opened after a fix, or
    an acceptance that no longer holds), else ``None`` (it stays as it was, or it is
    postponed or accepted). A snooze that ends is no new opening: it keeps its count, so
    the owner's notice of that opening is not sent again."""
    status, count = state(finding_evidence, row, today)
    if status is not Status.OPEN or (row is not None and row.status == Status.OPEN.value):
        return None
    return count
