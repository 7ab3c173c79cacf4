"""Slack's limits and jobbot's escaping, checked on a rendered message: the assertions tests share."""

from __future__ import annotations

import json
import re
from typing import Any

from slack_sdk.models.blocks import Block

from jobbot.render.kit import (
    MAX_ACTION_ID_CHARS,
    MAX_BLOCKS,
    MAX_BLOCKS_JSON_CHARS,
    MAX_FIELD_CHARS,
    MAX_FIELDS,
    MAX_HEADER_CHARS,
    MAX_SECTION_CHARS,
    MAX_TEXT_CHARS,
    Message,
    json_size,
)
from jobbot.slack_ids import MAX_BUTTON_VALUE_CHARS


def limit_violations(message: Message) -> list[str]:
    """Every Slack limit the message breaks (empty when Slack will accept it).

    slack_sdk's `to_dict()` already checks most per-field lengths; this adds what it does not check:
    block count, total size, section field sizes and the fallback text.
    """
    found: list[str] = []
    if not message.text.strip():
        found.append("fallback text is empty")
    if len(message.text) > MAX_TEXT_CHARS:
        found.append(f"fallback text has {len(message.text)} > {MAX_TEXT_CHARS} characters")
    if len(message.blocks) > MAX_BLOCKS:
        found.append(f"{len(message.blocks)} > {MAX_BLOCKS} blocks")
    size = json_size(message.blocks)
    if size > MAX_BLOCKS_JSON_CHARS:
        found.append(f"blocks JSON has {size} > {MAX_BLOCKS_JSON_CHARS} characters")
    for index, block in enumerate(message.blocks):
        found.extend(f"block {index}: {issue}" for issue in _block_violations(block))
    return found


def _block_violations(block: dict[str, Any]) -> list[str]:
    found: list[str] = []
    kind = block.get("type")
    if kind == "header" and len(block["text"]["text"]) > MAX_HEADER_CHARS:
        found.append("header too long")
    if kind == "section":
        if "text" in block and len(block["text"]["text"]) > MAX_SECTION_CHARS:
            found.append("section text too long")
        fields = block.get("fields", [])
        if len(fields) > MAX_FIELDS:
            found.append("too many fields")
        found.extend("field too long" for field in fields if len(field["text"]) > MAX_FIELD_CHARS)
    for element in block.get("elements", []):
        if len(element.get("value", "")) > MAX_BUTTON_VALUE_CHARS:
            found.append("button value too long")
        if len(element.get("action_id", "")) > MAX_ACTION_ID_CHARS:
            found.append("action_id too long")
    return found


def check_limits(message: Message) -> None:
    """Assert the message is within Slack's limits and survives slack_sdk's parse and validation."""
    assert limit_violations(message) == []
    reparsed = [Block.parse(block) for block in message.blocks]
    assert all(block is not None for block in reparsed)
    # to_dict() runs slack_sdk's per-field validators again on the parsed blocks.
    assert [block.to_dict() for block in reparsed if block is not None] == message.blocks


# The only `<...>` sequences the bot writes: date tokens, and mentions of well-formed user and channel ids.
# Characters that change how the text around them reads, or hide: never shown raw (tab and newline are
# fine; json.dumps writes them as escapes).
INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
BOT_CONTROL = re.compile(r"<(?!!date\^|@[UW][A-Z0-9]{2,30}>|#[CG][A-Z0-9]{2,30}>)")


def check_safe(message: Message) -> None:
    """Assert the only Slack control sequences in the message are the bot's own tokens and mentions, and
    that no invisible character (bidi override, control, zero-width) of server text survives raw."""
    for text in (message.text, json.dumps(message.blocks, ensure_ascii=False)):
        assert BOT_CONTROL.findall(text) == []
        assert INVISIBLE.findall(text) == []
