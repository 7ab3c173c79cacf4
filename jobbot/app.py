"""Wiring: settings in, a ready bot out (bolt app, shared job client, work pool). No serving here."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from jobbot.config import Settings
from jobbot.errors import ConfigError
from jobbot.handlers import Clock, JobsHandlers, utc_now
from jobbot.interactive import JobClient

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger(__name__)

# Job-API work after the ack; bounded so a hung server cannot exhaust threads, generous enough that
# a slow one does not queue answers behind each other for long.
WORK_THREADS = 16


@dataclass
class Bot:
    """Everything a transport needs to serve jobbot, and what to close when it stops."""

    app: App
    jobs: JobClient
    work: ThreadPoolExecutor
    settings: Settings
    closed: bool = field(default=False)

    def verify_slack(self) -> str:
        """Check the bot token with `auth.test`; returns the bot's name for the start-up log line."""
        try:
            result = self.app.client.auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown error") if exc.response is not None else "no response"
            raise ConfigError(
                f"Slack rejected SLACK_BOT_TOKEN ({error}); copy the Bot User OAuth Token again"
            ) from None
        except OSError as exc:
            raise ConfigError(f"could not reach Slack at {self.settings.slack_api_url}: {exc}") from None
        return f"{result.get('user', '?')} in {result.get('team', '?')}"

    def socket_mode_handler(self) -> SocketModeHandler:
        """The Socket Mode connection for this bot; it opens via `apps.connections.open` on SLACK_API_URL."""
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        if self.settings.slack_app_token is None:
            raise ConfigError("Socket Mode needs SLACK_APP_TOKEN (an app-level token starting with xapp-)")
        # The handler's Web API client is the app's, so SLACK_API_URL applies to it too.
        return SocketModeHandler(self.app, self.settings.slack_app_token.get_secret_value())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.work.shutdown(wait=False, cancel_futures=True)
        self.jobs.close()


def slack_web_client(settings: Settings) -> WebClient:
    """The Web API client: honours SLACK_API_URL and retries rate limits, 5xx and dropped connections."""
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def create_bot(
    settings: Settings,
    *,
    slack_client: WebClient | None = None,
    jobs: JobClient | None = None,
    clock: Clock = utc_now,
) -> Bot:
    client = slack_client or slack_web_client(settings)
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app = App(
        client=client,
        signing_secret=secret,
        # Socket Mode messages come over an authenticated WebSocket and carry no signature.
        request_verification_enabled=not settings.socket_mode,
        # auth.test runs once at start-up (Bot.verify_slack) with a clear error, not in the constructor.
        token_verification_enabled=False,
        # Unknown actions are answered 404 and logged by bolt; never raise into the transport.
        raise_error_for_unhandled_request=False,
    )
    jobs = jobs or JobClient(settings.interactive_admin_endpoint)
    work = ThreadPoolExecutor(max_workers=WORK_THREADS, thread_name_prefix="jobbot-work")
    JobsHandlers(jobs, cancel_users=settings.jobbot_cancel_users, work=work, clock=clock).register(app)
    return Bot(app=app, jobs=jobs, work=work, settings=settings)
