"""Mirror → typed records: the resolver for people and lookups, and record loading."""

from __future__ import annotations

from collections.abc import Iterator
from zoneinfo import ZoneInfo

from sp_sync.domain.model import ColumnType, ListMapping, ListSpec, Lookup, Person, Record
from sp_sync.domain.normalize import normalizer
from sp_sync.engine.pull import USER_NAME_FIELD, USERS_KEY
from sp_sync.ports import StateStore

_TITLE_FIELD = "Title"  # lookups show the referenced item's Title unless mapped otherwise


def _title_column(spec: ListSpec) -> str:
    """Internal name of the field a lookup into ``spec`` displays."""
    for col in spec.columns:
        if col.name == _TITLE_FIELD:
            return col.field_name
    texts = [c for c in spec.columns if c.type in (ColumnType.TEXT, ColumnType.NOTE)]
    return texts[0].field_name if texts else _TITLE_FIELD


class StoreResolver:
    """Resolves person and lookup ids from the mirror (cached per instance).

    People come from the mirrored User Information List (list key ``users``); lookups
    from the referenced list's mirror. Tombstoned items still resolve: a deleted
    department keeps its name in old records.
    """

    def __init__(self, store: StateStore, mapping: ListMapping) -> None:
        self._store = store
        self._mapping = mapping
        self._people: dict[int, Person | None] = {}
        self._lookups: dict[tuple[str, int], Lookup | None] = {}

    def _field(self, list_key: str, column_key: str, default: str) -> str:
        if list_key in self._mapping:
            try:
                return self._mapping.get(list_key).column(column_key).field_name
            except KeyError:
                pass
        return default

    def person(self, lookup_id: int) -> Person | None:
        if lookup_id not in self._people:
            item = self._store.get(USERS_KEY, str(lookup_id))
            person = None
            if item is not None:
                name = item.fields.get(self._field(USERS_KEY, "name", USER_NAME_FIELD))
                email = item.fields.get(self._field(USERS_KEY, "email", "EMail"))
                person = Person(
                    name=str(name).strip() if name else f"#{lookup_id}",
                    email=str(email).strip().lower() if email else None,
                    id=lookup_id,
                )
            self._people[lookup_id] = person
        return self._people[lookup_id]

    def lookup(self, list_key: str, lookup_id: int) -> Lookup | None:
        key = (list_key, lookup_id)
        if key not in self._lookups:
            item = self._store.get(list_key, str(lookup_id))
            found = None
            if item is not None:
                name = _TITLE_FIELD
                if list_key in self._mapping:
                    name = _title_column(self._mapping.get(list_key))
                title = item.fields.get(name)
                found = Lookup(id=lookup_id, title=str(title).strip() if title else None)
            self._lookups[key] = found
        return self._lookups[key]


def iter_records(
    store: StateStore, mapping: ListMapping, list_key: str, tz: ZoneInfo,
    resolver: StoreResolver | None = None,
) -> Iterator[Record]:
    """Every live item of a list, normalised one at a time (ordered by item id)."""
    spec = mapping.get(list_key)
    normalize = normalizer(spec, resolver or StoreResolver(store, mapping), tz)
    for item in store.items(list_key):
        yield Record(
            list_key=list_key,
            id=item.id,
            values=normalize(item.fields),
            web_url=item.web_url,
            modified=item.modified,
            modified_by=item.modified_by,
        )


def load_records(
    store: StateStore, mapping: ListMapping, list_key: str, tz: ZoneInfo,
    resolver: StoreResolver | None = None,
) -> list[Record]:
    """Every live item of a list, normalised (ordered by item id)."""
    return list(iter_records(store, mapping, list_key, tz, resolver))
