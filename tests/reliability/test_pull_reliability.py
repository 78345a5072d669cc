"""The pull on the emulator: no store transaction across a throttle wait (F19, F12), the
mirror's mass-delete guard (F17), pages spooled to disk beyond the memory bound."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sp_sync.adapters.graph import source as graph_source
from sp_sync.emulator.faults import FaultRule
from sp_sync.engine import pull as pull_module
from sp_sync.engine.pull import pull_list
from sp_sync.errors import MassDeleteRefused

from .site import open_site

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_source, "DELTA_PAGE_SIZE", 2)  # several pages per feed


def test_a_long_retry_after_during_a_pull_does_not_block_other_store_writes(
    tmp_path: Path,
) -> None:
    """F19: a 429 with Retry-After on the pull's second page; meanwhile another worker
    (another thread, its own connection: the daemon's second job) records a run and a
    ledger entry on the same SQLite file — they go through while the pull still waits."""
    waiting, release = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:  # the real wait, observable: held until released
        waiting.set()
        assert release.wait(30)

    with open_site(tmp_path, sleep=sleep) as site:
        spec = site.mapping.get("projects")
        site.emu.faults.add(FaultRule(kind="status", status=429, path=r"/items/delta$",
                                      skip=1, times=1, retry_after="40"))
        outcome: list[object] = []
        puller = threading.Thread(
            target=lambda: outcome.append(
                pull_list(site.lists, site.store, spec, site.ref(spec), NOW)
            )
        )
        puller.start()
        try:
            assert waiting.wait(30), "the pull never met the 429"
            run = site.store.start_run("weekly-digest", NOW)  # blocked 10 s before
            site.store.ledger_put("weekly-digest", "2026-W49", "sent", NOW)
            site.store.finish_run(run, "ok", NOW, {"sent": 1})
            assert puller.is_alive()  # the writes did not wait for the pull's commit
            assert site.store.cursor("projects") is None  # nothing of the pull yet
        finally:
            release.set()
            puller.join(30)
        assert outcome and site.mirror_equals_list("projects")
        assert site.store.cursor("projects") is not None
        assert site.store.ledger_get("weekly-digest", "2026-W49") is not None


def test_a_pull_that_would_tombstone_most_of_a_list_stops_and_keeps_its_cursor(
    tmp_path: Path,
) -> None:
    """F17 for the mirror: 4 of 6 items gone (and then the delta token expires, so the list
    is enumerated in full): nothing is tombstoned, the old cursor stays, until an admin
    allows it."""
    with open_site(tmp_path, projects=6) as site:
        spec = site.mapping.get("projects")
        pull_list(site.lists, site.store, spec, site.ref(spec), NOW)
        cursor = site.store.cursor("projects")
        for item in site.emu.items("Projekte")[:4]:
            site.emu.delete_item("Projekte", item["id"], None)
        site.emu.invalidate_delta("Projekte")  # 410: re-enumeration, deletes by absence

        with pytest.raises(MassDeleteRefused, match="--allow-mass-delete") as refused:
            pull_list(site.lists, site.store, spec, site.ref(spec), NOW)
        assert "4 of its 6 mirrored items deleted because a full read" in str(refused.value)
        assert site.store.count("projects") == 6 and site.store.cursor("projects") == cursor

        # A share the job allows, or the admin's flag, lets it through.
        result = pull_list(site.lists, site.store, spec, site.ref(spec), NOW,
                           allow_mass_delete=True)
        assert result.deleted == 4 and result.cursor_reset
        assert site.mirror_equals_list("projects")


def test_deleting_half_or_less_needs_no_flag(tmp_path: Path) -> None:
    with open_site(tmp_path, projects=6) as site:
        spec = site.mapping.get("projects")
        pull_list(site.lists, site.store, spec, site.ref(spec), NOW)
        for item in site.emu.items("Projekte")[:3]:
            site.emu.delete_item("Projekte", item["id"], None)
        assert pull_list(site.lists, site.store, spec, site.ref(spec), NOW).deleted == 3
        assert site.mirror_equals_list("projects")


def test_pages_beyond_the_memory_bound_are_spooled_to_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pull_module, "SPOOL_ITEMS", 3)  # 12 items, pages of 2: spilled
    with open_site(tmp_path, projects=12) as site:
        spec = site.mapping.get("projects")
        result = pull_list(site.lists, site.store, spec, site.ref(spec), NOW)
        assert result.pages == 6 and result.created == 12
        assert site.mirror_equals_list("projects")


def test_deletions_the_feed_reports_are_not_guarded(tmp_path: Path) -> None:
    """A person (or sp-sync's own guarded plan) deleted most items: the delta feed says so
    item by item — that is no read glitch, so the pull applies it."""
    with open_site(tmp_path, projects=6) as site:
        spec = site.mapping.get("projects")
        pull_list(site.lists, site.store, spec, site.ref(spec), NOW)
        for item in site.emu.items("Projekte")[:5]:
            site.emu.delete_item("Projekte", item["id"], None)
        assert pull_list(site.lists, site.store, spec, site.ref(spec), NOW).deleted == 5
        assert site.mirror_equals_list("projects")
