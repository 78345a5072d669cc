"""Repair and inspection commands: ``pull --full``, ``lists inspect``, ``items history``,
``provision --dry-run``. Each names the list by its key in lists.toml or its title."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sp_sync.config.jobs import JobSpec
from sp_sync.domain.model import ListMapping, ListSpec
from sp_sync.engine.context import Services
from sp_sync.engine.runner import RunOutcome, run_job
from sp_sync.errors import ConfigError, NotFound
from sp_sync.kinds.pull import PullParams
from sp_sync.ports import ListRef, StateStore


def find_list(mapping: ListMapping, name: str, lists_file: Any) -> ListSpec:
    for spec in mapping.lists:
        if name in (spec.key, spec.title):
            return spec
    known = ", ".join(s.key for s in mapping.lists)
    raise ConfigError(f"{lists_file}: no list {name!r} — use a key or title: {known}")


def pull_now(svc: Services, spec: ListSpec, full: bool) -> RunOutcome:
    """Pull one list now, through the runner like any job (recorded as run ``pull:KEY``);
    ``full``: enumerate it again (e.g. after a restore or a suspected gap)."""
    job = JobSpec(name=f"pull:{spec.key}", kind="pull", schedule="",
                  params=PullParams(lists=(spec.key,), full=full))
    return run_job(svc, job)


@dataclass(frozen=True)
class ColumnRow:
    key: str
    name: str
    mapped_type: str
    sharepoint_type: str | None
    indexed: bool | None
    problem: str | None


def inspect_list(lists: Any, store: StateStore, spec: ListSpec, site_url: str
                 ) -> dict[str, Any]:
    """The mapping of one list next to what SharePoint reports, and the mirror's count."""
    from sp_sync.domain.schema import check_columns

    ref = ListRef(spec.site_url or site_url, spec.title)
    found: dict[str, Any] = {}
    exists = True
    problems: dict[str, str] = {}
    try:
        cols = lists.columns(ref)
        found = {c.name: c for c in cols}
        problems = {p.column_key: p.message for p in check_columns(spec, cols)}
    except NotFound:
        exists = False
    rows = []
    for col in spec.columns:
        info = found.get(col.name)
        rows.append(ColumnRow(
            col.key, col.name, col.type.value, info.type if info else None,
            info.indexed if info else None,
            problems.get(col.key) if exists else "the list does not exist",
        ))
    return {
        "list": spec.key,
        "title": spec.title,
        "role": spec.role,
        "site": ref.site_url,
        "exists": exists,
        "sync_key_column": spec.sync_key_column,
        "mirrored_items": store.count(spec.key),
        "last_synced": store.last_synced(spec.key),
        "columns": [r.__dict__ for r in rows],
    }


def item_history(store: StateStore, spec: ListSpec, item_id: str) -> list[dict[str, Any]]:
    columns = {c.field_name: c.key for c in spec.columns} | {c.name: c.key for c in spec.columns}
    out = []
    for ch in store.changes(spec.key):
        if ch.item_id != item_id:
            continue
        out.append({
            "changed_at": ch.changed_at,
            "changed_by": ch.changed_by,
            "kind": ch.kind,
            "column": columns.get(ch.column, ch.column),
            "old": ch.old,
            "new": ch.new,
        })
    return out


def provision_plan(lists: Any, mapping: ListMapping, site_url: str,
                   roles: tuple[str, ...] = ("target",)) -> list[dict[str, Any]]:
    """What ``provision`` would do, list by list, without writing."""
    from sp_sync.adapters.graph.admin import BUILTIN
    from sp_sync.domain.provisioning import column_definitions

    plan = []
    for spec in mapping.lists:
        if spec.role not in roles:
            continue
        ref = ListRef(spec.site_url or site_url, spec.title)
        wanted = [c for c in column_definitions(spec, mapping) if c.get("name") not in BUILTIN]
        try:
            existing = {c.name: c for c in lists.columns(ref)}
            by_display = {c.display_name: c for c in existing.values()}
        except NotFound:
            plan.append({"list": spec.title, "action": "create",
                         "columns": [_describe(c) for c in wanted]})
            continue
        steps = []
        for col in wanted:
            have = existing.get(col.get("name")) or by_display.get(col.get("displayName"))
            if have is None:
                steps.append(f"add column {_describe(col)}")
            elif col.get("indexed") and not have.indexed:
                steps.append(f"index column {col.get('name')}")
        plan.append({"list": spec.title, "action": "update" if steps else "none",
                     "columns": steps})
    return plan


def _describe(col: dict[str, Any]) -> str:
    kinds = [k for k in col if k not in ("name", "displayName", "indexed", "required",
                                          "enforceUniqueValues", "description")]
    kind = kinds[0] if kinds else "text"
    extra = " indexed" if col.get("indexed") else ""
    return f"{col.get('name')} ({kind}{extra})"
