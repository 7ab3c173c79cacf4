"""The mrkdwn helpers: escaping, code blocks, date tokens, durations and status labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobbot.render import mrkdwn
from jobbot.render.mrkdwn import (
    BACKTICK_LOOKALIKE,
    channel_mention,
    clip,
    code_block,
    code_span,
    date_token,
    duration,
    escape,
    one_line,
    status_emoji,
    status_label,
    status_word,
    user_mention,
)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<!here>", "&lt;!here&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<https://evil|click>", "&lt;https://evil|click&gt;"),
        ("a & b", "a &amp; b"),
        ("&lt;", "&amp;lt;"),
        ("plain text", "plain text"),
    ],
)
def test_escape_neutralizes_mentions_links_and_entities(raw: str, escaped: str) -> None:
    """Control characters become entities, ampersand first, so mentions and links render as text."""
    assert escape(raw) == escaped


@given(st.text())
def test_escaped_text_has_no_control_characters(raw: str) -> None:
    """Whatever the input, escaped text contains no `<` or `>` and every `&` starts an entity."""
    escaped = escape(raw)
    assert "<" not in escaped and ">" not in escaped
    assert escaped.count("&") == escaped.count("&amp;") + escaped.count("&lt;") + escaped.count("&gt;")


def test_clip_keeps_short_text_and_marks_cut_text() -> None:
    """Text within the limit is unchanged; longer text ends with an ellipsis and fits the limit."""
    assert clip("abc", 3) == "abc"
    assert clip("abcdef", 4) == "abc…"
    assert clip("abcdef", 0) == ""


def test_code_span_cannot_be_closed_or_ping() -> None:
    """Inline code from untrusted text has no inner backticks, is escaped, and is clipped to one line."""
    span = code_span("a`b <!channel>\nsecond", 100)
    assert span == f"`a{BACKTICK_LOOKALIKE}b &lt;!channel&gt; second`"
    assert len(code_span("x" * 10_000, 40)) == 42


def test_code_block_keeps_a_short_log_whole() -> None:
    """A log that fits is shown whole, escaped, inside one code block."""
    assert code_block("line 1\n<!here> & co\n", 200) == "```\nline 1\n&lt;!here&gt; &amp; co\n```"


def test_code_block_backticks_cannot_close_the_block() -> None:
    """Backticks in a log are replaced, so the only fences are the block's own two."""
    block = code_block("```\nevil ``` <!channel>\n`tick`", 200)
    assert block.count("```") == 2
    assert block.startswith("```\n") and block.endswith("\n```")
    assert "`" not in block[3:-3]
    assert "<!channel>" not in block


def test_code_block_keeps_the_end_on_a_line_boundary_with_a_marker() -> None:
    """A long log keeps its last whole lines and says how many earlier lines were left out."""
    log = "\n".join(f"line {n:03d}" for n in range(1, 101))
    block = code_block(log, 200)
    assert len(block) <= 200
    body = block.removeprefix("```\n").removesuffix("\n```").split("\n")
    assert body[-1] == "line 100"
    hidden = 100 - (len(body) - 1)
    assert body[0] == f"… ({hidden} earlier lines not shown)"
    assert all(line.startswith("line ") and len(line) == 8 for line in body[1:])


def test_code_block_shows_the_end_of_one_huge_line() -> None:
    """A single line longer than the limit is cut from the front, never past the limit."""
    block = code_block("x" * 100_000 + "END", 300)
    assert len(block) <= 300
    assert block.endswith("xEND\n```")
    assert "…" in block


def test_code_block_handles_a_5_mb_log_quickly_and_within_limit() -> None:
    """A 5 MB hostile log still gives a bounded block with no mention, link or extra fence."""
    log = ("<!channel> ``` <https://evil|click> &\r\n" * 140_000)[:5_000_000]
    block = code_block(log, 2500)
    assert len(block) <= 2500
    assert block.count("```") == 2
    assert "<" not in block and ">" not in block


def test_code_block_refuses_a_budget_too_small_for_its_frame() -> None:
    """A budget that cannot hold the fences and the marker is a programming error, reported loudly."""
    with pytest.raises(ValueError, match="at least"):
        code_block("x", mrkdwn.MIN_CODE_BLOCK_CHARS - 1)


