"""Entry point: read settings, set up logging, build the bot, serve it over Socket Mode or HTTP."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from types import FrameType

from jobbot import __version__, logs
from jobbot.app import Bot, create_bot, verify_slack
from jobbot.config import Settings, load_settings
from jobbot.errors import ConfigError, JobbotError, SocketOpenFailed
from jobbot.store.open import sqlite_path
from jobbot.urls import without_credentials

log = logging.getLogger("jobbot")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jobbot",
        description="Serve the /jobs Slack command for GraphScope Interactive. Configured by environment "
        "variables or a .env file in the current directory (see .env.example).",
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=("run", "check", "playground"),
        default="run",
        help="run (the default) serves the bot; check verifies a deployment and prints a checklist; "
        "playground serves jobbot in a web page, with a Slack and a demo server of its own (no settings)",
    )
    parser.add_argument("--port", type=int, help="playground only: the page's port (default: 8080)")
    parser.add_argument("--host", help="playground only: the address to listen on (default: 127.0.0.1)")
    parser.add_argument("--env-file", help="dotenv file to read (default: .env, if there is one)")
    parser.add_argument("--version", action="version", version=f"jobbot {__version__}")
    args = parser.parse_args(argv)
    if args.command == "playground":
        return _playground(args)
    if args.port is not None or args.host is not None:
        parser.error("--port and --host are for `jobbot playground`; jobbot run listens on PORT")
    if args.env_file is not None and not Path(args.env_file).is_file():
        # The default .env may be absent; a file named on the command line was meant to be read.
        print(
            f"jobbot: configuration error: --env-file {args.env_file} is not a file; give the path of "
            "your dotenv file, or leave --env-file out to read .env (if there is one)",
            file=sys.stderr,
        )
        return 2
    env_file = args.env_file or ".env"
    if args.command == "check":
        from jobbot.check import run_checks

        return run_checks(env_file=env_file)

    try:
        settings = load_settings(env_file=env_file)
    except ConfigError as exc:
        print(f"jobbot: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(
        settings.log_level, secrets=settings.secrets, json_lines=settings.jobbot_log_format == "json"
    )
    for warning in settings.warnings:
        log.warning("%s", warning)
    try:
        serve = _start(settings)
    except JobbotError as exc:
        print(f"jobbot: {exc}", file=sys.stderr)
        return 2
    serve()
    log.info("jobbot stopped")
    return 0


def _playground(args: argparse.Namespace) -> int:
    """The playground needs no settings: it makes the bot's own (see jobbot.playground)."""
    from jobbot.playground import run_playground

    port = 8080 if args.port is None else args.port
    if not 0 <= port <= 65535:
        print(f"jobbot: --port {port} is not a port; from 0 (any free one) to 65535", file=sys.stderr)
        return 2
    logs.configure(logging.INFO)
    return run_playground(host=args.host or "127.0.0.1", port=port)


def _start(settings: Settings) -> Callable[[], None]:
    """Everything that can stop start-up, cheapest and most common first: Slack's answer to the tokens,
    the port, then the store, then the Socket Mode connection. Returns what serves until a signal.

    The store comes after Slack and the port so that a start that fails on them creates no database; and
    a SQLite file this start created is removed again if a later step fails."""
    identity = verify_slack(settings)
    port = settings.probe_port if settings.socket_mode else (settings.port, "PORT")
    listener = _listen(*port) if port is not None else None
    new_file = _new_sqlite_file(settings.jobbot_database_url)
    bot: Bot | None = None
    try:
        bot = create_bot(settings)
        if not settings.socket_mode and listener is not None:  # HTTP mode always listens, on PORT
            serve = _http(bot, listener)
        else:
            serve = _socket_mode(bot, listener)
    except BaseException:
        if bot is not None:
            bot.close()
        if listener is not None:
            listener.close()
        if new_file is not None:
            _remove_sqlite_file(new_file)
        raise
    log.info(
        "jobbot %s starting as %s; Interactive at %s; store at %s",
        __version__,
        identity,
        without_credentials(settings.interactive_admin_endpoint),
        _store_shown(settings.jobbot_database_url),
    )

    def run() -> None:
        bot.start_notifier()
        try:
            serve()
        finally:
            bot.close()

    return run


