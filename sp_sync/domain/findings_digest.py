"""The findings section of the weekly and personal digests (pure), from Befunde records.

Weekly (DTC team): findings new since the last digest, findings resolved since then, and
the open ones counted by severity and by list, each line with its link. Personal: the
recipient's own open findings (owner column), most severe first. Records are the Befunde
list's mirror, read through the mapping (column keys of ``[lists.findings]``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sp_sync.domain.findings import CLOSED, Status
from sp_sync.domain.model import Link, Person, Record

OPEN_STATES = frozenset({Status.OPEN.value})  # postponed and accepted ones are not nagged
SEVERITY_RANK = {"Fehler": 0, "Warnung": 1, "Hinweis": 2}


@dataclass(frozen=True)
class FindingLine:
    message: str
    severity: str  # Fehler / Warnung / Hinweis
    list: str
    status: str
    link: str | None
    item_title: str | None
    owner: str | None
    first_seen: date | None
    closed_at: date | None


@dataclass(frozen=True)
class FindingsDigest:
    new: tuple[FindingLine, ...]
    resolved: tuple[FindingLine, ...]
    open: tuple[FindingLine, ...]
    open_by_severity: tuple[tuple[str, int], ...]
    open_by_list: tuple[tuple[str, int], ...]

    @property
    def empty(self) -> bool:
        return not (self.new or self.resolved or self.open)


def line(rec: Record) -> FindingLine:
    v = rec.values
    link = v.get("link")
    owner = v.get("owner")
    first, closed = v.get("first_seen"), v.get("closed_at")
    return FindingLine(
        message=str(v.get("message") or ""),
        severity=str(v.get("severity") or ""),
        list=str(v.get("list") or ""),
        status=str(v.get("status") or ""),
        link=link.url if isinstance(link, Link) else None,
        item_title=str(v["item_title"]) if v.get("item_title") else None,
        owner=owner.name if isinstance(owner, Person) else None,
        first_seen=first if isinstance(first, date) else None,
        closed_at=closed if isinstance(closed, date) else None,
    )


def _order(f: FindingLine) -> tuple[int, str, str]:
    return (SEVERITY_RANK.get(f.severity, 9), f.list, f.message)


def weekly_findings(records: Iterable[Record], since: date | None) -> FindingsDigest:
    """New (first seen after ``since``), resolved (closed after ``since``) and open ones."""
    lines = [line(r) for r in records]
    open_ = sorted((f for f in lines if f.status in OPEN_STATES), key=_order)
    new = [f for f in open_ if since is None or (f.first_seen and f.first_seen > since)]
    resolved = sorted(
        (f for f in lines if f.status in CLOSED and f.closed_at is not None
         and (since is None or f.closed_at > since)), key=_order)
    sev = Counter(f.severity for f in open_)
    lists = Counter(f.list for f in open_)
    return FindingsDigest(
        new=tuple(new), resolved=tuple(resolved), open=tuple(open_),
        open_by_severity=tuple(sorted(sev.items(), key=lambda kv: SEVERITY_RANK.get(kv[0], 9))),
        open_by_list=tuple(sorted(lists.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def personal_findings(records: Iterable[Record], email: str) -> tuple[FindingLine, ...]:
    """The recipient's own open findings (owner by e-mail, case-insensitive)."""
    want = email.strip().lower()
    mine = [r for r in records
            if isinstance(p := r.values.get("owner"), Person) and (p.email or "").lower() == want]
    return tuple(sorted((f for f in map(line, mine) if f.status in OPEN_STATES), key=_order))
