"""Dead letters always fit the dead-letter topic: the largest original parts are dropped first, and the
letter says what was dropped (pure logic: ``fit``)."""

import hashlib

from consumer.dead_letters import DeadLetter, Headers, fit

OURS: Headers = [("error", b"not JSON"), ("source-offset", b"7")]


def letter(key: bytes | None = b"k", value: bytes | None = b"v", headers: Headers | None = None) -> DeadLetter:
    return DeadLetter(key=key, value=value, headers=headers or [], ours=OURS)


def test_a_letter_that_fits_is_unchanged_and_has_no_cut_header() -> None:
    original = letter(headers=[("h", b"1")])
    assert fit(original, 1_000) is original
    assert [name for name, _ in original.all_headers] == ["h", "error", "source-offset"]


def test_a_huge_key_is_dropped_and_its_size_and_digest_kept() -> None:
    key = b"x" * 5_000
    cut = fit(letter(key=key, value=b"{bad json"), 2_000)
    assert (cut.key, cut.value) == (None, b"{bad json")
    headers = dict(cut.all_headers)
    assert headers["dead-letter-cut"] == b"key"
    assert (headers["original-key-bytes"], headers["original-value-bytes"], headers["original-headers-bytes"]) == (
        b"5000",
        b"9",
        b"0",
    )
    assert headers["original-key-sha256"] == hashlib.sha256(key).hexdigest().encode()


def test_huge_headers_go_first_when_they_are_the_largest_part() -> None:
    headers: Headers = [(f"h{i}", b"y" * 1_000) for i in range(10)]
    cut = fit(letter(headers=headers), 2_000)
    assert (cut.key, cut.value, cut.headers) == (b"k", b"v", [])
    assert dict(cut.all_headers)["dead-letter-cut"] == b"headers"


def test_everything_goes_when_nothing_else_fits_and_the_order_of_the_cut_header_is_fixed() -> None:
    cut = fit(letter(key=b"k" * 3_000, value=b"v" * 4_000, headers=[("h", b"z" * 2_000)]), 100)
    assert (cut.key, cut.value, cut.headers) == (None, None, [])
    assert dict(cut.all_headers)["dead-letter-cut"] == b"key,value,headers"


def test_cutting_again_keeps_the_original_sizes() -> None:
    first = fit(letter(key=b"k" * 3_000, value=b"v" * 500), 1_000)
    again = fit(first, 0)
    headers = dict(again.all_headers)
    assert headers["dead-letter-cut"] == b"key,value"
    assert (headers["original-key-bytes"], headers["original-value-bytes"]) == (b"3000", b"500")
