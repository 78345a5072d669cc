"""``serve()``: run the emulator in the foreground for ``sp-sync emulator serve``."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from sp_sync.emulator.server import Emulator


def serve(
    *,
    port: int = 0,
    seed: str = "demo",
    data_dir: str | Path | None = None,
    latency_ms: float = 0,
    jitter_ms: float = 0,
    ru_per_minute: int | None = None,
    token_lifetime: int = 3600,
    state_dir: str | Path = "var/emulator",
    out: Any = None,
) -> None:
    """Start, print ONE JSON line (graph_url, authority, tenant_id, client_id, client_secret,
    certificate, ca_bundle, site_url, mailbox, env, …), block until SIGINT/SIGTERM, stop."""
    emu = Emulator(
        seed,
        port=port,
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
        ru_per_minute=ru_per_minute,
        token_lifetime=token_lifetime,
        state_dir=state_dir,
        data_dir=data_dir,
    )
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    emu.start()
    try:
        stream = out or sys.stdout
        stream.write(json.dumps(emu.info.as_dict()) + "\n")
        stream.flush()
        while not done.wait(0.5):
            pass
    finally:
        emu.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":  # pragma: no cover - manual use
    serve(seed=sys.argv[1] if len(sys.argv) > 1 else "demo")
