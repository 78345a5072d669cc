"""What a job run works with: the shared services and a context of its own.

:class:`Services` are built once per process (``sp_sync.app.wiring``) and shared by every
run, also by two runs that overlap on the daemon's worker threads. Everything that
belongs to one run lives in its :class:`RunContext`: its clock reading, its dry-run flag,
its meter (requests, resource units and time budget, see :class:`~sp_sync.ports.RunMeter`),
the store it may change (the real one, or a scratch copy for a dry run) and its report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sp_sync.domain.model import ListMapping, ListSpec
from sp_sync.engine.pull import PullResult
from sp_sync.ports import (
    Clock,
    ListAdmin,
    ListRef,
    ListSource,
    ListWriter,
    Renderer,
    RequestStats,
    RunMeter,
    StateStore,
)


class MailJobs(Protocol):
    """What mail job kinds need from the mail side (wired in ``sp_sync.app``)."""

    def run(self, job_name: str, params: Any, now: datetime,
            dry_run: bool = False) -> dict[str, Any]:
        """Send what is due for the job (its params say how; a dry run: plan and preview
        only, nothing sent or recorded); returns figures such as {"sent": 1, "late": 0}."""
        ...


class Kind(Protocol):
    """A job kind as the runner sees it (the kinds live in ``sp_sync.kinds``)."""

    def run(self, ctx: RunContext, params: Any) -> None: ...


@dataclass
class Services:
    """Everything runs share, as ports (adapters are chosen in ``sp_sync.app.wiring``)."""

    mapping: ListMapping
    store: StateStore
    source: ListSource
    writer: ListWriter
    clock: Clock
    tz: ZoneInfo
    site_url: str
    stats: RequestStats  # the adapters' lifetime totals (each run has its own meter)
    mail_jobs: MailJobs | None = None
    admin: ListAdmin | None = None
    renderer: Renderer | None = None  # mails and calendar files (``sp_sync.render``)
    # A dry run's store: reads the real one, keeps every change in memory.
    scratch_store: Callable[[StateStore], StateStore] | None = None
    kinds: Mapping[str, Kind] = field(default_factory=dict)  # the registry, by kind name
    on_run: list[Callable[[str, str, dict[str, Any]], None]] = field(default_factory=list)

    def ref(self, spec: ListSpec) -> ListRef:
        return ListRef(site_url=spec.site_url or self.site_url, title=spec.title)


@dataclass
class RunReport:
    """What a run tells the run history and the person who started it."""

    figures: dict[str, Any] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)  # one line per notable thing
    plan: list[str] = field(default_factory=list)  # the plan text (writers) or mail plan
    problems: list[str] = field(default_factory=list)  # partial: what did not go through
    failures: list[str] = field(default_factory=list)  # failed: what stopped a part

    def add(self, **counts: int) -> None:
        for name, amount in counts.items():
            self.figures[name] = self.figures.get(name, 0) + amount

    def plan_mail(self, period: str, recipient: str, subject: str, late: bool = False) -> None:
        """One mail a dry run would send, in the one plan-line form every mail kind uses."""
        self.plan.append(f"mail {period} → {recipient}: {subject}{' (late)' if late else ''}")


@dataclass
class RunContext:
    """One job run (see the module docstring)."""

    job: str
    services: Services
    now: datetime
    store: StateStore
    meter: RunMeter = field(default_factory=RunMeter)
    dry_run: bool = False
    allow_mass_delete: bool = False
    report: RunReport = field(default_factory=RunReport)
    pulls: dict[str, PullResult] = field(default_factory=dict)  # lists pulled in this run

    @property
    def mapping(self) -> ListMapping:
        return self.services.mapping

    @property
    def source(self) -> ListSource:
        return self.services.source

    @property
    def writer(self) -> ListWriter:
        return self.services.writer

    @property
    def tz(self) -> ZoneInfo:
        return self.services.tz

    def ref(self, spec: ListSpec) -> ListRef:
        return self.services.ref(spec)
