"""The daemon's HTTP endpoint: ``/healthz``, ``/readyz`` and ``/metrics``; 404 elsewhere.

* ``/healthz``: the process answers (liveness; restart it when this fails).
* ``/readyz``: the scheduler runs, the state store answers, and no source list is stale
  (last synced longer ago than ``stale_after_h``); 503 with the reasons otherwise. A list
  never synced counts as stale only once the daemon has been up that long.
* ``/metrics``: Prometheus text.

Bound to loopback unless ``metrics_host`` says otherwise.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from sp_sync.ports import StateStore

log = logging.getLogger(__name__)


@dataclass
class Readiness:
    """What ``/readyz`` looks at; the daemon fills it in."""

    store: StateStore
    source_keys: Sequence[str]
    stale_after: timedelta
    now: Callable[[], datetime]
    scheduler_running: Callable[[], bool] = lambda: False
    started: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def problems(self) -> list[str]:
        found: list[str] = []
        if not self.scheduler_running():
            found.append("scheduler not running")
        now = self.now()
        try:
            with self._lock:  # the store's connections are shared with running jobs
                synced = {k: self.store.last_synced(k) for k in self.source_keys}
        except Exception as exc:  # any failure means "not ready"; the reason is reported
            return [*found, f"state store unreachable: {type(exc).__name__}: {exc}"]
        up_long = self.started is None or now - self.started > self.stale_after
        for key, at in synced.items():
            if at is None:
                if up_long:
                    found.append(f"source {key}: never synced")
            elif now - at > self.stale_after:
                hours = (now - at).total_seconds() / 3600
                found.append(f"source {key}: last synced {hours:.1f} h ago")
        return found


class HealthServer:
    def __init__(self, registry: CollectorRegistry, readiness: Readiness | None = None) -> None:
        self.registry = registry
        self.readiness = readiness
        self._server: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._send(200, "text/plain; charset=utf-8", b"ok\n")
                elif path == "/readyz":
                    problems = (
                        outer.readiness.problems() if outer.readiness else ["not started"]
                    )
                    body = json.dumps({"ready": not problems, "problems": problems}) + "\n"
                    self._send(503 if problems else 200, "application/json", body.encode())
                elif path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(outer.registry))
                else:
                    self._send(404, "text/plain; charset=utf-8",
                               b"not found: try /healthz, /readyz or /metrics\n")

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes every few seconds would drown the log

        return Handler

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Start serving in a daemon thread; returns the port (``0`` picks a free one)."""
        self._server = ThreadingHTTPServer((host, port), self.handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="health", daemon=True).start()
        return int(self._server.server_address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
