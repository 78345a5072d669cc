"""B5: bounds on every Graph answer, over HTTPS from the emulator — a 10 MB body and
100,000-deep JSON are refused with a clear error (not retried, nothing applied, no
RecursionError); a poisoned item is reported and skipped while the rest of the page
goes through, and is not mistaken for a deletion."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sp_sync.adapters.graph import source as graph_source
from sp_sync.emulator.faults import FaultRule
from sp_sync.engine.pull import pull_list
from sp_sync.errors import BadResponse

from .site import P, open_site

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
REPORT = "Statusbericht"


@pytest.fixture(autouse=True)
def _small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_source, "DELTA_PAGE_SIZE", 3)


def _delta_calls(site: object) -> int:
    emu = site.emu  # type: ignore[attr-defined]
    return sum(1 for r in emu.requests() if r["path"].endswith("/items/delta"))


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        (FaultRule(kind="oversize", path=r"/items/delta$", size=10_000_000), "MB"),
        (FaultRule(kind="deep", path=r"/items/delta$", depth=100_000), "nested deeper"),
    ],
    ids=["10MB", "100000-deep"],
)
def test_an_answer_over_the_bounds_is_refused_once_and_nothing_applied(
    tmp_path: Path, rule: FaultRule, says: str
) -> None:
    with open_site(tmp_path, projects=6) as site:
        spec = site.mapping.get("projects")
        site.emu.faults.add(rule)
        site.emu.clear_requests()
        with pytest.raises(BadResponse, match=says) as refused:
            pull_list(site.lists, site.store, spec, site.ref(spec), NOW)
        assert "refused" in str(refused.value) and "nothing of it was applied" in str(
            refused.value)
        assert _delta_calls(site) == 1  # final: the same answer would come again
        assert site.store.count("projects") == 0 and site.store.cursor("projects") is None
        pull_list(site.lists, site.store, spec, site.ref(spec), NOW)  # the fault is gone
        assert site.mirror_equals_list("projects")


def test_a_poisoned_item_is_skipped_and_the_rest_of_the_page_goes_through(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with open_site(tmp_path, projects=6, max_value_chars=1000) as site:
        spec = site.mapping.get("projects")
        pull_list(site.lists, site.store, spec, site.ref(spec), NOW)
        ids = [i["id"] for i in site.emu.items(P)]
        site.emu.edit(P, ids[2], {REPORT: "x" * 5000}, None)  # over the value bound
        site.emu.edit(P, ids[1], {"Title": "Neu 1"}, None)  # same page, fine
        site.emu.edit(P, ids[3], {"Title": "Neu 3"}, None)

        before = site.store.get("projects", ids[2])
        result = pull_list(site.lists, site.store, spec, site.ref(spec), NOW)
        assert result.poisoned == 1 and result.updated == 2
        assert site.store.get("projects", ids[1]).fields["Title"] == "Neu 1"  # type: ignore[union-attr]
        assert site.store.get("projects", ids[3]).fields["Title"] == "Neu 3"  # type: ignore[union-attr]
        assert site.store.get("projects", ids[2]) == before  # kept as it was
        assert site.lists.stats.poisoned == 1
        assert any(f"item {ids[2]} skipped" in r.getMessage() and "5,000 characters"
                   in r.getMessage() for r in caplog.records)

        site.emu.invalidate_delta(P)  # a full enumeration must not take it for deleted
        again = pull_list(site.lists, site.store, spec, site.ref(spec), NOW)
        assert again.poisoned == 1 and again.deleted == 0
        assert site.store.count("projects") == 6

        site.emu.edit(P, ids[2], {REPORT: "kurz"}, None)  # fixed in SharePoint
        pull_list(site.lists, site.store, spec, site.ref(spec), NOW)
        assert site.mirror_equals_list("projects")


def test_item_shapes_that_are_poison() -> None:
    from sp_sync.adapters.graph.wire import raw_items

    deep: object = "x"
    for _ in range(40):
        deep = [deep]
    page = [
        {"id": "1", "fields": {"Title": "gut"}},
        {"id": "2", "fields": {"Title": deep}},
        {"id": "3", "fields": "not an object"},
        {"fields": {"Title": "ohne id"}},
        "a string",
        {"id": "4", "fields": {"Title": "y" * 20}},
    ]
    items, poisoned = raw_items(page, max_depth=32, max_chars=15)
    assert [i.id for i in items] == ["1"]
    reasons = {p.id: p.reason for p in poisoned}
    assert "nested deeper than 32" in reasons["2"]
    assert "not an object" in reasons["3"]
    assert reasons["4"].startswith("a text value of 20 characters")
    assert [p.id for p in poisoned].count(None) == 2


def test_a_page_whose_value_is_not_a_list_is_refused_whole() -> None:
    from sp_sync.adapters.graph.wire import raw_items

    with pytest.raises(BadResponse, match="not a list"):
        raw_items({"0": {"id": "1"}})
    assert raw_items(None) == ([], [])


def test_the_bounds_apply_to_what_is_kept_of_an_item() -> None:
    from sp_sync.adapters.graph.wire import raw_items

    deep: object = "x"
    for _ in range(40):
        deep = {"a": deep}
    page = [
        # Dropped unread by raw_item: not poison.
        {"id": "1", "fields": {"Title": "gut"}, "parentReference": {"siteId": "s" * 20},
         "contentType": deep},
        {"id": "2", "fields": {"Title": "gut"}, "webUrl": "u" * 20},
        {"id": "3", "fields": {"Title": "gut"}, "lastModifiedBy": {"user": deep}},
        {"id": "4" * 20, "fields": {"Title": "gut"}},
    ]
    items, poisoned = raw_items(page, max_depth=32, max_chars=15)
    assert [i.id for i in items] == ["1"]
    reasons = {p.id: p.reason for p in poisoned}
    assert reasons["2"].startswith("a text value of 20 characters")
    assert "nested deeper than 32" in reasons["3"]
    assert reasons["4" * 20].startswith("a text value of 20 characters")
