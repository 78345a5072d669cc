"""Request/response values shared by the Graph handlers and the ``$batch`` executor, and
Graph's error shape."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)


@dataclass
class Req:
    method: str
    path: str  # decoded and relative to /v1.0, e.g. "/sites/…/lists/Projekte/items"
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    in_batch: bool = False
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def client_request_id(self) -> str:
        return self.headers.get("client-request-id", self.request_id)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Resp:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str | None = None  # "reset" | "truncate" | "html" (faults)
    delay: float = 0.0
    ru: int = 0
    app: str = ""


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # json.dumps would build
# a new encoder per call for non-default options


def dumps(obj: Any) -> bytes:
    return _ENCODER.encode(obj).encode()


def json_resp(status: int, obj: Any, headers: dict[str, str] | None = None) -> Resp:
    return Resp(status, dumps(obj), {"Content-Type": JSON_TYPE, **(headers or {})})


def raw_json_resp(status: int, body: bytes) -> Resp:
    return Resp(status, body, {"Content-Type": JSON_TYPE})


class GraphError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def error_resp(
    req: Req, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Resp:
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": req.request_id,
                "client-request-id": req.client_request_id,
            },
        }
    }
    return json_resp(status, body, headers)


DEFAULT_CODES = {
    400: ("invalidRequest", "Invalid request"),
    401: ("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
    403: ("accessDenied", "Access denied"),
    404: ("itemNotFound", "The resource could not be found."),
    409: ("conflict", "Conflict"),
    410: ("resyncRequired", "Resync required. Replace any local items with the server's version"),
    412: ("preconditionFailed", "The resource has changed since the caller last read it"),
    423: ("resourceLocked", "The resource is locked"),
    429: ("TooManyRequests", "Too many requests"),
    500: ("generalException", "An unspecified error has occurred."),
    502: ("BadGateway", "Bad gateway"),
    503: ("serviceNotAvailable", "Service unavailable"),
    504: ("GatewayTimeout", "Gateway timeout"),
}


def default_code(status: int) -> tuple[str, str]:
    return DEFAULT_CODES.get(status, ("generalException", f"Error {status}"))
