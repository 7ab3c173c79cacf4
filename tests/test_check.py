"""`jobbot check`: one checklist line per check, a fix for each failure, and nothing created or posted."""

from __future__ import annotations

import io
import socket
import sqlite3
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobbot import check
from jobbot.check import servers as server_checks
from jobbot.check import slack as slack_checks
from jobbot.check import store as store_checks
from jobbot.check.checklist import Checklist, Item, Outcome
from jobbot.config import Settings, load_settings
from jobbot.emulator import Emulator
from jobbot.emulator.quirks import Quirks
from jobbot.slack_ids import BOT_SCOPES
from jobbot.store import open_store
from jobbot.store.sqlite import SCHEMA_VERSION
from tests.fakes import FakeSlack, FakeSocketMode, Scripted
from tests.support import JOBBOT, child_env, free_port

ROOT = Path(__file__).resolve().parent.parent
BOT_TOKEN = "xoxb-1111-very-secret-bot-token"
APP_TOKEN = "xapp-2222-very-secret-app-token"
SIGNING_SECRET = "signing-secret-0123456789"
CHANNEL = "C0NOTICES"


def env_for(slack: FakeSlack, endpoint: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Settings of a deployment in HTTP mode (Socket Mode when `extra` has SLACK_APP_TOKEN)."""
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "INTERACTIVE_ADMIN_ENDPOINT": endpoint,
        "JOBBOT_DATABASE_URL": f"sqlite:///{tmp_path}/jobbot.db",
        **extra,
    }
    if "SLACK_APP_TOKEN" not in env:
        env["SLACK_SIGNING_SECRET"] = SIGNING_SECRET
    return env


def settings_for(slack: FakeSlack, endpoint: str, tmp_path: Path, **extra: str) -> Settings:
    return load_settings(env_for(slack, endpoint, tmp_path, **extra), env_file=None)


def run_in_process(env: dict[str, str], tmp_path: Path) -> tuple[int, list[str]]:
    """`run_checks` on an env file holding `env`; the exit code and the printed lines."""
    env_file = tmp_path / "check.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    out = io.StringIO()
    code = check.run_checks(env_file=str(env_file), out=out)
    return code, out.getvalue().splitlines()


def line(lines: list[str], what: str) -> str:
    [found] = [text for text in lines if text.split(" ", 1)[1].startswith(what + ":")]
    return found


# The scopes.


def manifest_scopes() -> tuple[str, ...]:
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    return tuple(manifest["oauth_config"]["scopes"]["bot"])


def test_required_and_optional_scopes_are_exactly_the_manifests() -> None:
    """The scopes check asks for what manifest.yaml lists: required ones plus the ones a setting needs."""
    assert sorted([*slack_checks.REQUIRED_SCOPES, *slack_checks.OPTIONAL_SCOPES]) == sorted(manifest_scopes())
    assert set(slack_checks.OPTIONAL_SCOPES) == {"usergroups:read"}


def test_the_check_needs_no_scope_the_running_bot_does_not_use(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """jobbot asks for no channel-reading scope of its own, and every check passes with exactly the
    manifest's scopes: the notify channel is read with the history scopes the bot already has."""
    assert not {"channels:read", "groups:read"} & set(BOT_SCOPES)
    fake_slack.scopes = manifest_scopes()
    fake_slack.channels = {CHANNEL: {"name": "jobs", "is_member": True}}
    code, lines = run_in_process(
        env_for(fake_slack, emulator.url, tmp_path, JOBBOT_NOTIFY_CHANNEL=CHANNEL), tmp_path
    )
    assert code == 0, lines
    assert line(lines, "Slack scopes").endswith(
        f"the {len(slack_checks.REQUIRED_SCOPES)} scopes jobbot needs are granted"
    )
    [read] = fake_slack.calls_to("conversations.history")
    assert read.body["channel"] == CHANNEL and str(read.body["limit"]) == "1"
    assert fake_slack.calls_to("conversations.info") == []


def test_missing_scope_is_named_with_the_fix(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """A required scope the token lacks fails the scopes line, naming it and where to add it."""
    fake_slack.scopes = tuple(s for s in slack_checks.REQUIRED_SCOPES if s != "files:write")
    settings = settings_for(fake_slack, emulator.url, tmp_path)
    identity = slack_checks.BotIdentity()
    assert slack_checks.check_bot_token(slack_checks.slack_client(settings, BOT_TOKEN), identity).ok
    item = slack_checks.check_scopes(settings, identity.scopes)
    assert item.outcome is Outcome.FAILED
    assert item.found == "missing files:write"
    assert "OAuth & Permissions > Bot Token Scopes, then reinstall the app" in item.fix


def test_usergroups_read_is_needed_only_with_cancel_usergroups(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """Without usergroups:read the scopes pass (with a note) until JOBBOT_CANCEL_USERGROUPS is set."""
    fake_slack.scopes = slack_checks.REQUIRED_SCOPES
    granted = ",".join(slack_checks.REQUIRED_SCOPES)
    plain = slack_checks.check_scopes(settings_for(fake_slack, emulator.url, tmp_path), granted)
    assert plain.outcome is Outcome.PASSED
    assert "optional and not granted: usergroups:read (for JOBBOT_CANCEL_USERGROUPS)" in plain.found
    groups = settings_for(fake_slack, emulator.url, tmp_path, JOBBOT_CANCEL_USERGROUPS="S0123ABCD")
    with_groups = slack_checks.check_scopes(groups, granted)
    assert with_groups.outcome is Outcome.FAILED
    assert with_groups.found == "missing usergroups:read (for JOBBOT_CANCEL_USERGROUPS)"


def test_no_scopes_header_fails(fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path) -> None:
    """An auth.test answer without x-oauth-scopes cannot vouch for the scopes: a failure, not a pass."""
    ok = {"ok": True, "user": "jobbot", "team": "Team"}
    fake_slack.script("auth.test", Scripted(200, ok))
    settings = settings_for(fake_slack, emulator.url, tmp_path)
    identity = slack_checks.BotIdentity()
    assert slack_checks.check_bot_token(slack_checks.slack_client(settings, BOT_TOKEN), identity).ok
    item = slack_checks.check_scopes(settings, identity.scopes)
    assert item.outcome is Outcome.FAILED and "x-oauth-scopes" in item.found


def test_rejected_bot_token_fails_once_and_skips_what_needs_it(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """invalid_auth fails the token line with the fix; scopes are not listed and the channel is skipped."""
    fake_slack.script("auth.test", Scripted(200, {"ok": False, "error": "invalid_auth"}))
    env = env_for(fake_slack, emulator.url, tmp_path, JOBBOT_NOTIFY_CHANNEL=CHANNEL)
    code, lines = run_in_process(env, tmp_path)
    assert code == 1
    token = line(lines, "Slack bot token")
    assert token.startswith("✗") and "Slack rejected it (invalid_auth)" in token
    assert "Fix: copy the Bot User OAuth Token" in token
    assert not [text for text in lines if "Slack scopes" in text]
    assert line(lines, f"notify channel {CHANNEL}").startswith("- ")
    assert fake_slack.calls_to("conversations.") == []


def test_slack_error_that_is_not_about_the_token_says_so(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """A 429 or an outage is not blamed on the token: the line gives Slack's answer, not a new token."""
    fake_slack.script("auth.test", Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}))
    settings = settings_for(fake_slack, emulator.url, tmp_path)
    item = slack_checks.check_bot_token(
        slack_checks.slack_client(settings, BOT_TOKEN), slack_checks.BotIdentity()
    )
    assert item.outcome is Outcome.FAILED and item.found == "auth.test failed (ratelimited)"
    assert item.fix == "check SLACK_API_URL, then try again"
    assert len(fake_slack.calls_to("auth.test")) == 1


def test_unreachable_slack_fails_within_bounds(emulator: Emulator, tmp_path: Path) -> None:
    """Slack not answering at SLACK_API_URL is one failed line naming the URL, not a traceback."""
    absent = f"http://127.0.0.1:{free_port()}/api/"
    settings = load_settings(
        {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": absent},
        env_file=None,
    )
    item = slack_checks.check_bot_token(
        slack_checks.slack_client(settings, BOT_TOKEN), slack_checks.BotIdentity()
    )
    assert item.outcome is Outcome.FAILED
    assert f"could not reach Slack at {absent}" in item.found and "SLACK_API_URL" in item.fix


# Socket Mode, or what HTTP mode needs.


def test_app_token_opens_socket_mode_and_hears_hello(
    fake_slack: FakeSlack, socket_mode: FakeSocketMode, emulator: Emulator, tmp_path: Path
) -> None:
    """apps.connections.open goes out with the app token, and the WebSocket it names says hello."""
    settings = settings_for(fake_slack, emulator.url, tmp_path, SLACK_APP_TOKEN=APP_TOKEN)
    item = slack_checks.check_socket_mode(settings)
    assert item.outcome is Outcome.PASSED, item
    [call] = fake_slack.calls_to("apps.connections.open")
    assert call.headers["authorization"] == f"Bearer {APP_TOKEN}"
    socket_mode.wait_connected()


def test_rejected_app_token_fails_with_the_fix(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """Slack refusing SLACK_APP_TOKEN says how to make one."""
    fake_slack.script("apps.connections.open", Scripted(200, {"ok": False, "error": "invalid_auth"}))
    settings = settings_for(fake_slack, emulator.url, tmp_path, SLACK_APP_TOKEN=APP_TOKEN)
    item = slack_checks.check_socket_mode(settings)
    assert item.outcome is Outcome.FAILED
    assert item.found == "Slack refused SLACK_APP_TOKEN (invalid_auth)"
    assert "connections:write" in item.fix


def test_socket_url_that_refuses_fails(fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path) -> None:
    """A WebSocket URL nothing listens on fails the Socket Mode line."""
    fake_slack.socket_url = f"ws://127.0.0.1:{free_port()}/link"
    settings = settings_for(fake_slack, emulator.url, tmp_path, SLACK_APP_TOKEN=APP_TOKEN)
    item = slack_checks.check_socket_mode(settings)
    assert item.outcome is Outcome.FAILED and "did not open" in item.found


def test_socket_without_hello_fails(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WebSocket that opens but never says hello fails once HELLO_SECONDS pass."""
    from websockets.sync.server import ServerConnection, serve

    closed = threading.Event()

    def silent(websocket: ServerConnection) -> None:
        closed.wait(10)

    server = serve(silent, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.socket.getsockname()[1]
    fake_slack.socket_url = f"ws://127.0.0.1:{port}/link"
    monkeypatch.setattr(slack_checks, "HELLO_SECONDS", 0.5)
    try:
        item = slack_checks.check_socket_mode(
            settings_for(fake_slack, emulator.url, tmp_path, SLACK_APP_TOKEN=APP_TOKEN)
        )
    finally:
        closed.set()
        server.shutdown()
    assert item.outcome is Outcome.FAILED and "sent no hello within 0.5 s" in item.found


def test_http_mode_names_the_request_url_path_without_network(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """In HTTP mode the line gives the request URL's path and the port; no Socket Mode call is made."""
    code, lines = run_in_process(env_for(fake_slack, emulator.url, tmp_path, PORT="8088"), tmp_path)
    assert code == 0, lines
    http = line(lines, "HTTP mode")
    assert "SLACK_SIGNING_SECRET is set" in http and "https://YOUR-HOST/slack/events" in http
    assert "PORT 8088" in http
    assert fake_slack.calls_to("apps.connections.open") == []


# Notify channels.


WITH_READ = (*BOT_SCOPES, "channels:read", "groups:read")
MEMBER_PASSES = "jobbot can read it and is a member; an archived channel is not detected without"


NOT_FOUND = "Slack knows no such channel, or it is private and jobbot is not in it"


@pytest.mark.parametrize(
    ("scopes", "channel", "expected"),
    [
        (BOT_SCOPES, {"is_member": True}, f"✓ {MEMBER_PASSES} channels:read"),
        # An archived channel's history still reads: only conversations.info can tell.
        (BOT_SCOPES, {"is_member": True, "is_archived": True}, f"✓ {MEMBER_PASSES} channels:read"),
        (
            BOT_SCOPES,
            {"is_member": False},
            "✗ jobbot is not a member. Fix: invite the bot there with /invite @jobbot",
        ),
        (
            BOT_SCOPES,
            {"is_member": False, "is_private": True},
            f"✗ {NOT_FOUND}. Fix: check the channel ID (the channel's details, at the bottom); "
            "in a private channel, invite the bot with /invite @jobbot",
        ),
        (BOT_SCOPES, None, f"✗ {NOT_FOUND}. Fix: check the channel ID"),
        (WITH_READ, {"name": "jobs", "is_member": True}, "✓ #jobs exists and jobbot is a member"),
        (
            WITH_READ,
            {"name": "jobs", "is_member": True, "is_archived": True},
            "✗ #jobs is archived. Fix: unarchive it, or name another channel for notices",
        ),
        # channels:read alone does not open a private channel's facts.
        (
            (*BOT_SCOPES, "channels:read"),
            {"name": "ops", "is_member": True, "is_private": True},
            f"✓ {MEMBER_PASSES} groups:read",
        ),
    ],
)
def test_notify_channel(
    fake_slack: FakeSlack,
    emulator: Emulator,
    tmp_path: Path,
    scopes: tuple[str, ...],
    channel: dict[str, Any] | None,
    expected: str,
) -> None:
    """The notify channel exists and has jobbot in it (and, with a *:read scope, is not archived);
    nothing is posted there."""
    fake_slack.scopes = scopes
    fake_slack.channels = {} if channel is None else {CHANNEL: channel}
    env = env_for(fake_slack, emulator.url, tmp_path, JOBBOT_NOTIFY_CHANNEL=CHANNEL)
    code, lines = run_in_process(env, tmp_path)
    mark, found = expected.split(" ", 1)
    assert line(lines, f"notify channel {CHANNEL}").startswith(f"{mark} notify channel {CHANNEL}: {found}")
    assert code == (0 if mark == "✓" else 1)
    assert fake_slack.calls_to("chat.postMessage") == []


def test_channel_history_without_its_scope_names_the_scope(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """Slack's missing_scope for conversations.history becomes the scope it names as needed."""
    fake_slack.scopes = tuple(s for s in BOT_SCOPES if s != "groups:history")
    fake_slack.channels = {CHANNEL: {"is_member": True, "is_private": True}}
    settings = settings_for(fake_slack, emulator.url, tmp_path)
    slack = slack_checks.slack_client(settings, BOT_TOKEN)
    item = slack_checks.check_channel(
        slack, CHANNEL, "notify channel", "jobbot", frozenset(fake_slack.scopes)
    )
    assert item.outcome is Outcome.FAILED
    assert item.found == "jobbot cannot read it without groups:history"
    assert "Bot Token Scopes" in item.fix


def test_other_channel_error_gives_slacks_code(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """Any other refusal of conversations.history fails with Slack's error code."""
    fake_slack.script("conversations.history", Scripted(200, {"ok": False, "error": "ekm_access_denied"}))
    settings = settings_for(fake_slack, emulator.url, tmp_path)
    slack = slack_checks.slack_client(settings, BOT_TOKEN)
    item = slack_checks.check_channel(slack, CHANNEL, "notify channel", "jobbot", frozenset(BOT_SCOPES))
    assert item.outcome is Outcome.FAILED
    assert item.found == "Slack answered ekm_access_denied"


def test_channel_info_refused_leaves_only_the_archive_unknown(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """History showed jobbot is in the channel; a conversations.info error leaves only the archive unknown."""
    fake_slack.scopes = WITH_READ
    fake_slack.script("conversations.info", Scripted(200, {"ok": False, "error": "ratelimited"}))
    settings = settings_for(fake_slack, emulator.url, tmp_path)
    slack = slack_checks.slack_client(settings, BOT_TOKEN)
    item = slack_checks.check_channel(slack, CHANNEL, "notify channel", "jobbot", frozenset(WITH_READ))
    assert item.outcome is Outcome.PASSED
    assert item.found.endswith("whether it is archived is unknown (conversations.info: ratelimited)")


def test_each_servers_channel_is_checked_once_naming_its_servers(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """Per-server notify channels are each checked once, naming the servers that post there."""
    fake_slack.channels = {
        CHANNEL: {"name": "jobs", "is_member": True},
        "C0PROD": {"name": "p", "is_member": True},
    }
    settings = settings_for(
        fake_slack,
        emulator.url,
        tmp_path,
        JOBBOT_SERVERS=f"prod={emulator.url},dev={emulator.url},qa={emulator.url}",
        JOBBOT_NOTIFY_CHANNEL=CHANNEL,
        JOBBOT_SERVER_PROD_NOTIFY_CHANNEL="C0PROD",
    )
    assert slack_checks.notify_channels(settings) == {"C0PROD": ["prod"], CHANNEL: ["dev", "qa"]}
    off = settings_for(
        fake_slack, emulator.url, tmp_path, JOBBOT_NOTIFY_CHANNEL=CHANNEL, JOBBOT_NOTIFIER="off"
    )
    assert slack_checks.notify_channels(off) == {}


# Interactive servers.


def test_current_server_gives_its_job_count(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """GET /v1/job is read with the bot's own client; the line gives the number of jobs and no quirk."""
    emulator.add_job(status="RUNNING")
    emulator.add_job(status="SUCCESS")
    settings = settings_for(fake_slack, emulator.url, tmp_path)
    item = server_checks.check_server(settings, settings.servers.first, "Interactive server")
    assert item == Item(
        Outcome.PASSED, "Interactive server", f"{emulator.url} answers GET /v1/job with 2 jobs"
    )


def test_old_server_quirks_are_named(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """A server from before Aug/Oct 2024 is named as such: bare-text errors and `{}` for no jobs."""
    old = Emulator(quirks=Quirks(legacy_errors=True, empty_list_as_object=True)).start()
    try:
        settings = settings_for(fake_slack, old.url, tmp_path)
        item = server_checks.check_server(settings, settings.servers.first, "Interactive server")
    finally:
        old.stop()
    assert item.outcome is Outcome.PASSED
    assert "with 0 jobs" in item.found
    assert "empty list with {} (a server before Oct 2024)" in item.found
    assert "errors as bare text (a server before Aug 2024)" in item.found


def test_absent_server_fails_naming_the_setting(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """Connection refused fails that server's line (named when several), with the setting to correct."""
    absent = f"http://127.0.0.1:{free_port()}"
    env = env_for(fake_slack, emulator.url, tmp_path, JOBBOT_SERVERS=f"prod={emulator.url},old={absent}")
    code, lines = run_in_process(env, tmp_path)
    assert code == 1
    assert line(lines, "Interactive server prod").startswith("✓")
    old = line(lines, "Interactive server old")
    assert old.startswith(f"✗ Interactive server old: {absent} is unavailable: connection refused")
    assert old.endswith("Fix: start the server, or correct old's URL in JOBBOT_SERVERS")


class _Garbage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>a wiki, not GraphScope</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_server_answering_garbage_fails(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """Something else at the endpoint (an HTML page) is a failure that says to check the URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        settings = settings_for(fake_slack, url, tmp_path)
        item = server_checks.check_server(settings, settings.servers.first, "Interactive server")
    finally:
        server.shutdown()
        server.server_close()
    assert item.outcome is Outcome.FAILED
    assert f"{url} did not answer GET /v1/job as an Interactive server does" in item.found
    assert "not JSON" in item.found
    assert "INTERACTIVE_ADMIN_ENDPOINT is the Interactive admin API" in item.fix


def test_server_that_never_answers_is_bounded(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """A server that accepts the connection and never answers fails after JOBBOT_INTERACTIVE_DEADLINE."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings = settings_for(fake_slack, url, tmp_path, JOBBOT_INTERACTIVE_DEADLINE="1")
        item = server_checks.check_server(settings, settings.servers.first, "Interactive server")
    assert item.outcome is Outcome.FAILED and "is unavailable" in item.found


# The store.


def test_missing_sqlite_file_passes_and_is_not_created(tmp_path: Path) -> None:
    """No store file yet is fine (jobbot creates it at first start), and the check does not create it."""
    path = tmp_path / "jobbot.db"
    item = store_checks.check_store(store_settings(f"sqlite:///{path}"))
    assert item == Item(
        Outcome.PASSED, "store", f"SQLite {path} does not exist yet; jobbot creates it at first start"
    )
    assert not path.exists()


def test_sqlite_in_a_missing_directory_fails(tmp_path: Path) -> None:
    """A store file whose directory does not exist could never be created: a failure with the fix."""
    item = store_checks.check_store(store_settings(f"sqlite:///{tmp_path}/nowhere/jobbot.db"))
    assert item.outcome is Outcome.FAILED and "there is no directory" in item.found


def test_current_sqlite_schema_passes(tmp_path: Path) -> None:
    """A store jobbot has already set up reads as current."""
    url = f"sqlite:///{tmp_path}/jobbot.db"
    open_store(url).close()
    item = store_checks.check_store(store_settings(url))
    assert item.found.endswith(f"is reachable and its schema is current (version {SCHEMA_VERSION})")


def test_older_sqlite_schema_passes_with_a_note_and_is_not_upgraded(tmp_path: Path) -> None:
    """An older schema is upgraded at start, not by the check: the file keeps its version."""
    path = tmp_path / "jobbot.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 3")
    item = store_checks.check_store(store_settings(f"sqlite:///{path}"))
    assert item.outcome is Outcome.PASSED
    assert (
        item.found == f"SQLite {path} has schema version 3; jobbot upgrades it to {SCHEMA_VERSION} at start"
    )
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3


def test_newer_sqlite_schema_fails(tmp_path: Path) -> None:
    """A schema newer than this jobbot knows is a failure: this release cannot use it."""
    path = tmp_path / "jobbot.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    item = store_checks.check_store(store_settings(f"sqlite:///{path}"))
    assert item.outcome is Outcome.FAILED
    assert f"newer than this jobbot knows ({SCHEMA_VERSION})" in item.found


def test_file_that_is_not_sqlite_fails(tmp_path: Path) -> None:
    """A file that is not an SQLite database fails the store line, not the command."""
    path = tmp_path / "jobbot.db"
    path.write_bytes(b"this is not a database, just some text long enough to fill a header " * 4)
    item = store_checks.check_store(store_settings(f"sqlite:///{path}"))
    assert item.outcome is Outcome.FAILED and "cannot read the SQLite store" in item.found


def test_unreachable_postgres_fails_without_its_password(tmp_path: Path) -> None:
    """PostgreSQL not answering is a failure with the fix, and the URL's password is never shown."""
    url = f"postgresql://jobbot:hunter2-password@127.0.0.1:{free_port()}/jobbot"
    out = io.StringIO()
    checklist = Checklist(out)
    checklist.secrets = ["hunter2-password"]
    checklist.add(store_checks.check_store(store_settings(url)))
    text = out.getvalue()
    assert text.startswith("✗ store: cannot connect to the PostgreSQL store at 127.0.0.1:")
    assert "Fix: check JOBBOT_DATABASE_URL" in text
    assert "hunter2" not in text


def test_new_postgres_database_passes_and_is_left_empty(postgres_url: str) -> None:
    """A database jobbot never used passes (set up at first start) and the check creates no table in it."""
    import psycopg

    item = store_checks.check_store(store_settings(postgres_url))
    assert item.outcome is Outcome.PASSED and "no jobbot tables yet" in item.found
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT to_regclass('schema_version')").fetchone() == (None,)


def test_migrated_postgres_database_is_current(postgres_url: str) -> None:
    """A PostgreSQL store jobbot has set up reads as current."""
    open_store(postgres_url).close()
    item = store_checks.check_store(store_settings(postgres_url))
    assert item.outcome is Outcome.PASSED and "its schema is current" in item.found


def store_settings(url: str) -> Settings:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "JOBBOT_DATABASE_URL": url}
    return load_settings(env, env_file=None)


# The checklist itself.


def test_a_hung_check_is_cut_off_and_the_rest_go_on() -> None:
    """A check that never returns becomes one failed line after its time; one that raises, another."""
    out = io.StringIO()
    checklist = Checklist(out)
    released = threading.Event()

    def hung() -> Item:
        released.wait(30)
        return Item(Outcome.PASSED, "hung", "answered after all")

    assert not checklist.run("hung", 0.2, hung)
    released.set()

    def broken() -> Item:
        raise RuntimeError("a bug")

    assert not checklist.run("broken", 5, broken)
    assert checklist.finish() == 1
    assert out.getvalue().splitlines() == [
        "✗ hung: no result within 0.2 s. Fix: check the network path to it",
        "✗ broken: the check stopped: RuntimeError: a bug",
        "2 of 2 checks failed.",
    ]


def test_plain_ascii_output_gets_plain_marks() -> None:
    """Where the output cannot show ✓ and ✗ (an ASCII terminal), the marks are words."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    checklist = Checklist(out)
    checklist.add(Item(Outcome.PASSED, "store", "fine"))
    out.flush()
    assert raw.getvalue() == b"[ok] store: fine\n"


def test_configuration_that_does_not_parse_stops_with_exit_code_2(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """A configuration error is the one failed line, and nothing is asked of Slack."""
    code, lines = run_in_process({"SLACK_BOT_TOKEN": "", "SLACK_API_URL": fake_slack.api_url}, tmp_path)
    assert code == 2
    [only] = lines
    assert only.startswith("✗ configuration: SLACK_BOT_TOKEN ")
    assert fake_slack.calls == []


# End to end, as an operator runs it.


def run_child(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "deploy.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    return subprocess.run(
        [*JOBBOT, "check", "--env-file", str(env_file)],
        env=child_env({}),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


@pytest.mark.slow
def test_ready_deployment_passes_every_check(
    fake_slack: FakeSlack, socket_mode: FakeSocketMode, tmp_path: Path
) -> None:
    """Socket Mode, two servers, a notify channel and a new store: every line passes and it exits 0,
    leaving no store file behind and printing no secret."""
    prod, old = Emulator().start(), Emulator(quirks=Quirks(empty_list_as_object=True)).start()
    prod.add_job(status="RUNNING")
    fake_slack.channels = {CHANNEL: {"name": "jobs", "is_member": True}}
    env = env_for(
        fake_slack,
        prod.url,
        tmp_path,
        SLACK_APP_TOKEN=APP_TOKEN,
        JOBBOT_SERVERS=f"prod={prod.url},old={old.url}",
        JOBBOT_NOTIFY_CHANNEL=CHANNEL,
        JOBBOT_DATABASE_URL="sqlite:///jobbot.db",
    )
    try:
        result = run_child(env, tmp_path)
    finally:
        prod.stop()
        old.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [text.split(":", 1)[0] for text in lines[:-1]] == [
        "✓ configuration",
        "✓ Slack bot token",
        "✓ Slack scopes",
        "✓ Socket Mode",
        f"✓ notify channel {CHANNEL} (prod, old)",
        "✓ Interactive server prod",
        "✓ Interactive server old",
        "✓ store",
    ]
    assert (
        lines[0]
        == f"✓ configuration: {tmp_path}/deploy.env parsed (Socket Mode, 2 servers: prod, old, notices on)"
    )
    assert "with 1 job" in line(lines, "Interactive server prod")
    assert lines[-1] == "All 8 checks passed."
    assert result.stderr == ""
    assert not (tmp_path / "jobbot.db").exists()
    assert BOT_TOKEN not in result.stdout and APP_TOKEN not in result.stdout
    assert fake_slack.calls_to("chat.postMessage") == []


@pytest.mark.slow
def test_broken_deployment_exits_1_with_a_fix_per_failure(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """A missing scope, a channel without jobbot and an absent server: each its own line and fix; exit 1."""
    fake_slack.scopes = tuple(s for s in slack_checks.REQUIRED_SCOPES if s != "chat:write")
    fake_slack.channels = {CHANNEL: {"name": "jobs", "is_member": False}}
    env = env_for(fake_slack, f"http://127.0.0.1:{free_port()}", tmp_path, JOBBOT_NOTIFY_CHANNEL=CHANNEL)
    result = run_child(env, tmp_path)
    assert result.returncode == 1
    failures = [text for text in result.stdout.splitlines() if text.startswith("✗")]
    assert [text.split(":", 1)[0] for text in failures] == [
        "✗ Slack scopes",
        f"✗ notify channel {CHANNEL}",
        "✗ Interactive server",
    ]
    assert all(". Fix: " in text for text in failures)
    assert result.stderr == ""
    assert result.stdout.splitlines()[-1] == "3 of 7 checks failed."


@pytest.mark.slow
def test_unparseable_configuration_exits_2(tmp_path: Path) -> None:
    """A configuration that does not parse prints its one line and exits 2."""
    result = run_child({"SLACK_BOT_TOKEN": "xoxb-x", "PORT": "not-a-port"}, tmp_path)
    assert result.returncode == 2
    [only] = result.stdout.splitlines()
    assert only.startswith("✗ configuration: ")
