"""`jobbot check`: verify a deployment before it goes live and print a checklist with a fix per failure.

Every check reads only: nothing is posted to Slack, no job is touched, and the store is neither created
nor migrated. Each is bounded in time, so a peer that never answers cannot hang the command. The checks
live by what they look at: `slack`, `servers`, `store`; `checklist` prints them.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import TextIO

from jobbot.check.checklist import Checklist, Item, failed, passed, skipped
from jobbot.check.servers import check_server
from jobbot.check.slack import (
    BotIdentity,
    check_bot_token,
    check_channel,
    check_http_mode,
    check_scopes,
    check_socket_mode,
    granted_scopes,
    notify_channels,
    slack_client,
)
from jobbot.check.store import check_store
from jobbot.config import Settings, load_settings
from jobbot.errors import ConfigError

# A backstop over each check's own timeouts: whatever a library does, the checklist goes on after this.
SLACK_CHECK_SECONDS = 15.0
SOCKET_MODE_CHECK_SECONDS = 20.0
STORE_CHECK_SECONDS = 20.0


def run_checks(env_file: str = ".env", *, out: TextIO | None = None) -> int:
    """Run every check, print the checklist, and return the exit code: 0 only when all pass, 1 when any
    fails, 2 when the configuration does not even parse."""
    checklist = Checklist(out or sys.stdout)
    try:
        settings = load_settings(env_file=env_file)
    except ConfigError as exc:
        checklist.add(failed("configuration", str(exc)))
        return 2
    checklist.secrets = list(settings.secrets)
    checklist.add(check_configuration(settings, env_file))
    slack = slack_client(settings, settings.slack_bot_token.get_secret_value())
    identity = BotIdentity()
    token = checklist.run("Slack bot token", SLACK_CHECK_SECONDS, partial(check_bot_token, slack, identity))
    if token:
        checklist.run("Slack scopes", SLACK_CHECK_SECONDS, partial(check_scopes, settings, identity.scopes))
    if settings.socket_mode:
        checklist.run("Socket Mode", SOCKET_MODE_CHECK_SECONDS, partial(check_socket_mode, settings))
    else:
        checklist.add(check_http_mode(settings))
    granted = granted_scopes(identity.scopes)
    for channel, servers in notify_channels(settings).items():
        what = f"notify channel {channel}" + (f" ({', '.join(servers)})" if settings.servers.shown else "")
        if token:
            look = partial(check_channel, slack, channel, what, identity.user, granted)
            checklist.run(what, SLACK_CHECK_SECONDS, look)
        else:
            checklist.add(skipped(what, "not checked without a working bot token"))
    for server in settings.servers.all:
        what = "Interactive server" + (f" {server.name}" if settings.servers.shown else "")
        seconds = 2 * settings.jobbot_interactive_deadline + 5
        checklist.run(what, seconds, partial(check_server, settings, server, what))
    checklist.run("store", STORE_CHECK_SECONDS, partial(check_store, settings))
    return checklist.finish()


def check_configuration(settings: Settings, env_file: str) -> Item:
    source = (
        f"{env_file} parsed" if Path(env_file).is_file() else f"parsed from the environment, no {env_file}"
    )
    mode = "Socket Mode" if settings.socket_mode else "HTTP mode"
    count = len(settings.servers.all)
    servers = f"{count} server{'s' if count != 1 else ''}"
    if settings.servers.shown:
        servers += ": " + ", ".join(settings.servers.names)
    notices = "notices on" if settings.jobbot_notifier else "notices off"
    return passed("configuration", f"{source} ({mode}, {servers}, {notices})")
