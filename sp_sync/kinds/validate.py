"""Kind ``validate``: rules over the mirrored lists → findings in the Befunde list.

One producer of the write pipeline, scope ``finding:``: every failing rule × item (or
group) is one Befunde row keyed ``finding:<rule>:<list>:<item>``. The row's status comes
from :mod:`sp_sync.domain.findings` (the lifecycle), reading the row as it is now — the
owner's exception, until and reason columns included, which this producer never writes.
Rows of findings that no longer fail are patched closed (Behoben, or Entfallen when the
item or the rule is gone), never deleted.

Evaluation is incremental: per-item rules look only at items whose content changed
since this job's last evaluation, and at the items that depend on them through the
rule's other lists; the rest keep what their Befunde row says. Once a day (the first run
of a local day) and whenever the rule set changes, everything is evaluated, so
time-based rules (overdue, stale) see every item. Every real evaluation leaves a
baseline in the store's ledger (job, period ``validate:baseline``: the day, the rule set's
hash and a short content hash per item); the next run that day re-evaluates the items
that differ from it (and their dependents). No extra store table is needed; a dry run
leaves the baseline as it was.

When a finding of a severity in ``notify_owner_on`` (default: error) opens — new, failing
again after a fix, or an acceptance that no longer holds — its owner gets one mail at
once, through the notices of :mod:`sp_sync.engine.notices` (the outbox; once per
(job, finding key + open count, recipient); allowed domains and live users only). A dry
run lists those mails and sends nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import Field

from sp_sync.domain.conditions import EvalEnv
from sp_sync.domain.findings import (
    OWNER_EDITED,
    SYNC_PREFIX,
    WRITTEN,
    Row,
    closing,
    desired_fields,
    opening,
    parse_key,
    state,
)
from sp_sync.domain.mail_content import NoticeText
from sp_sync.domain.model import (
    ColumnType,
    DesiredRow,
    ListSpec,
    Lookup,
    MirrorItem,
    Person,
    Record,
)
from sp_sync.domain.normalize import is_empty, normalizer, parse_datetime
from sp_sync.domain.plan import Leftover
from sp_sync.domain.rules import (
    Dataset,
    Finding,
    Rule,
    Severity,
    ValueProblem,
    evaluate,
    parse_rules,
)
from sp_sync.engine.context import RunContext
from sp_sync.engine.notices import Notice, send_notices
from sp_sync.engine.pipeline import Producer, write
from sp_sync.engine.pull import pull_lists
from sp_sync.engine.records import StoreResolver
from sp_sync.errors import ConfigError
from sp_sync.kinds.base import CheckEnv, JobKind, KindParams, Report

log = logging.getLogger(__name__)

_TITLE_KEYS = ("title", "name", "topic")


SeverityName = Literal["error", "warning", "info"]
_ERROR_ONLY: list[SeverityName] = ["error"]


class ValidateParams(KindParams):
    """Rules (``[[params.rules]]``, see :mod:`sp_sync.domain.rules`) and where findings go."""

    target: str = "findings"
    language: Literal["de", "en"] = "de"
    incremental: bool = True
    rules: list[dict[str, Any]] = Field(default_factory=list)
    #: Severities whose opening mails the item's owner at once; [] turns the mails off.
    notify_owner_on: list[SeverityName] = Field(default_factory=lambda: _ERROR_ONLY[:])


_REASONS = {
    "de": {"unreadable": "„{raw}“ ist kein gültiger Wert ({type})",
           "choice": "„{raw}“ ist keine erlaubte Auswahl",
           "person": "Person #{raw} gibt es nicht (mehr)",
           "lookup": "verweist auf einen Eintrag #{raw}, den es nicht (mehr) gibt"},
    "en": {"unreadable": "'{raw}' is not a valid value ({type})",
           "choice": "'{raw}' is not an allowed choice",
           "person": "person #{raw} does not exist (any more)",
           "lookup": "points to item #{raw}, which does not exist (any more)"},
}


def _short(raw: Any) -> str:
    text = str(raw)
    return text if len(text) <= 40 else text[:39] + "…"


def value_problems(spec: ListSpec, fields: Mapping[str, Any], values: Mapping[str, Any],
                   resolver: StoreResolver, language: str = "de") -> list[ValueProblem]:
    """Raw values of one item that do not read as their column's type: unreadable text,
    unknown choices, people and lookups that do not exist."""
    reasons = _REASONS[language]
    out: list[ValueProblem] = []
    for col in spec.columns:
        raw = fields.get(col.field_name)
        if is_empty(raw):
            continue
        value = values.get(col.key)
        reason: str | None = None
        if value is None:
            reason = reasons["unreadable"].format(raw=_short(raw), type=col.type.value)
        elif col.type is ColumnType.CHOICE and col.choices and value not in col.choices:
            reason = reasons["choice"].format(raw=_short(value))
        elif col.type is ColumnType.MULTICHOICE and col.choices and isinstance(value, tuple):
            bad = [v for v in value if v not in col.choices]
            if bad:
                reason = reasons["choice"].format(raw=_short(", ".join(map(str, bad))))
        elif (col.type is ColumnType.PERSON and isinstance(value, Person)
              and value.id is not None and resolver.person(value.id) is None):
            reason = reasons["person"].format(raw=value.id)
        elif col.type in (ColumnType.LOOKUP, ColumnType.MULTILOOKUP) and col.lookup_list:
            looks = value if isinstance(value, tuple) else (value,)
            gone = [v.id for v in looks
                    if isinstance(v, Lookup) and resolver.lookup(col.lookup_list, v.id) is None]
            if gone:
                reason = reasons["lookup"].format(raw=gone[0])
        if reason is not None:
            out.append(ValueProblem(col.key, raw, reason, col.display or col.key))
    return out


def _title_column(spec: ListSpec) -> str | None:
    keys = [c.key for c in spec.columns]
    for key in _TITLE_KEYS:
        if key in keys:
            return key
    texts = [c.key for c in spec.columns if c.type is ColumnType.TEXT]
    return texts[0] if texts else None


def rules_hash(raw: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Evaluation:
    """One run's evaluation: findings, the data they came from, the Befunde rows now."""

    rules: list[Rule]
    data: Dataset
    findings: dict[str, Finding] = field(default_factory=dict)  # SyncKey → finding
    rows: dict[str, Row] = field(default_factory=dict)  # SyncKey → current Befunde row
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)  # not re-evaluated rows
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)  # list → id → hash
    full: bool = True


