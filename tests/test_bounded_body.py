"""Bounded body reading: a JSON document's skeleton keeps its shape and the tails of its long strings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobbot.bounded_body import JsonSkeleton, read_at_most
from jobbot.errors import SkeletonTooLarge


def skeleton_of(body: bytes, cuts: list[int], **caps: int) -> Any:
    """The skeleton of `body` fed in the pieces between `cuts`, parsed by the json module."""
    skeleton = JsonSkeleton(**caps)
    start = 0
    for cut in [*sorted(cuts), len(body)]:
        skeleton.feed(body[start:cut])
        start = cut
    return json.loads(skeleton.finish())


def encoded(text: str, ensure_ascii: bool) -> bytes:
    """The bytes between a JSON string's quotes, as the json module writes them."""
    return json.dumps(text, ensure_ascii=ensure_ascii).encode()[1:-1]


def check_fits(original: Any, parsed: Any, cap: int, ensure_ascii: bool) -> None:
    """`parsed` is `original` with every string longer than `cap` bytes replaced by a tail of it."""
    if isinstance(original, str):
        raw = encoded(original, ensure_ascii)
        if len(raw) <= cap:
            assert parsed == original
            return
        assert isinstance(parsed, str) and original.endswith(parsed)
        kept = len(encoded(parsed, ensure_ascii))
        window = raw[-cap:]
        leading_backslashes = len(window) - len(window.lstrip(b"\\"))
        assert cap - leading_backslashes - 11 <= kept <= cap
    elif isinstance(original, list):
        assert isinstance(parsed, list) and len(parsed) == len(original)
        for item, kept_item in zip(original, parsed, strict=True):
            check_fits(item, kept_item, cap, ensure_ascii)
    elif isinstance(original, dict):
        assert isinstance(parsed, dict) and list(parsed) == list(original)
        for key, value in original.items():
            check_fits(value, parsed[key], cap, ensure_ascii)
    else:
        assert parsed == original


# Text made of what could fool the filter: quotes, backslash runs, escapes written out, characters that
# are several bytes in UTF-8 or a surrogate pair in `\u` escapes, control characters.
fragments = st.sampled_from(
    [
        '"',
        "\\",
        "\\\\",
        '\\"',
        "\\u",
        "u00e9",
        "\\ud83d",
        "é",
        "€",
        "🙂",
        "\n",
        "\x00",
        "\x1f",
        "x",
        "}",
        "{",
        "log",
    ]
)
texts = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(fragments, st.text(max_size=3)), max_size=40).map("".join),
)
lone_surrogates = st.sampled_from(["\ud800", "\udc00", "\udfff", "x\ud83d", "\ude42y"])
keys = st.text(alphabet="abclog", min_size=0, max_size=4)


def documents(with_lone_surrogates: bool) -> st.SearchStrategy[Any]:
    strings = st.one_of(texts, lone_surrogates) if with_lone_surrogates else texts
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), strings
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=5)),
        max_leaves=20,
    )


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, None, 1]),
    cap=st.integers(min_value=12, max_value=48),
)
def test_any_document_in_any_chunks_keeps_its_shape_and_string_tails(
    data: st.DataObject, ensure_ascii: bool, indent: int | None, cap: int
) -> None:
    """Whatever the strings hold and however the body is cut, long strings become tails, the rest is kept."""
    document = data.draw(documents(with_lone_surrogates=ensure_ascii))
    body = json.dumps(document, ensure_ascii=ensure_ascii, indent=indent).encode()
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(body)), max_size=12))
    parsed = skeleton_of(body, cuts, string_bytes=cap, max_bytes=1 << 20)
    check_fits(document, parsed, cap, ensure_ascii)


def test_a_long_log_keeps_its_end_and_the_skeleton_stays_small() -> None:
    """A 5 MB log in 64 KiB chunks: the skeleton is a few hundred kilobytes, ending with the log's end."""
    document: dict[str, Any] = {
        "id": "7",
        "log": 'loading \\ "x" é 🙂\n' * 250_000 + "the end\n",
        "detail": {"graph_id": "2"},
    }
    body = json.dumps(document).encode()
    skeleton = JsonSkeleton(string_bytes=96 * 1024, max_bytes=1 << 20)
    for start in range(0, len(body), 65_536):
        skeleton.feed(body[start : start + 65_536])
    small = skeleton.finish()
    assert len(small) <= 96 * 1024 + 200 and skeleton.cut_strings == 1
    parsed = json.loads(small)
    assert parsed["detail"] == {"graph_id": "2"} and parsed["log"].endswith("🙂\nthe end\n")
    assert document["log"].endswith(parsed["log"])


def test_log_values_can_be_cut_shorter_than_other_strings() -> None:
    """With `log_bytes`, values of a `log` key are cut to that, other strings only past `string_bytes`."""
    body = json.dumps([{"id": "1", "log": "x" * 1000, "graph_id": "g" * 100}]).encode()
    skeleton = JsonSkeleton(string_bytes=200, log_bytes=0, max_bytes=1 << 20)
    skeleton.feed(body)
    assert json.loads(skeleton.finish()) == [{"id": "1", "log": "", "graph_id": "g" * 100}]


@pytest.mark.parametrize(
    ("log", "other", "log_cut"),
    [("x" * 100, "g" * 300, False), ("x" * 101, "g", True), ("x" * 101, "g" * 300, True)],
)
def test_log_cut_says_whether_the_log_itself_was_cut(log: str, other: str, log_cut: bool) -> None:
    """`log_cut` is about the `log` value only; another long string cut does not set it."""
    body = json.dumps({"log": log, "graph_id": other}).encode()
    skeleton = JsonSkeleton(string_bytes=200, log_bytes=100, max_bytes=1 << 20)
    skeleton.feed(body)
    skeleton.finish()
    assert skeleton.log_cut is log_cut


def test_a_body_of_countless_tiny_values_is_refused_past_the_cap() -> None:
    """Millions of short keys are not a log to cut: past `max_bytes` of skeleton the body is refused."""
    skeleton = JsonSkeleton(string_bytes=1024, max_bytes=100_000)
    skeleton.feed(b"{")
    with pytest.raises(SkeletonTooLarge, match="more than"):
        for n in range(100_000):
            skeleton.feed(b'"k%d": 1, ' % n)


def test_read_at_most_stops_at_the_limit() -> None:
    """Only the first `limit` bytes are taken, and no chunk past them is asked for."""
    asked: list[int] = []

    def chunks() -> Any:
        for n in range(100):
            asked.append(n)
            yield b"x" * 1000

    assert read_at_most(chunks(), 2500) == b"x" * 2500
    assert asked == [0, 1, 2]
