"""Builders for the bodies Slack sends: slash commands (form fields) and button clicks (payload JSON)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from tests.fakes import TEAM_ID

ALLOWED_USER = "U0ALLOWED1"
OTHER_USER = "U0OTHER01"


def command_body(
    text: str, *, response_url: str, user_id: str = ALLOWED_USER, channel_id: str = "C0CHAN01"
) -> str:
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "test",
            "channel_id": channel_id,
            "channel_name": "ops",
            "user_id": user_id,
            "user_name": "someone",
            "command": "/jobs",
            "text": text,
            "api_app_id": "A0001",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )


def click_payload(
    action_id: str, value: str, *, response_url: str, user_id: str = ALLOWED_USER, confirm: bool = False
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "block_id": "b1",
        "text": {"type": "plain_text", "text": "x"},
        "value": value,
        "action_ts": "1700000000.000001",
    }
    if confirm:
        action["confirm"] = {"title": {"type": "plain_text", "text": "Sure?"}}
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": "someone", "name": "someone", "team_id": TEAM_ID},
        "api_app_id": "A0001",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": "C0CHAN01",
            "is_ephemeral": True,
        },
        "trigger_id": "1.2.3",
        "team": {"id": TEAM_ID, "domain": "test"},
        "channel": {"id": "C0CHAN01", "name": "ops"},
        "response_url": response_url,
        "actions": [action],
    }


def click_body(action_id: str, value: str, **kwargs: Any) -> str:
    return urlencode({"payload": json.dumps(click_payload(action_id, value, **kwargs))})
