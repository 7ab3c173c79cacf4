"""`jobbot check`'s Slack checks: the bot token and its scopes, the Socket Mode connection (or what HTTP
mode needs), and the notify channels. Each call is made once, without retries, and posts nothing."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.builtin.connection import Connection, ConnectionState

from jobbot.app import single_try_client
from jobbot.check.checklist import Item, failed, one_line, passed
from jobbot.config import Settings
from jobbot.slack_ids import BOT_SCOPES, EVENTS_PATH
from jobbot.urls import without_credentials

# One Slack Web API call: no retries, so a check says what happened the first time, quickly.
SLACK_SECONDS = 5
# From the WebSocket's opening until Slack's `hello`, which it sends at once on a healthy connection.
HELLO_SECONDS = 5.0
# Slack's answers to a token it does not accept.
_REJECTED_TOKEN = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
# slack_sdk's Socket Mode connection logs each failure at ERROR; the checklist says it once, its own way.
_QUIET = logging.getLogger("jobbot.check.socket_mode")
_QUIET.propagate = False
_QUIET.addHandler(logging.NullHandler())
_SCOPES_FIX = "add {them} under OAuth & Permissions > Bot Token Scopes, then reinstall the app"
# Scopes jobbot does not ask for, but uses when a workspace granted them anyway: conversations.info tells
# whether a notify channel is archived (channels:read for a public channel, groups:read for a private one).
_CHANNEL_INFO_SCOPES = frozenset({"channels:read", "groups:read"})
_MEMBER_ONLY = "jobbot can read it and is a member; an archived channel is not detected without {scope}"


@dataclass(frozen=True)
class OptionalScope:
    """A scope in the manifest that jobbot needs only when a setting uses it."""

    used_for: str
    needed: Callable[[Settings], bool]


# The manifest's scopes that jobbot can run without (tests/test_check.py ties these to manifest.yaml).
OPTIONAL_SCOPES = {
    "usergroups:read": OptionalScope(
        "JOBBOT_CANCEL_USERGROUPS",
        lambda settings: any(own.cancel_usergroups for own in settings.server_settings),
    ),
}
REQUIRED_SCOPES = tuple(scope for scope in BOT_SCOPES if scope not in OPTIONAL_SCOPES)


# 2. The bot token and its scopes.


def slack_client(settings: Settings, token: str) -> WebClient:
    """A Web API client for one check: SLACK_API_URL, a short timeout, and no retries."""
    return single_try_client(settings, timeout=SLACK_SECONDS, token=token)


@dataclass
class BotIdentity:
    """What auth.test told of the bot token, for the checks after its own."""

    user: str = "jobbot"
    team: str = "?"
    # Slack's x-oauth-scopes header: the granted scopes, comma-separated (None when it was not sent).
    scopes: str | None = None


def check_bot_token(slack: WebClient, identity: BotIdentity) -> Item:
    """auth.test with the bot token; on success `identity` is filled in from Slack's answer."""
    what = "Slack bot token"
    try:
        response = slack.auth_test()
    except SlackApiError as exc:
        error = _slack_error(exc)
        if error in _REJECTED_TOKEN:
            fix = "copy the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page"
            return failed(what, f"Slack rejected it ({error})", f"{fix} to SLACK_BOT_TOKEN")
        return failed(what, f"auth.test failed ({error})", "check SLACK_API_URL, then try again")
    except (SlackClientError, OSError, ValueError) as exc:
        return _unreachable(what, slack.base_url, exc)
    identity.user = str(response.get("user") or identity.user)
    identity.team = str(response.get("team") or identity.team)
    identity.scopes = _header(response.headers, "x-oauth-scopes")
    return passed(what, f"valid: the bot user @{identity.user} in the {identity.team} workspace")


def granted_scopes(header: str | None) -> frozenset[str]:
    """The scopes in Slack's x-oauth-scopes header (none when it was not sent)."""
    return frozenset(scope.strip() for scope in (header or "").split(",") if scope.strip())


