"""One connection to Graph: tokens, a pooled session, the retry policy and the library client.

The office365 ``GraphClient`` hard-codes ``https://graph.microsoft.com/v1.0``; the ONE seam
that redirects it is :class:`_ConfiguredGraphRequest` (``service_root_url`` from
``config.graph_url``) returned by :meth:`_ConfiguredGraphClient.pending_request`. Its
transport is replaced by :class:`PolicyTransport`, so library calls share our session (our
CA), our retry policy and our request accounting. Where the library is wrong (delta drops
the deltaLink, updates send no If-Match, ``$batch`` ignores the session) the adapter calls
Graph directly through :meth:`GraphConnection.request`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from office365.graph_client import GraphClient
from office365.graph_request import GraphRequest
from office365.runtime.http.request_options import RequestOptions
from office365.runtime.transport.base import BaseTransport

from sp_sync.adapters.graph.auth import TokenProvider, make_session
from sp_sync.adapters.graph.config import GraphConfig
from sp_sync.adapters.graph.http_policy import HttpPolicy
from sp_sync.errors import GraphError
from sp_sync.ports import RequestStats


class PolicyTransport(BaseTransport):
    """Routes the library's requests through our session and :class:`HttpPolicy`."""

    def __init__(self, policy: HttpPolicy, session: requests.Session) -> None:
        self._policy = policy
        self._session = session

    def execute(self, request: RequestOptions) -> requests.Response:
        method = request.method.value.upper()
        # The policy sets Authorization itself (so a 401 refresh takes effect).
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        json_body: Any = None
        data: Any = None
        if method in ("POST", "PATCH"):
            if request.is_bytes or request.is_file:
                data = request.data
            else:
                json_body = request.data
        elif method == "PUT":
            data = request.data
        return self._policy.send(
            self._session, method, request.url, json_body=json_body, data=data,
            headers=headers, expect_json=method != "DELETE",
        )


class _RootedGraphRequest(GraphRequest):
    def __init__(self, root: str) -> None:
        super().__init__()
        self._root = root

    @property
    def service_root_url(self) -> str:
        return self._root


class RootedGraphClient(GraphClient):
    """The ONE seam over office365's hard-coded ``https://graph.microsoft.com/v1.0``: every
    request, ``$batch`` included, goes to ``graph_root`` (national clouds, the emulator).

    On its own it keeps the library's stock transport (the emulator's contract tests and the
    naive benchmark baseline use it so); :class:`GraphConnection` adds our session and policy.
    """

    def __init__(self, graph_root: str, token_callback: Callable[[], dict[str, Any]]) -> None:
        super().__init__(token_callback=token_callback)
        self._root = graph_root.rstrip("/")
        self._tokens = token_callback

    def _new_request(self) -> GraphRequest:
        req = _RootedGraphRequest(self._root)
        req.with_access_token(self._tokens)
        return req

    def pending_request(self) -> GraphRequest:
        if self._pending_request is None:
            self._pending_request = self._new_request()
        assert isinstance(self._pending_request, GraphRequest)
        return self._pending_request


class _ConfiguredGraphClient(RootedGraphClient):
    """:class:`RootedGraphClient` whose requests use our session, CA and retry policy."""

    def __init__(self, conn: GraphConnection) -> None:
        super().__init__(conn.config.graph_root, conn.tokens.token)
        self._conn = conn

    def _new_request(self) -> GraphRequest:
        req = super()._new_request()
        req.transport = PolicyTransport(self._conn.policy, self._conn.session)
        return req


class GraphConnection:
    """Owns the token provider, the HTTP session, the retry policy, stats and the client."""

    def __init__(self, config: GraphConfig, stats: RequestStats | None = None) -> None:
        self.config = config
        self.stats = stats if stats is not None else RequestStats()
        self.session = make_session(config, config.graph_root)
        self.tokens = TokenProvider(config, make_session(config, config.authority_host))
        self.policy = HttpPolicy(config, self.stats, self.tokens)
        self._client: GraphClient | None = None

    @property
    def client(self) -> GraphClient:
        """The office365 ``GraphClient`` pointed at ``config.graph_url``."""
        if self._client is None:
            self._client = _ConfiguredGraphClient(self)
        return self._client

    def url(self, path_or_url: str) -> str:
        """An absolute URL on the configured Graph root.

        Absolute links (nextLink, a stored deltaLink) are rebased onto ``graph_url``: a cursor
        saved while the emulator listened on another port still works, and the token is
        never sent to a host other than the configured Graph.
        """
        if not path_or_url.startswith(("https://", "http://")):
            return f"{self.config.graph_root}/{path_or_url.lstrip('/')}"
        link, root = urlsplit(path_or_url), urlsplit(self.config.graph_root)
        if (link.scheme, link.netloc) == (root.scheme, root.netloc):
            return path_or_url
        if link.path.startswith(root.path.rstrip("/") + "/"):
            return urlunsplit((root.scheme, root.netloc, link.path, link.query, ""))
        raise GraphError(
            f"refusing to follow {link.scheme}://{link.netloc}{link.path}: it is not under the "
            f"configured Graph root {self.config.graph_root} (SP_SYNC_GRAPH_URL)"
        )

    def request(self, method: str, path_or_url: str, **kw: Any) -> requests.Response:
        """One Graph call through the policy (see :meth:`HttpPolicy.send`)."""
        return self.policy.send(self.session, method, self.url(path_or_url), **kw)

    def get_json(self, path_or_url: str, **kw: Any) -> Any:
        return self.policy.json(self.request("GET", path_or_url, **kw))

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> GraphConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
