"""OData query options the emulator understands: ``$expand=fields($select=…)``, a small
``$filter`` grammar (``fields/X op literal`` joined by ``and``/``or``), ``$orderby`` and the
opaque paging tokens."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sp_sync.emulator.wire import GraphError

_TERM = re.compile(
    r"\s*(?P<field>(?:fields/)?[A-Za-z_][\w]*)\s+(?P<op>eq|ne|gt|ge|lt|le)\s+"
    r"(?P<lit>'(?:[^']|'')*'|-?\d+(?:\.\d+)?|true|false|null)\s*",
    re.IGNORECASE,
)
_JOIN = re.compile(r"(and|or)\s+", re.IGNORECASE)


def parse_expand(expand: str | None) -> tuple[bool, tuple[str, ...] | None]:
    """(fields requested?, selected field names or None for all)."""
    if not expand:
        return False, None
    m = re.search(r"(?:^|,)\s*fields\s*(?:\((?P<opts>[^)]*)\))?", expand)
    if not m:
        return False, None
    opts = m.group("opts") or ""
    sel = re.search(r"\$?select=([^;]*)", opts)
    if not sel:
        return True, None
    return True, tuple(s.strip() for s in sel.group(1).split(",") if s.strip())


@dataclass(frozen=True)
class Term:
    field: str  # without "fields/"
    op: str
    value: Any


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    return float(text) if "." in text else int(text)


def parse_filter(text: str) -> list[list[Term]]:
    """Disjunction of conjunctions ("and" binds tighter than "or")."""
    groups: list[list[Term]] = [[]]
    pos = 0
    while True:
        m = _TERM.match(text, pos)
        if not m:
            raise GraphError(400, "invalidRequest", f"Invalid filter clause: {text[pos:]!r}")
        name = m.group("field")
        name = name[7:] if name.lower().startswith("fields/") else name
        groups[-1].append(Term(name, m.group("op").lower(), _literal(m.group("lit"))))
        pos = m.end()
        if pos >= len(text):
            return groups
        j = _JOIN.match(text, pos)
        if not j:
            raise GraphError(400, "invalidRequest", f"Invalid filter clause: {text[pos:]!r}")
        if j.group(1).lower() == "or":
            groups.append([])
        pos = j.end()


def _compare(actual: Any, op: str, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(actual, bool):
        a: Any = bool(actual) if actual is not None else None
        w: Any = wanted
    elif isinstance(wanted, int | float) and wanted is not None:
        try:
            a, w = float(actual), float(wanted)
        except (TypeError, ValueError):
            return op == "ne"
    elif isinstance(wanted, str):
        a = None if actual is None else str(actual).lower()
        w = wanted.lower()
    else:
        a, w = actual, wanted
    if op == "eq":
        return bool(a == w)
    if op == "ne":
        return bool(a != w)
    if a is None or w is None:
        return False
    return bool({"gt": a > w, "ge": a >= w, "lt": a < w, "le": a <= w}[op])


def matcher(groups: list[list[Term]], get: Callable[[str], Any]) -> bool:
    return any(all(_compare(get(t.field), t.op, t.value) for t in group) for group in groups)


def parse_orderby(text: str) -> list[tuple[str, bool]]:
    """[(field, descending)]"""
    out = []
    for part in text.split(","):
        bits = part.split()
        if not bits:
            continue
        name = bits[0][7:] if bits[0].lower().startswith("fields/") else bits[0]
        out.append((name, len(bits) > 1 and bits[1].lower() == "desc"))
    return out


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def unb64(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return ""
