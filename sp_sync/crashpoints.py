"""The crash switch (tests only; after isync/mbsync): end the process abruptly at a chosen
step boundary, as ``kill -9`` or a power cut would.

``SP_SYNC_CRASH_AFTER="write:3"`` ends the process with ``os._exit`` right after the
third Graph write (any request other than GET: a ``$batch``, a create, a ``sendMail``) was
answered — the server applied it, sp-sync has not recorded it. ``commit:2``: right after
the second state store transaction committed. ``request:5``: right after the fifth Graph
answer of any kind. ``page:4``: right after the pull received the fourth delta page (held
in its spool, not yet committed). Several at once:
``"write:3,commit:9"`` (whichever comes first). Unset (production) it costs one check.
"""

from __future__ import annotations

import os
import sys
from collections import Counter

ENV = "SP_SYNC_CRASH_AFTER"
EXIT_CODE = 86  # tells a crash by the switch from any other exit
KINDS = ("request", "write", "commit", "page")


def _parse(spec: str) -> dict[str, int]:
    limits: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kind, _, count = part.partition(":")
        if kind not in KINDS or not count.isdigit() or int(count) < 1:
            raise SystemExit(f"{ENV}={spec!r}: use kind:N with kind one of {KINDS}, N >= 1")
        limits[kind] = int(count)
    return limits


_LIMITS = _parse(os.environ.get(ENV, ""))
_SEEN: Counter[str] = Counter()
_RAISE: type[BaseException] | None = None


def arm(limits: dict[str, int] | None, raise_: type[BaseException] | None = None) -> None:
    """Set (``None``: clear) the crash points in-process, counting from now. ``raise_``:
    raise this instead of ending the process (a seeded simulation runs many crashes in one
    test process; a ``BaseException`` passes every ``except Exception`` like a real kill)."""
    global _LIMITS, _RAISE
    _LIMITS = dict(limits or {})
    _RAISE = raise_
    _SEEN.clear()


def reached(kind: str) -> None:
    """One more step of ``kind`` is done; end the process here if that is the chosen one."""
    if not _LIMITS or kind not in _LIMITS:
        return
    _SEEN[kind] += 1
    if _SEEN[kind] == _LIMITS[kind]:
        if _RAISE is not None:
            raise _RAISE(f"crash after {kind} #{_SEEN[kind]}")
        sys.stderr.write(f"{ENV}: crashing after {kind} #{_SEEN[kind]}\n")
        sys.stderr.flush()
        os._exit(EXIT_CODE)
