"""Writing list items: $batch of 20, If-Match, conflicts, ambiguous creates, throttled subs."""

from __future__ import annotations

import pytest

from sp_sync.adapters.graph.source import GraphLists
from sp_sync.domain.model import ActionKind, OutcomeStatus, WriteAction
from sp_sync.emulator import Emulator, FaultRule
from sp_sync.ports import ListRef, RunMeter, metered
from tests.adapters.graph.conftest import FakeTime, graph_requests


@pytest.fixture
def aufgaben(emu: Emulator) -> ListRef:
    return ListRef(emu.info.site_url, "Aufgaben")


def create(title: str) -> WriteAction:
    return WriteAction(ActionKind.CREATE, sync_key=title, fields={"Title": title})


def titles(emu: Emulator) -> list[str]:
    return [i["fields"]["Title"] for i in emu.items("Aufgaben")]


def test_creates_updates_deletes_go_in_batches_of_20(
    clean: Emulator, lists: GraphLists, aufgaben: ListRef
) -> None:
    lists.list_id(aufgaben)
    clean.clear_requests()
    out = lists.apply(aufgaben, [create(f"Aufgabe {n}") for n in range(45)])
    assert [o.status for o in out] == [OutcomeStatus.OK] * 45
    assert len(graph_requests(clean, "/$batch")) == 3  # ⌈45/20⌉
    assert all(o.item and o.item.id and o.item.etag for o in out)
    assert titles(clean).count("Aufgabe 44") == 1
    assert lists.stats.writes == 45

    upd = [WriteAction(ActionKind.UPDATE, "u", item_id=o.item.id, etag=o.item.etag,
                       fields={"Erledigt": True}) for o in out[:3] if o.item]
    gone = [WriteAction(ActionKind.DELETE, "d", item_id=o.item.id, etag=o.item.etag)
            for o in out[3:5] if o.item]
    res = lists.apply(aufgaben, upd + gone)
    assert [r.status for r in res] == [OutcomeStatus.OK] * 5
    now = {i["id"]: i for i in clean.items("Aufgaben")}
    for r in res[:3]:
        assert r.item is not None and r.item.etag == now[r.item.id]["eTag"]
        assert now[r.item.id]["fields"]["Erledigt"] is True
    assert all(g.item_id not in now for g in gone)


def test_stale_etag_is_a_conflict_and_the_persons_value_survives(
    clean: Emulator, lists: GraphLists, aufgaben: ListRef
) -> None:
    item = lists.get_item(aufgaben, "1", ("Title",))
    assert item is not None and item.etag
    clean.edit("Aufgaben", 1, {"Title": "Lastenheft (Anna)"}, "anna.becker@mannheim.de")
    res = lists.apply(aufgaben, [
        WriteAction(ActionKind.UPDATE, "k", item_id="1", etag=item.etag,
                    fields={"Title": "von sp-sync"}),
        WriteAction(ActionKind.DELETE, "k", item_id="1", etag=item.etag),
    ])
    assert [r.status for r in res] == [OutcomeStatus.CONFLICT] * 2
    assert "412" in (res[0].error or "")
    assert clean.items("Aufgaben")[0]["fields"]["Title"] == "Lastenheft (Anna)"


def test_writes_without_a_real_etag_are_refused_before_sending(
    clean: Emulator, lists: GraphLists, aufgaben: ListRef
) -> None:
    for etag in (None, "*", '"*"'):
        with pytest.raises(ValueError, match="eTag"):
            lists.apply(aufgaben, [WriteAction(ActionKind.UPDATE, "k", item_id="1", etag=etag,
                                               fields={"Title": "x"})])
    assert graph_requests(clean, "/$batch") == []


def test_5xx_after_a_create_is_ambiguous_and_never_duplicated(
    clean: Emulator, lists: GraphLists, aufgaben: ListRef
) -> None:
    lists.list_id(aufgaben)
    clean.faults.add(FaultRule(kind="after_write", method="POST", path=r"/items$", status=500))
    res = lists.apply(aufgaben, [create("Einmalig")])
    assert res[0].status is OutcomeStatus.AMBIGUOUS
    assert titles(clean).count("Einmalig") == 1  # applied once by the server, not re-sent


def test_failed_batch_post_with_creates_is_not_retried(
    clean: Emulator, lists: GraphLists, aufgaben: ListRef
) -> None:
    item = lists.get_item(aufgaben, "1", ("Title",))
    assert item is not None and item.etag
    clean.clear_requests()
    clean.faults.add(FaultRule(kind="after_write", method="POST", path=r"/\$batch$",
                               status=502))
    res = lists.apply(aufgaben, [
        create("Nur einmal"),
        WriteAction(ActionKind.UPDATE, "k", item_id="1", etag=item.etag,
                    fields={"Erledigt": True}),
    ])
    assert res[0].status is OutcomeStatus.AMBIGUOUS
    # the update rode in the failed batch and was applied; its re-send meets 412 → CONFLICT
    assert res[1].status in (OutcomeStatus.CONFLICT, OutcomeStatus.OK)
    assert titles(clean).count("Nur einmal") == 1


def test_throttled_sub_requests_are_resent_alone_after_retry_after(
    clean: Emulator, lists: GraphLists, aufgaben: ListRef, fake_time: FakeTime
) -> None:
    lists.list_id(aufgaben)
    clean.clear_requests()
    clean.faults.add(FaultRule(kind="status", method="POST", path=r"/items$", status=429,
                               retry_after="7", times=1))
    res = lists.apply(aufgaben, [create("T1"), create("T2"), create("T3")])
    assert [r.status for r in res] == [OutcomeStatus.OK] * 3
    batches = graph_requests(clean, "/$batch")
    assert len(batches) == 2
    subs = [r for r in clean.requests() if r.get("batch")]
    assert len(subs) == 4  # three, then only the throttled one again
    assert fake_time.sleeps and fake_time.sleeps[0] >= 7
    assert sum(1 for t in titles(clean) if t in ("T1", "T2", "T3")) == 3
    assert lists.stats.throttled == 1


def test_5xx_on_an_update_is_retried_because_if_match_makes_it_safe(
    clean: Emulator, lists: GraphLists, aufgaben: ListRef
) -> None:
    item = lists.get_item(aufgaben, "1", ("Title",))
    assert item is not None and item.etag
    clean.faults.add(FaultRule(kind="status", method="PATCH", path=r"/fields$", status=503))
    res = lists.apply(aufgaben, [WriteAction(ActionKind.UPDATE, "k", item_id="1",
                                             etag=item.etag, fields={"Title": "Neu"})])
    assert res[0].status is OutcomeStatus.OK
    assert clean.items("Aufgaben")[0]["fields"]["Title"] == "Neu"


def test_budget_exhausted_while_throttled_leaves_actions_throttled(
    clean: Emulator, aufgaben: ListRef, fake_time: FakeTime
) -> None:
    from sp_sync.adapters.graph.client import GraphConnection
    from tests.adapters.graph.conftest import config_for

    with (
        GraphConnection(config_for(clean, time=fake_time, run_time_budget_s=60)) as c,
        metered(RunMeter()),
    ):
        lists = GraphLists(c, clean.info.site_url)
        lists.list_id(aufgaben)
        clean.faults.add(FaultRule(kind="status", method="POST", path=r"/items$", status=429,
                                   retry_after="120", times=None))
        res = lists.apply(aufgaben, [create("Budget")])
    assert res[0].status is OutcomeStatus.THROTTLED
    assert "budget" in (res[0].error or "")
    assert fake_time.sleeps == []  # never slept past the budget
    assert "Budget" not in titles(clean)
