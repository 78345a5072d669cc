"""Personal weekly digests (pure): only a person's own items, only when there is news.

Project leads (the projects' ``lead``) get their projects' changes and open points
(overdue milestones, red or yellow lights). IT coordinators (the departments'
``coordinator``) get their department's project changes, registrations for trainings
ahead, open action items and the next round table's agenda. Both get their own open
findings (the Befunde rows whose owner they are), and open findings alone are news
enough for a digest. Addresses on the opt-out
list get nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sp_sync.domain.digest import (
    WINDOW_DAYS,
    ActionItem,
    DisplayFn,
    ListChanges,
    Milestone,
    RoundTableInfo,
    build_milestones,
    lookup_id,
    make_display,
    net_changes,
    next_round_table,
    open_actions,
    person_email,
    person_name,
    text,
    title_of,
)
from sp_sync.domain.findings_digest import FindingLine, personal_findings
from sp_sync.domain.model import FieldChange, Record


@dataclass(frozen=True)
class ProjectLine:
    title: str
    number: str | None
    status: str | None
    traffic_light: str | None
    next_milestone: str | None
    web_url: str | None


@dataclass(frozen=True)
class RegistrationLine:
    participant: str | None
    training: str
    start: datetime | None
    status: str | None
    web_url: str | None


@dataclass(frozen=True)
class LeadDigest:
    recipient: str  # e-mail, lower case
    name: str
    period: str
    projects: tuple[ProjectLine, ...]
    changes: tuple[ListChanges, ...]
    overdue: tuple[Milestone, ...]
    attention: tuple[ProjectLine, ...]  # red or yellow lights, red first
    kind: str = "lead"
    findings: tuple[FindingLine, ...] = ()  # the recipient's own open findings (Befunde)


@dataclass(frozen=True)
class CoordinatorDigest:
    recipient: str
    name: str
    period: str
    departments: tuple[str, ...]
    projects: tuple[ProjectLine, ...]
    changes: tuple[ListChanges, ...]
    overdue: tuple[Milestone, ...]
    registrations: tuple[RegistrationLine, ...]
    actions: tuple[ActionItem, ...]
    round_table: RoundTableInfo | None
    kind: str = "coordinator"
    findings: tuple[FindingLine, ...] = ()  # the recipient's own open findings (Befunde)


def _line(p: Record) -> ProjectLine:
    return ProjectLine(title_of(p), text(p.get("number")), text(p.get("status")),
                       text(p.get("traffic_light")), text(p.get("next_milestone")), p.web_url)


def _opted_out(email: str, opt_out: Collection[str]) -> bool:
    return email in {o.strip().lower() for o in opt_out}


def build_lead_digests(
    records: Mapping[str, Sequence[Record]],
    changes: Sequence[FieldChange],
    period: str,
    now: datetime,
    tz: str,
    since: datetime,
    display: DisplayFn | None = None,
    opt_out: Collection[str] = (),
) -> list[LeadDigest]:
    """One digest per project lead with something to say, ordered by address."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    show = display or make_display(records, tz)
    by_lead: dict[str, list[Record]] = defaultdict(list)
    names: dict[str, str] = {}
    for p in records.get("projects", ()):
        email = person_email(p.get("lead"))
        if email and not _opted_out(email, opt_out):
            by_lead[email].append(p)
            names[email] = person_name(p.get("lead")) or email
    out = []
    for email in sorted(by_lead):
        mine = by_lead[email]
        ids = {p.id for p in mine}

        def keep_lead(_list_key: str, item_id: str, ids: set[str] = ids) -> bool:
            return item_id in ids

        delta = net_changes(changes, records, show, since=since, lists=("projects",),
                            keep=keep_lead)
        overdue = tuple(m for m in build_milestones(mine, today, zone) if m.overdue)
        attention = tuple(
            _line(p) for p in sorted(mine, key=lambda p: (p.get("traffic_light") != "Rot",
                                                          title_of(p)))
            if p.get("traffic_light") in ("Rot", "Gelb")
            and p.get("status") not in ("Abgeschlossen", "Abgebrochen")
        )
        findings = personal_findings(records.get("findings", ()), email)
        if not (delta or overdue or attention or findings):
            continue
        out.append(LeadDigest(
            recipient=email, name=names[email], period=period,
            projects=tuple(_line(p) for p in sorted(mine, key=title_of)),
            changes=delta, overdue=overdue, attention=attention, findings=findings,
        ))
    return out


def build_coordinator_digests(
    records: Mapping[str, Sequence[Record]],
    changes: Sequence[FieldChange],
    period: str,
    now: datetime,
    tz: str,
    since: datetime,
    display: DisplayFn | None = None,
    opt_out: Collection[str] = (),
    window_days: int = WINDOW_DAYS,
) -> list[CoordinatorDigest]:
    """One digest per IT coordinator of an active department, when there is news."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    show = display or make_display(records, tz)
    depts: dict[str, list[Record]] = defaultdict(list)
    names: dict[str, str] = {}
    for d in records.get("departments", ()):
        email = person_email(d.get("coordinator"))
        if email and d.get("active") is not False and not _opted_out(email, opt_out):
            depts[email].append(d)
            names[email] = person_name(d.get("coordinator")) or email
    trainings = {t.id: t for t in records.get("trainings", ())}
    round_table = next_round_table(records, now)
    actions = open_actions(records, now, zone)
    horizon = now + timedelta(days=window_days)
    out = []
    for email in sorted(depts):
        dept_ids = {int(d.id) for d in depts[email] if d.id.isdigit()}
        projects = [p for p in records.get("projects", ())
                    if lookup_id(p.get("department")) in dept_ids]
        project_ids = {p.id for p in projects}
        reg_ids = {r.id for r in records.get("registrations", ())
                   if lookup_id(r.get("department")) in dept_ids}

        def keep(list_key: str, item_id: str, p: set[str] = project_ids,
                 r: set[str] = reg_ids) -> bool:
            return item_id in (p if list_key == "projects" else r)

        delta = net_changes(changes, records, show, since=since,
                            lists=("projects", "registrations"), keep=keep)
        regs = []
        for r in records.get("registrations", ()):
            if r.id not in reg_ids:
                continue
            t = trainings.get(str(lookup_id(r.get("training"))))
            start = t.get("start") if t is not None else None
            if t is not None and isinstance(start, datetime) and now <= start <= horizon:
                regs.append(RegistrationLine(person_name(r.get("participant")), title_of(t),
                                             start, text(r.get("status")), r.web_url))
        mine = tuple(a for a in actions if a.department_id in dept_ids)
        overdue = tuple(m for m in build_milestones(projects, today, zone) if m.overdue)
        findings = personal_findings(records.get("findings", ()), email)
        if not (delta or mine or overdue or findings):
            continue
        out.append(CoordinatorDigest(
            recipient=email, name=names[email], period=period,
            departments=tuple(sorted(title_of(d) for d in depts[email])),
            projects=tuple(_line(p) for p in sorted(projects, key=title_of)),
            changes=delta, overdue=overdue,
            registrations=tuple(sorted(regs, key=lambda r: (r.start or now, r.training))),
            actions=mine, round_table=round_table, findings=findings,
        ))
    return out