def _listen(port: int, setting: str) -> socket.socket:
    """A socket bound to `port` on every interface (waitress listens on it later); a port that is taken
    stops start-up with one line naming the variable that chose it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # As waitress does: a restart may bind while the last run's connections linger in TIME_WAIT.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("0.0.0.0", port))
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            fix = f"is already in use by another process; stop it, or set {setting} to a free port"
        elif exc.errno == errno.EACCES:
            fix = f"needs privileges jobbot does not have; set {setting} to 1024 or above"
        else:
            fix = f"cannot be listened on ({exc.strerror}); set {setting} to another port"
        raise ConfigError(f"{setting}={port} {fix}") from None
    return listener


def _new_sqlite_file(url: str) -> Path | None:
    """The SQLite file this start would create, or None (it exists already, or the store is not SQLite)."""
    if not url.lower().startswith("sqlite:///"):
        return None
    path = Path(sqlite_path(url))
    return None if path.exists() else path


def _remove_sqlite_file(path: Path) -> None:
    """Remove a store file created by a start that then failed, with SQLite's companion files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        # Not there, or never could be (its directory is missing): nothing to remove.
        with suppress(OSError):
            Path(f"{path}{suffix}").unlink()


def _store_shown(url: str) -> str:
    """The database URL for the start-up line: no user and password, and no query, where libpq also
    takes `password=`."""
    return without_credentials(url).split("?", 1)[0]


def _socket_mode(bot: Bot, listener: socket.socket | None) -> Callable[[], None]:
    """Connect to Slack over Socket Mode (raising ConfigError if the first connection does not open) and
    serve the probes on `listener`; returns what runs until a signal. Once connected, the link replaces
    a lost connection by itself."""
    from jobbot.probes import Probes
    from jobbot.web import HttpServer, WebApp

    link = bot.socket_mode_link()
    # slack_sdk logs a failed connection itself (several lines): at start-up, jobbot's one line says it
    # instead, and the process ends.
    sdk_log = logging.getLogger(logs.SOCKET_MODE_SDK_LOGGER)
    sdk_log.disabled = True
    try:
        link.connect()
    except SocketOpenFailed as exc:
        raise ConfigError(
            f"Slack accepted SLACK_APP_TOKEN but {exc}; check that this host may open wss:// connections "
            "to Slack on port 443 (a proxy goes in HTTPS_PROXY)"
        ) from None
    finally:
        sdk_log.disabled = False
    probes = Probes(bot, connection=link.state)
    health = HttpServer(WebApp(None, probes), listener=listener) if listener is not None else None
    stop = threading.Event()

    def serve() -> None:
        log.info("connected to Slack over Socket Mode")
        _on_signals(stop.set)
        if health is not None:
            threading.Thread(target=health.serve, name="jobbot-health", daemon=True).start()
            log.info("serving /healthz, /readyz and /metrics on port %d", health.port)
        stop.wait()
        # Stop taking new events first; work already acknowledged finishes in bot.close().
        link.close()
        if health is not None:
            health.stop()

    return serve


def _http(bot: Bot, listener: socket.socket) -> Callable[[], None]:
    """The HTTP server for Slack's requests and the probes, on `listener`; returns what serves it."""
    from jobbot.probes import Probes
    from jobbot.web import EVENTS_PATH, HttpServer, WebApp

    secret = bot.settings.slack_signing_secret
    web = WebApp(bot.app, Probes(bot), signing_secret=secret.get_secret_value() if secret else "")
    server = HttpServer(web, listener=listener)

    def serve() -> None:
        _on_signals(server.stop)
        log.info("serving HTTP on port %d; Slack request URL path: %s", server.port, EVENTS_PATH)
        server.serve()

    return serve


def _on_signals(stop: Callable[[], object]) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


if __name__ == "__main__":
    sys.exit(main())
