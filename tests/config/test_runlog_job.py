"""Run-log job files are checked at load: the list, its columns and the status labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from sp_sync.config.jobs import load_jobs
from sp_sync.config.mapping import load_mapping
from sp_sync.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
HEAD = 'kind = "runlog"\nschedule = "5,20,35,50 * * * *"\ndescription = "x"\n'


def problems(tmp_path: Path, text: str) -> str:
    jobs = tmp_path / "jobs"
    jobs.mkdir(exist_ok=True)
    (jobs / "bad.toml").write_text(HEAD + text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_jobs(jobs, load_mapping(REPO / "config" / "lists.toml"))
    return str(err.value)


def test_defaults_load(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "log.toml").write_text(HEAD, encoding="utf-8")
    (job,) = load_jobs(jobs, load_mapping(REPO / "config" / "lists.toml"))
    assert (job.params.list, job.params.keep_days) == ("run_log", 90)  # type: ignore[attr-defined]


def test_a_source_list_without_the_columns_is_refused(tmp_path: Path) -> None:
    text = problems(tmp_path, '[params]\nlist = "projects"\n')
    assert "bad.toml: params.list: list 'projects' has role 'source'" in text
    assert "list 'projects' has no column job, started" in text


def test_labels_must_be_choices_and_name_every_status(tmp_path: Path) -> None:
    text = problems(tmp_path, '[params]\nkeep_days = 0\n'
                              'labels = { ok = "Erfolgreich", partial = "Teilweise", x = "y" }\n')
    assert "params.keep_days" in text
    text = problems(tmp_path, '[params]\n'
                              'labels = { ok = "Erfolgreich", partial = "Teilweise", x = "y" }\n')
    assert ("params.labels.ok: 'Erfolgreich' is no choice of the Status column of 'run_log' — "
            "use one of OK, Teilweise, Fehlgeschlagen") in text
    assert "params.labels.failed: missing" in text
    assert "params.labels.x: no run status 'x'" in text


def test_an_unknown_list_is_named(tmp_path: Path) -> None:
    text = problems(tmp_path, '[params]\nlist = "protokoll"\n')
    assert "bad.toml: params.list: unknown list 'protokoll'" in text
