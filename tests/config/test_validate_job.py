"""The validate job file: the shipped DTC rule set loads; rule problems are reported
with file, key and reason, all at once (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sp_sync.config.jobs import load_jobs
from sp_sync.config.mapping import load_mapping
from sp_sync.domain.model import ListMapping
from sp_sync.errors import ConfigError
from sp_sync.kinds.validate import ValidateParams

from .conftest import REPO


@pytest.fixture(scope="module")
def mapping() -> ListMapping:
    return load_mapping(REPO / "config" / "lists.toml")


def test_dtc_rule_set_loads_with_stable_ids(mapping: ListMapping) -> None:
    [job] = [j for j in load_jobs(REPO / "jobs", mapping) if j.name == "dtc-validate"]
    params = job.params_as(ValidateParams)
    ids = [r["id"] for r in params.rules]
    assert len(ids) == len(set(ids)) >= 15
    for wanted in ("project-lead-missing", "project-red-without-report", "project-report-stale",
                   "project-milestone-passed", "project-closed-without-end",
                   "project-end-before-start", "project-number-duplicate",
                   "training-over-capacity", "training-waitlist-with-free-seats",
                   "registration-cancelled-training", "round-table-minutes-missing",
                   "action-item-overdue", "action-item-open-across",
                   "department-coordinator-missing", "trend-new-too-long"):
        assert wanted in ids


def test_rule_problems_name_file_key_and_reason_all_at_once(
    tmp_path: Path, mapping: ListMapping
) -> None:
    (tmp_path / "checks.toml").write_text('''
kind = "validate"
schedule = "every 15m"
[params]
target = "findings"
[[params.rules]]
id = "no-lead"
list = "projects"
check = "required"
column = "leader"
message = "x"
[[params.rules]]
id = "self"
list = "findings"
check = "required"
column = "owner"
message = "x"
[[params.rules]]
id = "when-bad"
list = "projects"
check = "overdue"
column = "milestone_date"
when = { status = { like = "Plan" } }
message = "{title} {nonsense}"
''', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_jobs(tmp_path, mapping)
    text = str(err.value)
    assert "checks.toml" in text
    assert "params.rules[0] (no-lead).column" in text and "no column 'leader'" in text
    assert "params.rules[1] (self).list" in text and "not validated" in text
    assert "params.rules[2] (when-bad).message" in text  # first problem of that rule
