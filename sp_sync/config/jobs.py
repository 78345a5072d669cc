"""Job files: one TOML per job in ``jobs/`` — what sp-sync does and when.

    # jobs/weekly-digest.toml
    kind = "digest"                 # pull | sync | digest | reminders
    schedule = "0 7 * * mon"        # 5-field cron (standard weekday numbers) or "every 15m"
    enabled = true
    description = "…"
    [params]                        # validated per kind (see the *Params models)
    audience = "dtc"

:func:`load_jobs` validates every file against the list mapping and raises one ConfigError
naming file, key and reason for every problem in every file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal, TypeVar, cast
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sp_sync.config.settings import format_errors, read_toml
from sp_sync.domain.model import ListMapping
from sp_sync.errors import ConfigError

Kind = Literal["pull", "sync", "digest", "reminders"]
KINDS: tuple[str, ...] = ("pull", "sync", "digest", "reminders")
_EMAIL = r"^[^@\s<>\"]+@[^@\s<>\"]+\.[A-Za-z]{2,}$"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PullParams(_Params):
    """Mirror lists into the state store. After loading, ``lists`` is never empty."""

    lists: tuple[str, ...] = ()  # list keys; empty in the file = every list with role source
    full: bool = False  # full re-enumeration: reconciles deletions a delta may have missed
    # The mirror's mass-delete guard: a pull tombstoning more than this share stops.
    allow_mass_delete: bool = False
    mass_delete_share: float = Field(default=0.5, gt=0, le=1)


class SyncParams(_Params):
    """One-way list-to-list sync of (a filtered subset of) ``source`` into ``target``."""

    source: str
    target: str
    filter: dict[str, str | int | float | bool] = Field(default_factory=dict)  # equality
    columns: dict[str, str]  # target column key → source column key
    key: str | None = None  # source column key for the SyncKey; None: the item id
    delete: bool = True
    allow_mass_delete: bool = False
    mass_delete_share: float = Field(default=0.5, gt=0, le=1)


class DigestParams(_Params):
    audience: Literal["dtc", "leads", "coordinators"]
    recipients: tuple[str, ...] = ()  # dtc: default settings.dtc_recipients
    locale: Literal["de", "en"] | None = None  # None: settings.locale
    catch_up_weeks: int = Field(default=2, ge=0, le=52)
    late_after_minutes: int = Field(default=60, ge=0)
    opt_out: tuple[str, ...] = ()
    templates: str = "jobs/templates"

    @field_validator("recipients", "opt_out")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not re.match(_EMAIL, v)]
        if bad:
            raise ValueError(
                f"not e-mail addresses: {', '.join(map(repr, bad))} — use name@example.org"
            )
        return tuple(v.lower() for v in value)


class RemindersParams(_Params):
    training_days_before: int = Field(default=2, ge=0, le=60)
    round_table_days_before: int = Field(default=3, ge=0, le=60)


JobParams = PullParams | SyncParams | DigestParams | RemindersParams
PARAMS: dict[str, type[_Params]] = {
    "pull": PullParams,
    "sync": SyncParams,
    "digest": DigestParams,
    "reminders": RemindersParams,
}
P = TypeVar("P", bound=_Params)
Report = Callable[[str, str, str], None]


@dataclass(frozen=True)
class JobSpec:
    name: str  # unique; default the file stem
    kind: Kind
    schedule: str
    params: JobParams
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
    if kind not in KINDS:
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
    params: _Params | None = None
    if not isinstance(raw_params, dict):
        bad("params", "must be a table", "write the parameters under [params]")
    elif kind in PARAMS:
        try:
            params = PARAMS[kind].model_validate(raw_params)
        except ValidationError as exc:
            problems.extend(format_errors(exc, lambda _loc: str(path), prefix="params."))
            _check_raw_lists(raw_params, exc, mapping, bad)
        else:
            params = _check_lists(params, mapping, dtc_recipients, bad)
    if len(problems) > before or params is None:
        return None
    assert isinstance(params, PullParams | SyncParams | DigestParams | RemindersParams)
    return JobSpec(
        name=str(name),
        kind=cast(Kind, kind),
        schedule=str(schedule),
        params=params,
        enabled=bool(data.get("enabled", True)),
        description=str(data.get("description", "")).strip(),
        path=path,
    )


def _check_raw_lists(
    raw: dict[str, Any], exc: ValidationError, mapping: ListMapping, bad: Report
) -> None:
    """Name unknown list keys even when other params failed validation (all problems at once)."""
    failed = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
    known = ", ".join(s.key for s in mapping.lists)
    refs: list[tuple[str, object]] = [
        (f"params.{k}", raw[k]) for k in ("source", "target") if k in raw and k not in failed
    ]
    if isinstance(raw.get("lists"), list) and "lists" not in failed:
        refs += [(f"params.lists.{i}", v) for i, v in enumerate(raw["lists"])]
    for key, value in refs:
        if isinstance(value, str) and value not in mapping:
            bad(key, f"unknown list {value!r}", f"use a list key from the mapping: {known}")


def _check_lists(
    params: _Params, mapping: ListMapping, dtc_recipients: tuple[str, ...], bad: Report
) -> _Params:
    """Cross-check params against the list mapping; fill defaults that depend on it."""
    known = ", ".join(s.key for s in mapping.lists)

    def unknown_list(key: str, value: str) -> bool:
        if value in mapping:
            return False
        bad(key, f"unknown list {value!r}", f"use a list key from the mapping: {known}")
        return True

    if isinstance(params, PullParams):
        for i, key in enumerate(params.lists):
            unknown_list(f"params.lists.{i}", key)
        if not params.lists:
            sources = tuple(s.key for s in mapping.lists if s.role == "source")
            return params.model_copy(update={"lists": sources})
    if isinstance(params, SyncParams):
        bad_src = unknown_list("params.source", params.source)
        bad_tgt = unknown_list("params.target", params.target)
        if bad_src or bad_tgt:
            return params
        src, tgt = mapping.get(params.source), mapping.get(params.target)
        if tgt.role != "target":
            bad("params.target", f"list {tgt.key!r} has role {tgt.role!r}",
                'sync only writes lists with role = "target" in the mapping')
        src_cols = {c.key for c in src.columns}
        tgt_cols = {c.key for c in tgt.columns}
        for col in params.filter:
            if col not in src_cols:
                bad(f"params.filter.{col}", f"list {src.key!r} has no column {col!r}",
                    f"use one of {', '.join(sorted(src_cols))}")
        if not params.columns:
            bad("params.columns", "empty", "map at least one target column to a source column")
        for t, s in params.columns.items():
            if t not in tgt_cols:
                bad(f"params.columns.{t}", f"list {tgt.key!r} has no column {t!r}",
                    f"use one of {', '.join(sorted(tgt_cols))}")
            if s not in src_cols:
                bad(f"params.columns.{t}", f"list {src.key!r} has no column {s!r}",
                    f"use one of {', '.join(sorted(src_cols))}")
        if params.key is not None and params.key not in src_cols:
            bad("params.key", f"list {src.key!r} has no column {params.key!r}",
                "use a source column key, or leave key out to use the item id")
    if isinstance(params, DigestParams) and params.audience == "dtc" and not params.recipients:
        return params.model_copy(update={"recipients": dtc_recipients})
    return params
