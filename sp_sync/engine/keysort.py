"""A producer's rows in canonical SyncKey order, without holding them all (external sort).

Producers yield rows in their source's order (the list copy: source item order), while the
merge planner (:func:`~sp_sync.domain.plan.plan_merged`) wants them by key. Rows are sorted
in runs of :data:`RUN_ROWS`; when there is more than one run, each sorted run goes to an
anonymous temporary file (pickled in chunks of :data:`CHUNK_ROWS`) and the runs are merged
back lazily: memory holds one run while sorting and one chunk per run while merging, however
many rows the producer yields. The file is gone when the iteration ends or is dropped.
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from sp_sync.domain.model import DesiredRow
from sp_sync.domain.plan import SortedRow

RUN_ROWS = 4096  # rows sorted in memory at a time
CHUNK_ROWS = 256  # rows per pickled chunk (read back one chunk per run at a time)


def sorted_rows(
    rows: Iterable[DesiredRow], key: Callable[[str], str], run_rows: int = RUN_ROWS
) -> Iterator[SortedRow]:
    """(canonical key, position, row) for every row, ordered by (key, position).

    ``key`` maps a SyncKey to its canonical text. Stable: rows with the same key keep the
    producer's order (the planner lets the last one win).
    """
    run: list[tuple[str, int, str, Any]] = []
    spill: IO[bytes] | None = None
    runs: list[list[int]] = []  # per spilled run: the offsets of its chunks
    try:
        for pos, row in enumerate(rows):
            run.append((key(row.sync_key), pos, row.sync_key, row.fields))
            if len(run) >= run_rows:
                if spill is None:
                    # closed in the finally below (a generator: no with-block around yields)
                    spill = tempfile.TemporaryFile(prefix="sp-sync-sort-")  # noqa: SIM115
                runs.append(_write_run(spill, run))
                run = []
        if spill is None:  # everything fitted in one run: no file
            run.sort()
            for k, pos, sync_key, fields in run:
                yield k, pos, DesiredRow(sync_key, fields)
            return
        if run:
            runs.append(_write_run(spill, run))
            run = []
        file = spill
        merged = heapq.merge(*(_read_run(file, offsets) for offsets in runs))
        for k, pos, sync_key, fields in merged:
            yield k, pos, DesiredRow(sync_key, fields)
    finally:
        if spill is not None:
            spill.close()


def _write_run(spill: IO[bytes], run: list[tuple[str, int, str, Any]]) -> list[int]:
    run.sort()  # (key, position) are unique: the fields are never compared
    spill.seek(0, 2)
    offsets: list[int] = []
    for start in range(0, len(run), CHUNK_ROWS):
        offsets.append(spill.tell())
        pickle.dump(run[start:start + CHUNK_ROWS], spill, protocol=pickle.HIGHEST_PROTOCOL)
    return offsets


def _read_run(spill: IO[bytes], offsets: list[int]) -> Iterator[tuple[str, int, str, Any]]:
    for offset in offsets:
        spill.seek(offset)  # the runs' readers take turns on the one file
        chunk: list[tuple[str, int, str, Any]] = pickle.load(spill)
        yield from chunk
