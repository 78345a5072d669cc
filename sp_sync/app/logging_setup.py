"""Logs for operators: one line per event, ISO 8601 time with offset, plain or JSON.

* ``plain``: ``2026-12-07T07:00:01.123+01:00 INFO sp_sync.daemon: dtc-sync: ok``
* ``json``: one object per line (``ts``, ``level``, ``logger``, ``msg``, and ``exc`` at
  debug), for journald/Loki/Elastic shippers.

Tracebacks only at DEBUG: an expected failure (a wrong secret, a missing list) is one line
naming the error; below DEBUG an exception adds ``(ExcType: first line)`` to its line. Nothing
wraps: a line is never cut at the terminal's width.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

LogFormat = Literal["plain", "json"]
DEFAULT_ZONE = ZoneInfo("Europe/Berlin")

# Libraries that narrate every step at INFO (APScheduler: "Adding job tentatively", "Added
# job", "Scheduler started", "Running job", "executed successfully" per run).
QUIET = ("urllib3", "msal", "office365", "apscheduler", "uvicorn", "alembic", "httpx",
         "prometheus_client")


class OneLineFormatter(logging.Formatter):
    def __init__(self, fmt: LogFormat = "plain", zone: ZoneInfo = DEFAULT_ZONE) -> None:
        super().__init__()
        self.fmt = fmt
        self.zone = zone

    def timestamp(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, self.zone)
        return at.isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        debug = logging.getLogger().isEnabledFor(logging.DEBUG)
        exc_text: str | None = None
        if record.exc_info and record.exc_info[1] is not None:
            if debug:
                exc_text = self.formatException(record.exc_info)
            else:
                exc = record.exc_info[1]
                first = (str(exc).splitlines() or [""])[0]
                message = f"{message} ({type(exc).__name__}: {first})"
        if self.fmt == "json":
            data: dict[str, object] = {
                "ts": self.timestamp(record),
                "level": record.levelname,
                "logger": record.name,
                "msg": message,
            }
            if exc_text:
                data["exc"] = exc_text
            return json.dumps(data, ensure_ascii=False)
        line = " ".join(message.splitlines()) if not debug else message
        text = f"{self.timestamp(record)} {record.levelname} {record.name}: {line}"
        if exc_text:
            text += "\n" + exc_text
        return text


_state: dict[str, object] = {"format": "plain"}


def setup_logging(
    level: str | int = logging.INFO,
    fmt: LogFormat | None = None,
    zone: ZoneInfo | None = None,
) -> None:
    """(Re)configure the root logger: one handler on stderr with :class:`OneLineFormatter`."""
    chosen: LogFormat = fmt or _state["format"]  # type: ignore[assignment]
    _state["format"] = chosen
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(chosen, zone or DEFAULT_ZONE))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def apply_settings(level: str, zone: ZoneInfo, verbose: bool = False) -> None:
    """After the settings are read: their ``log_level`` and time zone (``-v`` wins)."""
    setup_logging(logging.DEBUG if verbose else level, zone=zone)
