"""Pure helpers that turn untrusted text, times and statuses into safe Slack mrkdwn."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from jobbot.models import JobStatus
from jobbot.slack_ids import is_channel_id, is_user_id

# Backticks cannot be escaped inside code, so they become this look-alike (MODIFIER LETTER GRAVE ACCENT).
BACKTICK_LOOKALIKE = "\u02cb"
ELLIPSIS = "…"

# C0 controls other than tab and newline (and DEL) only garble a message; carriage returns from
# progress bars become line breaks before this runs.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Characters that change how the text around them reads, or hide themselves: bidirectional embeddings,
# overrides and isolates (U+202A-U+202E, U+2066-U+2069: `prod\u202e1-tset` reads "prodtest-1"), the
# invisible direction marks, zero-width characters (two graph ids that look the same but differ), the
# soft hyphen, tag characters, and controls (C0 but tab and newline, DEL, C1). Server text shows each as
# `\u202e`-style text: spelled out rather than dropped, so an id reads as what the server holds.
# Zero-width joiners go too, though they glue some emoji and scripts together: server text here is ids,
# logs and messages, where a hidden character misleads more than a split emoji does.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff"
    "\U000e0000-\U000e007f]"
)

# Every status has its emoji; a word jobbot has never seen reads as UNKNOWN, and so gets a question mark.
_STATUS_EMOJI = {
    JobStatus.RUNNING: ":hourglass_flowing_sand:",
    JobStatus.WAITING: ":double_vertical_bar:",
    JobStatus.SUCCESS: ":white_check_mark:",
    JobStatus.FAILED: ":x:",
    JobStatus.CANCELLED: ":no_entry_sign:",
    JobStatus.UNKNOWN: ":grey_question:",
}
# SINGLE ANGLE QUOTATION MARKS and FULLWIDTH AMPERSAND.
_PLAIN_LOOKALIKES = str.maketrans({"<": "\u2039", ">": "\u203a", "&": "\uff06"})
MAX_STATUS_CHARS = 24
MIN_CODE_BLOCK_CHARS = 80


def escape(text: str) -> str:
    """Text that renders literally: `<!channel>`, `<@U1>` and `<url|label>` neither ping nor link, and
    invisible characters (bidi overrides, zero-width, controls) are spelled out; newlines and tabs stay."""
    return reveal(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def reveal(text: str) -> str:
    """`text` with each invisible or reading-order character spelled out as `\\uXXXX` text."""
    if not _INVISIBLE.search(text):
        return text  # the usual case, without building a new string
    return _INVISIBLE.sub(_spelled_out, text)


def _spelled_out(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def user_mention(user_id: str) -> str | None:
    """`<@U123>` for a well-formed Slack user id, else None: nothing else may be put inside `<@...>`."""
    return f"<@{user_id}>" if is_user_id(user_id) else None


def channel_mention(channel_id: str) -> str | None:
    """`<#C123>` for a well-formed Slack channel id, else None: nothing else may be put inside `<#...>`."""
    return f"<#{channel_id}>" if is_channel_id(channel_id) else None


def plain(text: str) -> str:
    """Untrusted text for a plain_text object: entities are not decoded there, so `<`, `>` and `&`
    become look-alikes rather than escapes, which would show as `&lt;`."""
    return reveal(text).translate(_PLAIN_LOOKALIKES)


def clip(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars` characters, ending with an ellipsis when something was cut."""
    if len(text) <= max_chars:
        return text
    if max_chars <= 0:
        return ""
    return text[: max_chars - 1] + ELLIPSIS


def neutralize_backticks(text: str) -> str:
    """`text` with every backtick replaced by a look-alike, so it can never open or close code."""
    return text.replace("`", BACKTICK_LOOKALIKE)


def code_span(text: str, max_chars: int = 40) -> str:
    """Untrusted text as inline code: clipped to `max_chars` before escaping, never able to close the span."""
    one_line = " ".join(_CONTROL.sub(" ", text).split())
    return "`" + escape(neutralize_backticks(clip(one_line, max_chars) or " ")) + "`"


def code_block(text: str, max_chars: int) -> str:
    """Untrusted multi-line text (a log) as a code block of at most `max_chars` characters in all.

    The end of the text is kept, cut at a line boundary, with a first line saying how many earlier
    lines were left out. If even the last line is too long, only its end is shown, after an ellipsis.
    Only the end of a long text is examined, so a 5 MB log costs about as much as a short one.
    """
    if max_chars < MIN_CODE_BLOCK_CHARS:
        raise ValueError(f"a code block needs at least {MIN_CODE_BLOCK_CHARS} characters")
    return _code_block(text, max_chars, window=2 * max_chars + 256)


