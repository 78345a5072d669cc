"""F12 with a real full disk: the SQLite state store on a small tmpfs that runs out of space
during a pull. Nothing is committed (the cursor stays), the error says what happened and
what to do, and once space is freed the next run converges. Needs root for `mount`
(CI here runs as root); skipped where mounting is not allowed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import sp_sync.adapters.graph.source as graph_source
from sp_sync.adapters.store.sql import SqlStore
from sp_sync.engine.pull import pull_list
from sp_sync.errors import StoreError

from .site import open_site

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(disk: Path, leave_bytes: int) -> Path:
    """Take all but ``leave_bytes`` of the disk with one file."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    filler = disk / "filler"
    with filler.open("wb") as fh:
        fh.write(b"\0" * max(0, free - leave_bytes))
    return filler


def test_a_real_full_disk_during_a_pull_commits_nothing_and_the_next_run_converges(
    tmp_path: Path, small_disk: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(graph_source, "DELTA_PAGE_SIZE", 100)
    with open_site(tmp_path, projects=300) as site:
        spec = site.mapping.get("projects")
        store = SqlStore(f"sqlite:///{small_disk / 'state.db'}")  # migrated: fits
        try:
            filler = _fill(small_disk, leave_bytes=24 * 1024)
            with pytest.raises(StoreError, match="disk of the state store is full") as full:
                pull_list(site.lists, store, spec, site.ref(spec), NOW)
            assert "free space" in str(full.value)
            assert store.cursor("projects") is None and store.count("projects") == 0

            filler.unlink()  # the admin frees space
            pull_list(site.lists, store, spec, site.ref(spec), NOW)
            assert store.count("projects") == 300 and store.cursor("projects")
            live = {str(i["id"]) for i in site.emu.items(spec.title)}
            assert {i.id for i in store.items("projects")} == live
        finally:
            store.close()
