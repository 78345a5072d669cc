from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from sp_sync.config.jobs import load_jobs, trigger
from sp_sync.config.mapping import load_mapping
from sp_sync.domain.model import ListMapping
from sp_sync.errors import ConfigError
from sp_sync.kinds import KINDS
from sp_sync.kinds.mail import DigestParams
from sp_sync.kinds.pull import PullParams
from sp_sync.kinds.runlog import RunlogParams
from sp_sync.kinds.sync import SyncParams

from .conftest import REPO

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def mapping() -> ListMapping:
    return load_mapping(REPO / "config" / "lists.toml")


def test_shipped_jobs_load(mapping: ListMapping) -> None:
    jobs = {j.name: j for j in load_jobs(REPO / "jobs", mapping, dtc_recipients=["x@mannheim.de"])}
    assert set(jobs) == {"dtc-sync", "dtc-reconcile", "public-projects", "weekly-digest",
                         "lead-digests", "coordinator-digests", "reminders",
                         "round-tables", "trainings",
                         "portfolio", "training-stats", "attendance-rate", "dtc-validate",
                         "run-log"}
    runlog = jobs["run-log"].params_as(RunlogParams)
    assert (runlog.list, runlog.keep_days) == ("run_log", 90)
    pull = jobs["dtc-sync"].params_as(PullParams)
    assert "projects" in pull.lists and "public_projects" not in pull.lists and not pull.full
    assert jobs["dtc-reconcile"].params_as(PullParams).full
    sync = jobs["public-projects"].params_as(SyncParams)
    assert (sync.source, sync.target, sync.key, sync.filter) == (
        "projects", "public_projects", "number", {"public": True})
    assert set(sync.columns) == {"title", "number", "department", "field", "status",
                                 "planned_end"}
    digest = jobs["weekly-digest"].params_as(DigestParams)
    assert (digest.audience, digest.recipients) == ("dtc", ("x@mannheim.de",))
    assert jobs["weekly-digest"].schedule == "0 7 * * mon"
    assert jobs["lead-digests"].params_as(DigestParams).recipients == ()
    with pytest.raises(TypeError):
        jobs["reminders"].params_as(SyncParams)
    for job in jobs.values():
        assert job.description and job.enabled
        assert trigger(job, "Europe/Berlin") is not None


def test_every_job_problem_at_once(tmp_path: Path, mapping: ListMapping) -> None:
    (tmp_path / "weekly-digest.toml").write_text(
        'kind = "digest"\nschedule = "0 7 * * mon"\n[params]\naudience = "everyone"\n'
        'recipients = ["not-an-address"]\n')
    (tmp_path / "bad-schedule.toml").write_text(
        'kind = "reminders"\nschedule = "0 25 * * *"\nshedule = "x"\n')
    (tmp_path / "sync.toml").write_text(
        'kind = "sync"\nschedule = "every 1h"\n[params]\nsource = "projekts"\n'
        'target = "public_projects"\ncolumns = { title = "title" }\n')
    (tmp_path / "sync2.toml").write_text(
        'kind = "sync"\nschedule = "every 1h"\n[params]\nsource = "projects"\n'
        'target = "departments"\nfilter = { pubic = true }\n'
        'columns = { name = "titel", nope = "title" }\nkey = "nr"\n')
    (tmp_path / "pull.toml").write_text(
        'name = "sync"\nkind = "pull"\nschedule = "every 15m"\n[params]\nlists = ["project"]\n')
    (tmp_path / "broken.toml").write_text('kind = "pull"\nschedule = \n')
    (tmp_path / "kindless.toml").write_text('schedule = "every 15m"\n')
    (tmp_path / "copy.toml").write_text(
        'kind = "sync"\nschedule = "every 1h"\n[params]\nsource = "projekte"\n'
        'target = "public_projects"\n')
    with pytest.raises(ConfigError) as err:
        load_jobs(tmp_path, mapping)
    problems = err.value.problems
    d = str(tmp_path)
    expected = [
        f"{d}/weekly-digest.toml: params.audience: must be one of dtc, leads, coordinators",
        f"{d}/weekly-digest.toml: params.recipients: not e-mail addresses: 'not-an-address'",
        f"{d}/bad-schedule.toml: schedule: invalid schedule '0 25 * * *'",
        f"{d}/bad-schedule.toml: shedule: unknown key",
        f"{d}/sync.toml: params.source: unknown list 'projekts' — use a list key",
        f"{d}/sync2.toml: params.target: list 'departments' has role 'source'",
        f"{d}/sync2.toml: params.filter.pubic: list 'projects' has no column 'pubic'",
        f"{d}/sync2.toml: params.columns.name: list 'projects' has no column 'titel'",
        f"{d}/sync2.toml: params.columns.nope: list 'departments' has no column 'nope'",
        f"{d}/sync2.toml: params.key: list 'projects' has no column 'nr'",
        f"{d}/pull.toml: params.lists.0: unknown list 'project'",
        f"{d}/broken.toml: invalid TOML: ",
        f"{d}/kindless.toml: kind: must be one of {', '.join(KINDS)} (missing)",
        f"{d}/copy.toml: params.columns: field required — add it",
        f"{d}/copy.toml: params.source: unknown list 'projekte'",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert len(problems) == len(expected), problems
    assert all(" — " in p for p in problems)


def test_duplicate_job_names(tmp_path: Path, mapping: ListMapping) -> None:
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.toml").write_text(
            'name = "same"\nkind = "reminders"\nschedule = "0 8 * * *"\n')
    with pytest.raises(ConfigError, match=r"b\.toml: name: job 'same' is already defined"):
        load_jobs(tmp_path, mapping)


