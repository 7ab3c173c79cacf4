"""`jobbot check`: verify a deployment before it goes live and print a checklist with a fix per failure.

Every check reads only: nothing is posted to Slack, no job is touched, and the store is neither created
nor migrated. Each is bounded in time, so a peer that never answers cannot hang the command.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.builtin.connection import Connection, ConnectionState

from jobbot.app import job_client
from jobbot.config import Settings, load_settings
from jobbot.errors import ConfigError, InteractiveUnavailable, JobApiError, JobNotFound, StoreError
from jobbot.models import MAX_JOB_ID
from jobbot.servers import Server
from jobbot.slack_ids import BOT_SCOPES, EVENTS_PATH
from jobbot.store import SchemaState, read_schema
from jobbot.urls import without_credentials

# One Slack Web API call: no retries, so a check says what happened the first time, quickly.
SLACK_SECONDS = 5
# From the WebSocket's opening until Slack's `hello`, which it sends at once on a healthy connection.
HELLO_SECONDS = 5.0
# A backstop over each check's own timeouts: whatever a library does, the checklist goes on after this.
SLACK_CHECK_SECONDS = 15.0
SOCKET_MODE_CHECK_SECONDS = 20.0
STORE_CHECK_SECONDS = 20.0

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


class Outcome(enum.Enum):
    """How one check came out."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not checked, because a check it depends on failed


_MARKS = {Outcome.PASSED: "✓", Outcome.FAILED: "✗", Outcome.SKIPPED: "-"}
_ASCII_MARKS = {Outcome.PASSED: "[ok]", Outcome.FAILED: "[FAIL]", Outcome.SKIPPED: "[skip]"}


@dataclass(frozen=True)
class Item:
    """One line of the checklist: what was checked, what was found, and for a failure the fix."""

    outcome: Outcome
    what: str
    found: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is not Outcome.FAILED


def passed(what: str, found: str) -> Item:
    return Item(Outcome.PASSED, what, found)


def failed(what: str, found: str, fix: str = "") -> Item:
    return Item(Outcome.FAILED, what, found, fix)


def skipped(what: str, found: str) -> Item:
    return Item(Outcome.SKIPPED, what, found)


def run_checks(env_file: str = ".env", *, out: TextIO | None = None) -> int:
    """Run every check, print the checklist, and return the exit code: 0 only when all pass, 1 when any
    fails, 2 when the configuration does not even parse."""
    checklist = Checklist(out or sys.stdout)
    try:
        settings = load_settings(env_file=env_file)
    except ConfigError as exc:
        checklist.add(failed("configuration", str(exc)))
        return 2
    checklist.secrets = _secrets(settings)
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


class Checklist:
    """Prints each item as it is known, with no secret in it, and remembers whether all passed."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.items: list[Item] = []
        self.secrets: list[str] = []
        # A terminal that cannot show ✓ and ✗ (an ASCII locale) gets words; a text buffer has no encoding.
        encoding = getattr(out, "encoding", None)
        try:
            "".join(_MARKS.values()).encode(encoding or "utf-8")
            self.marks = _MARKS
        except (UnicodeEncodeError, LookupError):
            self.marks = _ASCII_MARKS

    def add(self, item: Item) -> None:
        self.items.append(item)
        line = f"{self.marks[item.outcome]} {item.what}: {item.found}"
        if item.fix:
            line += f". Fix: {item.fix}"
        for secret in self.secrets:
            line = line.replace(secret, "***")
        print(line, file=self.out, flush=True)

    def run(self, what: str, seconds: float, check: Callable[[], Item]) -> bool:
        """Add the item `check` gives, or a failure if it takes longer than `seconds` (it is left running
        on a daemon thread, and nothing it does later is printed) or stops on an error. True if it passed."""
        outcome = _within(seconds, check)
        if outcome is None:
            item = failed(what, f"no result within {seconds:g} s", "check the network path to it")
        elif isinstance(outcome, Exception):
            item = failed(what, f"the check stopped: {type(outcome).__name__}: {_one_line(outcome)}")
        else:
            item = outcome
        self.add(item)
        return item.ok

    def finish(self) -> int:
        failures = sum(not item.ok for item in self.items)
        if failures:
            print(f"{failures} of {len(self.items)} checks failed.", file=self.out)
            return 1
        print(f"All {len(self.items)} checks passed.", file=self.out)
        return 0


def _within(seconds: float, check: Callable[[], Item]) -> Item | Exception | None:
    """What `check` returned or raised within `seconds`, else None."""
    outcome: list[Item | Exception] = []

    def run() -> None:
        try:
            outcome.append(check())
        except Exception as exc:  # one check's own bug must not hide the others' results
            outcome.append(exc)

    thread = threading.Thread(target=run, name="jobbot-check", daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome[0] if outcome else None


def _secrets(settings: Settings) -> list[str]:
    """What the checklist must never show. Each line is already written without them (URLs through
    without_credentials, the store's errors scrubbed); this is the last guard."""
    values = [settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret]
    found = [value.get_secret_value() for value in values if value is not None]
    try:
        password = urlsplit(settings.jobbot_database_url).password
    except ValueError:
        password = None
    return [secret for secret in [*found, password] if secret]


# 1. Configuration.


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


# 2. The bot token and its scopes.


def slack_client(settings: Settings, token: str) -> WebClient:
    """A Web API client for one check: SLACK_API_URL, a short timeout, and no retries."""
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=SLACK_SECONDS, retry_handlers=[])


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
        reason = f" ({_one_line(errors[0])})" if errors else ""
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


