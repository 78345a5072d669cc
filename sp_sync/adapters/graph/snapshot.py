"""Copy the mapped lists of a site (and its people) into an emulator seed (``sp-sync snapshot``).

Reads only: columns, items and the User Information List. Lookup columns name their target
list by display name, so the seed loads into a tenant with different list ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sp_sync.adapters.graph.source import GraphLists
from sp_sync.domain.model import ListMapping, ListSpec
from sp_sync.ports import ListRef

USERS_TITLE = "User Information List"
READ_ONLY = frozenset({"ID", "id", "Created", "Modified", "AuthorLookupId", "EditorLookupId",
                       "Author", "Editor", "ContentType", "Attachments", "Edit",
                       "LinkTitle", "LinkTitleNoMenu", "ItemChildCount", "FolderChildCount",
                       "_UIVersionString", "AppAuthorLookupId", "AppEditorLookupId"})
_COLUMN_KEYS = ("name", "displayName", "indexed", "required", "text", "number", "currency",
                "boolean", "dateTime", "choice", "personOrGroup", "lookup",
                "hyperlinkOrPicture")


def _iso(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _users(lists: GraphLists, site_url: str) -> list[dict[str, Any]]:
    ref = ListRef(site_url, USERS_TITLE)
    out = []
    for it in lists.list_items(ref, ("Title", "EMail", "UserName")):
        if not it.id.isdigit():
            continue
        email = it.fields.get("EMail") or it.fields.get("UserName")
        out.append({"id": int(it.id), "name": it.fields.get("Title") or "", "email": email})
    return sorted(out, key=lambda u: int(u["id"]))


def _list_titles(lists: GraphLists, site_url: str) -> dict[str, str]:
    body = lists.conn.get_json(f"sites/{lists.site_id(site_url)}/lists?$select=id,displayName")
    return {str(v.get("id")): str(v.get("displayName")) for v in (body or {}).get("value") or []}


def _columns(lists: GraphLists, ref: ListRef, spec: ListSpec,
             titles: Mapping[str, str]) -> list[dict[str, Any]]:
    site = lists.site_id(ref.site_url)
    body = lists.conn.get_json(f"sites/{site}/lists/{lists.list_id(ref)}/columns") or {}
    wanted = {c.name for c in spec.columns} | ({spec.sync_key_column} - {None})
    out = []
    for col in body.get("value") or []:
        if col.get("name") not in wanted or col.get("name") in ("Title", "ID"):
            continue
        d = {k: col[k] for k in _COLUMN_KEYS if k in col}
        lookup = d.get("lookup")
        if isinstance(lookup, Mapping) and lookup.get("listId") in titles:
            d["lookup"] = {**lookup, "listId": titles[str(lookup["listId"])]}
        out.append(d)
    return out


def _items(lists: GraphLists, ref: ListRef, spec: ListSpec,
           emails: Mapping[str, str | None]) -> list[dict[str, Any]]:
    out = []
    for it in lists.list_items(ref, spec.select):
        fields = {k: v for k, v in it.fields.items() if k not in READ_ONLY}
        row: dict[str, Any] = {"id": it.id, "fields": fields}
        for key, name in (("createdBy", "AuthorLookupId"), ("modifiedBy", "EditorLookupId")):
            email = emails.get(str(it.fields.get(name)))
            if email:
                row[key] = email
        for key, value in (("created", it.created or it.fields.get("Created")),
                           ("modified", it.modified)):
            text = value if isinstance(value, str) else _iso(value)
            if text:
                row[key] = text
        out.append(row)
    return sorted(out, key=lambda r: int(r["id"]) if str(r["id"]).isdigit() else 0)


def snapshot(lists: GraphLists, mapping: ListMapping, site_url: str) -> dict[str, Any]:
    """The mapped lists of ``site_url`` in the emulator seed format."""
    site_url = site_url.rstrip("/")
    parts = urlsplit(site_url)
    users = _users(lists, site_url)
    emails = {str(u["id"]): u["email"] for u in users}
    titles = _list_titles(lists, site_url)
    out_lists = []
    for spec in mapping.lists:
        if spec.title == USERS_TITLE or (spec.site_url or site_url).rstrip("/") != site_url:
            continue
        ref = ListRef(site_url, spec.title)
        out_lists.append({
            "displayName": spec.title,
            "hidden": False,
            "columns": _columns(lists, ref, spec, titles),
            "items": _items(lists, ref, spec, emails),
        })
    site_json = lists.conn.get_json(f"sites/{lists.site_id(site_url)}") or {}
    return {
        "hostname": parts.hostname,
        "sites": [{"path": parts.path.strip("/"),
                   "displayName": site_json.get("displayName") or parts.path.strip("/"),
                   "lists": out_lists}],
        "users": users,
        "mailboxes": [],
    }