def _code_block(text: str, max_chars: int, *, window: int) -> str:
    """`code_block`, reading only the last `window` characters (more when they turn out too few).

    The result equals reading the whole text: a window is accepted only when the lines kept from it
    never reached its first line, which may be the end of a longer one.
    """
    room = max_chars - len("```\n\n```")
    while True:
        start = max(len(text) - window, 0)
        if 0 < start < len(text) and text[start - 1] == "\r" and text[start] == "\n":
            start -= 1  # never split a CRLF, which counts as one line break
        earlier = _line_breaks(text, start)
        body = _fit_lines(_lines(text[start:]), earlier, room, whole=start == 0)
        if body is not None:
            return "```\n" + (body or " ") + "\n```"
        window *= 2


def _line_breaks(text: str, end: int) -> int:
    """How many line breaks (CRLF, CR or LF) `text[:end]` holds, counted without copying it."""
    breaks = text.count("\n", 0, end)
    returns = text.count("\r", 0, end)
    return breaks + returns - text.count("\r\n", 0, end) if returns else breaks


def _fit_lines(lines: list[str], earlier: int, room: int, *, whole: bool) -> str | None:
    """The kept end of `lines`, which follow `earlier` line breaks, with the cut marker.

    Unless `whole`, `lines[0]` may be only the end of a line. That matters only if every line fits:
    then None asks for a longer window. A line that does not fit would not fit whole either, and
    the end of an overlong line never reaches its start.
    """
    total = earlier + len(lines)
    # Room for the marker (its longest form, and a newline) is set aside whenever it could be needed.
    marker_room = len(_cut_marker(total)) + 1
    kept: list[str] = []
    used = 0
    for index, line in enumerate(reversed(lines)):
        older = total - index - 1
        budget = room - (marker_room if older else 0)
        escaped = escape(line)
        cost = len(escaped) + (1 if kept else 0)
        if used + cost > budget:
            if not kept:
                kept.append(_escaped_tail(line, budget))
            break
        kept.append(escaped)
        used += cost
    else:
        if not whole:
            return None
    kept.reverse()
    hidden = total - len(kept)
    body = "\n".join(kept)
    if hidden:
        body = _cut_marker(hidden) + "\n" + body
    return body


def _lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", neutralize_backticks(text)).rstrip()
    return text.split("\n") if text else []


def _cut_marker(hidden: int) -> str:
    noun = "line" if hidden == 1 else "lines"
    return f"{ELLIPSIS} ({hidden} earlier {noun} not shown)"


def _escaped_tail(line: str, budget: int) -> str:
    """The longest end of `line` whose escaped form, after an ellipsis, fits in `budget` characters."""
    used = len(ELLIPSIS)
    start = len(line)
    while start > 0:
        cost = len(escape(line[start - 1]))
        if used + cost > budget:
            break
        used += cost
        start -= 1
    return ELLIPSIS + escape(line[start:]) if budget >= len(ELLIPSIS) else ""


def _as_utc(moment: datetime) -> datetime:
    # A naive datetime is taken to be UTC: the server's times are epoch-based.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_text(moment: datetime) -> str:
    """A compact UTC time such as `2024-06-10 06:13 UTC`, for fallbacks and notifications."""
    return _as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def date_token(moment: datetime, fallback: str | None = None, *, ago: bool = False) -> str:
    """A Slack date token that each reader sees in their own time zone; `fallback` (escaped) elsewhere.

    `ago` adds how long ago it was ("Today 10:13 AM (12 minutes ago)"), worked out by each reader's
    client when it shows the message: true however long the message stays unedited.
    """
    utc = _as_utc(moment)
    shown = escape(fallback) if fallback is not None else utc_text(utc)
    relative = " ({ago})" if ago else ""
    return f"<!date^{int(utc.timestamp())}^{{date_short_pretty}} {{time}}{relative}|{shown}>"


def duration(seconds: float) -> str:
    """A short human duration: `45s`, `3m 05s`, `2h 03m`, `3d 4h` (negative counts as zero)."""
    total = max(int(seconds), 0)
    minutes, secs = divmod(total, 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    if days:
        return f"{days}d {hrs}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def one_line(text: str, max_chars: int) -> str:
    """Untrusted text inside a line of mrkdwn: controls and line breaks become single spaces, then
    it is clipped to `max_chars` and escaped."""
    return escape(clip(" ".join(_CONTROL.sub(" ", text).split()), max_chars))


def status_word(status: str, max_chars: int = MAX_STATUS_CHARS) -> str:
    """The status as it should be printed: known ones as-is, anything else clipped and escaped."""
    return one_line(status, max(max_chars, len(JobStatus.UNKNOWN))) or JobStatus.UNKNOWN.value


def status_emoji(status: str) -> str:
    """The emoji for a job status, e.g. `:x:` for FAILED; unknown strings get a question mark."""
    return _STATUS_EMOJI[JobStatus(status)]


def status_label(status: str, max_chars: int = MAX_STATUS_CHARS) -> str:
    """Emoji and word for a job status, e.g. `:x: FAILED`; unknown strings get a question mark."""
    return f"{status_emoji(status)} {status_word(status, max_chars)}"
