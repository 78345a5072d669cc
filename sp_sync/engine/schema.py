"""Schema check before a pull: are the mapped columns still there, with their types?

Cost: one ``columns`` request per list at most once a day while the list is healthy —
a quiet run stays at one delta request per list. The healthy verdict is kept in the state
store (``ResolvedStore``, kind "schema", with the mapping's fingerprint and its age), so a
run in a fresh process (cron, systemd timer) does not check again either. A list *with*
problems is checked on every run (one more request, only while it is broken), so a fix in
SharePoint is picked up at once. A pull that fails in a way that suggests a schema change
(a 400 naming a field) forces a check too.

A problem only stops what depends on it: the list is pulled without the broken columns
(``pull_list(skip=…)`` keeps their last mirrored values), and the run ends "partial"
with one message per problem that names the config line to fix.
"""

from __future__ import annotations

import hashlib
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
    StoreError,
    ThresholdExceeded,
    TransientError,
)
from sp_sync.ports import ListRef, ListSource, ResolvedStore, StateStore

log = logging.getLogger(__name__)

CHECK_EVERY = timedelta(days=1)
KEPT_KIND = "schema"
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
        force: bool = False, kept: ResolvedStore | None = None,
    ) -> list[SchemaProblem]:
        """The list's problems; checks its columns when due. ``kept``: where healthy
        verdicts outlive the process (the state store)."""
        last = self.checked.get(spec.key)
        if last is not None and last.spec != spec:
            last = None
        if last is None and not force and kept is not None:
            last = self._kept(kept, spec)
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
        if kept is not None:
            # Only a healthy verdict is kept: a list with problems is checked every run.
            try:
                if found:
                    kept.drop_resolved(KEPT_KIND, [spec.key])
                else:
                    kept.put_resolved(KEPT_KIND, {spec.key: {"spec": fingerprint(spec)}}, now)
            except StoreError as exc:  # costs a columns request next time, nothing more
                log.warning("could not keep the schema verdict of %s: %s", spec.key, exc)
        for problem in found:
            log.warning("schema: %s", problem.message)
        return found

    def _kept(self, kept: ResolvedStore, spec: ListSpec) -> _Checked | None:
        """A healthy verdict another process left for this very mapping of the list."""
        try:
            found = kept.resolved(KEPT_KIND, spec.key)
        except StoreError as exc:
            log.warning("could not read the kept schema verdict of %s: %s", spec.key, exc)
            return None
        if (found is None or not isinstance(found.value, dict)
                or found.value.get("spec") != fingerprint(spec)):
            return None
        checked = self.checked[spec.key] = _Checked(spec, found.at, ())
        return checked


def fingerprint(spec: ListSpec) -> str:
    """Stable across processes (every part of a ``ListSpec`` has a deterministic repr):
    a verdict kept for another mapping of the list does not count."""
    return hashlib.sha256(repr(spec).encode("utf-8")).hexdigest()[:24]


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
    problems = guard.problems(source, spec, ref, now, kept=store)
    opts: dict[str, Any] = {"allow_mass_delete": allow_mass_delete,
                            "mass_delete_share": mass_delete_share}
    try:
        return pull_list(source, store, spec, ref, now, full=full, skip=_skip(problems),
                         **opts), problems
    except GraphError as exc:
        if not suggests_schema_change(exc):
            raise
        log.warning("pull of %s failed (%s): checking its columns", spec.key, exc)
        fresh = guard.problems(source, spec, ref, now, force=True, kept=store)
        if _skip(fresh) <= _skip(problems):
            raise  # nothing more to leave out: not a schema problem we can work around
        return pull_list(source, store, spec, ref, now, full=full, skip=_skip(fresh),
                         **opts), fresh


def schema_message(problems: Sequence[SchemaProblem]) -> str:
    """The run's message: every problem, and what sp-sync did meanwhile."""
    return (f"{len(problems)} mapped column(s) do not match SharePoint; they were not read "
            "(their last mirrored values are kept): " + "; ".join(p.message for p in problems))
