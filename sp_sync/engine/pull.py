"""Pull: mirror a SharePoint list into the state store through its delta feed.

Invariants kept here (docs/reliability.md lists the faults each one answers):

* short transactions: the feed is read first. Each page is prepared as it arrives (the
  fields' JSON text, the content hash, who changed the item and when: everything that
  needs neither the mirror nor a transaction — while the adapter fetches the next page)
  and held in a spool (in memory up to ``SPOOL_ITEMS`` items, beyond that in a temporary
  file, so memory stays flat); only when the last page arrived are all pages compared
  with the mirror and applied in ONE ``store.list_sync`` transaction with the cursor (the
  last page's deltaLink) — no store transaction is open across a network call or a
  throttle wait, and a failure anywhere leaves items, history and cursor as they were;
* the mass-delete guard: a full enumeration (first pull after a ``410``, ``full=True``)
  that would tombstone more than ``mass_delete_share`` of the list's live items *because
  they are missing from it* (lists of at least ``MASS_DELETE_FLOOR`` items) raises
  ``MassDeleteRefused`` inside that transaction — nothing is changed, the old cursor
  stays — unless ``allow_mass_delete`` (``--allow-mass-delete``);
* a deletion becomes a tombstone; during a full enumeration (no cursor, ``full=True``
  or after ``410 Gone``) ids the feed did not contain are tombstoned only after the
  last page arrived;
* history: one FieldChange per changed mapped column (old raw → new raw), by the
  editor from the mirrored User Information List (delta carries no lastModifiedBy);
  kind "created" (None → value), "updated", or "deleted" (value → None, editor unknown:
  the feed does not say who deleted); none on a list's first sync (nothing changed —
  the mirror was just empty);
* memory does not grow with the list: pages are processed one at a time, the mirror is
  read once per page (``store.get_many``); only items *changed* during this feed are
  remembered (so a repeated item in the feed is compared with its first occurrence and
  history is not counted twice);
* a deltaLink keeps the ``$select`` it was created with, so the cursor is stored as
  ``sel=<fingerprint of the select>;[skip=<column keys>;]<deltaLink>``: when the
  requested fields change (a column added to the mapping, or skipped because SharePoint
  broke it) the list is enumerated again in full. A plain deltaLink (stored before
  fingerprints) stays valid. Columns no mirrored item has a value for are new to the
  mirror: their first values are taken without history (nobody changed them; the
  mapping did);
* ``skip``: columns whose SharePoint column is broken (see ``sp_sync.engine.schema``)
  are left out of the select; their *last mirrored values are kept* (carried over from
  the mirror into the new row), so hashes and history stay quiet instead of reporting
  every item as changed to empty. New items have no value for them until it is fixed.
  The skipped keys are stored in the cursor, so a pull that does not check the schema
  (a sync job's) keeps the verdict instead of flipping the select back and forth.
"""

from __future__ import annotations

import hashlib
import json
import logging
import marshal
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote, unquote

from sp_sync import crashpoints
from sp_sync.domain import jsontext
from sp_sync.domain.jsontext import JsonObject
from sp_sync.domain.model import (
    ColumnType,
    FieldChange,
    ListMapping,
    ListSpec,
    MirrorItem,
    RawItem,
)
from sp_sync.domain.normalize import canonicalizer, content_hasher, parse_datetime, parse_id
from sp_sync.errors import CursorExpired, MassDeleteRefused
from sp_sync.ports import ListRef, ListSource, ListSyncTransaction, StateStore

log = logging.getLogger(__name__)

USERS_KEY = "users"
USER_NAME_FIELD = "Title"  # the User Information List's display-name field (fixed name)
ITEM_COLUMN = "*"  # FieldChange.column of a deletion of an item without mapped values
SPOOL_ITEMS = 1000  # prepared items held in memory before the spool moves to a temp file
MASS_DELETE_SHARE = 0.5  # default share of a list's live items a pull may tombstone
MASS_DELETE_FLOOR = 5  # smaller lists are not guarded (deleting 1 of 2 is no accident)


