"""Run the list-to-list copy producer through the write pipeline, outside the runner.

The engine tests drive the pipeline with their own ports (the in-memory SharePoint, a
recording store, the emulator's Graph adapter); this builds the run context they need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sp_sync.adapters.store.scratch import ScratchStore
from sp_sync.clock import FixedClock
from sp_sync.domain.model import ListMapping, ListSpec
from sp_sync.engine.context import RunContext, Services
from sp_sync.engine.pipeline import WriteResult, write
from sp_sync.engine.pull import PullResult
from sp_sync.errors import MassDeleteRefused
from sp_sync.kinds import KINDS
from sp_sync.kinds.sync import SyncParams, copy_producer
from sp_sync.ports import Clock, ListRef, ListSource, ListWriter, RequestStats, StateStore

JOB = "public-projects"  # SyncKeys are "copy:public-projects:<key>"


def services_for(
    mapping: ListMapping, source: ListSource, writer: ListWriter, store: StateStore,
    refs: Callable[[ListSpec], ListRef], tz: ZoneInfo, clock: Clock,
) -> Services:
    return Services(mapping=mapping, store=store, source=source, writer=writer, clock=clock,
                    tz=tz, site_url=refs(mapping.lists[0]).site_url, stats=RequestStats(),
                    scratch_store=ScratchStore, kinds=KINDS)


@dataclass
class CopyRun:
    """The producer's write result, plus the pulls the run made."""

    result: WriteResult
    pulls: dict[str, PullResult]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.result, name)


def run_copy(
    params: SyncParams, mapping: ListMapping, source: ListSource, writer: ListWriter,
    store: StateStore, refs: Callable[[ListSpec], ListRef], tz: ZoneInfo, now: datetime,
    dry_run: bool = False, allow_mass_delete: bool = False,
) -> CopyRun:
    """One copy run; raises MassDeleteRefused (nothing written) when the guard stops it."""
    svc = services_for(mapping, source, writer, store, refs, tz, FixedClock(now))
    ctx = RunContext(JOB, svc, now, ScratchStore(store) if dry_run else store,
                     dry_run=dry_run, allow_mass_delete=allow_mass_delete)
    [result] = write(ctx, [copy_producer(ctx, JOB, params)])
    if result.refused:
        raise MassDeleteRefused(result.refused)
    return CopyRun(result, ctx.pulls)
