"""The per-column fast paths give exactly what the general functions give (issue 4).

``canonicalizer``, ``content_hasher`` and ``normalizer`` replace per-value dispatch in
the pull, the planner and record loading; any difference would change hashes (a write
or history loop) or values. Compared on generated wire values, sign of zero included.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sp_sync.domain.model import ColumnSpec, ColumnType, ListSpec
from sp_sync.domain.normalize import (
    _content_hash_reference,
    canonical,
    canonicalizer,
    content_hash,
    content_hasher,
    normalize_fields,
    normalizer,
)
from tests.domain.test_normalize import COLS, FULL, SPEC, Directory

TZ = ZoneInfo("Europe/Berlin")
NAMES = ("SyncKey", "Title", "LeitungLookupId", "Modified")

texts = st.sampled_from([
    "", "   ", " a ", "7", " 12 ", "٣", "²", "x;#y", "2026-11-30T23:00:00Z",
    "2026-11-30", "2026-11-30T23:00:00.000+01:00", " 2026-03-29T01:00:00Z ",
    "2026-13-40T99:00:00Z", "true", "Nein", "1,5", "inf", "nan", "-0", "1e400",
])  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**60), 2**60), st.floats(), texts, st.text(),
    st.sampled_from([-0.0, 0.0, 2.0**53, 2.0**53 + 2, 5.0, 1250.5]),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["LookupId", "LookupValue", "Url", "Description", "x",
                                     "b", "a", "Z", "ä"]), scalars, max_size=4),
    st.dictionaries(st.sampled_from(["y", "x", "B"]),  # nested, keys in any order
                    st.dictionaries(st.sampled_from(["q", "p", "A"]), scalars, max_size=3),
                    max_size=3),
)  # fmt: skip


def _outcome(fn: Any, *args: Any) -> str:
    try:
        return repr(fn(*args))
    except Exception as exc:  # both sides must fail alike
        return f"raises {type(exc).__name__}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=values)
def test_canonicalizer_equals_canonical(raw: Any) -> None:
    for col in (*COLS, *NAMES):
        assert _outcome(canonicalizer(col), raw) == _outcome(canonical, col, raw), col


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raws=st.lists(values, min_size=len(COLS) + 1, max_size=len(COLS) + 1))
def test_hasher_and_normalizer_equal_the_definitions(raws: list[Any]) -> None:
    spec = ListSpec("t", "T", COLS, role="target", sync_key_column="SyncKey")
    fields = {c.field_name: v for c, v in zip(COLS, raws, strict=False)}
    fields["SyncKey"] = raws[-1]
    for s in (spec, SPEC):
        assert _outcome(content_hasher(s), fields) == _outcome(_content_hash_reference, s,
                                                               fields)  # fmt: skip
    norm = normalizer(SPEC, Directory(), TZ)
    assert _outcome(norm, fields) == _outcome(normalize_fields, SPEC, fields, Directory(), TZ)


def test_known_digest_is_unchanged() -> None:
    """Stored mirrors keep their hashes: the digest of a fixed row is pinned."""
    assert content_hash(SPEC, FULL) == _content_hash_reference(SPEC, FULL)
    spec = ListSpec("t", "T", (ColumnSpec("n", "N", ColumnType.NUMBER),),
                    sync_key_column="SyncKey")  # fmt: skip
    assert content_hash(spec, {"N": 5, "SyncKey": "src:1"}) == (
        "be15a6a947a3ccdde3b7c73f95e82303cd7cdc89829fc62b46a97a6489692a26"
    )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON)
def test_json_text_set_up_once_is_byte_identical_to_json(value: Any) -> None:
    import json

    from sp_sync.domain import jsontext

    assert jsontext.dumps(value) == json.dumps(value)
    canonical_form = jsontext.encoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert canonical_form(value) == json.dumps(value, sort_keys=True, ensure_ascii=False,
                                               separators=(",", ":"))