class LazyRecords(Mapping[str, Record]):
    """One list's items as records, normalised when first read.

    An incremental run reads only the changed items of most lists; lists that cross-list
    rules count or group over are still read whole.
    """

    def __init__(self, key: str, items: dict[str, MirrorItem],
                 normalize: Callable[[Mapping[str, Any]], dict[str, Any]]) -> None:
        self.key, self.raw, self._normalize = key, items, normalize
        self._cache: dict[str, Record] = {}

    def __getitem__(self, item_id: str) -> Record:
        rec = self._cache.get(item_id)
        if rec is None:
            item = self.raw[item_id]
            rec = Record(self.key, item.id, self._normalize(item.fields), item.web_url,
                         item.modified, item.modified_by)
            self._cache[item_id] = rec
        return rec

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.raw


class LazyProblems(Mapping[tuple[str, str], Sequence[ValueProblem]]):
    """(list, item id) → the item's unreadable values, found when first asked for."""

    def __init__(self, ctx: RunContext, records: Mapping[str, LazyRecords],
                 resolver: StoreResolver, language: str) -> None:
        self._ctx, self._records = ctx, records
        self._resolver, self._language = resolver, language
        self._cache: dict[tuple[str, str], list[ValueProblem]] = {}

    def __getitem__(self, key: tuple[str, str]) -> Sequence[ValueProblem]:
        if key not in self._cache:
            list_key, item_id = key
            recs = self._records[list_key]
            self._cache[key] = value_problems(
                self._ctx.mapping.get(list_key), recs.raw[item_id].fields,
                recs[item_id].values, self._resolver, self._language)
        return self._cache[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((k, i) for k, recs in self._records.items() for i in recs
                if self[(k, i)])

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _load(ctx: RunContext, lists: set[str], language: str
          ) -> tuple[Dataset, dict[str, dict[str, str]], Mapping[str, LazyRecords]]:
    """Records (normalised on first use), value problems and content hashes of ``lists``."""
    resolver = StoreResolver(ctx.store, ctx.mapping)
    records: dict[str, LazyRecords] = {}
    hashes: dict[str, dict[str, str]] = {}
    for key in sorted(lists):
        spec = ctx.mapping.get(key)
        items = {item.id: item for item in ctx.store.items(key)}
        records[key] = LazyRecords(key, items, normalizer(spec, resolver, ctx.tz))
        hashes[key] = {i: item.content_hash[:_HASH_CHARS] for i, item in items.items()}
    titles = {k: t for k in lists if (t := _title_column(ctx.mapping.get(k)))}
    data = Dataset(records=records, problems=LazyProblems(ctx, records, resolver, language),
                   title_columns=titles,
                   list_titles={k: ctx.mapping.get(k).title for k in lists})
    return data, hashes, records


def _created(records: Mapping[str, LazyRecords], list_key: str, item_id: str
             ) -> datetime | None:
    """When the item was created (SharePoint's Created), for items without history."""
    recs = records.get(list_key)
    item = recs.raw.get(item_id) if recs is not None else None
    made = item.fields.get("Created") if item is not None else None
    if made:
        with contextlib.suppress(ValueError):
            return parse_datetime(made)
    return None


def _history(ctx: RunContext, rules: list[Rule]) -> dict[tuple[str, str, str], datetime]:
    """Last change per (list, item, column) of the columns stale rules watch."""
    watched: dict[str, set[str]] = {}
    for r in rules:
        if r.check == "stale":
            watched.setdefault(r.list, set()).add(r.params["column"])
    last: dict[tuple[str, str, str], datetime] = {}
    for list_key, cols in watched.items():
        for ch in ctx.store.changes(list_key):
            if ch.column in cols:
                k = (list_key, ch.item_id, ch.column)
                at = ch.changed_at if ch.changed_at.tzinfo else ch.changed_at.replace(tzinfo=UTC)
                if k not in last or at > last[k]:
                    last[k] = at
    return last


def _confirmed(ctx: RunContext, target: str) -> dict[str, bool]:
    """Befunde item id → the owner's last edit (exception, until, reason) came after the
    evidence sp-sync last wrote there.

    Decided by the order of the field history (by time, then by the order it was recorded),
    not by comparing clocks: SharePoint's Modified has whole seconds. Within one pulled
    version the owner's columns are recorded after the evidence column (mapping order), so
    an edit of the version that carries the new evidence counts as after it.
    """
    owner_at: dict[str, int] = {}
    evidence_at: dict[str, int] = {}
    for pos, ch in enumerate(ctx.store.changes(target)):
        if ch.column in OWNER_EDITED:
            owner_at[ch.item_id] = pos
        elif ch.column == "evidence":
            evidence_at[ch.item_id] = pos
    return {i: pos > evidence_at.get(i, -1) for i, pos in owner_at.items()}


BASELINE = "validate:baseline"  # the ledger period holding the last evaluation's baseline
_HASH_CHARS = 12  # enough to tell an item changed; keeps the baseline small


def evaluation(ctx: RunContext, params: ValidateParams, rules: list[Rule]) -> Evaluation:
    """Evaluate ``rules`` (incrementally when possible) and read the Befunde rows."""
    today = ctx.now.astimezone(ctx.tz).date()
    env = EvalEnv(today=today, tz=ctx.tz)
    lists = {r.list for r in rules} | {x for r in rules for x in r.reads}
    data, hashes, lazy = _load(ctx, lists, params.language)
    last = _history(ctx, rules)

    def changed_at(list_key: str, item_id: str, column: str) -> datetime | None:
        return last.get((list_key, item_id, column)) or _created(lazy, list_key, item_id)

    data = Dataset(data.records, data.problems, changed_at, data.title_columns,
                   data.list_titles)
    ev = Evaluation(rules=rules, data=data, hashes=hashes)

    # The Befunde rows as they are now.
    target = ctx.mapping.get(params.target)
    key_field = target.sync_key_column or "SyncKey"
    confirmed = _confirmed(ctx, target.key)
    normalize = normalizer(target, StoreResolver(ctx.store, ctx.mapping), ctx.tz)
    current: dict[str, dict[str, Any]] = {}
    for mirrored in ctx.store.items(target.key):
        sync_key = mirrored.fields.get(key_field)
        if isinstance(sync_key, str) and sync_key.startswith(SYNC_PREFIX):
            values = normalize(mirrored.fields)
            current[sync_key] = values
            ev.rows[sync_key] = Row.of(values, confirmed.get(mirrored.id, True))

    only = _incremental(ctx, params, rules, ev, today) if params.incremental else None
    ev.full = only is None
    for f in evaluate(rules, data, env, params.language, only=only):
        ev.findings[SYNC_PREFIX + f.key] = f
    if only is not None:
        # Rows of items not re-evaluated stay as they are (still failing, same evidence).
        for key, values in current.items():
            parsed = parse_key(key)
            if parsed is None or key in ev.findings:
                continue
            rule, list_key, item = parsed
            if rule in only and item in only[rule]:
                continue  # re-evaluated and passing now: closed
            if item not in data.items(list_key) or values.get("status") in ("Behoben",
                                                                              "Entfallen"):
                continue
            if any(r.id == rule and r.check != "unique" for r in rules):
                ev.kept[key] = {k: values.get(k) for k in WRITTEN}
    return ev


def _incremental(ctx: RunContext, params: ValidateParams, rules: list[Rule], ev: Evaluation,
                 today: date) -> dict[str, set[str]] | None:
    """Rule id → items to evaluate, or None for a full evaluation (module doc)."""
    mark = ctx.store.ledger_get(ctx.job, BASELINE)
    detail = mark.get("detail") if mark is not None else None
    if (not isinstance(detail, Mapping) or detail.get("day") != today.isoformat()
            or detail.get("rules") != rules_hash(params.rules)):
        return None
    before: Mapping[str, Mapping[str, str]] = detail.get("hashes", {})
    changed: dict[str, set[str]] = {}
    for list_key, now in ev.hashes.items():
        old = before.get(list_key)
        if old is None:
            return None
        changed[list_key] = {i for i, h in now.items() if old.get(i) != h} | (
            set(old) - set(now))
    only: dict[str, set[str]] = {}
    for rule in rules:
        ids = set(changed.get(rule.list, ()))
        for other in rule.reads:
            moved = changed.get(other, set())
            if not moved:
                continue
            ids |= _dependents(rule, ev.data, other, moved)
        only[rule.id] = ids
    return only


def _dependents(rule: Rule, data: Dataset, other: str, moved: set[str]) -> set[str]:
    """Items of ``rule.list`` whose result may change when items ``moved`` of ``other``
    changed: the items whose lookup points to one of them; every parent for counts."""
    if rule.check == "children":
        # A child may have moved from one parent to another (or been deleted): its old
        # parent is not known here, so every parent is re-counted (the count is one pass
        # over the children anyway).
        return set(data.items(rule.list))
    if rule.check in ("lookup", "open_across"):
        if rule.check == "open_across" or other != rule.params["_target_list"] or (
                other in rule.when.lists):
            # a new parent shifts every item's count; a list read by a condition (through
            # a lookup) may change any item's result
            return set(data.items(rule.list))
        col = rule.params["column"]
        ids = {int(m) for m in moved if m.isdigit()}
        out = set()
        for rec in data.items(rule.list).values():
            value = rec.values.get(col)
            looks = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, Lookup) and v.id in ids for v in looks):
                out.add(rec.id)
        return out
    return set(data.items(rule.list))


