"""Prometheus metrics for the daemon (``sp-sync run --metrics-port``), on loopback by default.

Fed by the runner's ``on_run`` hook, so every job run counts, whatever started it.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.runs = Counter("sp_sync_job_runs", "Job runs by outcome", ["job", "status"],
                            registry=self.registry)
        self.last_success = Gauge("sp_sync_job_last_success_timestamp_seconds",
                                  "When the job last ended ok", ["job"], registry=self.registry)
        self.requests = Counter("sp_sync_graph_requests", "Graph requests sent", ["job"],
                                registry=self.registry)
        self.resource_units = Counter("sp_sync_resource_units",
                                      "SharePoint resource units spent", ["job"],
                                      registry=self.registry)
        self.writes = Counter("sp_sync_list_writes", "List items written", ["job"],
                              registry=self.registry)
        self.mails = Counter("sp_sync_mails_sent", "Mails sent", ["job"], registry=self.registry)

    def record(self, job: str, status: str, stats: dict[str, Any]) -> None:
        """The runner's ``on_run`` hook."""
        self.runs.labels(job, status).inc()
        if status == "ok":
            self.last_success.labels(job).set(time.time())
        self.requests.labels(job).inc(_number(stats.get("requests")))
        self.resource_units.labels(job).inc(_number(stats.get("resource_units")))
        self.writes.labels(job).inc(_number(stats.get("written")))
        self.mails.labels(job).inc(_number(stats.get("sent")))

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and value > 0 else 0.0
