"""JSON text for many small objects, byte-identical to :mod:`json` (no I/O).

``json.JSONEncoder.encode`` builds the C encoder again on every call; for the ~100,000
small dicts of a 50,000-item first sync (a content hash and the stored fields per item)
that set-up was a third of the encoding time. :func:`encoder` builds it once. The output
is what ``JSONEncoder(...).encode`` gives (the same C encoder is used); only the circular
reference check is left out — values come from JSON or are built by sp-sync, never
cyclic.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

try:
    from json.encoder import (  # type: ignore[attr-defined]
        c_make_encoder as _c_make_encoder,
    )
except ImportError:  # pragma: no cover - CPython always has it
    _c_make_encoder = None

Encode = Callable[[Any], str]


def encoder(
    *, sort_keys: bool = False, ensure_ascii: bool = True,
    separators: tuple[str, str] = (", ", ": "),
) -> Encode:
    """``json.JSONEncoder(sort_keys=…, ensure_ascii=…, separators=…).encode``, faster."""
    std = json.JSONEncoder(sort_keys=sort_keys, ensure_ascii=ensure_ascii,
                           separators=separators)
    if _c_make_encoder is None:  # pragma: no cover
        return std.encode
    enc = json.encoder
    strings = enc.encode_basestring_ascii if ensure_ascii else enc.encode_basestring
    item_sep, key_sep = separators
    chunks = _c_make_encoder(None, std.default, strings, None, key_sep, item_sep, sort_keys,
                             False, True)
    join = "".join

    def encode(value: Any) -> str:
        return join(chunks(value, 0))

    return encode


# json.dumps(value) with its defaults: what SQLAlchemy's JSON type stores.
dumps = encoder()


class JsonObject(Mapping[str, Any]):
    """A JSON object held as its text (:data:`dumps`), decoded on first use.

    A first sync of a large list hands every item's fields from the pull (which encodes
    them once, outside the store's transaction, while the next page is on the wire)
    through its spool to the SQL store, which writes :attr:`text` as it is: the fields are
    neither kept as dicts in the spool nor encoded a second time inside the transaction.
    Everything else reads it as the read-only mapping it is.
    """

    __slots__ = ("_value", "text")

    def __init__(self, text: str, value: dict[str, Any] | None = None) -> None:
        self.text = text  # exactly dumps(value): what the SQL store writes
        self._value = value

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> JsonObject:
        plain = dict(value)
        return cls(dumps(plain), plain)

    def _decoded(self) -> dict[str, Any]:
        if self._value is None:
            value = json.loads(self.text)
            if not isinstance(value, dict):
                raise TypeError(f"not a JSON object: {self.text[:60]!r}")
            self._value = value
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._decoded()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._decoded().get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())

    def __contains__(self, key: object) -> bool:
        return key in self._decoded()

    def __repr__(self) -> str:
        return f"JsonObject({self.text!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (JsonObject, (self.text,))