NOTICE_PERIOD = 100  # the outbox's period column


def notice_period(key: str, count: int) -> str:
    """The outbox period of one opening: the finding's key and its open count (a long key
    is shortened to a hash of itself, so it still names this finding only)."""
    period = f"{key}#{count}"
    if len(period) <= NOTICE_PERIOD:
        return period
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{SYNC_PREFIX}{digest}#{count}"


def owner_notices(ctx: RunContext, params: ValidateParams, e: Evaluation) -> list[Notice]:
    """One notice per finding this run opens whose severity is in ``notify_owner_on``
    and whose owner has an address."""
    wanted = {Severity(s) for s in params.notify_owner_on}
    today = ctx.now.astimezone(ctx.tz).date()
    out: list[Notice] = []
    for key, finding in sorted(e.findings.items()):
        owner = finding.owner
        if finding.severity not in wanted or not isinstance(owner, Person) or not owner.email:
            continue
        count = opening(finding.evidence, e.rows.get(key), today)
        if count is None:
            continue
        list_title = e.data.list_titles.get(finding.list_key, finding.list_key)
        text = NoticeText(
            kind="finding", name=owner.name or owner.email,
            title=finding.item_title or f"#{finding.item_id}", start=ctx.now,
            link=finding.link, message=finding.message, list=list_title,
            severity=finding.severity.label("de"))
        out.append(Notice(notice_period(key, count), owner.email, text))
    return out


