"""Write list items through Graph JSON ``$batch`` (≤ 20 sub-requests per batch).

* update/delete carry the item's real eTag as ``If-Match``; without one we refuse to send.
* Sub-responses are matched by id (Graph may answer in any order).
* 429 (and 503 with Retry-After, i.e. throttling) sub-responses: only those are re-sent,
  after their ``Retry-After``, through the policy's budget-aware wait.
* 5xx on a create → AMBIGUOUS (the engine looks it up by SyncKey); on update/delete →
  retried (idempotent thanks to If-Match; a retry that meets 412 reports CONFLICT).
* A failed ``$batch`` POST is retried by the policy only when it holds no create.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sp_sync.adapters.graph.errors import AmbiguousRequest, graph_error_body
from sp_sync.adapters.graph.sites import GraphSites
from sp_sync.adapters.graph.wire import fields_item, raw_item
from sp_sync.domain.model import ActionKind, OutcomeStatus, WriteAction, WriteOutcome
from sp_sync.errors import BudgetExhausted, GraphError, TransientError
from sp_sync.ports import ListRef, charge

log = logging.getLogger(__name__)

BATCH_SIZE = 20
RU_PER_WRITE = 2


def _check(action: WriteAction) -> None:
    if action.kind is ActionKind.CREATE:
        return
    if not action.item_id:
        raise ValueError(f"{action.kind} of {action.sync_key!r} without an item id")
    if not action.etag or action.etag.strip().strip('"') == "*":
        # "*" would overwrite a person's edit made after we read the item.
        raise ValueError(f"{action.kind} of item {action.item_id} without its real eTag")


def sub_request(items_rel: str, rid: str, action: WriteAction) -> dict[str, Any]:
    json_h = {"Content-Type": "application/json"}
    if action.kind is ActionKind.CREATE:
        return {"id": rid, "method": "POST", "url": items_rel, "headers": json_h,
                "body": {"fields": dict(action.fields)}}
    assert action.etag is not None
    if action.kind is ActionKind.UPDATE:
        return {"id": rid, "method": "PATCH", "url": f"{items_rel}/{action.item_id}/fields",
                "headers": {**json_h, "If-Match": action.etag}, "body": dict(action.fields)}
    return {"id": rid, "method": "DELETE", "url": f"{items_rel}/{action.item_id}",
            "headers": {"If-Match": action.etag}}


class _Run:
    """State of one ``apply`` call: outcomes by index, attempts per action."""

    def __init__(self, lists: GraphSites, ref: ListRef, actions: Sequence[WriteAction]) -> None:
        self.lists = lists
        self.conn = lists.conn
        self.actions = actions
        self.items_rel = "/" + lists.items_path(ref)
        self.outcomes: list[WriteOutcome | None] = [None] * len(actions)
        self.attempts = [0] * len(actions)
        self.sent_before = [False] * len(actions)

    def done(self, i: int, status: OutcomeStatus, error: str | None = None,
             body: Any = None) -> None:
        action = self.actions[i]
        item = None
        if status is OutcomeStatus.OK:
            charge(self.conn.stats, writes=1)
            if isinstance(body, Mapping) and body:
                item = (raw_item(body) if action.kind is ActionKind.CREATE
                        else fields_item(str(action.item_id), body))
        self.outcomes[i] = WriteOutcome(action=action, status=status, item=item, error=error)

    def rest(self, indices: Sequence[int], status: OutcomeStatus, error: str) -> None:
        for i in indices:
            if self.outcomes[i] is None:
                self.done(i, status, error)

    def send_batch(self, chunk: Sequence[int]) -> tuple[list[int], float]:
        """Send one ``$batch``; return (indices to re-send, seconds to wait first)."""
        reqs = [sub_request(self.items_rel, str(i), self.actions[i]) for i in chunk]
        has_create = any(self.actions[i].kind is ActionKind.CREATE for i in chunk)
        for i in chunk:
            self.attempts[i] += 1
        try:
            resp = self.conn.request(
                "POST", "$batch", json_body={"requests": reqs}, idempotent=not has_create,
                ru=RU_PER_WRITE * len(reqs),
            )
        except AmbiguousRequest as exc:
            creates = [i for i in chunk if self.actions[i].kind is ActionKind.CREATE]
            self.rest(creates, OutcomeStatus.AMBIGUOUS, str(exc))
            return [i for i in chunk if i not in creates], self.conn.policy.backoff(0)
        for i in chunk:
            self.sent_before[i] = True
        body = self.conn.policy.json(resp) or {}
        answers = {str(r.get("id")): r for r in body.get("responses") or []}
        retry: list[int] = []
        wait = 0.0
        for i in chunk:
            r = answers.get(str(i))
            again, delay = self.handle(i, r)
            if again:
                retry.append(i)
                wait = max(wait, delay)
        return retry, wait

    def handle(self, i: int, r: Mapping[str, Any] | None) -> tuple[bool, float]:
        """Record one sub-response; (re-send?, delay)."""
        action = self.actions[i]
        is_create = action.kind is ActionKind.CREATE
        if r is None:
            if is_create:
                self.done(i, OutcomeStatus.AMBIGUOUS, "no sub-response for this create")
                return False, 0.0
            return True, self.conn.policy.backoff(self.attempts[i] - 1)
        status = int(r.get("status") or 0)
        headers = {str(k).lower(): str(v) for k, v in (r.get("headers") or {}).items()}
        body = r.get("body")
        code, message = graph_error_body(body) if status >= 400 else (None, "")
        text = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        retry_after = headers.get("retry-after")
        throttled = status == 429 or (status == 503 and retry_after is not None)
        if 200 <= status < 300:
            self.done(i, OutcomeStatus.OK, body=body)
        elif status == 412:
            self.done(i, OutcomeStatus.CONFLICT, text)
        elif status == 404 and action.kind is ActionKind.DELETE and self.attempts[i] > 1:
            self.done(i, OutcomeStatus.OK)  # our earlier attempt already deleted it
        elif throttled:
            charge(self.conn.stats, throttled=1)
            return True, self.conn.policy.delay_for(retry_after, self.attempts[i] - 1)
        elif status >= 500 or status == 0:
            if is_create:
                self.done(i, OutcomeStatus.AMBIGUOUS, text)
                return False, 0.0
            return True, self.conn.policy.backoff(self.attempts[i] - 1)
        else:
            self.done(i, OutcomeStatus.FAILED, text)
        return False, 0.0


def apply_actions(
    lists: GraphSites, ref: ListRef, actions: Sequence[WriteAction]
) -> list[WriteOutcome]:
    for action in actions:
        _check(action)
    if not actions:
        return []
    run = _Run(lists, ref, actions)
    max_attempts = lists.conn.config.max_attempts
    queue = list(range(len(actions)))
    while queue:
        chunk, queue = queue[:BATCH_SIZE], queue[BATCH_SIZE:]
        try:
            retry, wait = run.send_batch(chunk)
        except BudgetExhausted as exc:
            run.rest(chunk + queue, OutcomeStatus.THROTTLED, str(exc))
            break
        except TransientError as exc:
            run.rest(chunk, OutcomeStatus.THROTTLED, str(exc))
            continue
        except GraphError as exc:
            run.rest(chunk, OutcomeStatus.FAILED, str(exc))
            continue
        give_up = [i for i in retry if run.attempts[i] >= max_attempts]
        run.rest(give_up, OutcomeStatus.THROTTLED, "still throttled or failing after retries")
        retry = [i for i in retry if i not in give_up]
        if retry:
            charge(run.conn.stats, retries=len(retry))
            try:
                run.conn.policy.wait(wait, f"{len(retry)} throttled or failed sub-requests")
            except BudgetExhausted as exc:
                run.rest(retry + queue, OutcomeStatus.THROTTLED, str(exc))
                break
            queue = retry + queue
    out: list[WriteOutcome] = []
    for i, o in enumerate(run.outcomes):
        out.append(o or WriteOutcome(actions[i], OutcomeStatus.THROTTLED, error="not sent"))
    return out
