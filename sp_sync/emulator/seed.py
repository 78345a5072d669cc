"""Load a seed (the plain dict format described in docs/emulator.md) into a ``Tenant``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sp_sync.emulator.state import APP_USER_NAME, Tenant

APP_USER_ID = 1073741822  # id of the "SharePoint App" principal app-only writes are attributed to


def resolve_seed(seed: str | dict[str, Any] | None) -> dict[str, Any]:
    """None/"demo" → demo seed (tiny seed if unavailable); "tiny"; "empty"; a JSON path; a dict."""
    if isinstance(seed, dict):
        return seed
    if seed is None or seed == "demo":
        try:
            from sp_sync.emulator.seeds.demo import demo_seed  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            seed = "tiny"
        else:
            return dict(demo_seed())
    if seed == "tiny":
        from sp_sync.emulator.tiny_seed import tiny_seed

        return tiny_seed()
    if seed == "empty":
        return {
            "hostname": "mannheim.sharepoint.com",
            "sites": [{"path": "sites/dtc", "displayName": "Digital Transformation Center"}],
            "users": [],
            "mailboxes": ["dtc@mannheim.de"],
        }
    data = json.loads(Path(seed).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"seed file {seed} must hold a JSON object")
    return data


def load_seed(data: dict[str, Any]) -> Tenant:
    tenant = Tenant(str(data.get("hostname") or "mannheim.sharepoint.com"))
    for box in data.get("mailboxes") or []:
        tenant.mailboxes[str(box).lower()] = []
    for site_data in data.get("sites") or []:
        site = tenant.add_site(str(site_data["path"]), str(site_data.get("displayName", "")))
        site.app_user_id = APP_USER_ID
        tenant.add_user(site, APP_USER_NAME, "", APP_USER_ID)
        for user in data.get("users") or []:
            tenant.add_user(site, str(user["name"]), str(user["email"]), int(user["id"]))
        specs = site_data.get("lists") or []
        lists = [
            tenant.add_list(
                site,
                str(spec["displayName"]),
                list(spec.get("columns") or []),
                hidden=bool(spec.get("hidden", False)),
            )
            for spec in specs
        ]
        for lst, spec in zip(lists, specs, strict=True):
            for n, item in enumerate(spec.get("items") or [], start=1):
                author = tenant.user_for(site, item.get("createdBy"))
                editor = tenant.user_for(site, item.get("modifiedBy") or item.get("createdBy"))
                try:
                    created = tenant.create_item(
                        lst,
                        dict(item.get("fields") or {}),
                        author,
                        item_id=int(item.get("id") or n),
                        created=item.get("created"),
                        modified=item.get("modified"),
                    )
                except KeyError as exc:
                    raise ValueError(
                        f"seed list {lst.display_name!r}: unknown field {exc.args[0]!r}"
                    ) from None
                created.editor_id = editor.id
    return tenant
