"""The emulator in its own process (so client and server share the 2 cores honestly).

Started through the CLI (``sp-sync emulator serve``), which prints one JSON line with how
to reach it; everything else goes through the HTTP control API under ``/_emulator/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

_EDIT_THREADS = 8  # control calls pay the emulated latency too; overlap them


class EmulatorProcess:
    def __init__(self, seed_file: Path, latency_ms: int, state_dir: Path) -> None:
        cmd = [sys.executable, "-m", "sp_sync.app.cli", "emulator", "serve", "--port", "0",
               "--seed", str(seed_file), "--latency-ms", str(latency_ms),
               "--state-dir", str(state_dir)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise RuntimeError(f"emulator did not start (exit {self.proc.returncode})")
        self.info: dict[str, Any] = json.loads(line)
        self.base = self.info["graph_url"].rsplit("/v1.0", 1)[0]
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = self.info["ca_bundle"]

    def cpu_s(self) -> float:
        """The emulator process's CPU seconds so far (user + system; Linux /proc)."""
        import os

        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _url(self, what: str) -> str:
        return f"{self.base}/_emulator/{what}"

    def requests(self) -> list[dict[str, Any]]:
        r = self.http.get(self._url("requests"), timeout=60)
        r.raise_for_status()
        value: list[dict[str, Any]] = r.json()["value"]
        return value

    def clear_requests(self) -> None:
        self.http.delete(self._url("requests"), timeout=60).raise_for_status()

    def edit_many(self, title: str, edits: Iterable[tuple[int, dict[str, Any]]], user: str) -> int:
        """A person's edits, one control call each (several in flight)."""

        def one(edit: tuple[int, dict[str, Any]]) -> None:
            body = {"list": title, "id": str(edit[0]), "fields": edit[1], "user": user}
            self.http.post(self._url("edit"), json=body, timeout=60).raise_for_status()

        with ThreadPoolExecutor(_EDIT_THREADS) as pool:
            return len(list(pool.map(one, edits)))

    def close(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def graph_config(info: dict[str, Any]) -> Any:
    """sp-sync's GraphConfig for an emulator's connection info (as the CLI prints it)."""
    from sp_sync.adapters.graph.config import GraphConfig

    return GraphConfig(
        tenant_id=info["tenant_id"], client_id=info["client_id"],
        client_secret=info["client_secret"],
        authority_host=info["authority"].rsplit("/", 1)[0], graph_url=info["graph_url"],
        ca_bundle=info["ca_bundle"],
    )  # fmt: skip


def graph_cost(log: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests on the wire (a ``$batch`` is one), sub-requests, writes and resource units."""
    graph = [e for e in log if str(e.get("path", "")).startswith("/v1.0")]
    top = [e for e in graph if not e.get("batch")]
    subs = [e for e in graph if e.get("batch")]
    writes = [e for e in graph if e.get("method") in ("POST", "PATCH", "DELETE")
              and not str(e.get("path", "")).endswith("/$batch")]
    return {
        "requests": len(top),
        "batch_calls": sum(1 for e in top if str(e.get("path", "")).endswith("/$batch")),
        "sub_requests": len(subs),
        "writes": len(writes),
        "ru": sum(int(e.get("ru") or 0) for e in graph),
        "throttled": sum(1 for e in graph if e.get("status") == 429),
        # The emulator's own time to answer them (without the emulated latency).
        "server_s": round(sum(float(e.get("duration_ms") or 0) for e in top) / 1000, 3),
    }


class InProcessEmulator:
    """The emulator in this process (smoke test): same ``info``/``edit_many`` as above."""

    def __init__(self, seed: dict[str, Any], latency_ms: float = 0) -> None:
        from sp_sync.emulator.server import Emulator

        self.emu = Emulator(seed, latency_ms=latency_ms).start()
        self.info: dict[str, Any] = self.emu.info.as_dict()

    def edit_many(self, title: str, edits: Iterable[tuple[int, dict[str, Any]]], user: str) -> int:
        return len([self.emu.edit(title, str(i), fields, user) for i, fields in edits])

    def close(self) -> None:
        self.emu.stop()

    def __enter__(self) -> InProcessEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
