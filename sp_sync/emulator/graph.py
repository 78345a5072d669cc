"""Graph request pipeline (auth → resource units → faults → handler) and ``$batch``.

Every ``$batch`` sub-request runs through the same ``handle`` as a top-level request.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sp_sync.emulator.entra import Entra
from sp_sync.emulator.faults import FaultRule, Faults
from sp_sync.emulator.lists_api import ListsApi
from sp_sync.emulator.mail_api import MailApi
from sp_sync.emulator.permissions import Permissions, needed_role
from sp_sync.emulator.state import Tenant
from sp_sync.emulator.throttle import Throttle
from sp_sync.emulator.wire import (
    GraphError,
    Req,
    Resp,
    default_code,
    dumps,
    error_resp,
    json_resp,
    raw_json_resp,
)

WWW_AUTH = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
    'authorize", client_id="00000003-0000-0000-c000-000000000000"'
)
MAX_BATCH = 20
Handler = Callable[[], Resp]


def split_site(rest: str) -> tuple[str, str]:
    """ "host:/sites/dtc:/lists/x" or "host,guid,guid/lists/x" → (site key, "/lists/x")."""
    first = rest.split("/", 1)[0]
    if first.endswith(":") or (":" in first and "," not in first):
        host, _, path = rest.partition(":")
        path, sep, tail = path.partition(":")
        return f"{host}:{path}", tail if sep else ""
    if "/" in rest:
        key, _, tail = rest.partition("/")
        return key, "/" + tail
    return rest, ""


class Graph:
    def __init__(
        self,
        tenant: Tenant,
        entra: Entra,
        throttle: Throttle,
        faults: Faults,
        log: Callable[[dict[str, Any]], None],
    ) -> None:
        self.tenant = tenant
        self.entra = entra
        self.throttle = throttle
        self.faults = faults
        self.log = log
        self.base_url = ""  # "https://127.0.0.1:PORT"
        self.batch_order = "request"  # "request" | "reverse" | "random"
        self._rng = random.Random(0)
        self.lists: ListsApi
        self.mail = MailApi(tenant)
        self.permissions = Permissions()  # enforced only once a test grants something

    def set_base(self, base_url: str) -> None:
        self.base_url = base_url
        self.lists = ListsApi(self.tenant, base_url + "/v1.0")

    def set_tenant(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.mail = MailApi(tenant)
        self.lists = ListsApi(tenant, self.base_url + "/v1.0")

    # -- routing ---------------------------------------------------------------------------
    def route(self, req: Req) -> tuple[Handler, int]:
        """Return (handler, resource units)."""
        m = req.method
        segs = [s for s in req.path.split("/") if s]
        if segs and segs[0].lower() == "users" and len(segs) >= 2:
            user, rest = segs[1], [s.lower() for s in segs[2:]]
            if not self.permissions.mail_allows(user) or (
                self.permissions.enforced and m == "GET"
            ):
                raise GraphError(403, "ErrorAccessDenied",
                                 "Access is denied. Check credentials and try again.")
            if rest == ["sendmail"] and m == "POST":
                return (lambda: self.mail.send_mail(req, user)), 0
            if len(rest) == 3 and rest[0] == "mailfolders" and rest[2] == "messages" and m == "GET":
                return (lambda: self.mail.sent_items(req, user, segs[3])), 0
            raise self._no_segment(segs[-1])
        if not segs or segs[0] != "sites" or len(segs) < 2:
            raise self._no_segment(segs[0] if segs else "")
        key, tail = split_site(req.path[len("/sites/") :])
        site = self.lists.site(key)
        parts = [p for p in tail.split("/") if p]
        if not self.permissions.site_allows(site.path, needed_role(m, parts)):
            raise GraphError(403, "accessDenied", "Access denied")
        api = self.lists
        n = len(parts)
        if n == 0 and m == "GET":
            return (lambda: api.get_site(req, site)), 1
        if n >= 1 and parts[0] != "lists":
            raise self._no_segment(parts[0])
        if n == 1:
            if m == "GET":
                return (lambda: api.get_lists(req, site)), 1
            if m == "POST":
                return (lambda: api.create_list(req, site)), 2
        if n < 2:
            raise self._not_allowed()
        lst = api.list_(site, parts[1])
        if n == 2 and m == "GET":
            return (lambda: api.get_list(req, lst)), 1
        if n == 2 and m == "DELETE":
            return (lambda: api.delete_list(req, lst)), 2
        if n == 3 and parts[2] == "columns":
            if m == "GET":
                return (lambda: api.get_columns(req, lst)), 1
            if m == "POST":
                return (lambda: api.create_column(req, lst)), 2
        if n >= 3 and parts[2] != "items":
            raise self._no_segment(parts[2])
        if n == 3:
            if m == "GET":
                return (lambda: api.get_items(req, lst)), 2
            if m == "POST":
                return (lambda: api.create_item(req, lst)), 2
        if n == 4 and parts[3] in ("delta", "delta()") and m == "GET":
            has_token = "token" in req.query or "$skiptoken" in req.query
            return (lambda: api.delta(req, lst)), 1 if has_token else 2
        if n == 4:
            iid = parts[3]
            if m == "GET":
                return (lambda: api.get_item(req, lst, iid)), 1
            if m == "DELETE":
                return (lambda: api.delete_item(req, lst, iid)), 2
            if m == "PATCH":
                return (lambda: api.update_fields(req, lst, iid, wrapped=True)), 2
        if n == 5 and parts[4] == "fields":
            iid = parts[3]
            if m == "GET":
                return (lambda: api.get_fields(req, lst, iid)), 1
            if m == "PATCH":
                return (lambda: api.update_fields(req, lst, iid)), 2
        if n == 5 and parts[4] == "versions" and m == "GET":
            return (lambda: api.get_versions(req, lst, parts[3])), 1
        if n > 5 or (n == 5 and parts[4] not in ("fields", "versions")):
            raise self._no_segment(parts[-1])
        raise self._not_allowed()

    @staticmethod
    def _no_segment(seg: str) -> GraphError:
        return GraphError(400, "BadRequest", f"Resource not found for the segment '{seg}'.")

    @staticmethod
    def _not_allowed() -> GraphError:
        return GraphError(
            405, "BadRequest", "Specified HTTP method is not allowed for the request target."
        )

    # -- pipeline --------------------------------------------------------------------------
    def handle(self, req: Req) -> Resp:
        started = time.perf_counter()
        try:
            resp = self._handle(req)
        except Exception as exc:  # an emulator bug must still answer in Graph's shape
            resp = error_resp(req, 500, "generalException", f"Emulator error: {exc!r}")
        resp.headers.setdefault("request-id", req.request_id)
        resp.headers.setdefault("client-request-id", req.client_request_id)
        self.log(
            {
                "method": req.method,
                "path": "/v1.0" + req.path,
                "query": dict(req.query),
                "status": resp.status,
                "app": resp.app,
                "ru": resp.ru,
                "batch": req.in_batch,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )
        return resp

    def _handle(self, req: Req) -> Resp:
        claims, reason = self.entra.check_access_token(
            req.headers.get("authorization"), self.base_url
        )
        if reason:
            return error_resp(
                req, 401, "InvalidAuthenticationToken", reason, {"WWW-Authenticate": WWW_AUTH}
            )
        app = str(claims.get("appid", ""))
        if req.path == "/$batch" and req.method == "POST" and not req.in_batch:
            resp = self._fault_wrapped(req, app, 0, lambda: self.batch(req))
            resp.app = app
            return resp
        try:
            handler, ru = self.route(req)
        except GraphError as err:
            resp = error_resp(req, err.status, err.code, err.message, err.headers)
            resp.app = app
            return resp
        ok, rl_headers = self.throttle.charge(app, ru)
        if not ok:
            resp = error_resp(
                req,
                429,
                "TooManyRequests",
                "Too many requests. The request has been throttled (resource units).",
                rl_headers,
            )
        else:
            resp = self._fault_wrapped(req, app, ru, handler)
            for k, v in rl_headers.items():
                resp.headers.setdefault(k, v)
        resp.app, resp.ru = app, ru
        return resp

    def _fault_wrapped(self, req: Req, app: str, ru: int, handler: Handler) -> Resp:
        rule = self.faults.match(req.method, "/v1.0" + req.path)
        if rule is None:
            return self._run(req, handler)
        if rule.kind == "status":
            return self._fault_status(req, rule)
        if rule.kind == "edit":
            self._concurrent_edit(req, rule)
            return self._run(req, handler)
        if rule.kind == "reset":
            return Resp(0, action="reset")
        if rule.kind == "html":
            return Resp(200, action="html")
        if rule.kind == "deep":
            return raw_json_resp(200, b"[" * rule.depth + b"]" * rule.depth)
        resp = self._run(req, handler)
        if rule.kind == "oversize" and resp.body.startswith(b"{"):
            pad = max(0, rule.size - len(resp.body) - 24)
            rest = resp.body[1:]
            sep = b"," if rest.strip() != b"}" else b""
            resp.body = b'{"@emulator.padding":"' + b"x" * pad + b'"' + sep + rest
            return resp
        if rule.kind == "after_write":
            return self._fault_status(req, rule)
        if rule.kind == "slow":
            resp.delay += rule.delay_ms / 1000
        elif rule.kind == "truncate":
            resp.action = "truncate"
        return resp

    def _run(self, req: Req, handler: Handler) -> Resp:
        try:
            return handler()
        except GraphError as err:
            return error_resp(req, err.status, err.code, err.message, err.headers)
        except (ValueError, TypeError, AttributeError) as exc:  # bad JSON bodies etc.
            return error_resp(req, 400, "invalidRequest", f"Invalid request: {exc}")

    def _fault_status(self, req: Req, rule: FaultRule) -> Resp:
        code, message = default_code(rule.status)
        headers: dict[str, str] = {}
        if rule.retry_after is not None:
            headers["Retry-After"] = rule.retry_after
        if rule.status == 401:
            headers["WWW-Authenticate"] = WWW_AUTH
            message = "Lifetime validation failed, the token is expired."
        if rule.status == 410:
            code = "resyncChangesApplyDifferences"
            headers["Location"] = f"{self.base_url}/v1.0{req.path}"
        return error_resp(req, rule.status, rule.code or code, rule.message or message, headers)

    def _concurrent_edit(self, req: Req, rule: FaultRule) -> None:
        parts = [p for p in req.path.split("/") if p]
        try:
            idx = parts.index("items")
            key, tail = split_site(req.path[len("/sites/") :])
            site = self.lists.site(key)
            lst = self.lists.list_(site, [p for p in tail.split("/") if p][1])
            item = self.lists.item(lst, parts[idx + 1])
        except (ValueError, IndexError, GraphError):
            return
        with self.tenant.lock:
            user = self.tenant.user_for(site, rule.user or "concurrent.editor@mannheim.de")
            self.tenant.update_item(lst, item, dict(rule.fields or {}), user)

    # -- $batch ----------------------------------------------------------------------------
    def batch(self, req: Req) -> Resp:
        try:
            body = req.json()
            requests = body["requests"]
            assert isinstance(requests, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise GraphError(400, "BadRequest", "Invalid batch payload.") from None
        if len(requests) > MAX_BATCH:
            raise GraphError(
                400, "BadRequest", f"The batch contains {len(requests)} requests; the limit is 20."
            )
        by_id: dict[str, dict[str, Any]] = {}
        for sub in requests:
            if not isinstance(sub, dict) or not all(k in sub for k in ("id", "method", "url")):
                raise GraphError(400, "BadRequest", "Each batch request needs id, method and url.")
            if str(sub["id"]) in by_id:
                raise GraphError(400, "BadRequest", f"Duplicate batch request id '{sub['id']}'.")
            by_id[str(sub["id"])] = sub
        results: dict[str, tuple[dict[str, Any], Resp]] = {}
        delay = 0.0
        action: str | None = None

        def run(rid: str, stack: tuple[str, ...] = ()) -> Resp:
            nonlocal delay, action
            if rid in results:
                return results[rid][1]
            sub = by_id[rid]
            deps = sub.get("dependsOn") or []
            failed = False
            for dep in deps:
                if dep not in by_id or dep in stack:
                    raise GraphError(400, "BadRequest", f"Invalid dependsOn '{dep}'.")
                if not 200 <= run(dep, (*stack, rid)).status < 300:
                    failed = True
            sreq = self._sub_request(req, sub)
            if failed:
                resp = error_resp(
                    sreq,
                    424,
                    "FailedDependency",
                    "The request was not executed because a dependency failed.",
                )
            else:
                resp = self.handle(sreq)
            if resp.action == "reset":
                action = "reset"
            delay += resp.delay
            results[rid] = (sub, resp)
            return resp

        for rid in by_id:
            run(rid)
        if action == "reset":
            return Resp(0, action="reset")
        entries = [self._entry(rid, resp) for rid, (_s, resp) in results.items()]
        entries.sort(key=lambda e: list(by_id).index(e["id"]))
        if self.batch_order == "reverse":
            entries.reverse()
        elif self.batch_order == "random":
            self._rng.shuffle(entries)
        out = json_resp(200, {"responses": entries})
        out.delay = delay
        return out

    def _sub_request(self, outer: Req, sub: dict[str, Any]) -> Req:
        url = str(sub["url"])
        if "://" in url:
            url = urlsplit(url).path + ("?" + urlsplit(url).query if urlsplit(url).query else "")
        url = "/" + url.lstrip("/")
        if url.startswith("/v1.0/"):
            url = url[5:]
        path, _, query = url.partition("?")
        headers = {k.lower(): str(v) for k, v in (sub.get("headers") or {}).items()}
        headers.setdefault("authorization", outer.headers.get("authorization", ""))
        headers.setdefault("client-request-id", outer.client_request_id)
        body = sub.get("body")
        if body is None:
            raw = b""
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = dumps(body)
            headers.setdefault("content-type", "application/json")
        return Req(
            method=str(sub["method"]).upper(),
            path=unquote(path),
            query=dict(parse_qsl(query, keep_blank_values=True)),
            headers=headers,
            body=raw,
            in_batch=True,
        )

    @staticmethod
    def _entry(rid: str, resp: Resp) -> dict[str, Any]:
        body: Any = None
        if resp.action == "html":
            resp = Resp(
                200,
                b"<html><body><h1>Service Unavailable</h1></body></html>",
                {"Content-Type": "text/html"},
            )
            body = resp.body.decode()
        elif resp.body:
            text = resp.body.decode("utf-8", "replace")
            if resp.action == "truncate":
                body = text[: len(text) // 2]
            else:
                try:
                    body = json.loads(text)
                except ValueError:
                    body = text
        headers = {k: v for k, v in resp.headers.items() if k not in ("request-id",)}
        return {"id": rid, "status": resp.status, "headers": headers, "body": body}
