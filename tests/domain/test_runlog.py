"""The run history as list rows: one row per finished run, figures from its stats, kept
while its start lies within keep_days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sp_sync.domain.model import RunRecord
from sp_sync.domain.runlog import (
    STATUS_LABELS_DE,
    TEXT_LIMIT,
    cutoff,
    figure,
    run_fields,
    run_key,
    still_kept,
    wanted_runs,
)

NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)


def run(run_id: int, status: str = "ok", minutes_ago: int = 10, **stats: object) -> RunRecord:
    started = NOW - timedelta(minutes=minutes_ago)
    return RunRecord(id=run_id, job="dtc-sync", started_at=started,
                     finished_at=None if status == "running" else started + timedelta(
                         seconds=12.34),
                     status=status, stats=stats)


def test_a_finished_run_becomes_its_row() -> None:
    r = RunRecord(id=7, job="weekly-digest", started_at=NOW,
                  finished_at=NOW + timedelta(seconds=3, milliseconds=260), status="partial",
                  stats={"requests": 12, "writes": 3, "written": 5, "sent": 4,
                         "dry_run": True, "resource_units": 20},
                  message="1 mail(s) could not be sent")
    assert run_key(r.id) == "run:7"
    assert run_fields(r, STATUS_LABELS_DE) == {
        "job": "weekly-digest", "run_id": 7, "started": NOW, "finished": r.finished_at,
        "seconds": 3.3, "status": "Teilweise", "status_code": "partial",
        "message": "1 mail(s) could not be sent", "requests": 12, "writes": 3, "mails": 4,
        "dry_run": True,
    }


def test_figures_fall_back_and_long_messages_are_cut() -> None:
    old = run(1, "failed", written=2)  # a run recorded before the meter counted writes
    fields = run_fields(old, STATUS_LABELS_DE | {"failed": "Failed"}, TEXT_LIMIT)
    assert (fields["writes"], fields["requests"], fields["mails"], fields["dry_run"]) == (
        2, 0, 0, False)
    assert fields["status"] == "Failed"
    long = RunRecord(id=2, job="x", started_at=NOW, finished_at=NOW, status="failed",
                     message="ä" * 1000)
    text = run_fields(long, STATUS_LABELS_DE, TEXT_LIMIT)["message"]
    assert isinstance(text, str) and len(text) == TEXT_LIMIT and text.endswith("…")
    assert figure({"requests": True, "sent": 2.0}, "requests", "sent") == 2  # no bools


def test_running_and_old_runs_get_no_row() -> None:
    since = cutoff(NOW, 1)
    runs = [run(1, minutes_ago=24 * 60 + 1), run(2, "running"), run(3, minutes_ago=24 * 60),
            run(4, "failed")]
    assert [r.id for r in wanted_runs(runs, since)] == [3, 4]
    assert still_kept(NOW - timedelta(days=1), since)
    assert not still_kept(NOW - timedelta(days=1, seconds=1), since)
    assert not still_kept(None, since)


STATUSES = st.sampled_from(["running", "ok", "partial", "failed"])


@given(st.lists(st.tuples(STATUSES, st.integers(0, 60 * 24 * 10)), max_size=30),
       st.integers(1, 9))
def test_wanted_runs_are_exactly_the_finished_ones_inside_the_window(
    spec: list[tuple[str, int]], keep_days: int,
) -> None:
    runs = [run(i, status, minutes) for i, (status, minutes) in enumerate(spec, 1)]
    since = cutoff(NOW, keep_days)
    wanted = wanted_runs(runs, since)
    assert [r.id for r in wanted] == [
        r.id for r in runs if r.status != "running" and still_kept(r.started_at, since)]
    for r in wanted:
        fields = run_fields(r, STATUS_LABELS_DE)
        assert fields["status"] in STATUS_LABELS_DE.values()
        assert isinstance(fields["seconds"], float) and fields["seconds"] >= 0
