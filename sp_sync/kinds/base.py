"""What a job kind is: a params model, its check against the list mapping, and ``run``.

A kind is one module in this package with one :class:`JobKind` instance, registered in
``sp_sync.kinds.KINDS``. Job files (``sp_sync.config.jobs``) choose the params model by
``kind``; the runner (``sp_sync.engine.runner``) records the run and maps errors; nothing
else switches on the kind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from sp_sync.domain.model import ListMapping, ListSpec
from sp_sync.domain.model import Report as Report  # what the kinds check with
from sp_sync.engine.context import RunContext


class KindParams(BaseModel):
    """Base of every kind's ``[params]`` model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class CheckEnv:
    """What checking params may consult besides the file: the mapping and settings."""

    mapping: ListMapping
    timezone: str = "Europe/Berlin"
    dtc_recipients: tuple[str, ...] = ()

    @property
    def known_lists(self) -> str:
        return ", ".join(s.key for s in self.mapping.lists)

    def unknown_list(self, bad: Report, key: str, value: str) -> bool:
        """Report ``value`` at ``key`` if it is no list key of the mapping."""
        if value in self.mapping:
            return False
        bad(key, f"unknown list {value!r}", f"use a list key from the mapping: {self.known_lists}")
        return True

    def target_list(self, bad: Report, key: str, value: str, writer: str) -> ListSpec | None:
        """The list at ``key``, checked as one sp-sync writes through the pipeline: role =
        "target" and a sync_key (a problem is reported, and the list still returned so
        the caller reports the rest at once); ``None`` for a list the mapping lacks.
        ``writer`` names the kind in the hint."""
        if self.unknown_list(bad, key, value):
            return None
        spec = self.mapping.get(value)
        if spec.role != "target":
            bad(key, f"list {value!r} has role {spec.role!r}",
                f'{writer} only writes lists with role = "target" in the mapping')
        else:
            needs_sync_key(bad, key, spec)
        return spec


def needs_sync_key(bad: Report, key: str, spec: ListSpec) -> bool:
    """Report ``spec`` at ``key`` if it has no sync_key (sp-sync finds its rows by it)."""
    if spec.sync_key_column:
        return False
    bad(key, f"list {spec.key!r} has no sync_key",
        f'add sync_key = "SyncKey" to [lists.{spec.key}] and run sp-sync provision')
    return True


P = TypeVar("P", bound=KindParams)


class JobKind(ABC, Generic[P]):
    """One kind of job (see the module docstring)."""

    name: ClassVar[str]
    params_model: type[P]
    summary: ClassVar[str]  # one line for ``sp-sync jobs`` and the docs
    sends_mail: ClassVar[bool] = False
    writes_lists: ClassVar[bool] = False

    def check(self, params: P, env: CheckEnv, bad: Report) -> P:
        """Cross-check params against the mapping; report problems with ``bad``; return
        the params with defaults that depend on the mapping or settings filled in."""
        return params

    def freshens(self, params: P) -> list[str]:
        """Lists a run of this job brings up to date (pulls): the daemon's readiness
        expects them fresh while the job is enabled."""
        return []

    def list_refs(self, raw: dict[str, object]) -> list[tuple[str, object]]:
        """(params key, value) of list keys in raw params, to name unknown lists even when
        other params failed validation (every problem at once)."""
        return []

    @abstractmethod
    def run(self, ctx: RunContext, params: P) -> None:
        """Do the job: figures, details and problems go into ``ctx.report``; a dry run
        (``ctx.dry_run``) computes everything and changes nothing outside the process.
        Raises ``SpSyncError`` subclasses for what stops it (the runner maps them)."""