def check_scopes(settings: Settings, header: str | None) -> Item:
    """The granted scopes cover what manifest.yaml asks for (optional ones only when a setting needs them)."""
    what = "Slack scopes"
    if header is None:
        return failed(
            what,
            "Slack's auth.test answer listed no scopes (no x-oauth-scopes header)",
            "point SLACK_API_URL at Slack's Web API (https://slack.com/api/) or a proxy that keeps headers",
        )
    granted = granted_scopes(header)
    needed = [s for s in BOT_SCOPES if s in REQUIRED_SCOPES or OPTIONAL_SCOPES[s].needed(settings)]
    missing = [scope for scope in needed if scope not in granted]
    if missing:
        named = ", ".join(
            scope + (f" (for {OPTIONAL_SCOPES[scope].used_for})" if scope in OPTIONAL_SCOPES else "")
            for scope in missing
        )
        them = "it" if len(missing) == 1 else "them"
        return failed(what, f"missing {named}", _SCOPES_FIX.format(them=them))
    found = f"the {len(needed)} scopes jobbot needs are granted"
    unused = [scope for scope in OPTIONAL_SCOPES if scope not in granted and scope not in needed]
    if unused:
        found += "; optional and not granted: " + ", ".join(
            f"{scope} (for {OPTIONAL_SCOPES[scope].used_for})" for scope in unused
        )
    return passed(what, found)


# 3. Slack's side of the transport.


def check_socket_mode(settings: Settings) -> Item:
    """The app token opens a Socket Mode connection: apps.connections.open, then Slack's `hello` on the
    WebSocket it names. The connection is closed at once."""
    what = "Socket Mode"
    assert settings.slack_app_token is not None
    app_token = settings.slack_app_token.get_secret_value()
    fix = (
        "generate an app-level token with the connections:write scope under Basic Information > "
        "App-Level Tokens, put it in SLACK_APP_TOKEN, and turn Socket Mode on in the app's settings"
    )
    client = slack_client(settings, app_token)
    try:
        url = str(client.apps_connections_open(app_token=app_token).get("url") or "")
    except SlackApiError as exc:
        return failed(what, f"Slack refused SLACK_APP_TOKEN ({_slack_error(exc)})", fix)
    except (SlackClientError, OSError, ValueError) as exc:
        return _unreachable(what, client.base_url, exc)
    if not url:
        return failed(what, "apps.connections.open named no WebSocket URL", "check SLACK_API_URL")
    # The URL carries a one-time ticket: only its host is shown.
    host = urlsplit(url).hostname or "?"
    greeted = _hello(url)
    if greeted is not True:
        return failed(
            what, f"the WebSocket at {host} {greeted}", "check that this host may open WebSockets to Slack"
        )
    return passed(what, f"the app token opened a connection to {host} and Slack said hello")


def _hello(url: str) -> bool | str:
    """True when the WebSocket at `url` opens and sends `hello` within HELLO_SECONDS, else what went
    wrong. slack_sdk's own connection (the one the bot uses), with its log kept out of the checklist."""
    hello = threading.Event()
    errors: list[Exception] = []

    def on_message(text: str) -> None:
        try:
            if json.loads(text).get("type") == "hello":
                hello.set()
        except (ValueError, AttributeError):
            pass

    connection = Connection(
        url,
        logger=_QUIET,
        receive_timeout=HELLO_SECONDS,
        on_message_listener=on_message,
        on_error_listener=errors.append,
    )
    connection.connect()
    if not connection.is_active():
        reason = f" ({one_line(errors[0])})" if errors else ""
        return f"did not open{reason}"
    state = ConnectionState()  # type: ignore[no-untyped-call]  # slack_sdk leaves it unannotated
    reader = threading.Thread(
        target=connection.run_until_completion, args=(state,), name="jobbot-check-hello", daemon=True
    )
    reader.start()
    try:
        return True if hello.wait(HELLO_SECONDS) else f"sent no hello within {HELLO_SECONDS:g} s"
    finally:
        state.terminated = True
        # Wakes the reader from its receive at once: close() waits for the receive to end.
        if connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)
        connection.close()


def check_http_mode(settings: Settings) -> Item:
    """HTTP mode needs no connection to be tested from here: say what Slack must be told."""
    return passed(
        "HTTP mode",
        f"SLACK_SIGNING_SECRET is set; set the app's request URLs (slash command and interactivity) to "
        f"https://YOUR-HOST{EVENTS_PATH}, reaching this host's PORT {settings.port}",
    )


