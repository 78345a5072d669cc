"""What a mail says, before it is a message: rendered parts, notices, event texts (pure).

The renderer (``sp_sync.render``, behind :class:`~sp_sync.ports.Renderer`) makes
:class:`Rendered` from the digest models; the engine only passes these values on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Rendered:
    """A mail's subject and its two bodies (plain text, HTML with inlined CSS)."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Notices:
    """What a mail must say before anything else: it is late, or its data is stale."""

    late_since: datetime | None = None  # when it was due (None: on time)
    stale_lists: tuple[str, ...] = ()  # list keys not synced within the freshness window


@dataclass(frozen=True)
class NoticeText:
    """What a notice (one mail about one event) says: its kind (a key of the texts), the
    event and a link."""

    kind: str  # "promoted" | "cancelled" | "attendance" | "minutes" | "finding"
    name: str  # the recipient's name
    title: str
    start: datetime
    link: str | None = None
    count: int = 0
    # findings: what is wrong, in which list, how severe (the Befunde row's values)
    message: str = ""
    list: str = ""
    severity: str = ""
