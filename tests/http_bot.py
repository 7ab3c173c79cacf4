"""jobbot served in this process over real HTTP by waitress, and requests to it signed as Slack signs them."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Generator
from dataclasses import dataclass

import httpx

from jobbot.app import Bot, create_bot, job_client
from jobbot.config import load_settings
from jobbot.probes import Probes
from jobbot.web import HttpServer, WebApp
from tests.fakes import FakeSlack, sign
from tests.slack_requests import ALLOWED_USER, click_body, command_body


@dataclass
class HttpBot:
    """jobbot served over real HTTP by waitress, as in production, with helpers that act as Slack."""

    url: str
    bot: Bot
    slack: FakeSlack
    secret: str

    def post(self, body: str, *, headers: dict[str, str] | None = None) -> httpx.Response:
        signed = sign(self.secret, body) if headers is None else headers
        return httpx.post(
            self.url + "/slack/events",
            content=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **signed},
            timeout=SLACK_ACK_DEADLINE,
        )

    def command(self, text: str, *, reply_to: str = "r1", user_id: str = ALLOWED_USER) -> httpx.Response:
        return self.post(command_body(text, response_url=self.slack.response_url(reply_to), user_id=user_id))

    def click(
        self, action_id: str, value: str, *, reply_to: str = "r1", user_id: str = ALLOWED_USER
    ) -> httpx.Response:
        return self.post(
            click_body(action_id, value, response_url=self.slack.response_url(reply_to), user_id=user_id)
        )


# Slack gives up on an acknowledgement after 3 seconds; a test request that takes longer has failed.
SLACK_ACK_DEADLINE = 3.0
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def serve_http_bot(
    slack: FakeSlack, endpoint: str, *, read_timeout: float = 1.0, **settings: str
) -> Generator[HttpBot, None, None]:
    """Start the bot in HTTP mode against `endpoint`, with short Interactive timeouts for quick tests.

    Each bot has a store of its own: the default `jobbot.db` in the working directory would carry
    cancel claims and ledgers from one test (and one run) into the next.
    """
    database = tempfile.TemporaryDirectory(prefix="jobbot-test-")
    environ = {
        "JOBBOT_DATABASE_URL": f"sqlite:///{database.name}/jobbot.db",
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "INTERACTIVE_ADMIN_ENDPOINT": endpoint,
        "JOBBOT_CANCEL_USERS": ALLOWED_USER,
        **settings,
    }
    loaded = load_settings(environ, env_file=None)
    bot = create_bot(loaded, jobs=job_client(loaded, timeout=httpx.Timeout(read_timeout), backoff=0.01))
    server = HttpServer(WebApp(bot.app, Probes(bot), signing_secret=SIGNING_SECRET), host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve, name="waitress", daemon=True)
    thread.start()
    try:
        yield HttpBot(f"http://127.0.0.1:{server.port}", bot, slack, SIGNING_SECRET)
    finally:
        server.stop()
        thread.join(timeout=5)
        bot.close()
        database.cleanup()
