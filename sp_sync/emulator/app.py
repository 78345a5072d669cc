"""The ASGI application: Entra endpoints, Graph under /v1.0 and the /_emulator control API."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from sp_sync.emulator.control import (
    ControlError,
    EditIn,
    Empty,
    ItemRef,
    ListIn,
    parse,
    parse_rules,
)
from sp_sync.emulator.graph import Graph
from sp_sync.emulator.wire import JSON_TYPE, Req, Resp, dumps, json_resp

if TYPE_CHECKING:
    from sp_sync.emulator.server import Emulator

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
HTML_ERROR = (
    b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body>"
    b"<h1>Service Unavailable</h1><p>The service is temporarily unavailable.</p></body></html>"
)


class EmulatorApp:
    def __init__(self, emu: Emulator, graph: Graph) -> None:
        self.emu = emu
        self.graph = graph
        self.log: deque[dict[str, Any]] = deque(maxlen=200_000)
        self.latency_ms = 0.0
        self.jitter_ms = 0.0
        self._rng = random.Random(0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] != "http":
            return None
        request = Request(scope, receive)
        body = await request.body()
        path: str = scope["path"]
        delay = self.latency_ms + (self._rng.uniform(0, self.jitter_ms) if self.jitter_ms else 0)
        if delay:
            await asyncio.sleep(delay / 1000)
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True))
        if path.startswith("/v1.0/"):
            resp = self.graph.handle(Req(scope["method"], path[5:], query, headers, body))
        elif path.startswith("/_emulator/"):
            resp = self._control(scope["method"], path[len("/_emulator/") :], body)
        else:
            resp = self._entra(scope["method"], path, body, headers)
        if resp.delay:
            await asyncio.sleep(resp.delay)
        if resp.action == "reset":
            return "reset"  # uvicorn closes the transport without answering
        if resp.action == "html":
            resp = Resp(200, HTML_ERROR, {"Content-Type": "text/html; charset=utf-8", **_ids(resp)})
        elif resp.action == "truncate":
            resp.body = resp.body[: max(1, len(resp.body) // 2)]
        await Response(resp.body, resp.status, resp.headers)(scope, receive, send)
        return None

    # -- Entra -----------------------------------------------------------------------------
    def _entra(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Resp:
        started = time.perf_counter()
        parts = [p for p in path.split("/") if p]
        entra = self.graph.entra
        resp: Resp
        app = ""
        rule = self.graph.faults.match(method, path)
        if rule is not None and rule.kind in ("status", "reset", "html"):
            resp = Resp(rule.status, b"", {}, action=None if rule.kind == "status" else rule.kind)
            if rule.retry_after is not None:
                resp.headers["Retry-After"] = rule.retry_after
        elif parts[1:] == ["v2.0", ".well-known", "openid-configuration"] and method == "GET":
            status, data = entra.openid_configuration(parts[0])
            resp = json_resp(status, data)
        elif parts[1:] == ["oauth2", "v2.0", "token"] and method == "POST":
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            app = form.get("client_id", "")
            status, data = entra.token(parts[0], form)
            resp = json_resp(status, data, {"Cache-Control": "no-store, no-cache"})
        else:
            resp = json_resp(404, {"error": "not_found", "error_description": path})
        self.record(
            {
                "method": method,
                "path": path,
                "query": {},
                "status": resp.status,
                "app": app,
                "ru": 0,
                "batch": False,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )
        return resp

    def record(self, entry: dict[str, Any]) -> None:
        self.log.append(entry)

    # -- control API -----------------------------------------------------------------------
    def _control(self, method: str, what: str, body: bytes) -> Resp:
        """The control API: every input validated first (``control.py``), 400 naming the
        field otherwise; a request is applied whole or not at all."""
        emu = self.emu
        try:
            try:
                data = json.loads(body) if body else None
            except ValueError as exc:
                raise ControlError(f"invalid input: (body): not JSON ({exc})",
                                   [{"field": "(body)", "message": "not JSON"}]) from None
            if what == "requests" and method == "GET":
                parse(Empty, data)
                return json_resp(200, {"value": emu.requests()})
            if what == "requests" and method == "DELETE":
                parse(Empty, data)
                emu.clear_requests()
                return Resp(204)
            if what == "mail" and method == "GET":
                parse(Empty, data)
                return json_resp(200, {"value": emu.mail()})
            if what == "faults" and method == "GET":
                parse(Empty, data)
                return json_resp(200, {"value": [r.to_dict() for r in emu.faults.rules()]})
            if what == "faults" and method == "POST":
                rules = parse_rules(data)  # all valid, or none added
                added = [r.to_dict() for r in emu.faults.add_all(rules)]
                return json_resp(201, {"value": added})
            if what == "faults" and method == "DELETE":
                parse(Empty, data)
                emu.faults.clear()
                return Resp(204)
            if what == "edit" and method == "POST":
                edit: EditIn = parse(EditIn, data)
                self._known_list(edit.list)
                if edit.id is None:
                    new_id = emu.create_item(edit.list, dict(edit.fields), edit.user)
                    return json_resp(201, {"id": new_id})
                self._known_item(edit.list, edit.id)
                item = emu.edit(edit.list, edit.id, dict(edit.fields), edit.user)
                return json_resp(200, item)
            if what == "delete" and method == "POST":
                ref: ItemRef = parse(ItemRef, data)
                self._known_item(ref.list, ref.id)
                emu.delete_item(ref.list, ref.id, ref.user)
                return Resp(204)
            if what == "invalidate-delta" and method == "POST":
                lst: ListIn = parse(ListIn, data)
                self._known_list(lst.list)
                emu.invalidate_delta(lst.list)
                return Resp(204)
            if what == "reset" and method == "POST":
                parse(Empty, data)
                emu.reset()
                return Resp(204)
            if what == "items" and method == "GET":
                wanted: ListIn = parse(ListIn, data)
                self._known_list(wanted.list)
                return json_resp(200, {"value": emu.items(wanted.list)})
        except ControlError as exc:
            return json_resp(400, {"error": {"code": "badRequest", "message": str(exc),
                                             "details": exc.fields}})
        except (KeyError, ValueError, TypeError) as exc:  # the emulator refused the values
            return json_resp(400, {"error": {"code": "badRequest", "message": repr(exc)}})
        return json_resp(404, {"error": {"code": "notFound", "message": what}})

    def _known_list(self, title: str) -> None:
        try:
            self.emu._list(title)
        except KeyError:
            raise ControlError(f"invalid input: list: there is no list {title!r}",
                               [{"field": "list", "message": f"no list {title!r}"}]) from None

    def _known_item(self, title: str, item_id: str | int) -> None:
        self._known_list(title)
        try:
            known = int(item_id) in self.emu._list(title).items
        except ValueError:
            known = False
        if not known:
            raise ControlError(f"invalid input: id: list {title!r} has no item {item_id!r}",
                               [{"field": "id", "message": f"no item {item_id!r}"}])


def _ids(resp: Resp) -> dict[str, str]:
    return {k: v for k, v in resp.headers.items() if k in ("request-id", "client-request-id")}


__all__ = ["JSON_TYPE", "EmulatorApp", "dumps"]