def producer(ctx: RunContext, params: ValidateParams, rules: list[Rule]
             ) -> tuple[Producer, dict[str, Evaluation]]:
    """The findings as a producer of the write pipeline (scope ``finding:``), and the
    holder its evaluation lands in once the pipeline asked for the rows."""
    today = ctx.now.astimezone(ctx.tz).date()
    holder: dict[str, Evaluation] = {}
    rule_ids = {r.id for r in rules}

    def ev() -> Evaluation:
        if "ev" not in holder:
            holder["ev"] = evaluation(ctx, params, rules)
        return holder["ev"]

    def rows() -> Iterator[DesiredRow]:
        e = ev()
        opened = reopened = 0
        for key, finding in e.findings.items():
            row = e.rows.get(key)
            title = e.data.list_titles.get(finding.list_key, finding.list_key)
            fields = desired_fields(finding, row, today, title)
            if fields["owner"] is not None and fields["owner"].email is None:
                fields["owner"] = None  # a person who no longer exists cannot be written
            if row is None:
                opened += 1
                ctx.report.details.append(f"open {key}: {finding.message}")
            elif row.status in ("Behoben", "Entfallen"):
                reopened += 1
                ctx.report.details.append(f"re-open {key}: {finding.message}")
            yield DesiredRow(key, fields)
        for key, kept in e.kept.items():
            # Not re-evaluated: same item, same evidence; the owner's columns may have
            # changed, so the status still follows the lifecycle.
            row = e.rows[key]
            status, again = state(row.evidence or "", row, today)
            yield DesiredRow(key, {**kept, "status": status.value, "reopened": again})
        closing_now = 0
        for key, row in e.rows.items():
            if key not in e.findings and key not in e.kept and row.status not in (
                    "Behoben", "Entfallen"):
                closing_now += 1
                ctx.report.details.append(f"close {key} → {_close_status(key)}")
        ctx.report.add(findings=len(e.findings) + len(e.kept), findings_opened=opened,
                       findings_reopened=reopened, findings_closed=closing_now)
        ctx.report.add(full_evaluation=int(e.full))

    def _obsolete(key: str) -> bool:
        parsed = parse_key(key)
        if parsed is None:
            return True
        rule, list_key, item = parsed
        if rule not in rule_ids:
            return True
        if item.startswith("group:"):
            return False
        return item not in ev().data.items(list_key)

    def _close_status(key: str) -> str:
        return "Entfallen" if _obsolete(key) else "Behoben"

    def patch(record: Record) -> dict[str, Any] | None:
        key = record.values.get("sync_key")
        if not isinstance(key, str):
            return None
        return closing(Row.of(record.values), _obsolete(key), today)

    return Producer(
        name=f"validate {ctx.job}",
        target=params.target,
        prefix=SYNC_PREFIX,
        columns=WRITTEN,
        rows=rows,
        reads=tuple(sorted({r.list for r in rules} | {x for r in rules for x in r.reads})),
        leftover=Leftover.PATCH,
        patch=patch,
        mass_delete_share=1.0,  # leftovers are patched, never deleted
    ), holder


