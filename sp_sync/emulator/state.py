"""In-memory tenant model: sites, lists, columns, items with versions, a change log for delta,
users (the hidden User Information List) and mailboxes.

All mutation goes through ``Tenant`` methods under one re-entrant lock, because HTTP handlers run
on the server thread while tests call the Python API from theirs.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sp_sync.emulator.names import internal_name

JSON = dict[str, Any]
UIL_TITLE = "User Information List"
APP_USER_NAME = "SharePoint App"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _guid(seed: str | None = None) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed)) if seed else str(uuid.uuid4())


FACETS = (
    "text",
    "number",
    "currency",
    "boolean",
    "dateTime",
    "choice",
    "personOrGroup",
    "lookup",
    "hyperlinkOrPicture",
    "calculated",
)


@dataclass
class Column:
    name: str
    display_name: str
    definition: JSON  # Graph columnDefinition as given / returned
    builtin: bool = False

    @property
    def kind(self) -> str:
        return next((f for f in FACETS if f in self.definition), "text")

    @property
    def multi(self) -> bool:
        facet = self.definition.get(self.kind) or {}
        return bool(isinstance(facet, dict) and facet.get("allowMultipleValues"))

    @property
    def indexed(self) -> bool:
        return bool(self.definition.get("indexed")) or self.name == "ID"

    @property
    def wire_key(self) -> str:
        """Key under which Graph returns the value in ``fields``."""
        if self.kind in ("personOrGroup", "lookup") and not self.multi:
            return self.name + "LookupId"
        return self.name

    def to_json(self) -> JSON:
        out: JSON = {
            "columnGroup": "Custom Columns",
            "description": "",
            "displayName": self.display_name,
            "enforceUniqueValues": False,
            "hidden": False,
            "id": _guid("col:" + self.name),
            "indexed": self.indexed,
            "name": self.name,
            "readOnly": False,
            "required": False,
        }
        out.update({k: v for k, v in self.definition.items() if k not in ("name", "displayName")})
        out["indexed"] = self.indexed
        if self.kind not in out:
            out["text"] = {"allowMultipleLines": False}
        return out


BUILTIN_COLUMNS = [
    Column("Title", "Title", {"text": {"allowMultipleLines": False}, "required": True}, True),
    Column("ID", "ID", {"number": {}, "readOnly": True, "indexed": True}, True),
    Column("Created", "Created", {"dateTime": {"format": "dateTime"}, "readOnly": True}, True),
    Column("Modified", "Modified", {"dateTime": {"format": "dateTime"}, "readOnly": True}, True),
    Column("Author", "Created By", {"personOrGroup": {}, "readOnly": True}, True),
    Column("Editor", "Modified By", {"personOrGroup": {}, "readOnly": True}, True),
]
READ_ONLY_KEYS = {"ID", "id", "Created", "Modified", "AuthorLookupId", "EditorLookupId"}


@dataclass
class User:
    id: int
    name: str
    email: str
    aad_id: str

    def identity(self) -> JSON:
        return {"user": {"displayName": self.name, "email": self.email, "id": self.aad_id}}


@dataclass
class Version:
    number: int
    modified: str
    editor_id: int
    fields: JSON


@dataclass
class Item:
    id: int
    guid: str
    fields: JSON  # custom + Title, keyed by wire key (e.g. "OwnerLookupId")
    created: str
    modified: str
    author_id: int
    editor_id: int
    version: int = 1
    seq: int = 0  # change sequence number of the latest change (delta)
    history: list[Version] = field(default_factory=list)
    cache: dict[Any, bytes] = field(default_factory=dict)  # serialised forms of this version

    @property
    def etag(self) -> str:
        return f'"{self.guid},{self.version}"'

    def all_fields(self) -> JSON:
        etag = self.etag
        out: JSON = {"@odata.etag": etag}
        out.update({k: v for k, v in self.fields.items() if v is not None})
        out.update(
            {
                "id": str(self.id),
                "ContentType": "Item",
                "Modified": self.modified,
                "Created": self.created,
                "AuthorLookupId": str(self.author_id),
                "EditorLookupId": str(self.editor_id),
                "_UIVersionString": f"{self.version}.0",
                "Attachments": False,
                "Edit": "",
                "ItemChildCount": "0",
                "FolderChildCount": "0",
            }
        )
        return out


@dataclass
class SpList:
    id: str
    display_name: str
    site: Site
    hidden: bool = False
    template: str = "genericList"
    created: str = field(default_factory=now_iso)
    columns: dict[str, Column] = field(default_factory=dict)  # by internal name
    items: dict[int, Item] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)  # sorted item ids
    next_id: int = 1
    tombstones: dict[int, int] = field(default_factory=dict)  # deleted id -> seq
    log_seqs: list[int] = field(default_factory=list)  # append-only change log for delta
    log_ids: list[int] = field(default_factory=list)
    # in every delta token; random so tokens from an earlier emulator run answer 410, bumped by
    # invalidate_delta()
    epoch: int = field(default_factory=lambda: random.randrange(1 << 30))

    @property
    def url_name(self) -> str:
        return self.display_name.replace(" ", "")

    @property
    def web_url(self) -> str:
        return f"{self.site.web_url}/Lists/{self.url_name}"

    def item_url(self, item_id: int) -> str:
        return f"{self.web_url}/DispForm.aspx?ID={item_id}"

    def column(self, name: str) -> Column | None:
        """Find a column by internal name, wire key or display name."""
        if name in self.columns:
            return self.columns[name]
        for col in self.all_columns():
            if name in (col.name, col.wire_key, col.display_name):
                return col
        return None

    def all_columns(self) -> list[Column]:
        return [*BUILTIN_COLUMNS, *self.columns.values()]

    def to_json(self) -> JSON:
        etag = f'"{self.id},{len(self.log_seqs)}"'
        return {
            "@odata.etag": etag,
            "createdDateTime": self.created,
            "description": "",
            "eTag": etag,
            "id": self.id,
            "lastModifiedDateTime": self.created,
            "name": self.url_name,
            "webUrl": self.web_url,
            "displayName": self.display_name,
            "parentReference": {"siteId": self.site.id},
            "list": {
                "contentTypesEnabled": False,
                "hidden": self.hidden,
                "template": self.template,
            },
        }


@dataclass
class Site:
    hostname: str
    path: str  # "sites/dtc"
    display_name: str
    site_guid: str
    web_guid: str
    lists: dict[str, SpList] = field(default_factory=dict)  # by list id
    users: dict[int, User] = field(default_factory=dict)
    app_user_id: int = 0
    deleted_list_ids: set[str] = field(default_factory=set)  # never given out again

    @property
    def id(self) -> str:
        return f"{self.hostname},{self.site_guid},{self.web_guid}"

    @property
    def web_url(self) -> str:
        return f"https://{self.hostname}/{self.path}"

    def to_json(self) -> JSON:
        return {
            "createdDateTime": "2024-01-15T08:00:00Z",
            "description": "",
            "id": self.id,
            "lastModifiedDateTime": now_iso(),
            "name": self.path.rsplit("/", 1)[-1],
            "webUrl": self.web_url,
            "displayName": self.display_name,
            "root": {},
            "siteCollection": {"hostname": self.hostname},
        }

    def find_list(self, key: str) -> SpList | None:
        if key in self.lists:
            return self.lists[key]
        low = key.lower().strip("{}")
        for lst in self.lists.values():
            if low in (lst.id.lower(), lst.display_name.lower(), lst.url_name.lower()):
                return lst
        return None

    def user_by_email(self, email: str) -> User | None:
        low = email.lower()
        return next((u for u in self.users.values() if u.email.lower() == low), None)


@dataclass
class Message:
    mailbox: str
    sender: str
    recipients: list[str]
    subject: str
    internet_message_id: str
    received: str
    format: str  # "json" | "mime"
    raw: Any  # JSON message dict or MIME bytes
    html: str | None
    text: str | None
    saved: bool

    def to_dict(self) -> JSON:
        raw = self.raw.decode("utf-8", "replace") if isinstance(self.raw, bytes) else self.raw
        return {
            "mailbox": self.mailbox,
            "sender": self.sender,
            "recipients": self.recipients,
            "subject": self.subject,
            "internetMessageId": self.internet_message_id,
            "received": self.received,
            "format": self.format,
            "raw": raw,
            "html": self.html,
            "text": self.text,
            "savedToSentItems": self.saved,
        }


class Conflict(Exception):
    """If-Match did not match the current eTag."""


class Tenant:
    def __init__(self, hostname: str = "mannheim.sharepoint.com") -> None:
        self.lock = threading.RLock()
        self.hostname = hostname
        self.sites: dict[str, Site] = {}
        self.seq = 0
        self.mailboxes: dict[str, list[Message]] = {}
        self.outbox: list[Message] = []

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.lock = threading.RLock()

    # -- structure -------------------------------------------------------------------------
    def add_site(self, path: str, display_name: str) -> Site:
        path = path.strip("/")
        key = f"{self.hostname}/{path}"
        site = Site(self.hostname, path, display_name, _guid("site:" + key), _guid("web:" + key))
        self.sites[site.id] = site
        uil = self.add_list(site, UIL_TITLE, [], hidden=True, template="userInformation")
        for name, col in (("EMail", "EMail"), ("UserName", "UserName")):
            uil.columns[name] = Column(name, col, {"text": {"allowMultipleLines": False}})
        return site

    def find_site(self, key: str) -> Site | None:
        """By composite id, "host,siteGuid,webGuid" or "host:/sites/name"."""
        if key in self.sites:
            return self.sites[key]
        if ":" in key:
            host, _, path = key.partition(":")
            path = path.strip("/").rstrip(":")
            for site in self.sites.values():
                if site.hostname.lower() == host.lower() and site.path.lower() == path.lower():
                    return site
        for site in self.sites.values():
            if key.lower() in (site.site_guid, f"{site.hostname},{site.site_guid}"):
                return site
        return None

    def default_site(self) -> Site:
        return next(iter(self.sites.values()))

    def add_list(
        self,
        site: Site,
        display_name: str,
        columns: list[JSON],
        hidden: bool = False,
        template: str = "genericList",
    ) -> SpList:
        lst_id = _guid(f"list:{site.id}:{display_name}")
        n = 1
        while lst_id in site.deleted_list_ids:  # re-created: a new GUID, as in SharePoint
            n += 1
            lst_id = _guid(f"list:{site.id}:{display_name}:{n}")
        lst = SpList(lst_id, display_name, site, hidden=hidden, template=template)
        site.lists[lst.id] = lst
        for definition in columns:
            self.add_column(lst, definition)
        return lst

    def add_column(self, lst: SpList, definition: JSON) -> Column:
        display = str(definition.get("displayName") or definition.get("name") or "")
        given = str(definition.get("name") or "")
        # an explicit API name made of safe characters is kept verbatim (e.g. "_x00d6_ffentlich")
        name = (
            given
            if given and given.replace("_", "a").isascii() and given.replace("_", "a").isalnum()
            else internal_name(given or display)
        )
        if not name:
            raise ValueError("column needs a name or displayName")
        if name in lst.columns or name in {c.name for c in BUILTIN_COLUMNS}:
            raise ValueError(f"A column named '{name}' already exists")
        col = Column(name, display or name, dict(definition))
        lst.columns[name] = col
        return col

    def add_user(self, site: Site, name: str, email: str, user_id: int | None = None) -> User:
        uil = self.uil(site)
        uid = user_id if user_id is not None else max(uil.next_id, max(site.users, default=0) + 1)
        user = User(uid, name, email, _guid("user:" + email.lower() + name))
        site.users[uid] = user
        fields = {"Title": name, "EMail": email, "UserName": email}
        self._insert(uil, uid, fields, site.app_user_id or uid, now_iso(), now_iso())
        return user

    def uil(self, site: Site) -> SpList:
        lst = site.find_list(UIL_TITLE)
        assert lst is not None
        return lst

    def user_for(self, site: Site, email: str | None) -> User:
        """Known user by e-mail, created on first use (as SharePoint's ensureUser does)."""
        if not email:
            return site.users[site.app_user_id]
        user = site.user_by_email(email)
        if user is None:
            user = self.add_user(site, email.split("@")[0].replace(".", " ").title(), email)
        return user

    # -- items -----------------------------------------------------------------------------
    def _log(self, lst: SpList, item_id: int) -> int:
        self.seq += 1
        lst.log_seqs.append(self.seq)
        lst.log_ids.append(item_id)
        return self.seq

    def _insert(
        self, lst: SpList, item_id: int, fields: JSON, user_id: int, created: str, modified: str
    ) -> Item:
        item = Item(item_id, _guid(), fields, created, modified, user_id, user_id)
        lst.items[item_id] = item
        if lst.ids and item_id < lst.ids[-1]:
            bisect.insort(lst.ids, item_id)
        else:
            lst.ids.append(item_id)
        lst.next_id = max(lst.next_id, item_id + 1)
        lst.tombstones.pop(item_id, None)
        item.seq = self._log(lst, item_id)
        return item

    def normalise_fields(self, lst: SpList, fields: JSON, strict: bool = True) -> JSON:
        """Map incoming field names to wire keys; refuse unknown/read-only names if strict."""
        out: JSON = {}
        for key, value in fields.items():
            if "@odata" in key:
                continue
            col = lst.column(key.removesuffix("LookupId")) if key.endswith("LookupId") else None
            col = col or lst.column(key)
            if col is None or (col.builtin and col.name != "Title") or key in READ_ONLY_KEYS:
                if strict:
                    raise KeyError(key)
                continue
            if col.kind in ("personOrGroup", "lookup"):
                value = self._lookup_value(lst, col, value)
            out[col.wire_key] = value
        return out

    def _lookup_value(self, lst: SpList, col: Column, value: Any) -> Any:
        if value is None or value == "":
            return None
        if not col.multi:
            if isinstance(value, dict):
                value = value.get("LookupId")
            return str(value)
        values = value if isinstance(value, list) else [value]
        out = []
        target = self._lookup_target(lst, col)
        for v in values:
            lid = int(str(v.get("LookupId") if isinstance(v, dict) else v))
            title = ""
            if target is not None and lid in target.items:
                title = str(target.items[lid].fields.get("Title") or "")
            out.append({"LookupId": lid, "LookupValue": title})
        return out

    def _lookup_target(self, lst: SpList, col: Column) -> SpList | None:
        if col.kind == "personOrGroup":
            return self.uil(lst.site)
        ref = str((col.definition.get("lookup") or {}).get("listId") or "")
        return lst.site.find_list(ref) if ref else None

    def create_item(
        self,
        lst: SpList,
        fields: JSON,
        user: User,
        item_id: int | None = None,
        created: str | None = None,
        modified: str | None = None,
    ) -> Item:
        with self.lock:
            data = self.normalise_fields(lst, fields)
            iid = item_id if item_id is not None else lst.next_id
            ts = now_iso()
            return self._insert(lst, iid, data, user.id, created or ts, modified or created or ts)

    def update_item(
        self, lst: SpList, item: Item, fields: JSON, user: User, if_match: str | None = None
    ) -> Item:
        with self.lock:
            self.check_etag(item, if_match)
            data = self.normalise_fields(lst, fields)
            item.history.append(
                Version(item.version, item.modified, item.editor_id, dict(item.fields))
            )
            item.fields = {**item.fields, **data}
            item.version += 1
            item.modified = now_iso()
            item.editor_id = user.id
            item.cache.clear()
            item.seq = self._log(lst, item.id)
            return item

    def delete_item(self, lst: SpList, item: Item, if_match: str | None = None) -> None:
        with self.lock:
            self.check_etag(item, if_match)
            del lst.items[item.id]
            lst.ids.pop(bisect.bisect_left(lst.ids, item.id))
            lst.tombstones[item.id] = self._log(lst, item.id)

    @staticmethod
    def check_etag(item: Item, if_match: str | None) -> None:
        if if_match is None or if_match.strip() == "*":
            return
        tag = if_match.strip().removeprefix("W/").strip('"')
        if tag != item.etag.strip('"'):
            raise Conflict(item.etag)

    def delete_list(self, lst: SpList) -> None:
        """The list and its items are gone; its id answers 404 from now on."""
        with self.lock:
            lst.site.lists.pop(lst.id, None)
            lst.site.deleted_list_ids.add(lst.id)

    def invalidate_delta(self, lst: SpList) -> None:
        with self.lock:
            lst.epoch += 1

    def iter_changes(self, lst: SpList, after: int, upto: int) -> Iterator[tuple[int, int]]:
        """(seq, item id) of the latest change per item with after < seq <= upto, by seq."""
        start = bisect.bisect_right(lst.log_seqs, after)
        for pos in range(start, len(lst.log_seqs)):
            seq = lst.log_seqs[pos]
            if seq > upto:
                return
            iid = lst.log_ids[pos]
            item = lst.items.get(iid)
            current = item.seq if item is not None else lst.tombstones.get(iid)
            if current == seq:
                yield seq, iid

    # -- mail ------------------------------------------------------------------------------
    def mailbox(self, address: str) -> str | None:
        low = address.lower()
        return low if low in self.mailboxes else None
