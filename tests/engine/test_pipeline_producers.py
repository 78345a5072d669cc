"""The write pipeline with several producers in one list, beside people's rows.

Property: any mix of producers (each with its own scope and leftover policy) writing into
one list — plus rows people added, with or without a SyncKey of a scope nobody owns —
converges in one run, never touches another scope or a person's row, and the next run
writes nothing. Also: create-only columns and rows people deleted (recreate off).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sp_sync.adapters.store.memory import MemoryStore
from sp_sync.clock import FixedClock
from sp_sync.domain.model import (
    ColumnSpec,
    ColumnType,
    DesiredRow,
    ListMapping,
    ListSpec,
    Record,
    Value,
)
from sp_sync.domain.plan import Leftover
from sp_sync.engine.context import RunContext
from sp_sync.engine.pipeline import Producer, write
from sp_sync.testing.memory_lists import MemoryLists
from tests.helpers.copying import services_for

from .conftest import ANNA, NOW

TZ = ZoneInfo("Europe/Berlin")
TITLE = "Gemischt"
KEY = "SyncKey"
SPEC = ListSpec(
    key="mixed", title=TITLE, role="target", sync_key_column=KEY,
    columns=(
        ColumnSpec("title", "Title", ColumnType.TEXT),
        ColumnSpec("value", "Wert", ColumnType.NUMBER),
        ColumnSpec("state", "Zustand", ColumnType.CHOICE, choices=("offen", "erledigt")),
        ColumnSpec("key", KEY, ColumnType.TEXT, indexed=True),
    ),
)
USERS = ListSpec(key="users", title="User Information List",
                 columns=(ColumnSpec("name", "Title", ColumnType.TEXT),))
MAPPING = ListMapping(lists=(USERS, SPEC))
CLOSED = "erledigt"


def closed(_: Record) -> Mapping[str, Value]:
    return {"state": CLOSED}


rows_st = st.dictionaries(st.sampled_from("abcdef"), st.tuples(
    st.sampled_from(["eins", "zwei", "drei", ""]), st.integers(0, 3)), max_size=5)
producer_st = st.tuples(rows_st, st.sampled_from(list(Leftover)))
people_st = st.lists(st.tuples(st.sampled_from([None, "x:1", "x:2", "p:9"]),
                               st.sampled_from(["Notiz", "Liste"])), max_size=4)


class Tenant:
    def __init__(self) -> None:
        self.sp = MemoryLists(page_size=3)
        self.sp.add_user(7, "Anna Becker", ANNA)
        self.sp.add_list(USERS.title)
        self.sp.add_list(TITLE)
        self.store = MemoryStore()
        self.svc = services_for(MAPPING, self.sp, self.sp, self.store,
                                lambda s: self.sp.ref(s.title), TZ, FixedClock(NOW))

    def run(self, producers: list[Producer]) -> int:
        ctx = RunContext("mixed", self.svc, NOW, self.store, allow_mass_delete=True)
        before = self.sp.stats.writes
        results = write(ctx, producers)
        assert all(r.applied is not None and not r.applied.failed for r in results)
        return self.sp.stats.writes - before

    def items(self) -> dict[str, dict[str, Any]]:
        return {i.id: dict(i.fields) for i in self.sp.items(TITLE)}


def producer(n: int, rows: dict[str, tuple[str, int]], leftover: Leftover) -> Producer:
    prefix = f"p{n}:"

    def gen() -> Iterator[DesiredRow]:
        for k, (title, value) in rows.items():
            yield DesiredRow(prefix + k, {"title": title or None, "value": value,
                                          "state": "offen"})

    return Producer(name=f"p{n}", target="mixed", prefix=prefix,
                    columns=("title", "value", "state"), rows=gen, leftover=leftover,
                    patch=closed if leftover is Leftover.PATCH else None)


def _visible(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k in ("Title", "Wert", "Zustand", KEY)
            and v not in (None, "")}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.lists(producer_st, min_size=1, max_size=3),
       after=st.lists(rows_st, min_size=3, max_size=3),
       people=people_st)
def test_producers_converge_and_keep_out_of_each_others_rows(
    before: list[tuple[dict[str, tuple[str, int]], Leftover]],
    after: list[dict[str, tuple[str, int]]],
    people: list[tuple[str | None, str]],
) -> None:
    t = Tenant()
    ids = [t.sp.create_item(TITLE, {"Title": title, **({KEY: key} if key else {})}, ANNA)
           for key, title in people]  # people's rows, some with a key of no one's scope
    first = [producer(n, rows, left) for n, (rows, left) in enumerate(before)]
    t.run(first)
    persons = {i: f for i, f in t.items().items() if i in ids}
    assert len(persons) == len(ids)

    # The producers now want other rows: each keeps to its scope and its leftover policy.
    second = [producer(n, after[n], left) for n, (_, left) in enumerate(before)]
    t.run(second)
    items = t.items()
    assert {i: _visible(items[i]) for i in persons} == {i: _visible(f)
                                                       for i, f in persons.items()}
    for n, ((old, left), new) in enumerate(zip(before, after, strict=False)):
        prefix = f"p{n}:"
        mine = {str(f[KEY])[len(prefix):]: f for f in items.values()
                if str(f.get(KEY) or "").startswith(prefix)}
        for k, (title, value) in new.items():  # every wanted row, exactly as wanted
            row = mine[k]
            assert (row.get("Title") or "", row.get("Wert"), row.get("Zustand")) == (
                title, value, "offen")
        gone = set(old) - set(new)
        if left is Leftover.DELETE:
            assert set(mine) == set(new)
        elif left is Leftover.KEEP:
            assert set(mine) == set(new) | set(old)
        else:
            assert set(mine) == set(new) | set(old)
            assert all(mine[k].get("Zustand") == CLOSED for k in gone)
    ours = [str(f[KEY]) for i, f in items.items() if i not in persons]
    assert len(ours) == len(set(ours))  # one row per key
    assert t.run(second) == 0  # converged: the next run writes nothing


def test_create_only_columns_and_deleted_rows_stay_as_people_left_them() -> None:
    t = Tenant()

    def meetings() -> Iterator[DesiredRow]:
        for k in ("a", "b"):
            yield DesiredRow(f"s:{k}", {"title": f"Runder Tisch {k}", "state": "offen"})

    series = Producer(name="series", target="mixed", prefix="s:", columns=("title", "state"),
                      rows=meetings, leftover=Leftover.KEEP, create_only=("title", "state"),
                      recreate=False)
    assert t.run([series]) == 2
    by_key = {f[KEY]: i for i, f in t.items().items()}
    t.sp.edit(TITLE, by_key["s:a"], {"Title": "Verschoben", "Zustand": CLOSED}, ANNA)
    t.sp.delete_item(TITLE, by_key["s:b"], ANNA)
    assert t.run([series]) == 0  # the person's rename, cancellation and deletion win
    assert [(f["Title"], f["Zustand"]) for f in t.items().values()] == [("Verschoben", CLOSED)]
