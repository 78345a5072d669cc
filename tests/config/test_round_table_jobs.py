"""Job files of the round-table and training kinds: bad input named with file, key, reason."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from sp_sync.config.jobs import load_jobs
from sp_sync.config.mapping import load_mapping
from sp_sync.errors import ConfigError
from sp_sync.kinds.roundtables import RoundTablesParams

from .conftest import REPO


def test_round_table_job_problems_at_once(tmp_path: Path) -> None:
    text = (REPO / "config" / "lists.toml").read_text(encoding="utf-8")
    lists = tmp_path / "lists.toml"
    # a site whose Themen list has no SyncKey declared yet
    lists.write_text(text.replace('title = "Themen"\nsync_key = "SyncKey"\n',
                                  'title = "Themen"\n'), encoding="utf-8")
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "rt.toml").write_text(
        'kind = "roundtables"\nschedule = "30 6 * * *"\n[params]\nfirst = 2027-01-13\n'
        'location = "Ratssaal"\nmoderator = "nobody"\nclosing = ["24.12."]\n'
        'title = "RT {datum}"\n', encoding="utf-8")
    (jobs / "rt2.toml").write_text(
        'kind = "roundtables"\nschedule = "30 6 * * *"\n[params]\nfirst = 2027-01-13\n'
        'location = "Ratssaal"\ntitle = "RT {datum}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_jobs(jobs, load_mapping(lists))
    problems = "\n".join(err.value.problems)
    assert "rt.toml: params.moderator" in problems and "name@example.org" in problems
    assert "rt.toml: params.closing" in problems and "MM-DD" in problems
    assert "list 'topics' has no sync_key" in problems and "sp-sync provision" in problems
    assert "rt2.toml: params.title: bad placeholder" in problems


def test_shipped_round_table_job() -> None:
    jobs = {j.name: j for j in load_jobs(REPO / "jobs", load_mapping(REPO / "config" /
                                                                     "lists.toml"))}
    params = jobs["round-tables"].params_as(RoundTablesParams)
    assert params.ahead == 6 and params.every_days == 14
    assert params.spec().closing[0].covers(date(2026, 12, 31))
