"""Graph handlers for sites, lists, columns, list items, delta and versions."""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from sp_sync.emulator import query as q
from sp_sync.emulator.state import Conflict, Item, Site, SpList, Tenant, now_iso
from sp_sync.emulator.wire import GraphError, Req, Resp, dumps, json_resp, raw_json_resp

PREFER_NON_INDEXED = "honornonindexedquerieswarningmayfailrandomly"
THRESHOLD = 5000
DEFAULT_PAGE = 200
MAX_PAGE = 5000
CONTENT_TYPE = {"id": "0x01001C2E5B0E3D3A4B4C8E9F1A2B3C4D5E6F", "name": "Item"}


def _top(req: Req) -> int:
    raw = req.query.get("$top")
    if raw is None:
        return DEFAULT_PAGE
    try:
        top = int(raw)
    except ValueError:
        raise GraphError(400, "invalidRequest", f"Invalid $top value '{raw}'") from None
    return max(1, min(top, MAX_PAGE))


class ListsApi:
    def __init__(self, tenant: Tenant, graph_url: str) -> None:
        self.t = tenant
        self.graph_url = graph_url  # "https://127.0.0.1:PORT/v1.0"

    # -- lookups ---------------------------------------------------------------------------
    def site(self, key: str) -> Site:
        site = self.t.find_site(key)
        if site is None:
            raise GraphError(404, "itemNotFound", "Requested site could not be found")
        return site

    def list_(self, site: Site, key: str) -> SpList:
        lst = site.find_list(key)
        if lst is None:
            raise GraphError(404, "itemNotFound", "The specified list was not found")
        return lst

    @staticmethod
    def item(lst: SpList, key: str) -> Item:
        item = lst.items.get(int(key)) if key.isdigit() else None
        if item is None:
            raise GraphError(404, "itemNotFound", "The specified list item was not found")
        return item

    def _ctx(self, tail: str) -> str:
        return f"{self.graph_url}/$metadata#{tail}"

    # -- serialisation ---------------------------------------------------------------------
    def _fields(self, lst: SpList, item: Item, select: tuple[str, ...] | None) -> dict[str, Any]:
        allf = item.all_fields()
        if select is None:
            return allf
        out: dict[str, Any] = {"@odata.etag": allf["@odata.etag"]}
        for name in select:
            col = lst.column(name)
            key = col.wire_key if col is not None and not col.builtin else name
            if key in allf:
                out[key] = allf[key]
            elif name in allf:
                out[name] = allf[name]
        return out

    def item_json(
        self,
        lst: SpList,
        item: Item,
        fields: bool,
        select: tuple[str, ...] | None,
        delta: bool = False,
    ) -> bytes:
        key = (fields, select, delta)
        cached = item.cache.get(key)
        if cached is not None:
            return cached
        site = lst.site
        out: dict[str, Any] = {
            "@odata.etag": item.etag,
            "createdDateTime": item.created,
            "eTag": item.etag,
            "id": str(item.id),
            "lastModifiedDateTime": item.modified,
            "webUrl": lst.item_url(item.id),
        }
        if not delta:  # the delta feed carries no createdBy/lastModifiedBy
            for prop, uid in (("createdBy", item.author_id), ("lastModifiedBy", item.editor_id)):
                user = site.users.get(uid)
                out[prop] = user.identity() if user else {"user": {"displayName": "Unknown"}}
        out["parentReference"] = {"id": lst.id, "siteId": site.id}
        out["contentType"] = CONTENT_TYPE
        if fields:
            out["fields"] = self._fields(lst, item, select)
        data = dumps(out)
        item.cache[key] = data
        return data

    # -- sites and lists -------------------------------------------------------------------
    def get_site(self, req: Req, site: Site) -> Resp:
        body = {"@odata.context": self._ctx("sites/$entity"), **site.to_json()}
        return json_resp(200, body)

    def get_lists(self, req: Req, site: Site) -> Resp:
        lists = list(site.lists.values())
        flt = req.query.get("$filter")
        if flt:
            groups = q.parse_filter(flt)
            lists = [lst for lst in lists if q.matcher(groups, lst.to_json().get)]
        return json_resp(
            200,
            {
                "@odata.context": self._ctx(f"sites('{site.id}')/lists"),
                "value": [lst.to_json() for lst in lists],
            },
        )

    def get_list(self, req: Req, lst: SpList) -> Resp:
        return json_resp(200, lst.to_json())

    def create_list(self, req: Req, site: Site) -> Resp:
        body = req.json() or {}
        name = str(body.get("displayName") or "")
        if not name:
            raise GraphError(400, "invalidRequest", "displayName is required")
        if site.find_list(name) is not None:
            raise GraphError(409, "nameAlreadyExists", "The list name is already in use.")
        template = str((body.get("list") or {}).get("template") or "genericList")
        with self.t.lock:
            try:
                lst = self.t.add_list(site, name, [], template=template)
                for col in body.get("columns") or []:
                    self.t.add_column(lst, col)
            except ValueError as exc:
                site.lists.pop(lst.id, None)
                raise GraphError(400, "invalidRequest", str(exc)) from None
        return json_resp(201, lst.to_json())

    def delete_list(self, req: Req, lst: SpList) -> Resp:
        self.t.delete_list(lst)
        return Resp(204)

    def get_columns(self, req: Req, lst: SpList) -> Resp:
        return json_resp(
            200,
            {
                "@odata.context": self._ctx(f"sites('{lst.site.id}')/lists('{lst.id}')/columns"),
                "value": [c.to_json() for c in lst.all_columns()],
            },
        )

    def create_column(self, req: Req, lst: SpList) -> Resp:
        try:
            with self.t.lock:
                col = self.t.add_column(lst, req.json() or {})
        except ValueError as exc:
            raise GraphError(400, "invalidRequest", str(exc)) from None
        return json_resp(201, col.to_json())

    # -- items -----------------------------------------------------------------------------
    def _value(self, item: Item, lst: SpList, name: str) -> Any:
        if name.lower() == "id":
            return item.id
        col = lst.column(name)
        key = col.wire_key if col is not None and not col.builtin else name
        if key in item.fields:
            return item.fields[key]
        return item.all_fields().get(key)

    def _check_indexed(self, req: Req, lst: SpList, names: list[str]) -> None:
        for name in names:
            col = lst.column(name)
            if col is None and name.lower() != "id":
                raise GraphError(400, "invalidRequest", f"Field '{name}' is not recognized")
            if name.lower() == "id" or (col is not None and col.indexed):
                continue
            if PREFER_NON_INDEXED not in req.headers.get("prefer", "").lower():
                raise GraphError(
                    400,
                    "invalidRequest",
                    f"Field '{name}' cannot be referenced in filter or orderby as it is not "
                    "indexed. Provide the 'Prefer: HonorNonIndexedQueriesWarningMayFailRandomly' "
                    "header to allow this, but be warned that such queries may fail on large "
                    "lists.",
                )
            if len(lst.items) > THRESHOLD:
                # believed: Graph surfaces SharePoint's SPQueryThrottledException this way
                raise GraphError(
                    500,
                    "generalException",
                    "The attempted operation is prohibited because it exceeds the list view "
                    "threshold.",
                )

    def get_items(self, req: Req, lst: SpList) -> Resp:
        fields, select = q.parse_expand(req.query.get("$expand"))
        top = _top(req)
        flt, order = req.query.get("$filter"), req.query.get("$orderby")
        groups = q.parse_filter(flt) if flt else None
        orders = q.parse_orderby(order) if order else []
        names = [t.field for g in groups or [] for t in g] + [n for n, _ in orders]
        self._check_indexed(req, lst, names)
        token = q.unb64(req.query.get("$skiptoken", ""))
        after, offset = 0, 0
        for part in token.split("&"):
            key, _, val = part.partition("=")
            if key == "p_ID" and val.isdigit():
                after = int(val)
            elif key == "p_Offset" and val.isdigit():
                offset = int(val)
        page: list[Item] = []
        more = False
        with self.t.lock:
            if orders:
                items = [lst.items[i] for i in lst.ids]
                if groups:
                    items = [it for it in items if self._match(groups, it, lst)]
                for name, desc in reversed(orders):
                    items.sort(key=self._sorter(lst, name), reverse=desc)
                page = items[offset : offset + top]
                more = len(items) > offset + top
                next_token = f"Paged=TRUE&p_Offset={offset + top}"
            else:
                start = bisect.bisect_right(lst.ids, after)
                for iid in lst.ids[start:]:
                    it = lst.items[iid]
                    if groups and not self._match(groups, it, lst):
                        continue
                    if len(page) == top:
                        more = True
                        break
                    page.append(it)
                next_token = f"Paged=TRUE&p_ID={page[-1].id}" if page else ""
            parts = [self.item_json(lst, it, fields, select) for it in page]
        head = {"@odata.context": self._ctx(f"sites('{lst.site.id}')/lists('{lst.id}')/items")}
        tail: dict[str, str] = {}
        if more:
            query = {k: v for k, v in req.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = q.b64(next_token)
            tail["@odata.nextLink"] = (
                f"{self.graph_url}/sites/{lst.site.id}/lists/{lst.id}/items?"
                + urlencode(query, safe="$(),=/'")
            )
        return raw_json_resp(200, _collection(head, parts, tail))

    def _sorter(self, lst: SpList, name: str) -> Callable[[Item], tuple[int, Any]]:
        return lambda it: _sort_key(self._value(it, lst, name))

    def _match(self, groups: list[list[q.Term]], item: Item, lst: SpList) -> bool:
        return q.matcher(groups, lambda name: self._value(item, lst, name))

    def get_item(self, req: Req, lst: SpList, key: str) -> Resp:
        fields, select = q.parse_expand(req.query.get("$expand"))
        with self.t.lock:
            item = self.item(lst, key)
            return raw_json_resp(200, self.item_json(lst, item, fields or True, select))

    def get_fields(self, req: Req, lst: SpList, key: str) -> Resp:
        sel = req.query.get("$select")
        select = tuple(s.strip() for s in sel.split(",")) if sel else None
        with self.t.lock:
            return json_resp(200, self._fields(lst, self.item(lst, key), select))

    def create_item(self, req: Req, lst: SpList) -> Resp:
        body = req.json() or {}
        fields = body.get("fields") or {}
        with self.t.lock:
            site = lst.site
            try:
                item = self.t.create_item(lst, fields, site.users[site.app_user_id])
            except KeyError as exc:
                raise GraphError(
                    400, "invalidRequest", f"Field '{exc.args[0]}' is not recognized"
                ) from None
            data = self.item_json(lst, item, True, None)
        return Resp(
            201,
            data,
            {
                "Content-Type": "application/json",
                "Location": (f"{self.graph_url}/sites/{site.id}/lists/{lst.id}/items/{item.id}"),
            },
        )

    def update_fields(self, req: Req, lst: SpList, key: str, wrapped: bool = False) -> Resp:
        body = req.json() or {}
        fields = (body.get("fields") or {}) if wrapped else body
        with self.t.lock:
            item = self.item(lst, key)
            try:
                self.t.update_item(
                    lst,
                    item,
                    fields,
                    lst.site.users[lst.site.app_user_id],
                    req.headers.get("if-match"),
                )
            except Conflict:
                raise GraphError(
                    412, "preconditionFailed", "ETag mismatch: the item has changed"
                ) from None
            except KeyError as exc:
                raise GraphError(
                    400, "invalidRequest", f"Field '{exc.args[0]}' is not recognized"
                ) from None
            if wrapped:
                return raw_json_resp(200, self.item_json(lst, item, True, None))
            return json_resp(200, self._fields(lst, item, None))

    def delete_item(self, req: Req, lst: SpList, key: str) -> Resp:
        with self.t.lock:
            item = self.item(lst, key)
            try:
                self.t.delete_item(lst, item, req.headers.get("if-match"))
            except Conflict:
                raise GraphError(
                    412, "preconditionFailed", "ETag mismatch: the item has changed"
                ) from None
        return Resp(204)

    def get_versions(self, req: Req, lst: SpList, key: str) -> Resp:
        with self.t.lock:
            item = self.item(lst, key)
            site = lst.site
            value = []
            current = (item.version, item.modified, item.editor_id, item.fields)
            rows = [current] + [
                (v.number, v.modified, v.editor_id, v.fields) for v in reversed(item.history)
            ]
            for number, modified, editor, flds in rows:
                user = site.users.get(editor)
                value.append(
                    {
                        "id": f"{number}.0",
                        "lastModifiedDateTime": modified,
                        "lastModifiedBy": user.identity() if user else {},
                        "fields": {k: v for k, v in flds.items() if v is not None},
                    }
                )
        return json_resp(200, {"value": value})

    # -- delta -----------------------------------------------------------------------------
    def _gone(self, lst: SpList) -> GraphError:
        location = f"{self.graph_url}/sites/{lst.site.id}/lists/{lst.id}/items/delta"
        return GraphError(
            410,
            "resyncChangesApplyDifferences",
            "Resync required. Replace any local items with the server's version (including "
            "deletes) if you're sure that the service was up to date with your local changes "
            "when you last sync'd. Upload any local changes that the server doesn't know about.",
            {"Location": location},
        )

    def delta(self, req: Req, lst: SpList) -> Resp:
        fields, select = q.parse_expand(req.query.get("$expand"))
        if not req.query.get("$expand"):
            fields = True  # believed: the feed carries fields without $expand
        sel = req.query.get("$select")
        if sel and "fields" not in sel and not req.query.get("$expand"):
            fields = False
        top = _top(req)
        token = req.query.get("token")
        skip = req.query.get("$skiptoken")
        with self.t.lock:
            if token == "latest":
                return self._delta_page(req, lst, [], fields, select, None, self.t.seq)
            if skip:
                state = self._decode(lst, skip, "n")
                since, upto, after, full = state[0], state[1], state[2], bool(state[3])
            elif token:
                since = self._decode(lst, token, "d")[0]
                upto, after, full = self.t.seq, since, False
            else:
                since, upto, after, full = 0, self.t.seq, 0, True
            rows: list[tuple[int, int]] = []
            more = False
            for seq, iid in self.t.iter_changes(lst, after, upto):
                if full and iid not in lst.items:
                    continue
                if len(rows) == top:
                    more = True
                    break
                rows.append((seq, iid))
            parts = []
            for _seq, iid in rows:
                item = lst.items.get(iid)
                if item is None:
                    parts.append(dumps({"id": str(iid), "deleted": {"state": "deleted"}}))
                else:
                    parts.append(self.item_json(lst, item, fields, select, delta=True))
            nxt = None
            if more:
                nxt = self._encode(lst, "n", since, upto, rows[-1][0], int(full))
            return self._delta_page(req, lst, parts, fields, select, nxt, upto)

    def _delta_page(
        self,
        req: Req,
        lst: SpList,
        parts: list[bytes],
        fields: bool,
        select: tuple[str, ...] | None,
        next_token: str | None,
        upto: int,
    ) -> Resp:
        base = f"{self.graph_url}/sites/{lst.site.id}/lists/{lst.id}/items/delta"
        keep = {k: v for k, v in req.query.items() if k in ("$select", "$expand", "$top")}
        head = {"@odata.context": self._ctx("Collection(microsoft.graph.listItem)")}
        if next_token:
            query = urlencode({**keep, "$skiptoken": next_token}, safe="$(),=/'")
            tail = {"@odata.nextLink": f"{base}?{query}"}
        else:
            token = self._encode(lst, "d", upto)
            query = urlencode({"token": token, **keep}, safe="$(),=/'")
            tail = {"@odata.deltaLink": f"{base}?{query}"}
        return raw_json_resp(200, _collection(head, parts, tail))

    def _encode(self, lst: SpList, kind: str, *nums: int) -> str:
        return q.b64(";".join([kind, lst.id, str(lst.epoch), *map(str, nums)]))

    def _decode(self, lst: SpList, token: str, kind: str) -> list[int]:
        parts = q.unb64(token).split(";")
        if len(parts) < 4 or parts[0] != kind or parts[1] != lst.id:
            raise self._gone(lst)
        try:
            epoch, nums = int(parts[2]), [int(p) for p in parts[3:]]
        except ValueError:
            raise self._gone(lst) from None
        if epoch != lst.epoch or nums[0] > self.t.seq:
            raise self._gone(lst)
        return nums


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, int | float | bool):
        return (1, float(value))
    try:
        return (1, float(value))
    except (TypeError, ValueError):
        return (2, json.dumps(value, ensure_ascii=False).lower())


def _collection(head: dict[str, Any], parts: list[bytes], tail: dict[str, Any]) -> bytes:
    # one join: pages reach several MB and every extra concatenation copies them again
    end = b"]," + dumps(tail)[1:] if tail else b"]}"
    return b"".join((dumps(head)[:-1], b',"value":[', b",".join(parts), end))


__all__ = ["ListsApi", "now_iso"]