@given(st.text(), st.integers(min_value=mrkdwn.MIN_CODE_BLOCK_CHARS, max_value=3000))
def test_code_block_is_always_bounded_and_closed(log: str, max_chars: int) -> None:
    """For any text and budget, the block fits the budget, has exactly its two fences and is escaped."""
    block = code_block(log, max_chars)
    assert len(block) <= max_chars
    assert block.startswith("```\n") and block.endswith("\n```")
    assert "`" not in block[3:-3]
    assert "<" not in block and ">" not in block


log_text = st.lists(
    st.sampled_from(["a", "bc", " ", "\t", "\n", "\r", "\r\n", "\x00", "`", "<", "&", "\U0001f600"]),
    min_size=40,
    max_size=200,
).map("".join)


@settings(max_examples=60, deadline=None)  # a property, not a timing: loaded machines run it slowly
@given(log_text, st.integers(min_value=mrkdwn.MIN_CODE_BLOCK_CHARS, max_value=120))
def test_code_block_reading_only_the_end_equals_reading_everything(log: str, max_chars: int) -> None:
    """Whatever window the fast path starts from, it gives exactly the whole-text result."""
    whole = mrkdwn._code_block(log, max_chars, window=len(log) + 1)
    for window in range(1, len(log) + 1):
        assert mrkdwn._code_block(log, max_chars, window=window) == whole


def test_code_block_counts_every_earlier_line_of_a_long_log() -> None:
    """Only the end of a long log is read, yet the marker counts all the lines before what is shown."""
    log = "x\r\n" * 300_000 + "y\r" * 300_000 + "z\n" * 300_000 + "last"
    block = code_block(log, 200)
    body = block.removeprefix("```\n").removesuffix("\n```").split("\n")
    assert body[0] == f"… ({900_001 - (len(body) - 1):,} earlier lines not shown)".replace(",", "")
    assert body[-1] == "last"


def test_code_block_of_trailing_whitespace_still_finds_the_last_text() -> None:
    """A log ending in megabytes of blank lines shows its last real lines, as if read whole."""
    log = "first\nsecond\n" + " \n" * 1_000_000
    assert code_block(log, 200) == "```\nfirst\nsecond\n```"


@pytest.mark.parametrize(
    ("user_id", "mention"),
    [
        ("U012ABCDEF", "<@U012ABCDEF>"),
        ("W0ENTERPRISE", "<@W0ENTERPRISE>"),
        ("U12", "<@U12>"),
        ("U1", None),
        ("u012abcdef", None),
        ("U012ABC\n", None),
        ("U012>|<!channel", None),
        ("C012ABCDEF", None),
        ("U" + "A" * 31, None),
        ("", None),
    ],
)
def test_user_mention_only_for_well_formed_user_ids(user_id: str, mention: str | None) -> None:
    """Only `U`/`W` followed by 2-30 capitals or digits becomes `<@...>`; anything else gives None."""
    assert user_mention(user_id) == mention


@pytest.mark.parametrize(
    ("channel_id", "mention"),
    [
        ("C0123ABCD", "<#C0123ABCD>"),
        ("G0123ABCD", "<#G0123ABCD>"),
        ("D0123ABCD", None),
        ("#general", None),
        ("C0123\n", None),
        ("C01>|x", None),
        ("c0123abcd", None),
    ],
)
def test_channel_mention_only_for_well_formed_channel_ids(channel_id: str, mention: str | None) -> None:
    """Only a public (`C`) or private (`G`) channel id becomes `<#...>`; anything else gives None."""
    assert channel_mention(channel_id) == mention


def test_one_line_flattens_clips_and_escapes() -> None:
    """Line breaks and controls become single spaces before clipping, and the result is escaped."""
    assert one_line("a\r\n\x00b <!here>", 100) == "a b &lt;!here&gt;"
    assert one_line("x" * 50, 10) == "x" * 9 + "…"


def test_status_emoji_matches_the_label() -> None:
    """The emoji on its own is the one status_label puts before the word."""
    for status in ("SUCCESS", "failed", "PAUSED"):
        assert status_label(status).startswith(status_emoji(status) + " ")


def test_date_token_renders_in_reader_time_zone_with_utc_fallback() -> None:
    """A date token carries epoch seconds, Slack's format and a readable UTC fallback."""
    moment = datetime(2024, 6, 10, 6, 13, 20, 123_000, tzinfo=UTC)
    assert date_token(moment) == "<!date^1718000000^{date_short_pretty} {time}|2024-06-10 06:13 UTC>"


