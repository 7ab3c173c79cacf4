"""`jobbot playground`: the real bot in a browser, with an in-memory Slack and (by default) a demo server.

The bot is jobbot's own: `create_bot` from settings made here, served by jobbot's HTTP endpoint, receiving
requests signed as Slack signs them and calling a Web API the playground answers.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import webbrowser
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from jobbot.app import Bot, create_bot
from jobbot.config import load_settings, playground_servers
from jobbot.errors import JobbotError
from jobbot.playground.server import PlaygroundServer
from jobbot.playground.workspace import ALICE, NOTICE_CHANNEL, Workspace
from jobbot.probes import Probes
from jobbot.web import EVENTS_PATH, HttpServer, WebApp

if TYPE_CHECKING:
    from jobbot.emulator.model import Emulator

log = logging.getLogger(__name__)

BOT_TOKEN = "xoxb-playground"
# The demo's time runs this much faster than the clock: jobs end within a minute or so, and a new one
# starts every 10 to 20 seconds, so a visitor sees notices arrive while a cancel still has time to act.
DEMO_SPEED = 2.0
POLL_INTERVAL = 2.0

__all__ = ["Playground", "run_playground"]


class Playground:
    """The playground's parts, started together and stopped together.

    `emulator`: an Interactive emulator already serving, for the bot to use (the caller keeps and stops
    it). Without one, the servers named by INTERACTIVE_ADMIN_ENDPOINT or JOBBOT_SERVERS in `environ`
    (the process environment by default) are used, or else an emulator started here in demo mode.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        emulator: Emulator | None = None,
        environ: Mapping[str, str] | None = None,
        demo_speed: float = DEMO_SPEED,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self._host, self._port = host, port
        self._given_emulator = emulator
        self._servers = playground_servers(environ) if emulator is None else {}
        self._demo_speed = demo_speed
        self._poll_interval = poll_interval
        self.workspace = Workspace()
        self._own_emulator: Emulator | None = None
        self._directory: Path | None = None
        self._server: PlaygroundServer | None = None
        self._bot: Bot | None = None
        self._bot_http: HttpServer | None = None
        self._bot_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the playground has not been started")
        return self._server.url

    @property
    def directory(self) -> Path | None:
        """The temporary directory holding the store (removed by `stop`)."""
        return self._directory

    def start(self) -> Playground:
        """Listen on (host, port) (OSError when it cannot), then start the bot behind it."""
        secret = secrets.token_hex(16)
        self._server = PlaygroundServer(
            self.workspace, host=self._host, port=self._port, bot_token=BOT_TOKEN, signing_secret=secret
        )
        try:
            self._server.start()
            self._directory = Path(tempfile.mkdtemp(prefix="jobbot-playground-"))
            settings = load_settings(self._environ(secret), env_file=None)
            self._bot = create_bot(settings)
            web = WebApp(self._bot.app, Probes(self._bot), signing_secret=secret)
            self._bot_http = HttpServer(web, host="127.0.0.1", port=0, threads=8)
            self._server.bot_url = f"http://127.0.0.1:{self._bot_http.port}{EVENTS_PATH}"
            self._bot_thread = threading.Thread(
                target=self._bot_http.serve, name="playground-bot", daemon=True
            )
            self._bot_thread.start()
            self._bot.start_notifier()
        except BaseException:
            self.stop()
            raise
        return self

    def _environ(self, secret: str) -> dict[str, str]:
        """The bot's settings: Slack is the playground, the store a throwaway file, alice the canceller."""
        assert self._server is not None and self._directory is not None
        servers = dict(self._servers)
        if self._given_emulator is not None:
            servers = {"INTERACTIVE_ADMIN_ENDPOINT": self._given_emulator.url}
        elif not servers:
            servers = {"INTERACTIVE_ADMIN_ENDPOINT": self._start_demo()}
        return {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": secret,
            "SLACK_API_URL": f"{self._server.url}/api/",
            "JOBBOT_DATABASE_URL": f"sqlite:///{self._directory / 'jobbot.db'}",
            "JOBBOT_NOTIFY_CHANNEL": NOTICE_CHANNEL,
            "JOBBOT_CANCEL_USERS": ALICE,
            "JOBBOT_POLL_INTERVAL": str(self._poll_interval),
            **servers,
        }

    def _start_demo(self) -> str:
        from jobbot.emulator.model import Emulator

        emulator = Emulator(seed=secrets.randbelow(1 << 16))
        self._own_emulator = emulator.start("127.0.0.1", 0)
        emulator.start_demo(speed=self._demo_speed, seed=secrets.randbelow(1 << 16))
        return emulator.url

    def stop(self) -> None:
        """Stop taking requests, stop the bot, the demo and the page's server, and remove the store."""
        if self._bot_http is not None:
            self._bot_http.stop()
            if self._bot_thread is not None:
                self._bot_thread.join(timeout=5)
            self._bot_http = self._bot_thread = None
        if self._bot is not None:
            self._bot.close()
            self._bot = None
        if self._own_emulator is not None:
            self._own_emulator.stop()
            self._own_emulator = None
        if self._server is not None:
            self._server.stop()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> Playground:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_playground(*, host: str = "127.0.0.1", port: int = 8080, open_browser: bool = False) -> int:
    """Serve the playground until Ctrl-C or SIGTERM; the exit status (2: it could not start)."""
    playground = Playground(host=host, port=port)
    try:
        playground.start()
    except OSError as exc:
        print(
            f"jobbot: cannot listen on {host}:{port} ({exc.strerror or exc}); choose another with --port",
            file=sys.stderr,
        )
        return 2
    except JobbotError as exc:
        print(f"jobbot: {exc}", file=sys.stderr)
        return 2
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"jobbot playground at {playground.url}/ (Ctrl-C stops it)", flush=True)
    if open_browser:
        webbrowser.open(playground.url + "/")
    try:
        # A timeout keeps the wait responsive to signals on every platform.
        while not stopping.wait(0.5):
            pass
    finally:
        playground.stop()
    log.info("jobbot playground stopped")
    return 0
