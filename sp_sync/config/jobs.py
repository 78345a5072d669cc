"""Job files: one TOML per job in ``jobs/`` — what sp-sync does and when.

    # jobs/weekly-digest.toml
    kind = "digest"                 # a job kind: `sp-sync kinds` lists them
    schedule = "0 7 * * mon"        # 5-field cron (standard weekday numbers) or "every 15m"
    enabled = true
    description = "…"
    [params]                        # validated by the kind's params model
    audience = "dtc"

:func:`load_jobs` validates every file against the list mapping and raises one ConfigError
naming file, key and reason for every problem in every file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import ValidationError

from sp_sync.config.settings import format_errors, read_toml
from sp_sync.domain.model import ListMapping
from sp_sync.errors import ConfigError
from sp_sync.kinds import KINDS
from sp_sync.kinds.base import CheckEnv, KindParams

P = TypeVar("P", bound=KindParams)


@dataclass(frozen=True)
class JobSpec:
    name: str  # unique; default the file stem
    kind: str  # a key of sp_sync.kinds.KINDS
    schedule: str
    params: KindParams
    enabled: bool = True
    description: str = ""
    path: Path | None = None

    def params_as(self, cls: type[P]) -> P:
        """The params narrowed to one model (TypeError if the job is of another kind)."""
        if not isinstance(self.params, cls):
            raise TypeError(f"job {self.name!r} is a {self.kind} job")
        return self.params


# --------------------------------------------------------------------------- schedules

_INTERVAL = re.compile(r"^every\s+(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
SCHEDULE_HINT = 'use 5 cron fields such as "0 7 * * mon" or an interval such as "every 15m"'


def _cron_weekdays(field: str) -> str:
    """Standard cron weekday numbers (0/7 = Sunday) → names. APScheduler 3 counts 0 = Monday,
    so "1-5" would silently mean Tuesday–Saturday without this."""
    if not re.search(r"\d", field):
        return field
    days: list[str] = []
    for part in field.split(","):
        rng, _, step = part.partition("/")
        if rng == "*":
            lo, hi = 0, 6
        elif "-" in rng:
            a, b = rng.split("-", 1)
            lo, hi = int(a), int(b)
        else:
            lo = hi = int(rng)
            if step:
                hi = 6
        if not (0 <= lo <= 7 and 0 <= hi <= 7 and lo <= hi):
            raise ValueError(f"weekday {part!r} out of range 0-7")
        for n in range(lo, hi + 1, int(step or 1)):
            name = _DAYS[n % 7]
            if name not in days:
                days.append(name)
    return ",".join(days)


def trigger(spec: JobSpec | str, tz: str | tzinfo) -> CronTrigger | IntervalTrigger:
    """The APScheduler 3 trigger for a job (or a schedule string) in time zone ``tz``."""
    schedule = spec.schedule if isinstance(spec, JobSpec) else spec
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    text = " ".join(schedule.lower().split())
    m = _INTERVAL.match(text)
    if m:
        amount = int(m.group(1))
        if amount <= 0:
            raise ValueError("interval must be at least 1")
        return IntervalTrigger(timezone=zone, **{_UNITS[m.group(2)]: amount})
    fields = text.split(" ")
    if len(fields) != 5:
        raise ValueError(f"expected 5 cron fields, got {len(fields)}")
    minute, hour, day, month, dow = fields
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month,
        day_of_week=_cron_weekdays(dow), timezone=zone,
    )


# --------------------------------------------------------------------------- loading

JOB_KEYS = frozenset({"name", "kind", "schedule", "enabled", "description", "params"})


def load_jobs(
    jobs_dir: str | Path,
    mapping: ListMapping,
    *,
    timezone: str = "Europe/Berlin",
    dtc_recipients: Sequence[str] = ("dtc@mannheim.de",),
) -> list[JobSpec]:
    """Every ``*.toml`` in ``jobs_dir`` (sorted by name), or one ConfigError for all problems."""
    folder = Path(jobs_dir)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: folder not found — set jobs_dir or create the folder")
    problems: list[str] = []
    jobs: list[JobSpec] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            data = read_toml(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        job = _parse(path, data, mapping, timezone, tuple(dtc_recipients), problems)
        if job is None:
            continue
        if job.name in seen:
            problems.append(
                f"{path}: name: job {job.name!r} is already defined in {seen[job.name]}"
                " — give each job a unique name"
            )
            continue
        seen[job.name] = path
        jobs.append(job)
    if problems:
        raise ConfigError(problems)
    return jobs


def _parse(
    path: Path,
    data: dict[str, Any],
    mapping: ListMapping,
    tz: str,
    dtc_recipients: tuple[str, ...],
    problems: list[str],
) -> JobSpec | None:
    before = len(problems)

    def bad(key: str, reason: str, hint: str) -> None:
        problems.append(f"{path}: {key}: {reason} — {hint}")

    for extra in sorted(set(data) - JOB_KEYS):
        bad(extra, "unknown key",
            f"use one of {', '.join(sorted(JOB_KEYS))} (parameters go under [params])")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        bad("kind", f"must be one of {', '.join(KINDS)}" + ("" if kind else " (missing)"),
            "set kind")
    schedule = data.get("schedule")
    if not isinstance(schedule, str) or not schedule.strip():
        bad("schedule", "missing", SCHEDULE_HINT)
    else:
        try:
            trigger(schedule, tz)
        except (ValueError, TypeError) as exc:
            bad("schedule", f"invalid schedule {schedule!r} ({exc})", SCHEDULE_HINT)
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not re.match(r"^[a-z0-9][a-z0-9_.-]*$", name):
        bad("name", f"invalid name {name!r}", "use lower-case letters, digits, - _ .")
    for flag, typ in (("enabled", bool), ("description", str)):
        if flag in data and not isinstance(data[flag], typ):
            bad(flag, f"must be {'true or false' if typ is bool else 'a string'}", "fix it")
    raw_params = data.get("params", {})
    params: KindParams | None = None
    env = CheckEnv(mapping, tz, dtc_recipients)
    if not isinstance(raw_params, dict):
        bad("params", "must be a table", "write the parameters under [params]")
    elif isinstance(kind, str) and kind in KINDS:
        job_kind = KINDS[kind]
        try:
            params = job_kind.params_model.model_validate(raw_params)
        except ValidationError as exc:
            problems.extend(format_errors(exc, lambda _loc: str(path), prefix="params."))
            failed = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            for key, value in job_kind.list_refs(raw_params):
                if key.split(".")[1] not in failed and isinstance(value, str):
                    env.unknown_list(bad, key, value)
        else:
            params = job_kind.check(params, env, bad)
    if len(problems) > before or params is None or not isinstance(kind, str):
        return None
    return JobSpec(
        name=str(name),
        kind=kind,
        schedule=str(schedule),
        params=params,
        enabled=bool(data.get("enabled", True)),
        description=str(data.get("description", "")).strip(),
        path=path,
    )
