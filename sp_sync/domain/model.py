"""Pure data types shared by every layer: list mappings, raw items, typed values, changes.

Nothing here does I/O. SharePoint names (list titles, internal column names) only ever
come from a :class:`ListSpec`, which is loaded from ``config/lists.toml``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple

Report = Callable[[str, str, str], None]
"""``bad(key, reason, what to do)``: one problem found in a file being checked (the
mapping, a job, a rule); checks report every problem at once through it."""


class ColumnType(StrEnum):
    """Column types sp-sync understands, and how Graph returns each in ``fields``.

    text, note      "string"
    number, currency 12.5
    boolean         true
    datetime        "2026-12-01T08:00:00Z" (UTC)
    date            "2026-11-30T23:00:00Z" (date-only: local midnight of the site, in UTC)
    choice          "Umsetzung"
    multichoice     ["a", "b"]
    person          "{Name}LookupId": "12"  (id in the User Information List)
    lookup          "{Name}LookupId": "3"   (id in the referenced list)
    multilookup     "{Name}": [{"LookupId": 3, "LookupValue": "Title"}]
    url             "{Name}": {"Url": "https://…", "Description": "…"}
    """

    TEXT = "text"
    NOTE = "note"
    NUMBER = "number"
    CURRENCY = "currency"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    DATE = "date"
    CHOICE = "choice"
    MULTICHOICE = "multichoice"
    PERSON = "person"
    LOOKUP = "lookup"
    MULTILOOKUP = "multilookup"
    URL = "url"


LOOKUP_ID_TYPES = frozenset({ColumnType.PERSON, ColumnType.LOOKUP})


@dataclass(frozen=True)
class ColumnSpec:
    """One mapped column: logical name → SharePoint internal name and type."""

    key: str  # logical name used by sp-sync's logic, e.g. "next_milestone"
    name: str  # SharePoint internal name, e.g. "N_x00e4_chster_x0020_Meilenstein"
    type: ColumnType
    display: str | None = None  # display name used when provisioning
    lookup_list: str | None = None  # logical key of the referenced list (lookup/multilookup)
    choices: tuple[str, ...] = ()
    required: bool = False
    indexed: bool = False

    @property
    def field_name(self) -> str:
        """The key under which Graph returns this column in ``fields``."""
        return f"{self.name}LookupId" if self.type in LOOKUP_ID_TYPES else self.name


@dataclass(frozen=True)
class ListSpec:
    """One mapped list: logical key → SharePoint list title, its columns and role."""

    key: str  # logical key, e.g. "projects"
    title: str  # SharePoint list display name, e.g. "Projekte"
    columns: tuple[ColumnSpec, ...]
    role: str = "source"  # "source" (people edit it) or "target" (sp-sync writes it)
    site_url: str | None = None  # None: the default site from settings
    sync_key_column: str | None = None  # internal name of the SyncKey column of a target

    def column(self, key: str) -> ColumnSpec:
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(f"list {self.key!r} has no mapped column {key!r}")

    @property
    def select(self) -> tuple[str, ...]:
        """Field names to request with ``$expand=fields($select=…)``."""
        names = [c.field_name for c in self.columns]
        if self.sync_key_column and self.sync_key_column not in names:
            names.append(self.sync_key_column)
        for extra in ("EditorLookupId", "AuthorLookupId", "Modified", "Created"):
            if extra not in names:
                names.append(extra)
        return tuple(names)


@dataclass(frozen=True)
class ListMapping:
    """All mapped lists (``config/lists.toml``)."""

    lists: tuple[ListSpec, ...]

    def get(self, key: str) -> ListSpec:
        for spec in self.lists:
            if spec.key == key:
                return spec
        raise KeyError(f"no list {key!r} in the list mapping")

    def __contains__(self, key: object) -> bool:
        return any(s.key == key for s in self.lists)



class RawItem(NamedTuple):
    """A list item as Graph returns it; ``fields`` is keyed by internal field name.

    A named tuple, not a frozen dataclass: built once per item of every page, and a
    frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field) costs about
    8,000 instructions more per item (callgrind; docs/performance.md). Immutable all the
    same; ``_replace`` makes a changed copy."""

    id: str
    etag: str | None
    fields: Mapping[str, Any]
    web_url: str | None = None
    created: datetime | None = None
    modified: datetime | None = None
    modified_by: str | None = None  # display name or e-mail when Graph gives it
    deleted: bool = False


class MirrorItem(NamedTuple):
    """A list item as the state store keeps it (a named tuple, as :class:`RawItem`)."""

    list_key: str
    id: str
    etag: str | None
    fields: Mapping[str, Any]  # raw Graph fields (internal names)
    content_hash: str
    web_url: str | None = None
    modified: datetime | None = None
    modified_by: str | None = None
    deleted_at: datetime | None = None  # tombstone: when the deletion was seen

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True)
class FieldChange:
    """One column of one item changed: old → new (raw Graph values), who and when."""

    list_key: str
    item_id: str
    column: str  # logical column key
    old: Any
    new: Any
    changed_by: str | None
    changed_at: datetime
    kind: str = "updated"  # "created" | "updated" | "deleted"


@dataclass(frozen=True)
class Person:
    """A person column, resolved through the User Information List."""

    name: str
    email: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class Lookup:
    """A lookup column, resolved to the referenced item's title."""

    id: int
    title: str | None = None


@dataclass(frozen=True)
class Link:
    url: str
    description: str | None = None


Value = (
    str | int | float | bool | date | datetime | Person | Lookup | Link | tuple[Any, ...] | None
)


@dataclass(frozen=True)
class Record:
    """A normalised item: logical column key → typed value. What rules and digests read."""

    list_key: str
    id: str
    values: Mapping[str, Value]
    web_url: str | None = None
    modified: datetime | None = None
    modified_by: str | None = None

    def __getitem__(self, key: str) -> Value:
        return self.values.get(key)

    def get(self, key: str, default: Value = None) -> Value:
        v = self.values.get(key)
        return default if v is None else v


@dataclass(frozen=True)
class DesiredRow:
    """A row a job wants in a target list, keyed by its deterministic SyncKey."""

    sync_key: str
    fields: Mapping[str, Any]  # internal names → values in Graph's write shape


class ActionKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class WriteAction:
    """One planned write. ``etag`` is the item's real eTag for update/delete (never ``*``)."""

    kind: ActionKind
    sync_key: str
    item_id: str | None = None
    etag: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)  # only changed fields for updates


class OutcomeStatus(StrEnum):
    OK = "ok"
    CONFLICT = "conflict"  # 412: someone changed the item after we read it
    AMBIGUOUS = "ambiguous"  # the server may or may not have applied it (5xx, timeout)
    THROTTLED = "throttled"  # still throttled after the policy gave up
    FAILED = "failed"  # refused for good (400, 403, 404 …)


@dataclass(frozen=True)
class WriteOutcome:
    action: WriteAction
    status: OutcomeStatus
    item: RawItem | None = None  # the item as written (new eTag), when the server said so
    error: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """One job run in the run history."""

    id: int
    job: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # "running" | "ok" | "partial" | "failed" | "interrupted" (dry run: stats)
    stats: Mapping[str, Any] = field(default_factory=dict)
    message: str | None = None
