"""Smoke test of the sync benchmark harness at N=50, latency 0 (no timings asserted).

Runs the benchmark's own step sequence in-process against a real emulator and a real
SQLite store, and checks the request counts our engine makes — the figures the benchmark
reports — plus that the naive baseline really re-reads and re-writes everything.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.emu import InProcessEmulator
from bench.seed import make_seed
from bench.sync_bench import PAGE, run_sequence, run_step_here

N = 50


def test_harness_counts_requests_and_writes(tmp_path: Path) -> None:
    with InProcessEmulator(make_seed(N)) as emu:
        out = run_sequence(emu, N, tmp_path / "state.db", write_cap=5, log=lambda _: None,
                           runner=run_step_here)  # fmt: skip
    steps = out["steps"]
    ours = {k: v["ours"] for k, v in steps.items()}

    # (a) first full sync: site + list resolution, then ⌈N/page⌉ delta pages.
    assert ours["a"]["requests"] == math.ceil(N / PAGE) + 2
    assert ours["a"]["detail"]["source"]["created"] == N
    # (b) nothing changed: exactly one delta call, nothing seen.
    assert ours["b"]["requests"] == 1
    assert ours["b"]["detail"]["source"]["items_seen"] == 0
    # A quiet run of every list as the job runner does it (columns checked when due): one
    # request per list in a fresh process (ids and today's schema verdict kept in the state
    # store) as in a daemon (in memory).
    assert ours["qf"]["requests"] == ours["qd"]["requests"] == 3  # people, source, target
    assert ours["qf"]["detail"]["bench_source"]["items_seen"] == 0
    # (c) 1 % changed by a person: still one call, no history reads (editor from the feed).
    assert out["edited"] == 1
    assert ours["c"]["requests"] == 1
    assert ours["c"]["detail"]["source"]["updated"] == 1
    # d0: the list-to-list job's first run finds the copy equal: one call per list, no write.
    assert ours["d0"]["requests"] == 3  # people, source, target
    assert ours["d0"]["writes"] == 0 and ours["d0"]["detail"]["written"] == 0
    # (d) the job after (c): one call per list plus ⌈W/20⌉ $batch calls writing only those.
    w = out["edited"]
    assert ours["d"]["batch_calls"] == math.ceil(w / 20)
    assert ours["d"]["sub_requests"] == w and ours["d"]["detail"]["written"] == w
    assert ours["d"]["requests"] == 3 + math.ceil(w / 20)

    # The baseline re-reads the whole list every time and PATCHes every row (capped at 5).
    naive = {k: v["naive"] for k, v in steps.items() if "naive" in v}
    assert [naive[s]["detail"]["items_read"] for s in "abc"] == [N, N, N]
    assert naive["b"]["requests"] == 1 + math.ceil(N / PAGE)
    assert naive["d"]["extrapolated"] and naive["d"]["measured"]["writes"] == 5
    assert naive["d"]["writes"] == N


def test_the_floor_does_the_same_work_as_the_pull(tmp_path: Path) -> None:
    """bench.floor measures the least a first sync must do: it must store what the pull
    stores (same items, same content hashes), or its figure would mean nothing."""
    import sqlite3

    from bench import floor

    with InProcessEmulator(make_seed(N)) as emu:
        bodies = floor.fetch_bodies(emu.info)
        assert floor.wire_cpu(emu.info, 1) > 0
    assert len(bodies) == math.ceil(N / PAGE)
    steps = dict(floor.stages(bodies, 1))
    assert {"JSON decoding (msgspec)", "RawItems (bounds included)", "  content hash",
            "transaction (compare, rows, SQLite, commit)"} <= set(steps)
    assert all(cpu >= 0 for cpu in steps.values())
    assert floor.floor(bodies, tmp_path / "floor.db") >= 0
    assert floor.ours(bodies, tmp_path / "ours.db") >= 0

    def hashes(db: Path) -> dict[str, str]:
        with sqlite3.connect(db) as conn:
            return dict(conn.execute("SELECT item_id, content_hash FROM items"))

    assert hashes(tmp_path / "floor.db") == hashes(tmp_path / "ours.db")
    assert len(hashes(tmp_path / "ours.db")) == N


def test_ab_compares_a_revision_with_this_tree(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench.ab runs both sides through a temporary git worktree and leaves none behind."""
    import subprocess

    from bench import ab

    monkeypatch.chdir(tmp_path)  # the seed and the emulator's files go here

    before = subprocess.run(["git", "-C", str(ab.HERE), "worktree", "list"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert ab.main(["--old", "HEAD", "--n", "200", "--reps", "1"]) == 0
    table = capsys.readouterr().out
    assert "| HEAD |" in table and "| this tree |" in table
    assert subprocess.run(["git", "-C", str(ab.HERE), "worktree", "list"],
                          capture_output=True, text=True, check=True).stdout == before  # fmt: skip
