"""The one place that maps an HTTP status + Graph error body to sp-sync's error classes."""

from __future__ import annotations

import json
from typing import Any

import requests

from sp_sync.errors import (
    AuthError,
    CursorExpired,
    GraphError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    SpSyncError,
    ThresholdExceeded,
    TransientError,
)

# Markers of the list view threshold (Graph passes SharePoint's exception through).
_THRESHOLD_MARKERS = ("-2147024860", "spquerythrottledexception", "threshold",
                      "honornonindexedqueries")


def graph_error_body(body: Any) -> tuple[str | None, str]:
    """(code, message) from a Graph error body (dict or raw text)."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except (ValueError, TypeError):
            text = body.decode(errors="replace") if isinstance(body, bytes) else body
            return None, text[:200].strip()
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return err.get("code"), str(err.get("message") or "")
    return None, ""


def is_threshold(status: int, code: str | None, message: str) -> bool:
    text = f"{code or ''} {message}".lower()
    return status in (400, 403, 500, 503) and any(m in text for m in _THRESHOLD_MARKERS)


def error_for(
    status: int, body: Any, method: str = "", what: str = ""
) -> SpSyncError:
    """The error to raise for a failed Graph call, with a message that says what to do."""
    code, message = graph_error_body(body)
    where = f"{method} {what}".strip()
    detail = f"{where}: HTTP {status}" + (f" {code}" if code else "") + (
        f" — {message}" if message else ""
    )
    if is_threshold(status, code, message):
        return ThresholdExceeded(
            f"{detail}. The list view threshold refused a query on a non-indexed column: "
            "index the column (List settings > Indexed columns) or use the delta feed",
            status, code,
        )
    if status == 401:
        return AuthError(
            f"{detail}. Graph rejected the access token even after a refresh: check that the "
            "app registration has Graph application permissions with admin consent"
        )
    if status == 403:
        return PermissionDenied(
            f"{detail}. The app lacks permission: grant Sites.Selected (with a site "
            "permission for this site) or Sites.ReadWrite.All, and Mail.Send for the mailbox",
            status, code,
        )
    if status == 404:
        return NotFound(f"{detail}. The site, list or item does not exist", status, code)
    if status == 410:
        return CursorExpired(
            f"{detail}. The delta token expired: the list will be enumerated again",
            status, code,
        )
    if status == 412:
        return PreconditionFailed(
            f"{detail}. Someone changed the item after sp-sync read it", status, code
        )
    if status == 429 or status >= 500:
        return TransientError(
            f"{detail}. Microsoft 365 is throttling or unavailable: the run will retry later",
            status, code,
        )
    return GraphError(detail, status, code)


def response_error(response: requests.Response, what: str = "") -> SpSyncError:
    req = response.request
    method = req.method or "" if req is not None else ""
    return error_for(response.status_code, response.content, method, what or _path(response))


def _path(response: requests.Response) -> str:
    url = response.url or ""
    return url.split("?", 1)[0]


class AmbiguousRequest(TransientError):
    """A non-idempotent request (create, sendMail) failed after it may have reached the server.

    Never retried blindly: the caller looks the result up (SyncKey, Sent Items) first.
    """

    ambiguous = True