def test_date_token_converts_other_zones_and_escapes_fallback() -> None:
    """Aware times in other zones are converted to UTC; a caller's fallback is escaped; naive means UTC."""
    plus_two = datetime(2024, 6, 10, 8, 13, 20, tzinfo=timezone(timedelta(hours=2)))
    assert date_token(plus_two).startswith("<!date^1718000000^")
    assert date_token(plus_two, "<soon>").endswith("|&lt;soon&gt;>")
    assert date_token(datetime(2024, 6, 10, 6, 13, 20)).startswith("<!date^1718000000^")


def test_date_token_with_ago_adds_slacks_relative_time() -> None:
    """`ago=True` adds Slack's `{ago}` ("12 minutes ago"), which each reader's client keeps current."""
    moment = datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC)
    assert date_token(moment, ago=True) == (
        "<!date^1718000000^{date_short_pretty} {time} ({ago})|2024-06-10 06:13 UTC>"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (45.9, "45s"),
        (185, "3m 05s"),
        (3600, "1h 00m"),
        (7380, "2h 03m"),
        (3 * 86400 + 4 * 3600 + 59, "3d 4h"),
        (-5, "0s"),
    ],
)
def test_duration_is_short_and_human(seconds: float, text: str) -> None:
    """Durations use the two largest units, zero-padded below the first; negatives count as zero."""
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("status", "label"),
    [
        ("RUNNING", ":hourglass_flowing_sand: RUNNING"),
        ("WAITING", ":double_vertical_bar: WAITING"),
        ("SUCCESS", ":white_check_mark: SUCCESS"),
        ("FAILED", ":x: FAILED"),
        ("CANCELLED", ":no_entry_sign: CANCELLED"),
        ("UNKNOWN", ":grey_question: UNKNOWN"),
        ("PAUSED", ":grey_question: PAUSED"),
        ("<!channel>", ":grey_question: &lt;!channel&gt;"),
        ("", ":grey_question: UNKNOWN"),
    ],
)
def test_status_label_covers_known_and_unknown_statuses(status: str, label: str) -> None:
    """Each known status has its emoji; anything else gets a question mark and is escaped."""
    assert status_label(status) == label


def test_status_word_clips_a_huge_unknown_status() -> None:
    """A 10 kB status string is clipped to a short word, never a wall of text."""
    word = status_word("Z" * 10_000)
    assert len(word) == mrkdwn.MAX_STATUS_CHARS
    assert word.endswith("…")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\u202eb", "a\\u202eb"),  # RIGHT-TO-LEFT OVERRIDE
        ("\u202a\u202b\u202c\u202d", "\\u202a\\u202b\\u202c\\u202d"),
        ("\u2066x\u2067y\u2068z\u2069", "\\u2066x\\u2067y\\u2068z\\u2069"),
        ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),  # invisible direction marks
        ("gra\u200bph\u2060\ufeff", "gra\\u200bph\\u2060\\ufeff"),  # zero-width
        ("a\x00b\x1bc\x7fd\x85e", "a\\u0000b\\u001bc\\u007fd\\u0085e"),  # C0, DEL, C1
        ("line 1\n\tline 2", "line 1\n\tline 2"),  # layout a log needs
        ("caf\u00e9 \u6f22\u5b57 \U0001f600", "caf\u00e9 \u6f22\u5b57 \U0001f600"),
    ],
)
def test_escape_spells_out_invisible_characters(raw: str, shown: str) -> None:
    """Bidi overrides, direction marks, zero-width and control characters become visible `\\uXXXX`
    text; newlines, tabs and ordinary non-ASCII text are kept."""
    assert escape(raw) == shown


def test_every_renderer_of_server_text_spells_out_bidi_overrides() -> None:
    """Inline code, one-line text, plain text and log blocks all show an override as `\\u202e`."""
    for rendered in (
        code_span("x\u202ey", 40),
        one_line("x\u202ey", 40),
        mrkdwn.plain("x\u202ey"),
        code_block("log\u202e line\nnext\tline", 200),
    ):
        assert "\u202e" not in rendered and "\\u202e" in rendered
    assert "next\tline" in code_block("log\u202e line\nnext\tline", 200)
