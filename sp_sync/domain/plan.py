"""Plan writes: compare desired rows with the mirrored target items (pure).

Decision table, per SyncKey (``key_column`` holds it in the target list):

=====================  ===================  =========================================
desired row            current item(s)      action
=====================  ===================  =========================================
yes                    none                 CREATE with every desired field + the key
yes                    one, equal           nothing ("unchanged")
yes                    one, differs         UPDATE with only the changed fields, eTag
no                     one                  the scope's ``leftover``: DELETE with eTag,
                                            KEEP it, or PATCH (UPDATE the fields
                                            ``patch`` gives, where they differ)
any                    several              keep the lowest id, DELETE the others —
                                            always: duplicates are sp-sync's own
                                            rows left by a crash, never wanted
none, key was deleted  none (tombstone)     CREATE, unless ``recreate`` is off: then a
                                            row a person deleted stays deleted
=====================  ===================  =========================================

Only rows of the **scope** are planned: items whose SyncKey starts with
``Scope.prefix``. Items without a SyncKey (people's rows) and items of other scopes (other
producers writing into the same list) are never touched and not counted.

"Equal" is the canonical comparison of :mod:`sp_sync.domain.normalize`, over ``columns``
plus the key only — other columns of the target are never touched. ``create_only``
columns are written when a row is created and never compared or updated afterwards (in
lists people edit, the person owns them once the row exists).

Shortcut: when the target spec hashes every one of ``columns`` (see :func:`hash_basis`),
a desired row whose content hash equals the item's stored ``content_hash`` (the pull's
hash, same canonical form) is equal without comparing column by column; any other row
is compared column by column as before.

:func:`plan_indexed` makes the same plan from a light index of the target — (key, id,
eTag, hash) per item — and loads the fields only of the items it must diff or delete.
:func:`plan_merged` makes it again from the index and the desired rows both in canonical
key order, merging the two streams, so planning memory does not grow with the list.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sp_sync.domain.model import (
    ActionKind,
    ColumnSpec,
    DesiredRow,
    ListSpec,
    MirrorItem,
    WriteAction,
)
from sp_sync.domain.normalize import Canon, Hasher, canonicalizer, content_hasher, is_empty

Column = ColumnSpec | str


class Leftover(StrEnum):
    """What happens to a row of the scope that is no longer wanted."""

    DELETE = "delete"  # delete it (under the mass-delete guard)
    KEEP = "keep"  # leave it as it is
    PATCH = "patch"  # update some fields (a fixed finding is closed, not deleted)


Patch = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
"""``patch(current_fields) -> fields to set`` (internal names) for a row no longer wanted."""


@dataclass(frozen=True)
class Scope:
    """The part of a target list one producer owns, and how it treats it (module doc)."""

    prefix: str = ""  # SyncKeys this producer owns start with it ("" = every keyed row)
    leftover: Leftover = Leftover.DELETE
    patch: Patch | None = None  # for Leftover.PATCH
    create_only: frozenset[str] = frozenset()  # field names written on create only
    recreate: bool = True  # False: a row deleted from the list is never created again

    def owns(self, key: object) -> bool:
        return key is not None and str(key).startswith(self.prefix)


EVERYTHING = Scope()


@dataclass
class Plan:
    """What to write, and how the target compares with the desired rows."""

    actions: list[WriteAction] = field(default_factory=list)
    unchanged: int = 0
    current_count: int = 0  # live items in the target when planned
    desired_count: int = 0
    duplicates: int = 0  # extra rows sharing a SyncKey (deleted by the plan)
    before: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # item id → old fields
    # Writes planned but left to later runs (a limit per run), by ActionKind value.
    deferred: dict[str, int] = field(default_factory=dict)

    def _count(self, kind: ActionKind) -> int:
        return sum(1 for a in self.actions if a.kind is kind)

    @property
    def creates(self) -> int:
        return self._count(ActionKind.CREATE)

    @property
    def updates(self) -> int:
        return self._count(ActionKind.UPDATE)

    @property
    def deletes(self) -> int:
        return self._count(ActionKind.DELETE)

    @property
    def empty(self) -> bool:
        return not self.actions


def _name(col: Column) -> str:
    return col if isinstance(col, str) else col.field_name


def _id_order(item: MirrorItem) -> tuple[int, int, int, str]:
    return _numeric_first(item.id)


def _numeric_first(item_id: str) -> tuple[int, int, int, str]:
    # Numeric ids by number; ties ("7" and "07") as the store orders ids (shorter
    # first), so the order is total and both planners (plan, plan_merged) agree.
    if item_id.isdigit():
        return (0, int(item_id), len(item_id), item_id)
    return (1, 0, len(item_id), item_id)


Compiled = list[tuple[str, Canon]]


def compile_columns(columns: Sequence[Column]) -> Compiled:
    """(field name, canonicaliser) per column: the comparison set up once, not per row."""
    return [(_name(c), canonicalizer(c)) for c in columns]


def _diff(desired: Mapping[str, Any], current: Mapping[str, Any], cols: Compiled
          ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    want_get, cur_get = desired.get, current.get
    for name, canon in cols:
        want = want_get(name)
        if canon(want) != canon(cur_get(name)):
            out[name] = None if is_empty(want) else want
    return out


def changed_fields(
    desired: Mapping[str, Any], current: Mapping[str, Any], columns: Sequence[Column]
) -> dict[str, Any]:
    """The desired values of ``columns`` that differ canonically from ``current``."""
    return _diff(desired, current, compile_columns(columns))


def hash_basis(target: ListSpec, cols: Sequence[Column], key_column: str) -> Hasher | None:
    """The target's content hasher if it hashes every column of ``cols`` (module doc).

    ``cols`` as from :func:`compared_columns`. Equal hashes then mean every hashed column
    is canonically equal — each compared column with the planner's own canonicaliser —
    and the key is equal by the match itself. Columns hashed but not compared (the
    SyncKey declared as a column, columns this job does not sync) only make equal
    hashes rarer. ``None`` for another key, a compared column the target does not hash
    the same way, or duplicate column keys: then no shortcut.
    """
    specs = [c for c in cols if not isinstance(c, str)]
    names = [c for c in cols if isinstance(c, str)]
    same = (
        target.sync_key_column == key_column
        and set(specs) <= set(target.columns)
        and len({c.key for c in target.columns}) == len(target.columns)
        and all(n == key_column for n in names)
    )
    return content_hasher(target) if same else None


def compared_columns(
    columns: Sequence[Column], key_column: str, create_only: Collection[str] = ()
) -> list[Column]:
    """``columns`` (less ``create_only`` ones) plus the key column (once): what the planner
    compares."""
    cols: list[Column] = [
        c for c in columns if _name(c) != key_column and _name(c) not in create_only
    ]
    cols.append(next((c for c in columns if _name(c) == key_column), key_column))
    return cols


def _leftover(
    scope: Scope, key: str, item_id: str, etag: str | None, fields: Mapping[str, Any],
    compiled: Compiled, result: Plan,
) -> None:
    """The action for a row of the scope that is no longer wanted (if any)."""
    if scope.leftover is Leftover.DELETE:
        result.actions.append(WriteAction(ActionKind.DELETE, key, item_id, etag))
        result.before[item_id] = fields
    elif scope.leftover is Leftover.PATCH and scope.patch is not None:
        wish = scope.patch(fields)
        diff = _diff(wish, fields, compile_columns(list(wish))) if wish else {}
        if diff:
            result.actions.append(WriteAction(ActionKind.UPDATE, key, item_id, etag, diff))
            result.before[item_id] = fields
        else:
            result.unchanged += 1
    else:
        result.unchanged += 1


def _create(row: DesiredRow, key: str, key_column: str, result: Plan) -> None:
    fields = {k: v for k, v in row.fields.items() if not is_empty(v)}
    fields[key_column] = row.sync_key
    result.actions.append(WriteAction(ActionKind.CREATE, sync_key=key, fields=fields))


def plan(
    desired: Iterable[DesiredRow],
    current: Iterable[MirrorItem],
    key_column: str,
    columns: Sequence[Column],
    scope: Scope = EVERYTHING,
    target: ListSpec | None = None,
    gone: Collection[str] = (),
) -> Plan:
    """Compare desired rows with the target's mirrored items; see the module table.

    ``columns`` are internal field names or ColumnSpecs (type-aware comparison); the
    key column is always compared too. Tombstoned items are ignored. ``target``: the
    target's ListSpec, whose mirror hashes allow the shortcut in the module doc.
    ``gone``: canonical keys of rows deleted from the list (for ``scope.recreate``).
    """
    cols = compared_columns(columns, key_column, scope.create_only)
    compiled = compile_columns(cols)
    hasher: Callable[[Mapping[str, Any]], str] | None = (
        hash_basis(target, cols, key_column) if target is not None else None
    )
    key_canon = canonicalizer(key_column)
    wanted: dict[str, DesiredRow] = {}
    for row in desired:
        wanted[str(key_canon(row.sync_key))] = row  # repeated key: last wins

    by_key: dict[str, list[MirrorItem]] = {}
    result = Plan(desired_count=len(wanted))
    for item in current:
        if item.deleted:
            continue
        key = key_canon(item.fields.get(key_column))
        if not scope.owns(key):
            continue  # a person's row, or another producer's: never touched
        result.current_count += 1
        by_key.setdefault(str(key), []).append(item)

    def drop(item: MirrorItem, key: str) -> None:
        result.actions.append(
            WriteAction(ActionKind.DELETE, sync_key=key, item_id=item.id, etag=item.etag)
        )
        result.before[item.id] = item.fields

    for key, items in by_key.items():
        keep = items[0]
        if len(items) > 1:
            items.sort(key=_id_order)
            keep, extra = items[0], items[1:]
            result.duplicates += len(extra)
            for dup in extra:
                drop(dup, key)
        want = wanted.get(key)
        if want is None:
            _leftover(scope, key, keep.id, keep.etag, keep.fields, compiled, result)
            continue
        wish = {**want.fields, key_column: want.sync_key}
        if hasher is not None and keep.content_hash and hasher(wish) == keep.content_hash:
            result.unchanged += 1
            continue
        diff = _diff(wish, keep.fields, compiled)
        if diff:
            result.actions.append(
                WriteAction(
                    ActionKind.UPDATE, sync_key=key, item_id=keep.id, etag=keep.etag,
                    fields=diff,
                )
            )
            result.before[keep.id] = keep.fields
        else:
            result.unchanged += 1
    for key, row in wanted.items():
        if key not in by_key and (scope.recreate or key not in gone):
            _create(row, key, key_column, result)
    return result


IndexEntry = tuple[Any, str, str | None, str]  # (raw key value, item id, eTag, content hash)
Loader = Callable[[Sequence[str]], Mapping[str, MirrorItem]]
LOAD_BATCH = 500  # items fetched per load() call: only the rows that need their fields


def plan_indexed(
    desired: Iterable[DesiredRow],
    index: Iterable[IndexEntry],
    load: Loader,
    key_column: str,
    columns: Sequence[Column],
    scope: Scope = EVERYTHING,
    target: ListSpec | None = None,
    gone: Collection[str] = (),
) -> tuple[Plan, dict[str, DesiredRow]]:
    """:func:`plan` from the target's light key index (live items, ordered by id).

    Same plan as :func:`plan` over the same items. A desired row whose hash matches its
    item's (the module doc's shortcut) is decided from the index alone and not kept; the
    items to diff, patch or delete are fetched with ``load`` (ids → items) in batches.
    Desired rows are streamed. Returns the plan and the desired rows that were not decided
    equal by hash, by canonical key (all rows an action can be replanned from).
    """
    cols = compared_columns(columns, key_column, scope.create_only)
    compiled = compile_columns(cols)
    hasher = hash_basis(target, cols, key_column) if target is not None else None
    key_canon = canonicalizer(key_column)
    result = Plan()

    by_key: dict[str, IndexEntry] = {}  # the item kept per key (lowest id)
    extra: dict[str, list[IndexEntry]] = {}  # duplicates to delete
    for entry in index:
        key = key_canon(entry[0])
        if not scope.owns(key):
            continue  # a person's row, or another producer's: never touched
        result.current_count += 1
        if (text := str(key)) in by_key:
            extra.setdefault(text, []).append(entry)
        else:
            by_key[text] = entry
    for key, more in extra.items():
        group = sorted([by_key[key], *more], key=_entry_order)
        by_key[key], extra[key] = group[0], group[1:]

    wanted: dict[str, DesiredRow | None] = {}  # None: equal by hash
    for row in desired:
        key = str(key_canon(row.sync_key))
        hit = by_key.get(key)
        if (
            hasher is not None and hit is not None and hit[3]
            and hasher({**row.fields, key_column: row.sync_key}) == hit[3]
        ):
            wanted[key] = None
        else:
            wanted[key] = row  # repeated key: last wins (and keeps the first position)
    result.desired_count = len(wanted)

    # (key, entry, row, duplicate?) — row None: not wanted (duplicate or leftover)
    steps: list[tuple[str, IndexEntry, DesiredRow | None, bool]] = []
    for key, keep in by_key.items():
        for dup in extra.get(key, ()):
            result.duplicates += 1
            steps.append((key, dup, None, True))
        if key not in wanted:
            if scope.leftover is Leftover.KEEP:
                result.unchanged += 1
            else:
                steps.append((key, keep, None, False))
            continue
        want = wanted[key]
        if want is None:
            result.unchanged += 1
        else:
            steps.append((key, keep, want, False))
    for start in range(0, len(steps), LOAD_BATCH):
        batch = steps[start:start + LOAD_BATCH]
        loaded = load([e[1] for _, e, _, _ in batch])
        for key, (_, item_id, etag, _), want, duplicate in batch:
            item = loaded.get(item_id)
            old: Mapping[str, Any] = item.fields if item is not None else {}
            if item is not None:
                etag = item.etag
            if duplicate:
                result.actions.append(WriteAction(ActionKind.DELETE, key, item_id, etag))
                result.before[item_id] = old
            elif want is None:
                _leftover(scope, key, item_id, etag, old, compiled, result)
            elif diff := _diff({**want.fields, key_column: want.sync_key}, old, compiled):
                result.actions.append(
                    WriteAction(ActionKind.UPDATE, key, item_id, etag, fields=diff)
                )
                result.before[item_id] = old
            else:
                result.unchanged += 1
    for key, maybe in wanted.items():
        if maybe is not None and key not in by_key and (scope.recreate or key not in gone):
            _create(maybe, key, key_column, result)
    return result, {k: r for k, r in wanted.items() if r is not None}


def _entry_order(entry: IndexEntry) -> tuple[int, int, int, str]:
    return _numeric_first(entry[1])


class Unsorted(ValueError):
    """:func:`plan_merged` got a stream out of canonical key order (the caller falls back
    to :func:`plan_indexed`)."""


SortedRow = tuple[str, int, DesiredRow]  # (canonical key, position in the producer, row)


def plan_merged(
    desired: Iterable[SortedRow],
    index: Iterable[IndexEntry],
    load: Loader,
    key_column: str,
    columns: Sequence[Column],
    scope: Scope = EVERYTHING,
    target: ListSpec | None = None,
    gone: Collection[str] = (),
    limit: int | None = None,
) -> tuple[Plan, dict[str, DesiredRow]]:
    """:func:`plan_indexed` as a merge of two streams in canonical key order: memory flat.

    ``desired``: (canonical key, position, row) ordered by (key, position) — the producer's
    rows sorted (:mod:`sp_sync.engine.keysort`); ``index``: the key index ordered by key
    (``StateStore.key_index(…, by_key=True)``). Neither is held: only one key's rows and
    items, the items waiting to be loaded (:data:`LOAD_BATCH`) and the plan's actions are.
    Raises :class:`Unsorted` (before anything is decided for good: the plan is pure) when
    a stream is not in canonical key order — a raw key the database sorts differently from
    its canonical form, e.g. one a person padded with blanks.

    Same plan as :func:`plan_indexed` (actions in the same order: items in id order, then
    creates in the producer's order). The rows returned are only those an UPDATE or a
    CREATE was planned from (what the replanner needs).

    ``limit``: keep only the first ``limit`` actions of that order (a bounded heap: an
    initial load holds one run's share, not every row) and count the rest in
    ``Plan.deferred``; the counts and the rest of the plan are those of the whole plan.
    """
    cols = compared_columns(columns, key_column, scope.create_only)
    compiled = compile_columns(cols)
    hasher = hash_basis(target, cols, key_column) if target is not None else None
    key_canon = canonicalizer(key_column)
    result = Plan()
    # (its place in plan_indexed's order, action); with a limit a heap, largest place first
    acts: list[tuple[_Last, WriteAction]] = []
    kept: dict[str, DesiredRow] = {}

    def add(action: WriteAction, tag: tuple[Any, ...]) -> None:
        if limit is None:
            acts.append((_Last(tag), action))
            return
        heapq.heappush(acts, (_Last(tag), action))
        if len(acts) > limit:
            _, out = heapq.heappop(acts)  # the last in order: left for a later run
            result.deferred[out.kind.value] = result.deferred.get(out.kind.value, 0) + 1
            if out.item_id:
                result.before.pop(out.item_id, None)
            if out.kind is not ActionKind.DELETE:
                kept.pop(out.sync_key, None)
    # (key, entry, wanted row or None, duplicate?, order tag) waiting for their fields
    pending: list[tuple[str, IndexEntry, DesiredRow | None, bool, tuple[Any, ...]]] = []

    def flush() -> None:
        loaded = load([e[1] for _, e, _, _, _ in pending])
        for key, (_, item_id, etag, _), want, duplicate, tag in pending:
            item = loaded.get(item_id)
            old: Mapping[str, Any] = item.fields if item is not None else {}
            if item is not None:
                etag = item.etag
            if duplicate:
                result.before[item_id] = old
                add(WriteAction(ActionKind.DELETE, key, item_id, etag), tag)
            elif want is None:
                _leftover(scope, key, item_id, etag, old, compiled, result)
                if result.actions:  # at most one: the leftover's delete or patch
                    add(result.actions.pop(), tag)
            elif diff := _diff({**want.fields, key_column: want.sync_key}, old, compiled):
                result.before[item_id] = old
                kept[key] = want
                add(WriteAction(ActionKind.UPDATE, key, item_id, etag, fields=diff), tag)
            else:
                result.unchanged += 1
        pending.clear()

    def step(key: str, entry: IndexEntry, want: DesiredRow | None, dup: bool,
             tag: tuple[Any, ...]) -> None:
        pending.append((key, entry, want, dup, tag))
        if len(pending) >= LOAD_BATCH:
            flush()

    items = _index_groups(index, key_canon, scope)
    rows = _desired_groups(desired)
    group = next(items, None)
    wish = next(rows, None)
    while group is not None or wish is not None:
        if group is not None and (wish is None or group[0] < wish[0]):
            key, entries = group
            matched: tuple[str, int, DesiredRow] | None = None
            group = next(items, None)
        elif group is None or (wish is not None and wish[0] < group[0]):
            assert wish is not None
            key, entries, matched = wish[0], [], wish
            wish = next(rows, None)
        else:
            assert wish is not None
            key, entries = group
            matched = wish
            group, wish = next(items, None), next(rows, None)
        if matched is not None:
            result.desired_count += 1
        if not entries:
            assert matched is not None
            if scope.recreate or key not in gone:
                _create(matched[2], key, key_column, result)
                kept[key] = matched[2]
                add(result.actions.pop(), (1, matched[1]))
            continue
        result.current_count += len(entries)
        entries.sort(key=_entry_order)
        keep, extra = entries[0], entries[1:]
        first = _entry_order(keep)
        for dup in extra:
            result.duplicates += 1
            step(key, dup, None, True, (0, first, 0, _entry_order(dup)))
        tag = (0, first, 1, ())
        if matched is None:
            if scope.leftover is Leftover.KEEP:
                result.unchanged += 1
            else:
                step(key, keep, None, False, tag)
            continue
        row = matched[2]
        if (
            hasher is not None and keep[3]
            and hasher({**row.fields, key_column: row.sync_key}) == keep[3]
        ):
            result.unchanged += 1
        else:
            step(key, keep, row, False, tag)
    flush()
    acts.sort(key=lambda a: a[0].tag)
    result.actions = [a for _, a in acts]
    return result, kept


class _Last:
    """A place in the plan's order, compared the other way round (a max-heap for heapq)."""

    __slots__ = ("tag",)

    def __init__(self, tag: tuple[Any, ...]) -> None:
        self.tag = tag

    def __lt__(self, other: _Last) -> bool:
        return bool(other.tag < self.tag)


def _index_groups(
    index: Iterable[IndexEntry], key_canon: Canon, scope: Scope
) -> Iterator[tuple[str, list[IndexEntry]]]:
    """The scope's index entries grouped by canonical key, checking the order."""
    last: str | None = None
    entries: list[IndexEntry] = []
    for entry in index:
        key = key_canon(entry[0])
        if not scope.owns(key):
            continue  # a person's row, or another producer's: never touched
        text = str(key)
        if text == last:
            entries.append(entry)
            continue
        if last is not None:
            if text < last:
                raise Unsorted(f"key index: {text!r} after {last!r}")
            yield last, entries
        last, entries = text, [entry]
    if last is not None:
        yield last, entries


def _desired_groups(desired: Iterable[SortedRow]) -> Iterator[SortedRow]:
    """One row per key: the last one (repeated key: last wins), at the first's position."""
    current: SortedRow | None = None
    for key, pos, row in desired:
        if current is not None and key == current[0]:
            if pos < current[1]:
                raise Unsorted(f"desired rows: position {pos} after {current[1]}")
            current = (key, current[1], row)
            continue
        if current is not None:
            if key < current[0]:
                raise Unsorted(f"desired rows: {key!r} after {current[0]!r}")
            yield current
        current = (key, pos, row)
    if current is not None:
        yield current


def check_mass_delete(
    plan: Plan, share: float = 0.5, source_count: int | None = None
) -> str | None:
    """Why the plan deletes too much (caller raises MassDeleteRefused), or ``None``.

    Refuses when the source reads empty while the target is not, or when more than
    ``share`` of the target's live items would be deleted.
    """
    current = plan.current_count
    deletes = plan.deletes + plan.deferred.get(ActionKind.DELETE.value, 0)  # the whole plan
    if source_count == 0 and current > 0:
        return (
            f"the source reads empty while the target holds {current} items "
            f"({deletes} would be deleted)"
        )
    if deletes and deletes > share * current:
        return (
            f"the plan deletes {deletes} of {current} items, more than "
            f"{share:.0%} of the target"
        )
    return None


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_plan(plan: Plan) -> str:
    """Human-readable plan for ``--dry-run``: one line per action, then the totals."""
    lines: list[str] = []
    for a in plan.actions:
        if a.kind is ActionKind.CREATE:
            vals = ", ".join(f"{k}={_short(v)}" for k, v in sorted(a.fields.items()))
            lines.append(f"+ create {a.sync_key}: {vals}")
        elif a.kind is ActionKind.UPDATE:
            old = plan.before.get(a.item_id or "", {})
            vals = ", ".join(
                f"{k}: {_short(old.get(k))} → {_short(v)}" for k, v in sorted(a.fields.items())
            )
            lines.append(f"~ update item {a.item_id} ({a.sync_key}): {vals}")
        else:
            lines.append(f"- delete item {a.item_id} ({a.sync_key})")
    lines.append(
        f"{plan.creates} to create, {plan.updates} to update, {plan.deletes} to delete, "
        f"{plan.unchanged} unchanged ({plan.current_count} items in the target)"
    )
    return "\n".join(lines)
