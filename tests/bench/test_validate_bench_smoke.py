"""Smoke test of the validation benchmark at small sizes (no timings asserted): the
incremental run re-evaluates only changes and keeps the rest; N findings are written in
⌈N/20⌉ $batch calls on the emulator, and the re-run writes nothing."""

from __future__ import annotations

import math
from pathlib import Path

from bench.validate_bench import evaluation_bench, writes_bench


def test_evaluation_full_then_incremental() -> None:
    out = evaluation_bench(600)
    assert out["rules"] >= 15
    full, inc = out["full"], out["one_percent"]
    assert full["findings"] > 0
    # the 1 % run re-evaluates a part and keeps the other findings' rows as they are
    assert 0 < inc["re_evaluated"] < full["findings"]
    assert inc["kept"] > 0


def test_findings_written_in_batches_of_20_and_rerun_writes_nothing(tmp_path: Path) -> None:
    out = writes_bench(45, tmp_path)
    assert out["status"] == ["ok", "ok"]
    assert out["written"] == out["findings"] == 45
    assert out["batch_calls"] == math.ceil(45 / 20)
    assert out["rerun_written"] == 0 and out["rerun_write_requests"] == 0
