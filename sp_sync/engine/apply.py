"""Apply a plan to a SharePoint list, keeping people's edits and avoiding duplicates.

* Update/delete always carry the item's real eTag. An action without one is re-read
  and re-planned first (never sent with ``*`` or nothing).
* CONFLICT (412: someone edited the item after we read it) → re-read the item, let
  the caller re-plan against it (nothing to do if the person's value already equals
  the desired one), retry once; a second conflict is recorded, never forced.
* AMBIGUOUS create (the server may have created it) → look the row up by SyncKey
  first; only if it is not there, create it once more. If SharePoint refuses the lookup
  (list view threshold: the SyncKey column is not indexed), the create stays unknown and is
  not retried — the next run plans from a fresh pull, so the row is never doubled.
  AMBIGUOUS update/delete → re-read and re-plan (an applied write has moved the eTag, so
  a blind repeat would just conflict).
* FAILED / THROTTLED → recorded for the run report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sp_sync.domain.model import (
    ActionKind,
    ListSpec,
    OutcomeStatus,
    RawItem,
    WriteAction,
    WriteOutcome,
)
from sp_sync.domain.plan import Plan
from sp_sync.errors import ThresholdExceeded
from sp_sync.ports import ListRef, ListSource, ListWriter

log = logging.getLogger(__name__)

Replan = Callable[[RawItem | None, WriteAction], WriteAction | None]


@dataclass
class ApplyResult:
    written: int = 0  # actions the list now reflects (incl. creates found after a 5xx)
    conflicts: list[WriteOutcome] = field(default_factory=list)
    failed: list[WriteOutcome] = field(default_factory=list)
    skipped: int = 0  # re-planned away: the list already had the desired value
    retried: int = 0
    created: list[RawItem] = field(default_factory=list)  # created items, as the server said

    def as_dict(self) -> dict[str, int]:
        return {
            "written": self.written, "conflicts": len(self.conflicts),
            "failed": len(self.failed), "skipped": self.skipped, "retried": self.retried,
        }


class _Apply:
    def __init__(
        self, source: ListSource, ref: ListRef, spec: ListSpec, replan: Replan
    ) -> None:
        self.source, self.ref, self.spec, self.replan = source, ref, spec, replan
        self.result = ApplyResult()

    def fresh(self, action: WriteAction) -> RawItem | None:
        if not action.item_id:
            return None
        return self.source.get_item(self.ref, action.item_id, self.spec.select)

    def sendable(self, action: WriteAction) -> bool:
        """Whether ``action`` may be sent (has an eTag unless a create); else failed."""
        if action.kind is not ActionKind.CREATE and not action.etag:
            self.result.failed.append(
                WriteOutcome(action, OutcomeStatus.FAILED, error="no eTag known for the item")
            )
            return False
        return True

    def prepare(self, action: WriteAction) -> WriteAction | None:
        if action.kind is ActionKind.CREATE or action.etag:
            return action
        again = self.replan(self.fresh(action), action)
        if again is None:
            self.result.skipped += 1
            return None
        return again if self.sendable(again) else None

    def handle(self, out: WriteOutcome, retry: list[WriteAction] | None) -> None:
        action, status = out.action, out.status
        if status is OutcomeStatus.OK:
            self.result.written += 1
            if action.kind is ActionKind.CREATE and out.item is not None:
                self.result.created.append(out.item)
        elif status is OutcomeStatus.CONFLICT:
            if retry is None:
                log.warning("conflict on %s %s: kept the person's edit", action.kind,
                            action.sync_key)
                self.result.conflicts.append(out)
                return
            again = self.replan(self.fresh(action), action)
            if again is None:
                self.result.skipped += 1  # the person's value already equals ours
            elif self.sendable(again):
                retry.append(again)
        elif status is OutcomeStatus.AMBIGUOUS:
            self.ambiguous(out, retry)
        else:
            self.result.failed.append(out)

    def ambiguous(self, out: WriteOutcome, retry: list[WriteAction] | None) -> None:
        action = out.action
        if action.kind is ActionKind.CREATE:
            key_col = self.spec.sync_key_column
            try:
                found = (
                    self.source.find_by_key(self.ref, key_col, action.sync_key,
                                            self.spec.select)
                    if key_col else None
                )
            except ThresholdExceeded as exc:
                # The SyncKey column is not indexed, so SharePoint refuses the lookup. Never
                # guess: the create is left unknown (not retried, so never doubled); the
                # next run pulls the list first and its plan sees whether the row exists.
                log.warning("could not look up %s after an unclear create (%s); the next run "
                            "decides from the list itself", action.sync_key, exc)
                self.result.failed.append(WriteOutcome(
                    action, OutcomeStatus.AMBIGUOUS,
                    error=f"{exc} — the create's outcome is unknown; the next run checks the "
                          f"list and does not create it twice. Index the column "
                          f"{key_col!r} of {self.ref.title!r} to settle this within the run",
                ))
                return
            if found is not None:
                self.result.written += 1  # the server did create it: no duplicate
                self.result.created.append(found)
            elif retry is not None and key_col:
                retry.append(action)
            else:
                self.result.failed.append(out)
            return
        if retry is None:
            self.result.failed.append(out)
            return
        again = self.replan(self.fresh(action), action)
        if again is None:
            self.result.written += 1  # the list already shows the write
        elif self.sendable(again):
            retry.append(again)


def apply_plan(
    writer: ListWriter,
    source: ListSource,
    ref: ListRef,
    spec: ListSpec,
    plan: Plan,
    replan: Replan,
) -> ApplyResult:
    """Send the plan's actions (the writer batches by 20); see the module docstring.

    ``replan(fresh_item_or_None, action)`` recomputes one action against the item as it
    is now: ``None`` when nothing is left to do, else the new action (with the fresh eTag).
    """
    run = _Apply(source, ref, spec, replan)
    first = [a for a in (run.prepare(a) for a in plan.actions) if a is not None]
    retry: list[WriteAction] = []
    if first:
        for out in writer.apply(ref, first):
            run.handle(out, retry)
    if retry:
        run.result.retried = len(retry)
        for out in writer.apply(ref, retry):
            run.handle(out, None)
    return run.result