@dataclass
class PullResult:
    list_key: str
    items_seen: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    pages: int = 0
    poisoned: int = 0  # items skipped as poison (see DeltaPage.poisoned)
    full_enumeration: bool = False
    cursor_reset: bool = False
    select_changed: bool = False  # the cursor was made for other fields: read in full

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class _Known:
    """What the mirror holds for an item, as far as this feed is concerned."""

    live: bool
    hash: str = ""
    etag: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


def select_fingerprint(select: Sequence[str]) -> str:
    """8 hex digits that change when the set of requested fields changes."""
    return hashlib.sha256("\n".join(sorted(set(select))).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class StoredCursor:
    """A cursor as stored: ``sel=<fingerprint>;[skip=<keys>;]<deltaLink>``."""

    fingerprint: str | None  # None: a plain deltaLink (stored before fingerprints)
    skip: frozenset[str]  # columns left out when it was made (the schema check's verdict)
    link: str


def encode_cursor(
    select: Sequence[str], skip: Collection[str], delta_link: str | None
) -> str | None:
    if not delta_link:
        return None
    kept = ",".join(quote(k, safe="") for k in sorted(skip))
    return f"sel={select_fingerprint(select)};" + (f"skip={kept};" if kept else "") + delta_link


def decode_cursor(stored: str) -> StoredCursor:
    if not (stored.startswith("sel=") and stored[12:13] == ";"):
        return StoredCursor(None, frozenset(), stored)
    rest, skip = stored[13:], frozenset[str]()
    if rest.startswith("skip="):
        kept, _, rest = rest[5:].partition(";")
        skip = frozenset(unquote(k) for k in kept.split(",") if k)
    return StoredCursor(stored[4:12], skip, rest)


def pull_select(spec: ListSpec, skip: Collection[str] = ()) -> tuple[str, ...]:
    """The fields requested for ``spec`` without the columns keyed in ``skip``."""
    dropped = {c.field_name for c in spec.columns if c.key in skip}
    return tuple(f for f in spec.select if f not in dropped)


# One item of a feed as the pull spools it, prepared while the next page is on the wire:
# (id, eTag, fields as JSON text, content hash — "" when skipped columns must first be
# carried over from the mirror —, web URL, modified as ISO text, modified by, deleted).
# Plain values only: a spilled spool is written with marshal (our own file, read once).
_Entry = tuple[str, str | None, str, str, str | None, str | None, str | None, bool]
# The places read by name below (Final: mypy then knows each one's type).
_ID: Final = 0
_DELETED: Final = 7


class _Pull:
    def __init__(
        self, store: StateStore, spec: ListSpec, now: datetime, cursor: str | None,
        skip: Collection[str] = (), quiet: Collection[str] = (),
    ) -> None:
        self.store, self.spec, self.now = store, spec, now
        self.hash = content_hasher(spec)
        self.canon = [(c, canonicalizer(c)) for c in spec.columns]  # set up once per pull
        self.names = {c.field_name for c in spec.columns}
        self.kept = {c.field_name for c in spec.columns if c.key in skip}
        self.quiet = set(quiet)  # field names whose changes are not history (new columns)
        self.cursor = cursor
        # Set by begin() once the list's transaction is open.
        self.live_before, self.empty, self.history, self.enumerate = 0, True, False, False
        self.prefetched: Mapping[str, MirrorItem] = {}  # the mirror's rows of this page
        self.result = PullResult(spec.key, full_enumeration=cursor is None)
        self.changed: dict[str, _Known] = {}  # items changed in this feed only
        self.editors: dict[str, str | None] = {}
        self.upserts: dict[str, MirrorItem] = {}

    def begin(self) -> None:
        """Look at the mirror as it is now: called again once the list's transaction is
        open (the feed was read without one; another process may have pulled meanwhile)."""
        # An empty mirror has nothing to compare with: no per-item reads (the big first
        # sync), and no history (nothing changed — the mirror was just empty).
        self.live_before = self.store.count(self.spec.key)
        self.empty = self.live_before == 0
        self.history = not (self.cursor is None and self.empty)
        # Deletions by absence only matter when the mirror had live items to lose.
        self.enumerate = self.cursor is None and not self.empty

    # ---------------------------------------------------------------- lookups

    def known(self, item_id: str) -> _Known | None:
        if item_id in self.changed:
            return self.changed[item_id]
        if self.empty:
            return None
        m = self.prefetched.get(item_id)
        if m is None:
            return None
        return _Known(not m.deleted, m.content_hash, m.etag, m.fields)

    def editor(self, raw: RawItem) -> str | None:
        if raw.modified_by:
            return raw.modified_by
        lookup = raw.fields.get("EditorLookupId")
        if lookup is None:
            return None
        key = str(lookup)
        if key not in self.editors:
            try:
                user = self.store.get(USERS_KEY, str(parse_id(lookup)))
            except ValueError:
                user = None
            name = user.fields.get(USER_NAME_FIELD) if user and user.fields else None
            self.editors[key] = str(name) if name else None
        return self.editors[key]

    @staticmethod
    def modified(raw: RawItem) -> datetime | None:
        if raw.modified is not None:
            return raw.modified
        try:
            return parse_datetime(raw.fields.get("Modified"))
        except ValueError:
            return None

    # ---------------------------------------------------------------- outside the transaction

    def prepare(self, raw: RawItem) -> _Entry:
        """Everything about one item that needs neither the transaction nor the mirror:
        its fields' text and content hash, when and by whom it was changed. Runs while
        the next page is on the wire, so the transaction afterwards is short."""
        if raw.deleted:
            return (raw.id, None, "", "", None, None, None, True)
        fields = raw.fields if type(raw.fields) is dict else dict(raw.fields)
        if self.kept:  # carried over from the mirror in the transaction, then hashed
            fields, digest = {k: v for k, v in fields.items() if k not in self.kept}, ""
        else:
            digest = self.hash(fields)
        at = self.modified(raw)
        return (raw.id, raw.etag, jsontext.dumps(fields), digest, raw.web_url,
                at.isoformat() if at is not None else None, self.editor(raw), False)

    # ---------------------------------------------------------------- in the transaction

    def flush(self, tx: ListSyncTransaction) -> None:
        if self.upserts:
            tx.upsert(list(self.upserts.values()))
            self.upserts.clear()

    def page(
        self, tx: ListSyncTransaction, entries: Sequence[_Entry], poisoned: Sequence[str] = ()
    ) -> None:
        self.result.pages += 1
        self.result.poisoned += len(poisoned)
        if poisoned and self.enumerate:  # present, only unreadable: not gone
            tx.mark_seen(list(poisoned))
        self.result.items_seen += len(entries)
        if not self.empty:
            self.prefetched = self.store.get_many(self.spec.key, [e[_ID] for e in entries])
        for entry in entries:
            if entry[_DELETED]:
                self.flush(tx)
                self.tombstone(tx, entry[_ID])
            else:
                self.upsert(tx, entry)
        self.flush(tx)
        if self.enumerate:
            tx.mark_seen([e[_ID] for e in entries if not e[_DELETED]])

    def tombstone(self, tx: ListSyncTransaction, item_id: str) -> None:
        prev = self.known(item_id)
        if prev is None or not prev.live:
            return
        tx.tombstone([item_id], self.now)
        self.result.deleted += 1
        self.changed[item_id] = _Known(live=False)
        if self.history:  # old → None per column, so a digest can still name the item
            gone = [
                FieldChange(self.spec.key, item_id, c.key, prev.fields.get(c.field_name), None,
                            None, self.now, kind="deleted")
                for c, canon in self.canon if canon(prev.fields.get(c.field_name)) is not None
            ] or [FieldChange(self.spec.key, item_id, ITEM_COLUMN, None, None, None, self.now,
                              kind="deleted")]
            tx.record_changes(gone)

    def carried(self, text: str, prev: _Known | None) -> tuple[JsonObject, str]:
        """Fields prepared without the skipped columns: their values carried over from
        the mirror, then hashed (``prepare`` left the hash for now)."""
        fields: dict[str, Any] = json.loads(text)
        if prev is not None:
            fields.update({k: prev.fields[k] for k in self.kept if k in prev.fields})
        return JsonObject.of(fields), self.hash(fields)

    def upsert(self, tx: ListSyncTransaction, entry: _Entry) -> None:
        # Runs once per item of a first sync: one path, few calls (docs/performance.md).
        item_id, etag, text, digest, web_url, at_text, by, _ = entry
        prev = self.known(item_id)
        if digest:
            fields = JsonObject(text)
        else:
            fields, digest = self.carried(text, prev)
        live = prev if prev is not None and prev.live else None
        if live is not None and live.hash == digest and live.etag == etag:
            return
        at = datetime.fromisoformat(at_text) if at_text is not None else None
        self.upserts[item_id] = MirrorItem(self.spec.key, item_id, etag, fields, digest,
                                           web_url, at, by)
        if live is not None and live.hash == digest:
            return  # same content, new eTag only (e.g. our own write echoed back)
        if live is None:
            self.result.created += 1
        else:
            self.result.updated += 1
        if self.history:
            kind, old = ("created", {}) if live is None else ("updated", live.fields)
            tx.record_changes(self.diff(item_id, fields, old, kind, by, at or self.now))
            self.changed[item_id] = _Known(True, digest, etag, self.mapped(fields))

    def mapped(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        names = self.names
        return {k: v for k, v in fields.items() if k in names}

    def diff(
        self, item_id: str, new: Mapping[str, Any], old: Mapping[str, Any], kind: str,
        by: str | None, at: datetime,
    ) -> list[FieldChange]:
        out = []
        for col, canon in self.canon:
            if col.field_name in self.quiet:
                continue
            before, after = old.get(col.field_name), new.get(col.field_name)
            if canon(before) != canon(after):
                out.append(FieldChange(self.spec.key, item_id, col.key, before, after, by, at,
                                       kind=kind))
        return out

    def finish(
        self, tx: ListSyncTransaction, cursor: str | None, guard: float | None = None
    ) -> None:
        """Deletions by absence, the mass-delete guard (``guard``: the share; ``None``:
        allowed), then the cursor."""
        self.flush(tx)
        deleted_before = self.result.deleted
        if self.enumerate:
            unseen = tx.unseen_ids()
            for start in range(0, len(unseen), 500):
                chunk = unseen[start:start + 500]
                self.prefetched = self.store.get_many(self.spec.key, chunk)
                for item_id in chunk:
                    self.tombstone(tx, item_id)
        # Only deletions by absence are guarded: an item the feed reports deleted was
        # deleted (by a person, or by sp-sync's own guarded plan); an item merely missing
        # from a re-enumeration may be a list that reads empty by mistake.
        live, missing = self.live_before, self.result.deleted - deleted_before
        if guard is not None and live >= MASS_DELETE_FLOOR and missing > guard * live:
            raise MassDeleteRefused(
                f"pull of {self.spec.key} ({self.spec.title!r}) would mark {missing} of its "
                f"{live} mirrored items deleted because a full read of the list no longer "
                f"has them ({missing / live:.0%}, more than the guard's {guard:.0%}); "
                "nothing was changed and the list keeps its old cursor. Check the list in "
                "SharePoint (an emptied or replaced list, lost permissions, a view or "
                "site problem); if the deletions are real, run the job once with "
                "--allow-mass-delete"
            )
        tx.set_cursor(cursor)


_SpooledPage = tuple[list[_Entry], list[str]]  # a page's prepared items and poisoned ids


class _Spool:
    """A feed's prepared pages until the feed is complete: in memory up to
    ``SPOOL_ITEMS`` items, then marshalled into an anonymous temporary file (plain
    values of our own, read back once)."""

    def __init__(self) -> None:
        self._pages: list[_SpooledPage] = []
        self._items = 0
        self._file: Any = None
        self.count = 0

    def add(self, entries: list[_Entry], poisoned: list[str]) -> None:
        self.count += 1
        page: _SpooledPage = (entries, poisoned)
        if self._file is None:
            self._pages.append(page)
            self._items += len(entries)
            if self._items <= SPOOL_ITEMS:
                return
            self._file = tempfile.TemporaryFile(prefix="sp-sync-pull-")  # noqa: SIM115
            pages, self._pages = self._pages, []
            for spooled in pages:
                self._write(spooled)
            return
        self._write(page)

    def _write(self, page: _SpooledPage) -> None:
        # One block per page, length first: marshal.load on a file reads object by object
        # (several small reads per item), marshal.loads on the block does not.
        block = marshal.dumps(page)
        self._file.write(len(block).to_bytes(8, "little"))
        self._file.write(block)

    def __iter__(self) -> Iterator[_SpooledPage]:
        if self._file is None:
            yield from self._pages
            return
        self._file.seek(0)
        read = self._file.read
        for _ in range(self.count):
            page: _SpooledPage = marshal.loads(read(int.from_bytes(read(8), "little")))
            yield page  # our own file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._pages = []


def _pull_once(
    source: ListSource, store: StateStore, spec: ListSpec, ref: ListRef, now: datetime,
    cursor: str | None, skip: Collection[str], quiet: Collection[str] = (),
    guard: float | None = MASS_DELETE_SHARE,
) -> PullResult:
    run = _Pull(store, spec, now, cursor, skip, quiet)
    select = pull_select(spec, skip)
    spool = _Spool()
    try:
        delta_link: str | None = None
        # Network and preparation only: no transaction open (the adapter already fetches
        # the next page while this one is prepared).
        for page in source.delta(ref, select, cursor):
            spool.add([run.prepare(raw) for raw in page.items], list(page.poisoned))
            crashpoints.reached("page")
            delta_link = page.delta_link
        with store.list_sync(spec.key) as tx:  # local work only: short
            run.begin()
            for entries, poisoned in spool:
                run.page(tx, entries, poisoned)
            run.finish(tx, encode_cursor(select, skip, delta_link), guard)
    finally:
        spool.close()
    return run.result


def _new_to_mirror(store: StateStore, spec: ListSpec) -> set[str]:
    """Mapped field names no mirrored item has (reads the mirror once; rare: mapping change)."""
    missing = {c.field_name for c in spec.columns}
    for item in store.items(spec.key, include_deleted=True):
        missing.difference_update(item.fields)
        if not missing:
            break
    return missing


def pull_list(
    source: ListSource,
    store: StateStore,
    spec: ListSpec,
    ref: ListRef,
    now: datetime,
    full: bool = False,
    skip: Collection[str] | None = None,
    *,
    allow_mass_delete: bool = False,
    mass_delete_share: float = MASS_DELETE_SHARE,
) -> PullResult:
    """Bring the mirror of one list up to date (see the module docstring).

    ``skip``: keys of mapped columns not to read (broken in SharePoint); their mirrored
    values are kept. ``None``: as when the stored cursor was made — so a pull that does
    not check the schema (a sync job's) neither reads broken columns nor flips the select.
    ``allow_mass_delete``: let this pull tombstone more than ``mass_delete_share`` of the
    list (otherwise ``MassDeleteRefused``, nothing changed).
    """
    guard = None if allow_mass_delete else mass_delete_share
    raw = store.cursor(spec.key)
    stored = decode_cursor(raw) if raw else None
    if skip is None:
        skip = stored.skip if stored is not None else frozenset()
    cursor, select_changed = None, False
    if stored is not None and not full:
        if stored.fingerprint not in (None, select_fingerprint(pull_select(spec, skip))):
            log.info("the fields requested for %s changed since its delta cursor was made "
                     "(mapping or skipped columns): enumerating it in full", spec.key)
            select_changed = True
        else:
            cursor = stored.link
    quiet = _new_to_mirror(store, spec) if select_changed else set()
    if quiet:
        log.info("%s: no history for the first values of %s (new to the mirror)",
                 spec.key, ", ".join(sorted(quiet)))
    try:
        result = _pull_once(source, store, spec, ref, now, cursor, skip, quiet, guard)
    except CursorExpired:
        if cursor is None:
            raise
        log.warning("delta cursor of %s expired (410): enumerating it again", spec.key)
        result = _pull_once(source, store, spec, ref, now, None, skip, quiet, guard)
        result.cursor_reset = True
    result.select_changed = select_changed
    log.info(
        "pulled %s: %d seen, %d created, %d updated, %d deleted, %d pages%s",
        spec.key, result.items_seen, result.created, result.updated, result.deleted,
        result.pages, " (full)" if result.full_enumeration else "",
    )
    if result.poisoned:
        log.warning("%s: %d item(s) skipped as unreadable (see the warnings above); their "
                    "mirrored rows are kept as they were", spec.key, result.poisoned)
    return result


def remember_created(
    store: StateStore, spec: ListSpec, created: Sequence[RawItem], now: datetime
) -> None:
    """Put rows sp-sync just created into the mirror (the cursor stays as it is).

    So the mirror knows them before the next pull: a row a person deletes right after
    is then seen deleted (a tombstone with its SyncKey) rather than never seen — which a
    producer that must not re-create deleted rows relies on. The next delta brings the
    same rows back: equal content, nothing recorded twice.
    """
    if not created:
        return
    run = _Pull(store, spec, now, cursor="", skip=(), quiet=())
    run.history = False  # their creation is no change made by a person
    with store.list_sync(spec.key) as tx:
        for raw in created:
            run.upsert(tx, run.prepare(raw))
        run.flush(tx)


def dependencies(spec: ListSpec) -> set[str]:
    """Lists whose mirror is needed to read ``spec``: users for people, lookup targets."""
    deps: set[str] = set()
    for col in spec.columns:
        if col.type is ColumnType.PERSON:
            deps.add(USERS_KEY)
        elif col.lookup_list and col.type in (ColumnType.LOOKUP, ColumnType.MULTILOOKUP):
            deps.add(col.lookup_list)
    deps.discard(spec.key)
    return deps


def dependency_order(mapping: ListMapping, keys: Iterable[str]) -> list[str]:
    """``keys`` ordered so users come first and looked-up lists before their users."""
    wanted = list(dict.fromkeys(keys))
    done: list[str] = []
    visiting: set[str] = set()

    def visit(key: str) -> None:
        if key in done or key in visiting:
            return  # a lookup cycle: keep the order given
        visiting.add(key)
        if key in mapping:
            for dep in sorted(dependencies(mapping.get(key)), key=lambda k: k != USERS_KEY):
                if dep in wanted:
                    visit(dep)
        visiting.discard(key)
        done.append(key)

    for key in sorted(wanted, key=lambda k: k != USERS_KEY):
        visit(key)
    return done


def pull_lists(
    source: ListSource,
    store: StateStore,
    mapping: ListMapping,
    keys: Iterable[str],
    refs: Callable[[ListSpec], ListRef],
    now: datetime,
    full: bool = False,
    *,
    allow_mass_delete: bool = False,
    mass_delete_share: float = MASS_DELETE_SHARE,
) -> dict[str, PullResult]:
    """Pull several lists in dependency order; one transaction per list."""
    results: dict[str, PullResult] = {}
    for key in dependency_order(mapping, keys):
        spec = mapping.get(key)
        results[key] = pull_list(source, store, spec, refs(spec), now, full=full,
                                 allow_mass_delete=allow_mass_delete,
                                 mass_delete_share=mass_delete_share)
    return results
