"""Roll-up job files are checked at load: file, key and reason for every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from sp_sync.config.jobs import load_jobs
from sp_sync.config.mapping import load_mapping
from sp_sync.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
HEAD = 'kind = "rollup"\nschedule = "0 * * * *"\ndescription = "x"\n'


def problems(tmp_path: Path, text: str) -> str:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "bad.toml").write_text(HEAD + text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_jobs(jobs, load_mapping(REPO / "config" / "lists.toml"))
    return str(err.value)


def test_bad_paths_and_measures_are_named_with_their_keys(tmp_path: Path) -> None:
    text = problems(tmp_path, (
        '[params]\nsource = "projects"\ntarget = "portfolio"\n'
        '[[params.grains]]\nname = "X"\ndimensions = { title = "department.nope" }\n'
        '[params.measures]\nprojects = { count = true }\nbudget = { sum = "title" }\n'))
    assert ("bad.toml: params.grains[0].dimensions.title.path: list 'departments' has no "
            "column 'nope' — use one of active, code") in text
    assert ("bad.toml: params.measures.budget.sum: 'title' is no number column — sum and "
            "avg need a number or currency column") in text


def test_columns_missing_in_the_target_and_non_target_lists(tmp_path: Path) -> None:
    text = problems(tmp_path, (
        '[params]\nsource = "projects"\ntarget = "projects"\n'
        '[[params.grains]]\nname = "X"\ndimensions = { title = "field" }\n'
        '[params.measures]\nhowmany = { count = true }\n'))
    assert "params.target: list 'projects' has role 'source' — a roll-up only writes lists" in text
    assert "params.measures.howmany: list 'projects' has no column 'howmany'" in text


def test_the_shipped_rollups_load(tmp_path: Path) -> None:
    jobs = {j.name: j for j in load_jobs(REPO / "jobs",
                                         load_mapping(REPO / "config" / "lists.toml"))}
    assert {jobs[n].kind for n in ("portfolio", "training-stats", "attendance-rate")} == {
        "rollup"}