class ValidateKind(JobKind[ValidateParams]):
    name = "validate"
    params_model = ValidateParams
    summary = "check lists against rules; findings go to the Befunde list"
    writes_lists = True

    def list_refs(self, raw: dict[str, object]) -> list[tuple[str, object]]:
        return [("params.target", raw["target"])] if "target" in raw else []

    def check(self, params: ValidateParams, env: CheckEnv, bad: Report) -> ValidateParams:
        target = env.target_list(bad, "params.target", params.target, "validate")
        if target is not None:
            keys = {c.key for c in target.columns}
            missing = [c for c in (*WRITTEN, *OWNER_EDITED, "sync_key") if c not in keys]
            if missing:
                bad("params.target", f"list {target.key!r} lacks columns {', '.join(missing)}",
                    "map them as in the findings list of config/lists.toml")
        if not params.rules:
            bad("params.rules", "no rules", "declare rules as [[params.rules]] tables")
        rules, errors = parse_rules(params.rules, env.mapping)
        for err in errors:
            bad(f"params.{err.key}", err.reason, err.hint)
        index = {str(r.get("id")): i for i, r in enumerate(params.rules)}
        for rule in rules:
            if rule.list == params.target or params.target in rule.reads:
                bad(f"params.rules[{index[rule.id]}] ({rule.id}).list",
                    "the findings list is not validated", "check a source list")
        return params

    def run(self, ctx: RunContext, params: ValidateParams) -> None:
        rules, errors = parse_rules(params.rules, ctx.mapping)
        if errors:
            raise ConfigError("; ".join(f"params.{e.key}: {e.reason} ({e.hint})"
                                        for e in errors))
        prod, holder = producer(ctx, params, rules)
        results = write(ctx, [prod])
        if not ctx.dry_run and any(r.writes for r in results):
            # Read Befunde back (one delta request, only after writes): the digests and
            # `status` read findings from the mirror, and should show this run's at once.
            ctx.pulls.update(pull_lists(ctx.source, ctx.store, ctx.mapping, [params.target],
                                        ctx.ref, ctx.now))
        e: Evaluation | None = holder.get("ev")
        ok = all(r.refused is None for r in results) and not ctx.report.problems
        if e is not None and params.notify_owner_on and all(r.refused is None
                                                             for r in results):
            # After the write: the Befunde row the mail talks about exists (or the next run
            # retries it; the outbox still sends each opening once).
            send_notices(ctx, owner_notices(ctx, params, e), ctx.now)
        if e is not None and ok and not ctx.dry_run:
            # The baseline: the next run today evaluates only what differs from it.
            day = ctx.now.astimezone(ctx.tz).date().isoformat()
            ctx.store.ledger_put(ctx.job, BASELINE, "evaluated", ctx.now,
                                 {"day": day, "rules": rules_hash(params.rules),
                                  "hashes": e.hashes})


KIND = ValidateKind()
