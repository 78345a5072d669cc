"""Job kinds, one module each; this registry is the only list of them.

Adding a kind: write its module (params model, check, run) and add it here. Job files,
``sp-sync jobs``, ``check`` and the runner learn about it from :data:`KINDS`.
"""

from __future__ import annotations

from typing import Any

from sp_sync.kinds import mail, pull, rollup, roundtables, sync, trainings, validate
from sp_sync.kinds.base import JobKind
from sp_sync.kinds.runlog import KIND as RUNLOG

KINDS: dict[str, JobKind[Any]] = {
    kind.name: kind for kind in (pull.KIND, sync.KIND, mail.DIGEST, mail.REMINDERS,
                                 rollup.KIND, roundtables.KIND, trainings.KIND, validate.KIND)
}
KINDS[RUNLOG.name] = RUNLOG  # the run history list (SyncProtokoll), issue 13
