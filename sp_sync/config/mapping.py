"""Load and validate the list mapping (``config/lists.toml``) into a :class:`ListMapping`.

Every problem is collected and raised as one ConfigError, each line naming the file, the
dotted key and the fix, e.g. ``config/lists.toml: lists.projects.columns.status.type:
unknown type 'choise' — use one of text, note, …``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sp_sync.config.settings import read_toml
from sp_sync.domain.model import ColumnSpec, ColumnType, ListMapping, ListSpec, Report
from sp_sync.errors import ConfigError

LIST_KEYS = frozenset({"title", "role", "site_url", "sync_key", "columns"})
COLUMN_KEYS = frozenset({"name", "type", "display", "list", "choices", "required", "indexed"})
ROLES = ("source", "target")
_TYPES = ", ".join(t.value for t in ColumnType)
_LOOKUPS = frozenset({ColumnType.LOOKUP, ColumnType.MULTILOOKUP})
_CHOICES = frozenset({ColumnType.CHOICE, ColumnType.MULTICHOICE})


def load_mapping(path: str | Path) -> ListMapping:
    """Read and validate the mapping file; raise ConfigError listing every problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: file not found — set lists_file in the settings or restore "
            "config/lists.toml"
        )
    return parse_mapping(read_toml(path), label=str(path))


def parse_mapping(data: dict[str, Any], label: str = "config/lists.toml") -> ListMapping:
    """Validate an already parsed mapping document (``label`` names it in errors)."""
    problems: list[str] = []

    def bad(key: str, reason: str, hint: str) -> None:
        problems.append(f"{label}: {key}: {reason} — {hint}")

    lists = data.get("lists")
    for extra in sorted(set(data) - {"lists"}):
        bad(extra, "unknown key", "put every list under [lists.<key>]")
    if not isinstance(lists, dict) or not lists:
        bad("lists", "no lists defined", "add at least one [lists.<key>] table")
        raise ConfigError(problems)

    specs: list[ListSpec] = []
    titles: dict[tuple[str | None, str], str] = {}
    for key, raw in lists.items():
        where = f"lists.{key}"
        if not isinstance(raw, dict):
            bad(where, "must be a table", f"write it as [lists.{key}]")
            continue
        for extra in sorted(set(raw) - LIST_KEYS):
            bad(f"{where}.{extra}", "unknown key", f"use one of {', '.join(sorted(LIST_KEYS))}")
        title = raw.get("title")
        if not isinstance(title, str) or not title.strip():
            bad(f"{where}.title", "missing", "set the list's display name in SharePoint")
            title = key
        role = raw.get("role", "source")
        if role not in ROLES:
            bad(f"{where}.role", f"unknown role {role!r}", "use source or target")
        site_url = raw.get("site_url")
        if site_url is not None and (
            not isinstance(site_url, str) or not site_url.startswith("https://")
        ):
            bad(f"{where}.site_url", "must start with https://", "use the site's https:// URL")
            site_url = None
        other = titles.get((site_url, title))
        if other:
            bad(f"{where}.title", f"list {title!r} is already mapped as {other!r}",
                "map each SharePoint list once")
        titles[(site_url, title)] = key
        sync_key = raw.get("sync_key")
        if role == "target" and not sync_key:
            bad(f"{where}.sync_key", "missing on a target list",
                'set sync_key = "SyncKey" (an indexed text column sp-sync fills)')
        columns = _columns(raw.get("columns"), where, lists, bad)
        specs.append(
            ListSpec(
                key=key,
                title=title,
                columns=tuple(columns),
                role=str(role),
                site_url=site_url,
                sync_key_column=str(sync_key) if sync_key else None,
            )
        )
    if problems:
        raise ConfigError(problems)
    return ListMapping(lists=tuple(specs))



def _columns(raw: Any, where: str, lists: dict[str, Any], bad: Report) -> list[ColumnSpec]:
    if not isinstance(raw, dict) or not raw:
        bad(f"{where}.columns", "no columns mapped", f"add a [{where}.columns] table")
        return []
    out: list[ColumnSpec] = []
    names: dict[str, str] = {}
    for ckey, col in raw.items():
        at = f"{where}.columns.{ckey}"
        if not isinstance(col, dict):
            bad(at, "must be a table", '{ name = "<internal name>", type = "text" }')
            continue
        for extra in sorted(set(col) - COLUMN_KEYS):
            bad(f"{at}.{extra}", "unknown key", f"use one of {', '.join(sorted(COLUMN_KEYS))}")
        name = col.get("name")
        if not isinstance(name, str) or not name:
            bad(f"{at}.name", "missing", "set the column's SharePoint internal name")
            name = ckey
        elif name in names:
            bad(f"{at}.name", f"internal name {name!r} is already used by {names[name]!r}",
                "map each SharePoint column once per list")
        names[name] = ckey
        try:
            ctype = ColumnType(str(col.get("type")))
        except ValueError:
            bad(f"{at}.type", f"unknown type {col.get('type')!r}", f"use one of {_TYPES}")
            continue
        target = col.get("list")
        if ctype in _LOOKUPS:
            if not target:
                bad(f"{at}.list", "missing on a lookup column",
                    "name the logical key of the list it points to")
            elif target not in lists:
                bad(f"{at}.list", f"unknown list {target!r}",
                    f"use one of {', '.join(sorted(lists))}")
        elif target is not None:
            bad(f"{at}.list", f"only lookup columns point at a list (type is {ctype.value})",
                "remove it or change the type to lookup")
        choices = col.get("choices", [])
        if ctype in _CHOICES and (
            not isinstance(choices, list) or not choices
            or not all(isinstance(c, str) for c in choices)
        ):
            bad(f"{at}.choices", "missing or not a list of strings",
                'list the values, e.g. choices = ["Offen", "Erledigt"]')
            choices = []
        flags: dict[str, bool] = {}
        for flag in ("required", "indexed"):
            value = col.get(flag, False)
            if not isinstance(value, bool):
                bad(f"{at}.{flag}", "must be true or false", "use true or false")
                value = False
            flags[flag] = value
        display = col.get("display")
        out.append(
            ColumnSpec(
                key=ckey,
                name=name,
                type=ctype,
                display=str(display) if display else None,
                lookup_list=str(target) if ctype in _LOOKUPS and target else None,
                choices=tuple(choices) if ctype in _CHOICES else (),
                required=flags["required"],
                indexed=flags["indexed"],
            )
        )
    return out
