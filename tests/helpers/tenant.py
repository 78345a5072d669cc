"""The demo tenant as it looks after an admin ran ``sp-sync provision``.

The emulator's demo seed holds the people's lists only (as a real site does before
sp-sync is installed); tests that start the CLI against a fresh emulator without running
``provision`` first use this seed, which adds the lists sp-sync writes — made from the
same column definitions ``provision`` sends.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from sp_sync.config.mapping import load_mapping
from sp_sync.domain.provisioning import column_definitions
from sp_sync.emulator.seeds.demo import demo_seed

REPO = Path(__file__).resolve().parents[2]


def provisioned_demo_seed(today: date | None = None) -> dict[str, Any]:
    seed = demo_seed(today)
    mapping = load_mapping(REPO / "config" / "lists.toml")
    lists = seed["sites"][0]["lists"]
    have = {lst["displayName"]: lst for lst in lists}
    for spec in mapping.lists:
        if spec.role == "target" and spec.title not in have:
            lists.append({"displayName": spec.title, "hidden": False,
                          "columns": column_definitions(spec, mapping), "items": []})
        elif spec.sync_key_column and spec.title in have:  # people's lists sp-sync writes to
            cols = have[spec.title]["columns"]
            if all(c["name"] != spec.sync_key_column for c in cols):
                cols.append({"name": spec.sync_key_column, "displayName": spec.sync_key_column,
                             "indexed": True, "text": {"allowMultipleLines": False}})
    return seed
