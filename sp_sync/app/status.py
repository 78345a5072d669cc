"""``sp-sync status``, ``runs``, ``runs show``: what the service did, read from the state store.

Read-only (``open_store(read_only=True)``), so it works while the daemon runs. Times are
shown in the configured zone (Europe/Berlin) with their offset; tables never cut a name:
columns fold instead of truncating and the console is wide when output is not a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from sp_sync.domain.model import RunRecord
from sp_sync.ports import StateStore

WIDE = 250  # columns for a pipe or a file: wide enough that rows stay one line


def out_console() -> Console:
    console = Console()
    if not console.is_terminal:
        console = Console(width=WIDE)
    return console


def table(*headers: str, title: str | None = None) -> Table:
    t = Table(title=title, title_justify="left")
    for h in headers:
        t.add_column(h, no_wrap=False, overflow="fold")
    return t


def local(at: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 in ``tz`` with its offset, seconds precision (None stays None)."""
    return at.astimezone(tz).isoformat(timespec="seconds") if at else None


def age(at: datetime | None, now: datetime) -> str | None:
    if at is None:
        return None
    seconds = int((now - at).total_seconds())
    if seconds < 0:
        return "0s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


# --------------------------------------------------------------------------- runs


def run_dict(r: RunRecord, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": r.id,
        "job": r.job,
        "started_at": local(r.started_at, tz),
        "finished_at": local(r.finished_at, tz),
        "duration_s": (round((r.finished_at - r.started_at).total_seconds(), 1)
                       if r.finished_at else None),
        "status": f"{r.status} (dry run)" if r.stats.get("dry_run") else r.status,
        "dry_run": bool(r.stats.get("dry_run")),
        "message": r.message,
        "stats": r.stats,
    }


def runs_table(rows: Sequence[dict[str, Any]]) -> Table:
    t = table("id", "job", "started", "took", "status", "requests", "RU", "message")
    for r in rows:
        stats = r["stats"] or {}
        took = f"{r['duration_s']}s" if r["duration_s"] is not None else "-"
        t.add_row(str(r["id"]), r["job"], r["started_at"], took, r["status"],
                  str(stats.get("requests", "")), str(stats.get("resource_units", "")),
                  r["message"] or "")
    return t


def find_run(store: StateStore, run_id: int) -> RunRecord | None:
    """A run by id (the store has no lookup by id; runs are few, the newest are scanned)."""
    for r in store.runs(None, 100_000):
        if r.id == run_id:
            return r
    return None


def run_detail(r: RunRecord, tz: ZoneInfo) -> Table:
    d = run_dict(r, tz)
    t = table("field", "value", title=f"run {r.id}")
    for key in ("id", "job", "status", "started_at", "finished_at", "duration_s", "message"):
        t.add_row(key, "" if d[key] is None else str(d[key]))
    for key, value in sorted((r.stats or {}).items()):
        t.add_row(f"stats.{key}", json.dumps(value, ensure_ascii=False)
                  if not isinstance(value, str) else value)
    return t


# --------------------------------------------------------------------------- status


def job_status(
    store: StateStore, jobs: Sequence[Any], next_runs: dict[str, datetime | None],
    tz: ZoneInfo,
) -> list[dict[str, Any]]:
    rows = []
    for job in jobs:
        # newest first; dry runs changed nothing, so they neither succeed nor fail a job
        history = [r for r in store.runs(job.name, 500) if not r.stats.get("dry_run")]
        last = history[0] if history else None
        last_ok = next((r for r in history if r.status == "ok"), None)
        failing_since: datetime | None = None
        for r in history:
            if r.status in ("ok", "running"):
                if r.status == "ok":
                    break
                continue
            failing_since = r.started_at  # walks back to the first failure after the last ok
        rows.append({
            "job": job.name,
            "kind": job.kind,
            "enabled": job.enabled,
            "last_run": local(last.started_at, tz) if last else None,
            "last_status": last.status if last else None,
            "last_message": last.message if last else None,
            "last_success": local(last_ok.finished_at or last_ok.started_at, tz)
            if last_ok else None,
            "failing_since": local(failing_since, tz),
            "next_run": local(next_runs.get(job.name), tz),
        })
    return rows


def list_status(store: StateStore, mapping: Any, now: datetime, tz: ZoneInfo
                ) -> list[dict[str, Any]]:
    rows = []
    for spec in mapping.lists:
        synced = store.last_synced(spec.key)
        rows.append({
            "list": spec.key,
            "title": spec.title,
            "role": spec.role,
            "items": store.count(spec.key),
            "last_synced": local(synced, tz),
            "cursor": store.cursor(spec.key) is not None,
            "cursor_age": age(synced, now),
        })
    return rows


def collect(store: StateStore, config: Any, now: datetime) -> dict[str, Any]:
    from sp_sync.app.scheduling import next_runs

    tz = config.settings.zone
    nxt = next_runs(config.jobs, tz, now)
    pending = store.outbox_pending()
    return {
        "now": local(now, tz),
        "jobs": job_status(store, config.jobs, nxt, tz),
        "lists": list_status(store, config.mapping, now, tz),
        "mails_pending": len(pending),
        "mails_pending_by_job": _by_job(pending),
        "open_findings": open_findings(store, config.mapping),
    }


def open_findings(store: StateStore, mapping: Any) -> dict[str, int]:
    """Open findings in the mirrored Befunde list, by severity (empty without the list)."""
    if "findings" not in mapping:
        return {}
    spec = mapping.get("findings")
    cols = {c.key: c.field_name for c in spec.columns}
    status, severity = cols.get("status"), cols.get("severity")
    if status is None or severity is None:
        return {}
    counts: dict[str, int] = {}
    for item in store.items("findings"):
        if item.fields.get(status) == "Offen":
            label = str(item.fields.get(severity) or "?")
            counts[label] = counts.get(label, 0) + 1
    return counts


def _by_job(entries: Sequence[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.job] = counts.get(e.job, 0) + 1
    return counts


def render(console: Console, data: dict[str, Any]) -> None:
    jobs = table("job", "kind", "last run", "status", "last success", "failing since",
                 "next run", title="jobs")
    for j in data["jobs"]:
        jobs.add_row(j["job"], j["kind"], j["last_run"] or "never", j["last_status"] or "-",
                     j["last_success"] or "never", j["failing_since"] or "-",
                     j["next_run"] or ("disabled" if not j["enabled"] else "-"))
    console.print(jobs)
    lists = table("list", "title", "role", "items", "last synced", "cursor age", title="lists")
    for r in data["lists"]:
        lists.add_row(r["list"], r["title"], r["role"], str(r["items"]),
                      r["last_synced"] or "never", r["cursor_age"] or "-")
    console.print(lists)
    by_job = ", ".join(f"{k}: {v}" for k, v in sorted(data["mails_pending_by_job"].items()))
    console.print(f"mails pending: {data['mails_pending']}" + (f" ({by_job})" if by_job else ""),
                  markup=False, highlight=False)
    found = data.get("open_findings") or {}
    console.print("open findings: " + (", ".join(f"{k} {v}" for k, v in sorted(found.items()))
                                       if found else "none"), markup=False, highlight=False)
    failing = [j for j in data["jobs"] if j["failing_since"]]
    for j in failing:
        console.print(f"{j['job']}: {j['last_status']} since {j['failing_since']}: "
                      f"{j['last_message'] or ''}", markup=False, highlight=False)
