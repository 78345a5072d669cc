"""The pipeline's external sort: every row once, by (key, position), runs spilled to a file."""

from __future__ import annotations

import tempfile
from typing import IO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sp_sync.domain.model import DesiredRow
from sp_sync.engine import keysort
from sp_sync.engine.keysort import sorted_rows


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.text(max_size=3), max_size=60), run=st.integers(1, 9))
def test_rows_come_back_sorted_and_stable(keys: list[str], run: int) -> None:
    rows = [DesiredRow(k, {"n": n, "nested": {"k": [k]}}) for n, k in enumerate(keys)]

    out = list(sorted_rows(iter(rows), str.strip, run_rows=run))

    assert out == sorted((r.sync_key.strip(), n, r) for n, r in enumerate(rows))


def test_more_rows_than_a_run_go_through_a_file_that_is_closed_afterwards(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[IO[bytes]] = []
    real = tempfile.TemporaryFile

    def spy(prefix: str) -> IO[bytes]:
        f = real(prefix=prefix)
        opened.append(f)
        return f

    monkeypatch.setattr(keysort.tempfile, "TemporaryFile", spy)
    rows = [DesiredRow(f"k:{n % 97:03}", {"n": n}) for n in range(2000)]

    out = list(sorted_rows(rows, str, run_rows=300))

    assert [(r[2].sync_key, r[2].fields) for r in out] == [
        (r.sync_key, r.fields) for r in sorted(rows, key=lambda r: r.sync_key)
    ]
    assert len(opened) == 1 and opened[0].closed