def _fires(trig: CronTrigger | IntervalTrigger, start: datetime, n: int) -> list[datetime]:
    out: list[datetime] = []
    prev, now = None, start
    for _ in range(n):
        nxt = trig.get_next_fire_time(prev, now)
        assert nxt is not None
        out.append(nxt)
        prev, now = nxt, nxt + timedelta(seconds=1)
    return out


def test_monday_0700_berlin_across_dst() -> None:
    trig = trigger("0 7 * * mon", "Europe/Berlin")
    spring = _fires(trig, datetime(2026, 3, 20, tzinfo=BERLIN), 2)
    assert [f.isoformat() for f in spring] == [
        "2026-03-23T07:00:00+01:00", "2026-03-30T07:00:00+02:00"]  # DST began 2026-03-29
    autumn = _fires(trig, datetime(2026, 10, 16, tzinfo=BERLIN), 2)
    assert [f.isoformat() for f in autumn] == [
        "2026-10-19T07:00:00+02:00", "2026-10-26T07:00:00+01:00"]  # DST ended 2026-10-25
    assert [f.astimezone(ZoneInfo("UTC")).hour for f in spring + autumn] == [6, 5, 5, 6]


def test_cron_weekday_numbers_follow_standard_cron() -> None:
    # APScheduler 3 itself counts 0 = Monday; job files use cron's 0/7 = Sunday, 1 = Monday.
    start = datetime(2026, 12, 1, tzinfo=BERLIN)  # a Tuesday
    assert _fires(trigger("0 7 * * 1", BERLIN), start, 1)[0].date().isoformat() == "2026-12-07"
    days = [f.strftime("%a") for f in _fires(trigger("0 7 * * 1-5", BERLIN), start, 6)]
    assert days == ["Tue", "Wed", "Thu", "Fri", "Mon", "Tue"]
    sunday = _fires(trigger("30 3 * * 0", BERLIN), start, 1)[0]
    assert (sunday.strftime("%a %H:%M"), sunday.day) == ("Sun 03:30", 6)
    assert _fires(trigger("0 3 * * 7", BERLIN), start, 1)[0].strftime("%a") == "Sun"


def test_interval_schedules() -> None:
    trig = trigger("every 15m", "Europe/Berlin")
    assert isinstance(trig, IntervalTrigger)
    assert trig.interval == timedelta(minutes=15)
    assert trigger("every 1h", BERLIN).interval == timedelta(hours=1)
    for bad in ("every 0m", "every 5 weeks", "0 7 * *", "0 7 * * funday", "*/0 * * * *"):
        with pytest.raises(ValueError):
            trigger(bad, BERLIN)
