"""Plan writes: compare desired rows with the mirrored target items (pure).

Decision table, per SyncKey (``key_column`` holds it in the target list):

=====================  ===================  =========================================
desired row            current item(s)      action
=====================  ===================  =========================================
yes                    none                 CREATE with every desired field + the key
yes                    one, equal           nothing ("unchanged")
yes                    one, differs         UPDATE with only the changed fields, eTag
no                     one                  DELETE with eTag (only if ``delete``)
any                    several              keep the lowest id, DELETE the others —
                                            always: duplicates are sp-sync's own
                                            rows left by a crash, never wanted
(item without a key)                        DELETE (only if ``delete``)
=====================  ===================  =========================================

"Equal" is the canonical comparison of :mod:`sp_sync.domain.normalize`, over ``columns``
plus the key only — other columns of the target are never touched.

Shortcut: when ``columns`` plus the key are exactly the target spec's hashed columns, a
desired row whose content hash equals the item's stored ``content_hash`` (the pull's
hash over the same columns, same canonical form) is equal without comparing column by
column; any other row is compared column by column as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass
class Plan:
    """What to write, and how the target compares with the desired rows."""

    actions: list[WriteAction] = field(default_factory=list)
    unchanged: int = 0
    current_count: int = 0  # live items in the target when planned
    desired_count: int = 0
    duplicates: int = 0  # extra rows sharing a SyncKey (deleted by the plan)
    before: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # item id → old fields

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


def _id_order(item: MirrorItem) -> tuple[int, int, str]:
    return (0, int(item.id), "") if item.id.isdigit() else (1, 0, item.id)


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
    """The target's content hasher if it hashes exactly ``cols`` (see the module doc).

    ``cols`` as from :func:`compared_columns`. ``None`` when the bases differ (a subset of
    the columns is synced, another key, duplicate column keys): then no shortcut.
    """
    specs = [c for c in cols if not isinstance(c, str)]
    names = [c for c in cols if isinstance(c, str)]
    same = (
        target.sync_key_column == key_column
        and set(specs) == set(target.columns)
        and len({c.key for c in target.columns}) == len(target.columns)
        and all(n == key_column for n in names)
    )
    return content_hasher(target) if same else None


def compared_columns(columns: Sequence[Column], key_column: str) -> list[Column]:
    """``columns`` plus the key column (once): what the planner compares."""
    cols: list[Column] = [c for c in columns if _name(c) != key_column]
    cols.append(next((c for c in columns if _name(c) == key_column), key_column))
    return cols


def plan(
    desired: Iterable[DesiredRow],
    current: Iterable[MirrorItem],
    key_column: str,
    columns: Sequence[Column],
    delete: bool = True,
    target: ListSpec | None = None,
) -> Plan:
    """Compare desired rows with the target's mirrored items; see the module table.

    ``columns`` are internal field names or ColumnSpecs (type-aware comparison); the
    key column is always compared too. Tombstoned items are ignored. ``target``: the
    target's ListSpec, whose mirror hashes allow the shortcut in the module doc.
    """
    cols = compared_columns(columns, key_column)
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
    keyless: list[MirrorItem] = []
    for item in current:
        if item.deleted:
            continue
        result.current_count += 1
        key = key_canon(item.fields.get(key_column))
        if key is None:
            keyless.append(item)
        else:
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
            if delete:
                drop(keep, key)
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
    if delete:
        for item in sorted(keyless, key=_id_order):
            drop(item, "")
    for key, row in wanted.items():
        if key not in by_key:
            fields = {k: v for k, v in row.fields.items() if not is_empty(v)}
            fields[key_column] = row.sync_key
            result.actions.append(WriteAction(ActionKind.CREATE, sync_key=key, fields=fields))
    return result


def check_mass_delete(
    plan: Plan, share: float = 0.5, source_count: int | None = None
) -> str | None:
    """Why the plan deletes too much (caller raises MassDeleteRefused), or ``None``.

    Refuses when the source reads empty while the target is not, or when more than
    ``share`` of the target's live items would be deleted.
    """
    current = plan.current_count
    if source_count == 0 and current > 0:
        return (
            f"the source reads empty while the target holds {current} items "
            f"({plan.deletes} would be deleted)"
        )
    if plan.deletes and plan.deletes > share * current:
        return (
            f"the plan deletes {plan.deletes} of {current} items, more than "
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
            lines.append(f"- delete item {a.item_id} ({a.sync_key or 'no SyncKey'})")
    lines.append(
        f"{plan.creates} to create, {plan.updates} to update, {plan.deletes} to delete, "
        f"{plan.unchanged} unchanged ({plan.current_count} items in the target)"
    )
    return "\n".join(lines)
