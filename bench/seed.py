"""The benchmark tenant: one source list of N items and its SyncKey target list.

The columns cover the usual types (text, number, choice, currency, date-only, boolean,
person, note). The target starts as an exact copy keyed by SyncKey = source item id, so a
list-to-list sync writes only the rows whose source changed.
"""

from __future__ import annotations

import random
from typing import Any

from sp_sync.domain.model import ColumnSpec, ColumnType, ListMapping, ListSpec

SOURCE_TITLE = "Vorgaenge"
TARGET_TITLE = "VorgaengeKopie"
SYNC_KEY = "SyncKey"
HOST = "mannheim.sharepoint.com"
SITE_PATH = "sites/dtc"
SITE_URL = f"https://{HOST}/{SITE_PATH}"
STATUSES = ("Offen", "In Arbeit", "Erledigt", "Zurückgestellt")
USERS = [
    {"id": 7, "name": "Anna Becker", "email": "anna.becker@mannheim.de"},
    {"id": 8, "name": "Jonas Weber", "email": "jonas.weber@mannheim.de"},
    {"id": 9, "name": "Lea Schäfer", "email": "lea.schaefer@mannheim.de"},
]
EDITOR = "jonas.weber@mannheim.de"  # USERS[1]: the person who edits in (c) and (d)

# (logical key, internal name, type, Graph column facet)
_COLUMNS: list[tuple[str, str, ColumnType, dict[str, Any]]] = [
    ("title", "Title", ColumnType.TEXT, {}),
    ("number", "Nummer", ColumnType.NUMBER, {"number": {}}),
    ("status", "Status", ColumnType.CHOICE, {"choice": {"choices": list(STATUSES)}}),
    ("amount", "Betrag", ColumnType.CURRENCY, {"currency": {"locale": "de-DE"}}),
    ("due", "F_x00e4_llig", ColumnType.DATE, {"dateTime": {"format": "dateOnly"}}),
    ("active", "Aktiv", ColumnType.BOOLEAN, {"boolean": {}}),
    ("owner", "Verantwortlich", ColumnType.PERSON, {"personOrGroup": {}}),
    ("note", "Notiz", ColumnType.NOTE, {"text": {"allowMultipleLines": True}}),
]


def _column_defs(target: bool) -> list[dict[str, Any]]:
    defs = [
        {"name": name, "displayName": name, "indexed": False, **facet}
        for _, name, _, facet in _COLUMNS
        if name != "Title"
    ]
    if target:
        defs.append({"name": SYNC_KEY, "displayName": SYNC_KEY, "indexed": True,
                     "text": {"allowMultipleLines": False}})
    return defs


def item_fields(i: int, rng: random.Random) -> dict[str, Any]:
    """Wire-shaped fields of source item ``i`` (deterministic for a given rng state)."""
    day = 1 + i % 28
    return {
        "Title": f"Vorgang {i:06d}",
        "Nummer": float(i),
        "Status": STATUSES[i % len(STATUSES)],
        "Betrag": round(rng.uniform(100, 250_000), 2),
        "F_x00e4_llig": f"2027-01-{day:02d}T23:00:00Z",  # local midnight, CET
        "Aktiv": i % 3 != 0,
        "VerantwortlichLookupId": str(USERS[i % len(USERS)]["id"]),
        "Notiz": f"Bearbeitungsstand zu Vorgang {i}: Unterlagen liegen vor.",
    }


COPY_JOB = "bench-copy"  # the list-to-list job's name: its rows' scope is "copy:bench-copy:"


def sync_key(i: int) -> str:
    """The SyncKey sp-sync gives the copy of source item ``i`` ("copy:<job>:<item id>")."""
    return f"copy:{COPY_JOB}:{i}"


def make_seed(n: int, seed: int = 4) -> dict[str, Any]:
    """The emulator seed (team brief format) for ``n`` source items and their copies."""
    rng = random.Random(seed)
    source_items, target_items = [], []
    for i in range(1, n + 1):
        fields = item_fields(i, rng)
        meta = {"createdBy": USERS[0]["email"], "modifiedBy": USERS[i % 3]["email"],
                "created": "2026-01-05T08:00:00Z", "modified": "2026-06-01T09:30:00Z"}
        source_items.append({"id": str(i), "fields": fields, **meta})
        target_items.append({"id": str(i), "fields": {**fields, SYNC_KEY: sync_key(i)}, **meta})
    return {
        "hostname": HOST,
        "sites": [{
            "path": SITE_PATH, "displayName": "Digital Transformation Center",
            "lists": [
                {"displayName": SOURCE_TITLE, "hidden": False,
                 "columns": _column_defs(False), "items": source_items},
                {"displayName": TARGET_TITLE, "hidden": False,
                 "columns": _column_defs(True), "items": target_items},
            ],
        }],
        "users": USERS,
        "mailboxes": ["dtc@mannheim.de"],
    }


def mapping() -> ListMapping:
    """The list mapping sp-sync uses for the two benchmark lists."""
    cols = tuple(ColumnSpec(key, name, ctype, display=name) for key, name, ctype, _ in _COLUMNS)
    people = (ColumnSpec("name", "Title", ColumnType.TEXT),
              ColumnSpec("email", "EMail", ColumnType.TEXT),
              ColumnSpec("username", "UserName", ColumnType.TEXT))
    return ListMapping((
        ListSpec("users", "User Information List", people),
        ListSpec("bench_source", SOURCE_TITLE, cols),
        ListSpec("bench_target", TARGET_TITLE, cols, role="target", sync_key_column=SYNC_KEY),
    ))


def changed_fields(i: int, round_no: int) -> dict[str, Any]:
    """What a person changes on item ``i`` in edit round ``round_no`` (always a real change)."""
    return {"Status": STATUSES[(i + round_no) % len(STATUSES)],
            "Notiz": f"Nachgefragt (Runde {round_no}) zu Vorgang {i}."}


def changed_ids(n: int, share: float, round_no: int) -> list[int]:
    """Evenly spread ids, a different set per round; at least one."""
    count = max(1, round(n * share))
    step = max(1, n // count)
    offset = (round_no * 7) % step
    return [1 + offset + k * step for k in range(count) if 1 + offset + k * step <= n]
