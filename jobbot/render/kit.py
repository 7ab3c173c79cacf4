"""What every renderer shares: the Message, Slack's Block Kit limits, and builders that keep to them."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from jobbot.models import job_id_fault
from jobbot.render.mrkdwn import clip, code_span, escape, neutralize_backticks, one_line, plain
from jobbot.servers import MAX_NAME_CHARS

# Slack rejects a whole message that breaks any of these (see the platform notes).
MAX_BLOCKS = 50
MAX_TEXT_CHARS = 40_000
MAX_SECTION_CHARS = 3000
MAX_FIELDS = 10
MAX_FIELD_CHARS = 2000
MAX_HEADER_CHARS = 150
MAX_ACTION_ID_CHARS = 255
# Slack answers msg_blocks_too_long at about 13,000 characters; this is measured on `json.dumps`
# output, whose \u escapes make non-ASCII text count several times, so it errs on the safe side.
MAX_BLOCKS_JSON_CHARS = 12_000
# Slack's limit for a confirmation dialog's text.
MAX_CONFIRM_TEXT_CHARS = 300

# Server text (graph id, unknown status) in one line of the list, and the least it is clipped to.
LIST_SERVER_TEXT_CHARS = 24
MIN_LIST_SERVER_TEXT_CHARS = 8
CARD_TEXT_CHARS = 200
JOB_ID_CHARS = 24
NOTICE_CHARS = 1000
# Clipped before escaping, which can make text up to five times longer.
DETAIL_CHARS = 400

EM_DASH = "\u2014"


@dataclass(frozen=True)
class Message:
    """A Slack message: the notification fallback and its Block Kit blocks, ready for `respond()`."""

    text: str
    blocks: list[dict[str, Any]]


def to_message(text: str, blocks: Sequence[Block]) -> Message:
    """The finished message: the fallback clipped to Slack's limit (never empty), the blocks as dicts."""
    # to_dict() runs slack_sdk's validators: a renderer bug fails loudly here, not at Slack.
    return Message(text=clip(text, MAX_TEXT_CHARS) or "jobbot", blocks=[block.to_dict() for block in blocks])


def json_size(blocks: list[dict[str, Any]]) -> int:
    """How many characters the blocks take as JSON: what MAX_BLOCKS_JSON_CHARS is measured on."""
    return len(json.dumps(blocks))


def plain_text(text: str) -> PlainTextObject:
    """A plain_text object, for headers, buttons and dialogs (make untrusted text safe with `plain`)."""
    # No "emoji": true: it is Slack's default, and it would be repeated in every button.
    return PlainTextObject(text=text)


def mrkdwn_text(text: str) -> MarkdownTextObject:
    """A mrkdwn text object; `text` must already be safe mrkdwn."""
    return MarkdownTextObject(text=text)


def context_block(text: str) -> ContextBlock:
    """A context block holding one line of small grey mrkdwn."""
    return ContextBlock(elements=[mrkdwn_text(text)])


def shrink_to_fit(build: Callable[[int], list[Block]], start: int, floor: int) -> list[Block]:
    """Blocks built with the largest budget (from `start` down to `floor`) that fit the JSON limit.

    Each step cuts the budget by at least the excess (a character costs at least one JSON character),
    so this ends after a few builds.
    """
    budget = start
    while True:
        blocks = build(budget)
        excess = json_size([block.to_dict() for block in blocks]) - MAX_BLOCKS_JSON_CHARS
        if excess <= 0 or budget == floor:
            return blocks
        budget = max(budget - max(excess, start // 10, 1), floor)


def packed_sections(lines: Sequence[str]) -> list[Block]:
    """Lines joined into as few sections as the section text limit allows: fewer blocks, less JSON."""
    sections: list[Block] = []
    current = ""
    for line in lines:
        if current and len(current) + 1 + len(line) > MAX_SECTION_CHARS:
            sections.append(SectionBlock(text=mrkdwn_text(current)))
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        sections.append(SectionBlock(text=mrkdwn_text(current)))
    return sections


def valid_job_id(raw: str) -> str | None:
    """`raw` if it is a job id in its canonical form, else None. Only such ids get buttons and commands:
    the server keys jobs by their text, so it would not find a listed "007" under 7."""
    return raw if job_id_fault(raw) is None else None


def job_name(raw: str, max_chars: int) -> str:
    """A job id for mrkdwn: a valid id whole, anything else on one line, clipped and escaped."""
    return valid_job_id(raw) or one_line(raw, max_chars) or "?"


# --- naming a message's server ----------------------------------------------------------------
# With several servers, every message about jobs names its server the one way: a prefix to its
# headline, "`staging` · " in mrkdwn and "staging · " in plain text (headers, fallbacks). None (one
# server) adds nothing, so a single-server jobbot's messages stay as they were.

SERVER_SEPARATOR = " · "


def server_mark(server: str | None) -> str:
    """The mrkdwn prefix naming a message's server, "`staging` · ", or "" when it is not named."""
    return "" if server is None else code_span(server, MAX_NAME_CHARS) + SERVER_SEPARATOR


def server_header(server: str | None) -> str:
    """The plain-text prefix naming a message's server in its header, "staging · ", or ""."""
    return "" if server is None else plain(_name(server)) + SERVER_SEPARATOR


def server_fallback(server: str | None) -> str:
    """The prefix naming a message's server in its notification text, "staging · ", or ""."""
    return "" if server is None else escape(_name(server)) + SERVER_SEPARATOR


def server_on(server: str | None) -> str:
    """ " on `staging`", to follow a job in a sentence, or "" when the server is not named."""
    return "" if server is None else f" on {code_span(server, MAX_NAME_CHARS)}"


def server_words(server: str | None) -> str:
    """The server as a command's first word inside inline code, "staging " (`/jobs staging status 42`),
    or ""."""
    return "" if server is None else escape(_name(server)) + " "


def _name(server: str) -> str:
    # Names are checked at start-up; this only keeps an odd one short, on one line and out of code.
    return neutralize_backticks(" ".join(clip(server, MAX_NAME_CHARS).split())) or "?"
