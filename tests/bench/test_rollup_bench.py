"""Smoke test of the roll-up benchmark, small (no timings asserted): the job writes every
group once, nothing on a re-run, and after edits only groups the edits touched."""

from __future__ import annotations

from pathlib import Path

from bench.rollup_bench import run, table


def test_rollup_bench_writes_only_affected_groups(tmp_path: Path) -> None:
    r = run(40, 600, 0.02, tmp_path / "run", log=lambda _: None)
    groups = r["compute"]["groups"]
    assert r["first"]["status"] == "ok" and r["first"]["written"] == groups
    assert r["again"]["written"] == 0 and r["again"]["updates"] == 0
    ch = r["changed"]
    assert ch["edited"] == 12
    assert ch["moved_outside_affected"] == 0
    assert ch["written"] == ch["updates"] == ch["moved_groups"] <= ch["affected_groups"]
    assert ch["moved_groups"] > 0
    assert "rows written" in table(r)
