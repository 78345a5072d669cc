"""The run history as rows of a SharePoint list (kind ``runlog``): pure, no I/O.

One row per finished run, keyed ``run:<run id>``. A row is kept while its run began
within the retention window (``keep_days`` before now); older rows are no longer wanted
and the write pipeline deletes them. The retention is decided by the row's own start,
not by whether the state store still holds the run, so a new or restored state store
never empties the list: a row whose run the store no longer knows stays as it is until
it ages out (:func:`still_kept`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sp_sync.domain.model import RunRecord, Value

PREFIX = "run:"
FINISHED = ("ok", "partial", "failed")  # "running" runs get their row once finished
STATUS_LABELS_DE: dict[str, str] = {"ok": "OK", "partial": "Teilweise",
                                    "failed": "Fehlgeschlagen"}
STATUS_LABELS_EN: dict[str, str] = {"ok": "OK", "partial": "Partial", "failed": "Failed"}

# Column keys of the run-log list (config/lists.toml [lists.run_log]) the kind writes.
# A site's own list may leave out all but REQUIRED; the kind writes what the list has.
COLUMNS = ("job", "run_id", "started", "finished", "seconds", "status", "status_code",
           "message", "requests", "writes", "mails", "dry_run")
REQUIRED = ("job", "started", "status")
TEXT_LIMIT = 255  # a single-line text column holds 255 characters
NOTE_LIMIT = 10_000  # a multi-line column holds more; a row stays readable in a view


def run_key(run_id: int) -> str:
    return f"{PREFIX}{run_id}"


def cutoff(now: datetime, keep_days: int) -> datetime:
    """Runs that began before this are no longer kept."""
    return now - timedelta(days=keep_days)


def figure(stats: Mapping[str, Any], *names: str) -> int:
    """The first of ``names`` that ``stats`` holds as a number, as an int (else 0).

    Run figures come from the run's meter (``requests``, ``writes``: write requests
    SharePoint accepted) and its report (``written``, ``sent`` …); older runs may lack
    a figure that newer ones record.
    """
    for name in names:
        value = stats.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return 0


def shorten(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_fields(run: RunRecord, labels: Mapping[str, str],
               message_limit: int = NOTE_LIMIT) -> dict[str, Value]:
    """The row of one finished run, by column key (typed values)."""
    stats = run.stats
    seconds: float | None = None
    if run.finished_at is not None:
        seconds = round((run.finished_at - run.started_at).total_seconds(), 1)
    return {
        "job": run.job,
        "run_id": run.id,
        "started": run.started_at,
        "finished": run.finished_at,
        "seconds": seconds,
        "status": labels.get(run.status, run.status),
        "status_code": run.status,
        "message": shorten(run.message, message_limit),
        "requests": figure(stats, "requests"),
        "writes": figure(stats, "writes", "written"),
        "mails": figure(stats, "sent"),
        "dry_run": bool(stats.get("dry_run")),
    }


def wanted_runs(runs: list[RunRecord], since: datetime) -> list[RunRecord]:
    """The runs that get a row: finished and begun at or after ``since``."""
    return [r for r in runs if r.status in FINISHED and r.started_at >= since]


def still_kept(started: Value, since: datetime) -> bool:
    """Whether a row the store knows no run for stays: only while it is young enough.
    A row without a readable start cannot age out and is not kept."""
    return isinstance(started, datetime) and started >= since
