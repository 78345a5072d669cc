"""An in-memory SharePoint fake: ListSource + ListWriter + ListAdmin for engine tests.

Faithful where the engine's correctness depends on it:

* items carry versions and eTags ``"{GUID},{version}"`` (with the quotes, as Graph sends);
  updates and deletes need the current eTag (stale → CONFLICT, missing → FAILED);
* every change gets a sequence number; delta returns the *latest* state of every item
  changed after the cursor, in change order, in pages of ``page_size``. An item changed
  while a feed is being read shows up again later in the same feed (as in Graph);
  deleted items come as ``deleted`` facets; a full enumeration (no cursor) lists live
  items only; cursors from before :meth:`expire_cursors` raise CursorExpired (410);
* empty values are not stored (Graph omits them), lookup ids read back as strings.

Columns: every list reports SharePoint's built-in columns plus those it was given;
:meth:`add_column`, :meth:`delete_column` and :meth:`retype_column` change them as an
admin would in the list settings (deleting a column drops its values, without a new
item version — the delta feed does not report it).

Fault hooks: :meth:`fail_next_writes` (e.g. AMBIGUOUS after the write was applied),
:meth:`conflict_next_writes` (a person edits the item just before our write lands),
:meth:`fail_delta_after` (TransientError after N pages). ``stats`` and ``log`` count
requests like the Graph adapter does ($batch of 20 = one request).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sp_sync.domain.model import (
    ActionKind,
    OutcomeStatus,
    RawItem,
    WriteAction,
    WriteOutcome,
)
from sp_sync.errors import CursorExpired, NotFound, TransientError
from sp_sync.ports import ColumnInfo, DeltaPage, ListRef, RequestStats, charge

USERS_TITLE = "User Information List"
APP_USER_ID = 1073741823  # SharePoint's "SharePoint App" account
BATCH_SIZE = 20
_TEXT: dict[str, Any] = {"text": {"allowMultipleLines": False}}
BUILTIN_COLUMNS: tuple[dict[str, Any], ...] = (
    {"name": "Title", "displayName": "Title", **_TEXT},
    {"name": "ID", "displayName": "ID", "number": {}, "indexed": True},
    {"name": "Created", "displayName": "Created", "dateTime": {"format": "dateTime"}},
    {"name": "Modified", "displayName": "Modified", "dateTime": {"format": "dateTime"}},
    {"name": "Author", "displayName": "Created By", "personOrGroup": {}},
    {"name": "Editor", "displayName": "Modified By", "personOrGroup": {}},
)
USERS_COLUMNS: tuple[dict[str, Any], ...] = (
    {"name": "EMail", "displayName": "E-Mail", **_TEXT},
    {"name": "UserName", "displayName": "User Name", **_TEXT},
)
FACETS = ("text", "number", "currency", "boolean", "dateTime", "choice", "personOrGroup",
          "lookup", "hyperlinkOrPicture", "calculated", "term", "geolocation")


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | dict) and not value


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Item:
    id: int
    fields: dict[str, Any]
    version: int = 1
    seq: int = 0
    deleted: bool = False
    guid: str = field(default_factory=lambda: str(uuid.uuid4()).upper())

    @property
    def etag(self) -> str:
        return f'"{self.guid},{self.version}"'


@dataclass
class _List:
    title: str
    site_url: str
    columns: list[dict[str, Any]] = field(default_factory=list)
    items: dict[int, _Item] = field(default_factory=dict)
    next_id: int = 1
    seq: int = 0
    epoch: int = 1


@dataclass
class _WriteFault:
    status: OutcomeStatus
    apply_first: bool  # AMBIGUOUS after the server applied it


class MemoryLists:
    """SharePoint lists of one or more sites, in memory. See the module docstring."""

    def __init__(
        self,
        site_url: str = "https://mannheim.sharepoint.com/sites/dtc",
        page_size: int = 200,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.site_url = site_url.rstrip("/")
        self.page_size = page_size
        self.stats = RequestStats()
        self.log: list[tuple[str, str]] = []  # (method, what) per request
        self._clock = clock
        self._tick = datetime(2026, 1, 1, tzinfo=UTC)
        self._lists: dict[tuple[str, str], _List] = {}
        self._write_faults: list[_WriteFault] = []
        self._conflicts: list[tuple[Mapping[str, Any], str | int]] = []
        self._delta_fail_after: int | None = None
        self.add_list(USERS_TITLE, USERS_COLUMNS)
        self.add_user(APP_USER_ID, "SharePoint App")

    # ------------------------------------------------------------------ set-up

    def _now(self) -> datetime:
        if self._clock is not None:
            return self._clock()
        self._tick += timedelta(seconds=1)  # strictly increasing "Modified"
        return self._tick

    def _list(self, title: str, site_url: str | None = None) -> _List:
        lst = self._lists.get(((site_url or self.site_url).rstrip("/"), title))
        if lst is None:
            raise NotFound(f"list {title!r} not found", status=404, code="itemNotFound")
        return lst

    def _ref_list(self, ref: ListRef) -> _List:
        return self._list(ref.title, ref.site_url)

    def ref(self, title: str) -> ListRef:
        return ListRef(self.site_url, title)

    def add_list(
        self, title: str, columns: Sequence[Mapping[str, Any]] = (), site_url: str | None = None
    ) -> ListRef:
        site = (site_url or self.site_url).rstrip("/")
        self._lists.setdefault((site, title), _List(title, site, [dict(c) for c in columns]))
        return ListRef(site, title)

    def add_user(self, user_id: int, name: str, email: str | None = None) -> int:
        users = self._list(USERS_TITLE)
        fields = {"Title": name, "EMail": email, "UserName": email}
        self._store(users, user_id, fields, APP_USER_ID)
        if user_id != APP_USER_ID:
            users.next_id = max(users.next_id, user_id + 1)
        return user_id

    def _user_id(self, user: str | int) -> int:
        if isinstance(user, int):
            return user
        for item in self._list(USERS_TITLE).items.values():
            if user in (item.fields.get("Title"), item.fields.get("EMail")):
                return item.id
        return self.add_user(self._list(USERS_TITLE).next_id, user, user if "@" in user else None)

    # ------------------------------------------------------------------ storage

    @staticmethod
    def _clean(fields: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in fields.items():
            if k.endswith("LookupId") and isinstance(v, int) and not isinstance(v, bool):
                v = str(v)
            out[k] = list(v) if isinstance(v, tuple) else v
        return out

    def _store(
        self, lst: _List, item_id: int | None, fields: Mapping[str, Any], editor: int
    ) -> _Item:
        now = _iso(self._now())
        lst.seq += 1
        item = lst.items.get(item_id) if item_id is not None else None
        if item is None or item.deleted:
            new_id = item_id if item_id is not None else lst.next_id
            if new_id != APP_USER_ID:
                lst.next_id = max(lst.next_id, new_id + 1)
            item = _Item(new_id, {"Created": now, "AuthorLookupId": str(editor)})
            lst.items[new_id] = item
        else:
            item.version += 1
        for k, v in self._clean(fields).items():
            if _empty(v):
                item.fields.pop(k, None)
            else:
                item.fields[k] = v
        item.fields.update(
            {"Modified": now, "EditorLookupId": str(editor), "ID": item.id, "id": str(item.id)}
        )
        item.seq = lst.seq
        return item

    def _remove(self, lst: _List, item: _Item) -> None:
        lst.seq += 1
        item.deleted = True
        item.seq = lst.seq

    def _raw(self, lst: _List, item: _Item, select: Sequence[str] = ()) -> RawItem:
        if item.deleted:
            return RawItem(id=str(item.id), etag=None, fields={}, deleted=True)
        keep = set(select)
        fields = {k: v for k, v in item.fields.items() if not keep or k in keep}
        editor = self._list(USERS_TITLE).items.get(int(item.fields["EditorLookupId"]))
        return RawItem(
            id=str(item.id),
            etag=item.etag,
            fields=fields,
            web_url=f"{lst.site_url}/Lists/{lst.title}/DispForm.aspx?ID={item.id}",
            created=datetime.fromisoformat(item.fields["Created"]),
            modified=datetime.fromisoformat(item.fields["Modified"]),
            modified_by=str(editor.fields.get("Title")) if editor else None,
        )

    # ------------------------------------------------------------------ a person's view

    def create_item(self, title: str, fields: Mapping[str, Any], user: str | int) -> str:
        return str(self._store(self._list(title), None, fields, self._user_id(user)).id)

    def edit(self, list_title: str, item_id: str | int, fields: Mapping[str, Any],
             user: str | int) -> None:
        lst = self._list(list_title)
        item = lst.items.get(int(item_id))
        if item is None or item.deleted:
            raise NotFound(f"item {item_id} not found in {list_title!r}", status=404)
        self._store(lst, item.id, fields, self._user_id(user))

    def delete_item(self, list_title: str, item_id: str | int, user: str | int = 0) -> None:
        lst = self._list(list_title)
        item = lst.items.get(int(item_id))
        if item is None or item.deleted:
            raise NotFound(f"item {item_id} not found in {list_title!r}", status=404)
        self._remove(lst, item)

    def items(self, list_title: str) -> list[RawItem]:
        """Live items (no request counted: this is the test's view, not the app's)."""
        lst = self._list(list_title)
        return [self._raw(lst, i) for i in sorted(lst.items.values(), key=lambda i: i.id)
                if not i.deleted]

    # ------------------------------------------------------------------ faults

    def expire_cursors(self, list_title: str | None = None) -> None:
        """Every deltaLink handed out so far (for one list or all) now answers 410."""
        for lst in self._lists.values():
            if list_title in (None, lst.title):
                lst.epoch += 1

    def fail_next_writes(
        self, n: int = 1, status: OutcomeStatus = OutcomeStatus.AMBIGUOUS,
        apply_first: bool = True,
    ) -> None:
        """The next ``n`` write actions come back ``status``; ``apply_first``: after
        the server applied them (the 5xx-after-commit case)."""
        self._write_faults += [_WriteFault(status, apply_first)] * n

    def conflict_next_writes(
        self, n: int = 1, fields: Mapping[str, Any] | None = None, user: str | int = "Person"
    ) -> None:
        """Before each of the next ``n`` updates/deletes, a person edits the item."""
        self._conflicts += [(dict(fields or {}), user)] * n

    def fail_delta_after(self, pages: int) -> None:
        """The next delta feed raises TransientError when asked for page ``pages + 1``."""
        self._delta_fail_after = pages

    def clear_faults(self) -> None:
        """Forget every pending fault (write faults, concurrent edits, delta failure)."""
        self._write_faults.clear()
        self._conflicts.clear()
        self._delta_fail_after = None

    def _request(self, method: str, what: str, ru: int) -> None:
        charge(self.stats, requests=1, resource_units=ru)
        self.log.append((method, what))

    # ------------------------------------------------------------------ ListSource

    def delta(
        self, ref: ListRef, select: Sequence[str], cursor: str | None
    ) -> Iterator[DeltaPage]:
        lst = self._ref_list(ref)
        since = 0
        if cursor is not None:
            since = self._parse_cursor(lst, cursor)
        fail_after, self._delta_fail_after = self._delta_fail_after, None
        pos, pages = since, 0
        while True:
            if fail_after is not None and pages >= fail_after:
                self._request("GET", f"{lst.title}/delta (failed)", 1)
                raise TransientError("timeout while reading the delta feed", status=504)
            self._request("GET", f"{lst.title}/delta", 1 if cursor else 2)
            pending = sorted(
                (i for i in lst.items.values()
                 if i.seq > pos and (cursor is not None or not i.deleted)),
                key=lambda i: i.seq,
            )
            page = pending[: self.page_size]
            pages += 1
            if page:
                pos = page[-1].seq
            items = [self._raw(lst, i, select) for i in page]
            if len(pending) > len(page):
                yield DeltaPage(items, next_link=f"{ref.title}/delta?skip={pos}")
            else:
                link = f"{lst.site_url}/lists/{lst.title}/items/delta?token={lst.epoch}.{lst.seq}"
                yield DeltaPage(items, delta_link=link)
                return

    def _parse_cursor(self, lst: _List, cursor: str) -> int:
        try:
            base, token = cursor.split("?token=", 1)
            epoch, seq = (int(p) for p in token.split("."))
        except ValueError as exc:
            raise CursorExpired(f"unreadable delta token {cursor!r}", status=410) from exc
        if not base.endswith(f"/lists/{lst.title}/items/delta") or epoch != lst.epoch:
            self._request("GET", f"{lst.title}/delta (410)", 1)
            raise CursorExpired(
                "resyncChangesApplyDifferences", status=410, code="resyncRequired"
            )
        return seq

    def get_item(self, ref: ListRef, item_id: str, select: Sequence[str]) -> RawItem | None:
        lst = self._ref_list(ref)
        self._request("GET", f"{lst.title}/items/{item_id}", 1)
        item = lst.items.get(int(item_id)) if item_id.isdigit() else None
        return None if item is None or item.deleted else self._raw(lst, item, select)

    def find_by_key(
        self, ref: ListRef, key_column: str, key: str, select: Sequence[str]
    ) -> RawItem | None:
        lst = self._ref_list(ref)
        self._request("GET", f"{lst.title}/items?$filter={key_column} eq {key!r}", 2)
        for item in sorted(lst.items.values(), key=lambda i: i.id):
            if not item.deleted and str(item.fields.get(key_column, "")).strip() == key.strip():
                return self._raw(lst, item, select)
        return None

    def columns(self, ref: ListRef) -> Sequence[ColumnInfo]:
        """Built-in and added columns; ``type`` is the Graph facet name (as the emulator's)."""
        lst = self._ref_list(ref)
        self._request("GET", f"{lst.title}/columns", 1)
        given = {c["name"]: c for c in lst.columns}
        every = [c for c in BUILTIN_COLUMNS if c["name"] not in given] + lst.columns
        return [
            ColumnInfo(
                name=str(c["name"]), display_name=str(c.get("displayName", c["name"])),
                type=next((f for f in FACETS if f in c), "text"),
                indexed=bool(c.get("indexed", False)),
            )
            for c in every
        ]

    # ------------------------------------------------------------------ an admin's view

    def add_column(self, list_title: str, definition: Mapping[str, Any]) -> None:
        """Add a column (Graph columnDefinition: name, displayName and one facet)."""
        lst = self._list(list_title)
        if any(c["name"] == definition["name"] for c in lst.columns):
            raise ValueError(f"{list_title!r} already has a column {definition['name']!r}")
        lst.columns.append(dict(definition))

    def delete_column(self, list_title: str, name: str) -> None:
        """Remove a column and its values (no new item versions, nothing in delta)."""
        lst = self._list(list_title)
        lst.columns = [c for c in lst.columns if c["name"] != name]
        for item in lst.items.values():
            for key in (name, f"{name}LookupId"):
                item.fields.pop(key, None)

    def retype_column(self, list_title: str, name: str, facet: Mapping[str, Any]) -> None:
        """Replace a column's type facet, e.g. ``{"text": {}}`` (values are kept)."""
        lst = self._list(list_title)
        for col in lst.columns:
            if col["name"] == name:
                for f in FACETS:
                    col.pop(f, None)
                col.update(facet)
                return
        raise NotFound(f"column {name!r} not found in {list_title!r}", status=404)

    # ------------------------------------------------------------------ ListWriter

    def apply(self, ref: ListRef, actions: Sequence[WriteAction]) -> list[WriteOutcome]:
        lst = self._ref_list(ref)
        for start in range(0, len(actions), BATCH_SIZE):
            self._request("POST", f"$batch ({len(actions[start:start + BATCH_SIZE])})", 0)
        return [self._write(lst, a) for a in actions]

    def _write(self, lst: _List, action: WriteAction) -> WriteOutcome:
        charge(self.stats, writes=1, resource_units=2)
        fault = self._write_faults.pop(0) if self._write_faults else None
        if fault is not None and not fault.apply_first:
            return WriteOutcome(action, fault.status, error="injected fault")
        outcome = self._do_write(lst, action)
        if fault is not None and outcome.status is OutcomeStatus.OK:
            return WriteOutcome(action, fault.status, error="injected fault after apply")
        return outcome

    def _do_write(self, lst: _List, action: WriteAction) -> WriteOutcome:
        if action.kind is ActionKind.CREATE:
            new = self._store(lst, None, action.fields, APP_USER_ID)
            return WriteOutcome(action, OutcomeStatus.OK, item=self._raw(lst, new))
        item_id = action.item_id or ""
        item = lst.items.get(int(item_id)) if item_id.isdigit() else None
        if item is None or item.deleted:
            return WriteOutcome(action, OutcomeStatus.FAILED, error="404 itemNotFound")
        if not action.etag:
            return WriteOutcome(action, OutcomeStatus.FAILED, error="400 If-Match required")
        if self._conflicts:
            fields, user = self._conflicts.pop(0)
            self._store(lst, item.id, fields, self._user_id(user))
        if action.etag != item.etag:
            return WriteOutcome(action, OutcomeStatus.CONFLICT, error="412 preconditionFailed")
        if action.kind is ActionKind.DELETE:
            self._remove(lst, item)
            return WriteOutcome(action, OutcomeStatus.OK)
        self._store(lst, item.id, action.fields, APP_USER_ID)
        return WriteOutcome(action, OutcomeStatus.OK, item=self._raw(lst, item))

    # ------------------------------------------------------------------ ListAdmin

    def ensure_list(self, ref: ListRef, columns: Sequence[Mapping[str, Any]]) -> bool:
        self._request("GET", f"lists?$filter=displayName eq {ref.title!r}", 1)
        key = (ref.site_url.rstrip("/"), ref.title)
        created = key not in self._lists
        lst = self._lists.setdefault(key, _List(ref.title, key[0]))
        have = {c["name"] for c in lst.columns}
        for col in columns:
            if col["name"] not in have:
                self._request("POST", f"{ref.title}/columns", 2)
                lst.columns.append(dict(col))
                created = True
        return created


__all__ = ["APP_USER_ID", "USERS_TITLE", "MemoryLists"]
