"""manifest.yaml: valid per Slack's published schema and consistent with what the code serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

from jobbot import commands, slack_ids

ROOT = Path(__file__).resolve().parent.parent


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    return data


def test_manifest_is_valid_against_slacks_schema() -> None:
    """The manifest passes Slack's v1 manifest JSON schema (a copy of the published file)."""
    schema = json.loads((Path(__file__).parent / "data" / "slack-manifest.schema.json").read_text())
    errors = [
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in Draft7Validator(schema).iter_errors(manifest())
    ]
    assert errors == []


def test_manifest_declares_the_command_the_handlers_serve() -> None:
    """The one slash command in the manifest is the one jobbot registers, with the same usage hint."""
    [command] = manifest()["features"]["slash_commands"]
    assert command["command"] == slack_ids.COMMAND
    assert command["usage_hint"] == slack_ids.COMMAND_USAGE_HINT
    assert command["should_escape"] is False


def test_manifest_usage_hint_names_every_subcommand() -> None:
    """Every subcommand of the parser's table, with its arguments, is in the manifest's usage hint, so
    one added to the table and not to the hint fails here."""
    [command] = manifest()["features"]["slash_commands"]
    hint = command["usage_hint"]
    listed = set(hint.removeprefix("[").removesuffix("]").split(" | "))
    missing = [sub.form for sub in commands.SUBCOMMANDS if sub.form not in listed]
    assert missing == []


def test_manifest_asks_for_exactly_the_scopes_the_code_needs() -> None:
    """Bot scopes match the code's list: nothing missing, nothing extra for an admin to question."""
    assert sorted(manifest()["oauth_config"]["scopes"]["bot"]) == sorted(slack_ids.BOT_SCOPES)


def test_manifest_enables_interactivity_and_socket_mode() -> None:
    """Buttons need interactivity; Socket Mode is the default transport."""
    settings = manifest()["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