# 4. Notify channels.


def notify_channels(settings: Settings) -> dict[str, list[str]]:
    """Each channel notices go to by default, with the servers whose notices go there."""
    if not settings.jobbot_notifier:
        return {}
    channels: dict[str, list[str]] = {}
    for own in settings.server_settings:
        if own.notify_channel:
            channels.setdefault(own.notify_channel, []).append(own.server.name)
    return channels


def check_channel(slack: WebClient, channel: str, what: str, bot: str, granted: frozenset[str]) -> Item:
    """conversations.history (one message), with the scopes the bot already has: Slack answers it only
    when the channel exists and jobbot is in it (posting in a public channel would work without, but
    finding a notice again after a crash reads the channel's history, which needs membership). Where
    the token happens to hold channels:read or groups:read, conversations.info also tells whether the
    channel is archived. Nothing is posted."""
    try:
        slack.conversations_history(channel=channel, limit=1)
    except SlackApiError as exc:
        return _unreadable_channel(what, exc, bot)
    except (SlackClientError, OSError, ValueError) as exc:
        return _unreachable(what, slack.base_url, exc)
    if not granted & _CHANNEL_INFO_SCOPES:
        return passed(what, _MEMBER_ONLY.format(scope="channels:read"))
    return _archived_or_not(slack, channel, what)


def _unreadable_channel(what: str, exc: SlackApiError, bot: str) -> Item:
    error = _slack_error(exc)
    if error == "not_in_channel":
        return failed(what, "jobbot is not a member", f"invite the bot there with /invite @{bot}")
    if error == "channel_not_found":
        return failed(
            what,
            "Slack knows no such channel, or it is private and jobbot is not in it",
            f"check the channel ID (the channel's details, at the bottom); in a private channel, "
            f"invite the bot with /invite @{bot}",
        )
    if error == "missing_scope":
        needed = _needed_scope(exc, "channels:history or groups:history")
        return failed(what, f"jobbot cannot read it without {needed}", _SCOPES_FIX.format(them="it"))
    return failed(what, f"Slack answered {error}", "check the channel ID, then try again")


def _archived_or_not(slack: WebClient, channel: str, what: str) -> Item:
    """conversations.info, once history has shown jobbot is in the channel: only whether it is archived
    is left to learn, so a refusal here leaves that unknown rather than failing the line."""
    try:
        info = slack.conversations_info(channel=channel).get("channel") or {}
    except SlackApiError as exc:
        if _slack_error(exc) == "missing_scope":  # channels:read alone, and a private channel
            return passed(what, _MEMBER_ONLY.format(scope=_needed_scope(exc, "groups:read")))
        unknown = f"whether it is archived is unknown (conversations.info: {_slack_error(exc)})"
        return passed(what, f"jobbot can read it and is a member; {unknown}")
    except (SlackClientError, OSError, ValueError) as exc:
        return _unreachable(what, slack.base_url, exc)
    name = f"#{info['name']}" if info.get("name") else "the channel"
    if info.get("is_archived"):
        return failed(what, f"{name} is archived", "unarchive it, or name another channel for notices")
    return passed(what, f"{name} exists and jobbot is a member")


# Wording shared by the Slack checks.


def _slack_error(exc: SlackApiError) -> str:
    if exc.response is None:
        return "no answer"
    return str(exc.response.get("error") or f"HTTP {exc.response.status_code}")[:80]


def _needed_scope(exc: SlackApiError, otherwise: str) -> str:
    """The scope Slack's missing_scope answer names in its `needed` field."""
    needed = exc.response.get("needed") if exc.response is not None else None
    return str(needed or otherwise)[:80]


def _unreachable(what: str, url: str, exc: Exception) -> Item:
    return failed(
        what,
        f"could not reach Slack at {without_credentials(url)} ({one_line(exc)})",
        "check SLACK_API_URL, and that this host can reach it (proxy, firewall)",
    )


def _header(headers: Any, name: str) -> str | None:
    """A response header, whatever the case Slack (or a proxy) wrote its name in."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name:
            return ", ".join(value) if isinstance(value, list) else str(value)
    return None
