"""The leader lease and the run history's "interrupted", on every store (memory, SQLite,
PostgreSQL), and the fencing of a stalled old leader on real PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sp_sync.adapters.store.sql import SqlStore
from sp_sync.domain.model import MirrorItem
from sp_sync.errors import LeaseLost
from sp_sync.ports import StateStore

from .conftest import POSTGRES_URL

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _item(item_id: str) -> MirrorItem:
    return MirrorItem(list_key="projects", id=item_id, etag='"1"', fields={"Title": item_id},
                      content_hash="h" + item_id)


def test_one_holder_at_a_time_new_token_on_takeover(store: StateStore) -> None:
    assert store.leader() is None
    first = store.acquire_lease("a", 0.4)
    assert first is not None
    assert store.acquire_lease("b", 0.4) is None  # a's lease is valid
    assert store.acquire_lease("a", 0.4) == first  # renewing keeps the token
    assert store.renew_lease("a", first, 0.4)
    info = store.leader()
    assert info is not None and info.holder == "a" and info.token == first and info.valid
    time.sleep(0.6)
    assert not store.renew_lease("a", first, 0.4)  # expired: renewing is too late
    second = store.acquire_lease("b", 5)
    assert second is not None and second > first
    assert store.acquire_lease("a", 5) is None
    store.release_lease("b", second)
    third = store.acquire_lease("a", 5)
    assert third is not None and third > second  # a clean hand-over needs no waiting


def test_a_fenced_store_writes_only_while_its_token_is_the_lease(store: StateStore) -> None:
    token = store.acquire_lease("a", 0.3)
    assert token is not None
    store.fence(token)
    run = store.start_run("dtc-sync", NOW)
    with store.list_sync("projects") as tx:
        tx.upsert([_item("1")])
        tx.set_cursor("c1")
    time.sleep(0.5)
    assert store.acquire_lease("b", 5) is not None  # b took over while a was stalled
    with pytest.raises(LeaseLost), store.list_sync("projects") as tx:
        tx.upsert([_item("2")])
        tx.set_cursor("c2")
    with pytest.raises(LeaseLost):
        store.finish_run(run, "ok", NOW, {})
    with pytest.raises(LeaseLost):
        store.ledger_put("weekly-digest", "2026-W49", "sent", NOW)
    store.fence(None)
    assert store.cursor("projects") == "c1"
    assert [i.id for i in store.items("projects")] == ["1"]
    assert store.runs()[0].status == "running"


def test_runs_of_a_dead_process_are_interrupted_at_the_next_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    first = SqlStore(url)
    done = first.start_run("dtc-sync", NOW)
    first.finish_run(done, "ok", NOW, {})
    first.start_run("weekly-digest", NOW)  # its process "dies": never finished
    first.close()
    again = SqlStore(url)
    try:
        by_job = {r.job: r for r in again.runs()}
        assert by_job["dtc-sync"].status == "ok"
        dead = by_job["weekly-digest"]
        assert dead.status == "interrupted" and dead.finished_at is not None
        assert dead.message and "resumes" in dead.message and "check" in dead.message
    finally:
        again.close()


@pytest.mark.postgres
def test_a_stalled_leader_cannot_commit_on_postgres(pg_schema: str) -> None:
    """Two replicas' stores on one PostgreSQL: the old leader's pull commit, run record and
    ledger write are refused in their own transaction once the other replica took over."""
    assert POSTGRES_URL
    old, new = SqlStore(POSTGRES_URL, schema=pg_schema), SqlStore(POSTGRES_URL, schema=pg_schema)
    try:
        token = old.acquire_lease(old.owner, 0.5)
        assert token is not None
        old.fence(token)
        run = old.start_run("dtc-sync", NOW)
        assert new.acquire_lease(new.owner, 0.5) is None
        time.sleep(0.8)  # the old leader stalls past its lease
        taken = new.acquire_lease(new.owner, 30)
        assert taken is not None and taken > token
        new.fence(taken)
        assert new.interrupt_runs(NOW, "interrupted: test") == 1
        with pytest.raises(LeaseLost), old.list_sync("projects") as tx:
            tx.upsert([_item("1")])
            tx.set_cursor("old")
        with pytest.raises(LeaseLost):
            old.finish_run(run, "ok", NOW, {})
        with pytest.raises(LeaseLost):
            old.outbox_add("weekly-digest", "2026-W49", "a@mannheim.de", "<m@x>", b"x", NOW)
        assert old.cursor("projects") is None and old.count("projects") == 0
        assert new.runs()[0].status == "interrupted"
        info = old.leader()
        assert info is not None and info.holder == new.owner and info.valid
    finally:
        old.close()
        new.close()


def test_job_lock_is_free_in_a_single_process_store(store: StateStore) -> None:
    with store.job_lock("dtc-sync", wait=False) as free:
        assert free


@pytest.mark.postgres
def test_job_lock_keeps_a_second_process_out_until_released(pg_schema: str) -> None:
    assert POSTGRES_URL
    one, two = SqlStore(POSTGRES_URL, schema=pg_schema), SqlStore(POSTGRES_URL, schema=pg_schema)
    try:
        with one.job_lock("public-projects") as held:
            assert held
            with two.job_lock("public-projects", wait=False) as free:
                assert not free
            with two.job_lock("dtc-sync", wait=False) as other:
                assert other  # another job is not affected
        with two.job_lock("public-projects", wait=False) as free:
            assert free
    finally:
        one.close()
        two.close()