# 5. Interactive servers.


def check_server(settings: Settings, server: Server, what: str) -> Item:
    """GET /v1/job answers with a job list (its size given), and the quirks of older servers are named.
    Read with the bot's own job client, so what passes here is what the bot will read."""
    single = not settings.servers.shown
    setting = "INTERACTIVE_ADMIN_ENDPOINT" if single else f"{server.name}'s URL in JOBBOT_SERVERS"
    with job_client(settings, server) as client:
        shown = client.shown_endpoint
        try:
            listing = client.listing()
        except InteractiveUnavailable as exc:
            return failed(
                what, f"{shown} is unavailable: {exc.reason}", f"start the server, or correct {setting}"
            )
        except JobApiError as exc:
            return failed(
                what,
                f"{shown} did not answer GET /v1/job as an Interactive server does ({exc})",
                f"check that {setting} is the Interactive admin API (port 7777 by default)",
            )
        notes = _listing_notes(listing.skipped, listing.odd, listing.empty_as_object)
        legacy = _legacy_errors(client.get_job)
    if legacy:
        notes.append("it sends errors as bare text (a server before Aug 2024); jobbot reads them")
    count = len(listing.jobs)
    found = f"{shown} answers GET /v1/job with {count} job{'s' if count != 1 else ''}"
    return passed(what, "; ".join([found, *notes]))


def _listing_notes(skipped: list[str], odd: int, empty_as_object: bool) -> list[str]:
    notes = []
    if empty_as_object:
        notes.append("it answers an empty list with {} (a server before Oct 2024); jobbot reads it")
    if skipped:
        notes.append(f"{len(skipped)} entries are not jobs and are skipped ({skipped[0]})")
    if odd:
        notes.append(f"{odd} jobs have missing or mistyped fields; shown as best jobbot can")
    return notes


def _legacy_errors(get_job: Callable[[str], object]) -> bool:
    """Whether the server's error bodies are bare text rather than {code, message}: asked for the one job
    id no server reaches, it answers 404 with its error format."""
    try:
        get_job(str(MAX_JOB_ID))
    except JobNotFound as exc:
        return exc.code is None
    except JobApiError:
        pass  # another error tells nothing certain about the format
    return False


# 6. The store.


def check_store(settings: Settings) -> Item:
    """The store can be opened and its schema is one this jobbot can use; nothing is created or migrated."""
    what = "store"
    url = settings.jobbot_database_url
    try:
        state = read_schema(url)
    except ConfigError as exc:
        return failed(what, str(exc))
    except StoreError as exc:
        shown = without_credentials(url).split("?", 1)[0]
        postgres = not url.lower().startswith("sqlite")
        fix = (
            "check JOBBOT_DATABASE_URL (host, port, database, user) and that PostgreSQL accepts connections "
            "from this host"
            if postgres
            else "point JOBBOT_DATABASE_URL at jobbot's SQLite file, or at a path where it may create one"
        )
        return failed(what, f"{exc} ({shown})" if shown not in str(exc) else str(exc), fix)
    return _schema_item(what, state)


def _schema_item(what: str, state: SchemaState) -> Item:
    where = f"{state.engine} {state.where}"
    if state.version is None and state.engine == "SQLite":
        return _new_sqlite_file(what, state.where)
    if state.engine == "SQLite" and not os.access(state.where, os.W_OK):
        return failed(what, f"{where} is not writable by this user", "give this user write access to it")
    if not state.version:
        return passed(what, f"{where} holds no jobbot tables yet; jobbot sets them up at first start")
    if state.version > state.current:
        return failed(
            what,
            f"{where} has schema version {state.version}, newer than this jobbot knows ({state.current})",
            "run the jobbot release that wrote it, or a newer one",
        )
    if state.version < state.current:
        return passed(
            what,
            f"{where} has schema version {state.version}; jobbot upgrades it to {state.current} at start",
        )
    return passed(what, f"{where} is reachable and its schema is current (version {state.current})")


def _new_sqlite_file(what: str, path: str) -> Item:
    directory = Path(path).parent
    if not directory.is_dir():
        return failed(
            what,
            f"SQLite {path} cannot be created: there is no directory {directory}",
            "create the directory, or change JOBBOT_DATABASE_URL",
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        return failed(
            what,
            f"SQLite {path} cannot be created: {directory} is not writable by this user",
            "give this user write access to the directory, or change JOBBOT_DATABASE_URL",
        )
    return passed(what, f"SQLite {path} does not exist yet; jobbot creates it at first start")


# Shared wording.


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
        f"could not reach Slack at {without_credentials(url)} ({_one_line(exc)})",
        "check SLACK_API_URL, and that this host can reach it (proxy, firewall)",
    )


def _header(headers: Any, name: str) -> str | None:
    """A response header, whatever the case Slack (or a proxy) wrote its name in."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name:
            return ", ".join(value) if isinstance(value, list) else str(value)
    return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
