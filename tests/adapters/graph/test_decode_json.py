"""decode_json gives exactly what json.loads gives: the same values and the same errors."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sp_sync.adapters.graph.wire import decode_json

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (1 and 1.0 differ; NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return (a == b and math.copysign(1, a) == math.copysign(1, b)) or (a != a and b != b)
    return bool(a == b)


@given(JSON_VALUES, st.booleans())
def test_values_as_json_reads_them(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert same(decode_json(text.encode()), json.loads(text))


@pytest.mark.parametrize("text", [
    b"NaN", b"[Infinity, -Infinity]", b"1e400", b'"\\ud800"', b'{"a": 1, "a": 2}',
    b"123456789012345678901234567890", b"-0.0", b"  [1, 2.50]  ",
])
def test_what_the_fast_decoder_refuses_is_read_as_json_reads_it(text: bytes) -> None:
    assert same(decode_json(text), json.loads(text))


@pytest.mark.parametrize("text", [b"[1,]", b"", b'"\xff"', b'"a\x01b"', b"{", b"[1] x"])
def test_what_json_refuses_is_refused_with_its_error(text: bytes) -> None:
    with pytest.raises(ValueError) as fast:
        decode_json(text)
    with pytest.raises(ValueError) as slow:
        json.loads(text)
    assert type(fast.value) is type(slow.value)


def test_nesting_too_deep_for_json_is_its_recursion_error() -> None:
    text = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(RecursionError):
        decode_json(text)
