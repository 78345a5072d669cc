"""Serve the emulator for the benchmark: ``python -m bench.emu_serve SEED_FILE LATENCY_MS``.

Same as ``sp-sync emulator serve`` (one JSON line on stdout, runs until SIGTERM) plus
TCP_NODELAY on the listening socket. Without it every response costs ~40 ms extra on
loopback: asyncio only sets TCP_NODELAY on sockets created with proto IPPROTO_TCP, the
emulator's socket has proto 0, so Nagle holds the body behind the delayed ACK of the
headers. That fixed cost would swamp the emulated latency and penalise whoever makes more
requests. Linux copies the option from the listening socket to accepted connections.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType

from sp_sync.emulator.server import Emulator


def no_delay(emu: Emulator) -> None:
    """TCP_NODELAY on the started emulator's listening socket (see the module docstring)."""
    listener = getattr(emu, "_sock", None)
    if isinstance(listener, socket.socket):
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def main() -> None:
    seed_file, latency_ms = sys.argv[1], float(sys.argv[2])
    state_dir = sys.argv[3] if len(sys.argv) > 3 else "var/bench/emulator"
    seed = json.loads(Path(seed_file).read_text(encoding="utf-8"))
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    emu = Emulator(seed, latency_ms=latency_ms, state_dir=state_dir).start()
    no_delay(emu)
    try:
        sys.stdout.write(json.dumps(emu.info.as_dict()) + "\n")
        sys.stdout.flush()
        while not done.wait(0.5):
            pass
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
