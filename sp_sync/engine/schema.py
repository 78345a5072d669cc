"""Schema check before a pull: are the mapped columns still there, with their types?

Cost: one ``columns`` request per list, on the first pull of the list in a process,
then at most once a day while the list is healthy — a quiet run stays at one delta
request per list. A list *with* problems is checked on every run (one more request,
only while it is broken), so a fix in SharePoint is picked up at once. A pull that fails
in a way that suggests a schema change (a 400 naming a field) forces a check too.

A problem only stops what depends on it: the list is pulled without the broken columns
(``pull_list(skip=…)`` keeps their last mirrored values), and the run ends "partial"
with one message per problem that names the config line to fix.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sp_sync.domain.model import ListSpec
from sp_sync.domain.schema import SchemaProblem, check_columns
from sp_sync.engine.pull import MASS_DELETE_SHARE, PullResult, pull_list
from sp_sync.errors import (
    AuthError,
    BudgetExhausted,
    CursorExpired,
    GraphError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    SpSyncError,
    ThresholdExceeded,
    TransientError,
)
from sp_sync.ports import ListRef, ListSource, StateStore

log = logging.getLogger(__name__)

CHECK_EVERY = timedelta(days=1)
_NOT_SCHEMA = (NotFound, PermissionDenied, PreconditionFailed, CursorExpired,
               ThresholdExceeded, TransientError)


@dataclass(frozen=True)
class _Checked:
    spec: ListSpec  # a changed mapping (config reload) is checked again
    at: datetime
    problems: tuple[SchemaProblem, ...]


@dataclass
class SchemaGuard:
    """When each list's columns were last checked, and what was found (per process)."""

    every: timedelta = CHECK_EVERY
    checked: dict[str, _Checked] = field(default_factory=dict)

    def problems(
        self, source: ListSource, spec: ListSpec, ref: ListRef, now: datetime,
        force: bool = False,
    ) -> list[SchemaProblem]:
        last = self.checked.get(spec.key)
        if last is not None and last.spec != spec:
            last = None
        if (not force and last is not None and not last.problems
                and now - last.at < self.every):
            return []
        try:
            columns = source.columns(ref)
        except (AuthError, BudgetExhausted):
            raise
        except SpSyncError as exc:  # the pull itself will say what is wrong with the list
            log.warning("could not read the columns of %s (%s); pulling without a check",
                        spec.key, exc)
            return list(last.problems) if last is not None else []
        found = check_columns(spec, columns)
        self.checked[spec.key] = _Checked(spec, now, tuple(found))
        for problem in found:
            log.warning("schema: %s", problem.message)
        return found


_GUARDS: WeakKeyDictionary[ListSource, SchemaGuard] = WeakKeyDictionary()


def guard_for(source: ListSource) -> SchemaGuard:
    """The guard of one source connection: one per process in the daemon and the CLI."""
    try:
        guard = _GUARDS.get(source)
        if guard is None:
            guard = _GUARDS[source] = SchemaGuard()
    except TypeError:  # not weakly referenceable: check every time rather than never
        return SchemaGuard()
    return guard


def suggests_schema_change(exc: SpSyncError) -> bool:
    """A request refused for good (400) naming a field or column."""
    if not isinstance(exc, GraphError) or isinstance(exc, _NOT_SCHEMA):
        return False
    text = str(exc).lower()
    return exc.status == 400 or any(w in text for w in ("field", "column"))


def _skip(problems: Sequence[SchemaProblem]) -> frozenset[str]:
    return frozenset(p.column_key for p in problems)


def pull_checked(
    source: ListSource, store: StateStore, spec: ListSpec, ref: ListRef, now: datetime,
    full: bool = False, guard: SchemaGuard | None = None, *,
    allow_mass_delete: bool = False, mass_delete_share: float = MASS_DELETE_SHARE,
) -> tuple[PullResult, list[SchemaProblem]]:
    """Check the list's columns (when due), then pull it without the broken ones
    (``allow_mass_delete``/``mass_delete_share``: see :func:`pull_list`)."""
    guard = guard or guard_for(source)
    problems = guard.problems(source, spec, ref, now)
    opts: dict[str, Any] = {"allow_mass_delete": allow_mass_delete,
                            "mass_delete_share": mass_delete_share}
    try:
        return pull_list(source, store, spec, ref, now, full=full, skip=_skip(problems),
                         **opts), problems
    except GraphError as exc:
        if not suggests_schema_change(exc):
            raise
        log.warning("pull of %s failed (%s): checking its columns", spec.key, exc)
        fresh = guard.problems(source, spec, ref, now, force=True)
        if _skip(fresh) <= _skip(problems):
            raise  # nothing more to leave out: not a schema problem we can work around
        return pull_list(source, store, spec, ref, now, full=full, skip=_skip(fresh),
                         **opts), fresh


def schema_message(problems: Sequence[SchemaProblem]) -> str:
    """The run's message: every problem, and what sp-sync did meanwhile."""
    return (f"{len(problems)} mapped column(s) do not match SharePoint; they were not read "
            "(their last mirrored values are kept): " + "; ".join(p.message for p in problems))
