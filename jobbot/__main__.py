"""Entry point: read settings, set up logging, build the bot, serve it over Socket Mode or HTTP."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from jobbot import __version__, logs
from jobbot.app import Bot, create_bot
from jobbot.config import Settings, load_settings
from jobbot.errors import ConfigError, JobbotError
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
        choices=("run", "check"),
        default="run",
        help="run (the default) serves the bot; check verifies a deployment and prints a checklist",
    )
    parser.add_argument("--env-file", default=".env", help="dotenv file to read (default: .env)")
    parser.add_argument("--version", action="version", version=f"jobbot {__version__}")
    args = parser.parse_args(argv)
    if args.command == "check":
        from jobbot.check import run_checks

        return run_checks(env_file=args.env_file)

    try:
        settings = load_settings(env_file=args.env_file)
    except ConfigError as exc:
        print(f"jobbot: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(
        settings.log_level, secrets=_secrets(settings), json_lines=settings.jobbot_log_format == "json"
    )

    try:
        bot = create_bot(settings)
    except JobbotError as exc:
        print(f"jobbot: {exc}", file=sys.stderr)
        return 2
    try:
        identity = bot.verify_slack()
    except ConfigError as exc:
        print(f"jobbot: {exc}", file=sys.stderr)
        bot.close()
        return 2
    log.info(
        "jobbot %s starting as %s; Interactive at %s; store at %s",
        __version__,
        identity,
        without_credentials(settings.interactive_admin_endpoint),
        _store_shown(settings.jobbot_database_url),
    )
    bot.start_notifier()
    try:
        if settings.socket_mode:
            _serve_socket_mode(bot)
        else:
            _serve_http(bot)
    finally:
        bot.close()
    log.info("jobbot stopped")
    return 0


def _store_shown(url: str) -> str:
    """The database URL for the start-up line: no user and password, and no query, where libpq also
    takes `password=`."""
    return without_credentials(url).split("?", 1)[0]


def _secrets(settings: Settings) -> list[str]:
    values = [settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret]
    return [v.get_secret_value() for v in values if v is not None]


def _serve_socket_mode(bot: Bot) -> None:
    from jobbot.probes import Probes
    from jobbot.web import HttpServer, WebApp

    handler = bot.socket_mode_handler()
    stop = threading.Event()
    _on_signals(stop.set)
    health = None
    if bot.settings.jobbot_health_port:
        health = HttpServer(WebApp(None, Probes(bot)), host="0.0.0.0", port=bot.settings.jobbot_health_port)
        threading.Thread(target=health.serve, name="jobbot-health", daemon=True).start()
        log.info("serving /healthz, /readyz and /metrics on port %d", health.port)
    handler.connect()
    log.info("connected to Slack over Socket Mode")
    stop.wait()
    # Stop taking new events first; work already acknowledged finishes in bot.close().
    handler.close()
    if health is not None:
        health.stop()


def _serve_http(bot: Bot) -> None:
    from jobbot.probes import Probes
    from jobbot.web import EVENTS_PATH, HttpServer, WebApp

    secret = bot.settings.slack_signing_secret
    web = WebApp(bot.app, Probes(bot), signing_secret=secret.get_secret_value() if secret else "")
    server = HttpServer(web, host="0.0.0.0", port=bot.settings.port)
    _on_signals(server.stop)
    log.info("serving HTTP on port %d; Slack request URL path: %s", server.port, EVENTS_PATH)
    server.serve()


def _on_signals(stop: Callable[[], object]) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


if __name__ == "__main__":
    sys.exit(main())
