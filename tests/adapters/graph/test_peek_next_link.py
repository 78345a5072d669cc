"""Reading a delta page's nextLink from its raw JSON (wire.peek_next_link)."""

from __future__ import annotations

import json

import pytest

from sp_sync.adapters.graph.wire import peek_next_link

LINK = "https://graph.microsoft.com/v1.0/sites/s/lists/l/items/delta?$skiptoken=a%3Db&$top=1000"


def page(*, before: bool, titles: tuple[str, ...] = ("x",), **links: str) -> bytes:
    value = [{"id": str(n), "fields": {"Title": t}} for n, t in enumerate(titles, 1)]
    head = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#x"}
    tail = {f"@odata.{k}": v for k, v in links.items()}
    body = {**head, **tail, "value": value} if before else {**head, "value": value, **tail}
    return json.dumps(body, ensure_ascii=False).encode()


@pytest.mark.parametrize("before", [True, False])
def test_the_link_is_found_before_or_after_the_items(before: bool) -> None:
    assert peek_next_link(page(before=before, nextLink=LINK)) == LINK


@pytest.mark.parametrize("before", [True, False])
def test_a_last_page_has_none(before: bool) -> None:
    assert peek_next_link(page(before=before, deltaLink=LINK)) is None


def test_item_values_that_read_like_the_key_are_passed_over() -> None:
    titles = ("@odata.nextLink", 'a "@odata.nextLink": "https://evil.example/"', "Ä\\u")
    assert peek_next_link(page(before=False, titles=titles, nextLink=LINK)) == LINK
    assert peek_next_link(page(before=False, titles=titles, deltaLink=LINK)) is None


def test_spacing_and_escapes_are_read_as_json_reads_them() -> None:
    raw = b'{"@odata.nextLink" :\n "https://g/v1.0/x?a=1\\u0026b=\\"2\\"", "value": []}'
    assert peek_next_link(raw) == json.loads(raw)["@odata.nextLink"]


@pytest.mark.parametrize("raw", [
    b"", b"<html>Service Unavailable</html>", b'{"@odata.nextLink": "https://cut',
    b'{"@odata.nextLink": 5}', b'{"@odata.nextLink": ""}', b'\xff\xfe"@odata.nextLink"',
])
def test_anything_else_gives_no_guess(raw: bytes) -> None:
    assert peek_next_link(raw) is None
