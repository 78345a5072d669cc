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
    list_url: str | None = None  # the Befunde list, for what a capped section leaves out

    @property
    def empty(self) -> bool:
        return not (self.new or self.resolved or self.open)

    def grouped(self, cap: int = 30) -> tuple[OpenGroup, ...]:
        """The open ones by severity (most severe first), then by list; at most ``cap``
        lines in all (``OpenGroup.more`` counts what a group leaves out)."""
        out: list[OpenGroup] = []
        left = cap
        for severity, count in self.open_by_severity:
            lines = [f for f in self.open if f.severity == severity]
            by_list: dict[str, list[FindingLine]] = {}
            for f in lines:
                by_list.setdefault(f.list, []).append(f)
            lists = []
            for name, items in by_list.items():
                shown = tuple(items[:max(left, 0)])
                left -= len(shown)
                lists.append(ListGroup(name, shown, len(items) - len(shown)))
            out.append(OpenGroup(severity, count, tuple(lists)))
        return tuple(out)

    @property
    def left_out(self) -> int:
        """Open lines :meth:`grouped` leaves out (with its default cap)."""
        return sum(lg.more for g in self.grouped() for lg in g.lists)


@dataclass(frozen=True)
class ListGroup:
    list: str
    lines: tuple[FindingLine, ...]
    more: int  # open findings of this list and severity left out by the cap


@dataclass(frozen=True)
class OpenGroup:
    severity: str
    count: int
    lists: tuple[ListGroup, ...]


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


def _list_url(records: list[Record]) -> str | None:
    """The Befunde list's address, from a row's (``…/Lists/Befunde/DispForm.aspx?ID=1``)."""
    for r in records:
        if r.web_url and "/DispForm.aspx" in r.web_url:
            return r.web_url.rsplit("/", 1)[0]
    return None


def weekly_findings(records: Iterable[Record], since: date | None) -> FindingsDigest:
    """New (first seen after ``since``), resolved (closed after ``since``) and open ones."""
    rows = list(records)
    lines = [line(r) for r in rows]
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
        list_url=_list_url(rows),
    )


def personal_findings(records: Iterable[Record], email: str) -> tuple[FindingLine, ...]:
    """The recipient's own open findings (owner by e-mail, case-insensitive)."""
    want = email.strip().lower()
    mine = [r for r in records
            if isinstance(p := r.values.get("owner"), Person) and (p.email or "").lower() == want]
    return tuple(sorted((f for f in map(line, mine) if f.status in OPEN_STATES), key=_order))
