"""Wiring: settings in, a ready bot out (bolt app, shared job client, store, notifier). No serving here."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.web import SlackResponse

from jobbot.authz import Access
from jobbot.clock import Clock, utc_now
from jobbot.config import Settings
from jobbot.errors import ConfigError, WorkspaceUnknown
from jobbot.handlers import JobsHandlers, ServerTools
from jobbot.jobs_api import JobClient
from jobbot.notifier import Notifier, SlackPoster
from jobbot.render.mrkdwn import code_span
from jobbot.servers import Server, Servers
from jobbot.socket_mode import SocketModeLink
from jobbot.store import Store, open_store
from jobbot.subscriptions import NoticeSettings

log = logging.getLogger(__name__)

# Job-API work after the ack; bounded so a hung server cannot exhaust threads, generous enough that
# a slow one does not queue answers behind each other for long.
WORK_THREADS = 16
# Requests in flight to the Interactive server at once: half the work threads, so that a server that
# never finishes answering leaves the other half for replies that need no server (help, audit, ...).
INTERACTIVE_IN_FLIGHT = WORK_THREADS // 2
# SIGTERM to exit within 10 s: the HTTP server's 2 s, then these.
NOTIFIER_STOP_SECONDS = 4.0
REPLY_STOP_SECONDS = 3.0
# One apps.connections.open; a Socket Mode attempt that takes longer has failed, and the next one waits.
CONNECTIONS_OPEN_SECONDS = 10


@dataclass
class Bot:
    """Everything a transport needs to serve jobbot, and what to close when it stops."""

    app: App
    work: ThreadPoolExecutor
    store: Store
    settings: Settings
    servers: Servers
    # Each server's shared job client, and its notifier (none when notices are off), by server name.
    clients: dict[str, JobClient]
    notifiers: dict[str, Notifier] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _notifier_threads: list[threading.Thread] = field(default_factory=list)
    closed: bool = False

    def socket_mode_link(self) -> SocketModeLink:
        """The Socket Mode connection for this bot. Its `apps.connections.open` goes to SLACK_API_URL
        through a client that never retries: the link paces its own attempts."""
        if self.settings.slack_app_token is None:
            raise ConfigError("Socket Mode needs SLACK_APP_TOKEN (an app-level token starting with xapp-)")
        token = self.settings.slack_app_token.get_secret_value()
        client = single_try_client(self.settings, timeout=CONNECTIONS_OPEN_SECONDS, token=token)
        return SocketModeLink(self.app, token, client)

    def start_notifier(self) -> None:
        """Run each server's poll loop on a background thread of its own (when notices are switched on):
        a server that is slow or down never delays another's notices."""
        if self._notifier_threads:
            return
        for name, notifier in self.notifiers.items():
            thread = threading.Thread(
                target=notifier.run,
                args=(self._stop,),
                name="jobbot-notifier" if not self.servers.shown else f"jobbot-notifier-{name}",
                daemon=True,
            )
            self._notifier_threads.append(thread)
            thread.start()
            if self.servers.shown:
                log.info("notifier for server %s polling every %g s", name, notifier.poll_interval)
            else:
                log.info("notifier polling every %g s", notifier.poll_interval)

    def close(self) -> None:
        """Stop within SIGTERM's budget: the notifier finishes its current step and releases the lease,
        replies already being built get a few seconds, queued ones are dropped (Slack shows them as
        failed; nothing was done for them)."""
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        # Between deliveries each notifier sees the stop; what it has not posted stays in the ledger. They
        # stop together, so the budget is shared, not spent once per server.
        deadline = time.monotonic() + NOTIFIER_STOP_SECONDS
        for thread in self._notifier_threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.work.shutdown(wait=False, cancel_futures=True)
        finishing = threading.Thread(target=self.work.shutdown, kwargs={"wait": True}, daemon=True)
        finishing.start()
        finishing.join(timeout=REPLY_STOP_SECONDS)
        for client in self.clients.values():
            client.close()
        self.store.close()


APP_TOKEN_FIX = (
    "create an app-level token with the connections:write scope (Slack app > Basic Information > "
    "App-Level Tokens) and set it, or leave SLACK_APP_TOKEN empty for HTTP mode"
)


def startup_client(settings: Settings) -> WebClient:
    """The Web API client for start-up's checks: one try, and no log lines of its own, so that a refusal or
    an outage reads as jobbot's one line rather than after slack_sdk's retries and errors."""
    quiet = logging.getLogger(f"{__name__}.startup_checks")
    quiet.disabled = True
    return single_try_client(settings, timeout=10, logger=quiet)


def single_try_client(
    settings: Settings, *, timeout: int, token: str | None = None, logger: logging.Logger | None = None
) -> WebClient:
    """A Web API client at SLACK_API_URL that never retries: its caller decides what a failure means.
    The bot token unless `token` is given."""
    return WebClient(
        token=token or settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[],
        logger=logger,
    )


def verify_slack(settings: Settings, client: WebClient | None = None) -> str:
    """Check the tokens before anything else starts: the bot token with `auth.test` and, in Socket Mode,
    the app-level token with `apps.connections.open` (the call that opening the connection makes).
    Returns the bot's name for the start-up line; raises ConfigError naming the token and the fix."""
    client = client or startup_client(settings)
    try:
        result = _ask_slack(settings, "SLACK_BOT_TOKEN", client.auth_test)
    except SlackApiError as exc:
        raise ConfigError(
            f"Slack rejected SLACK_BOT_TOKEN ({_slack_error(exc)}); copy the Bot User OAuth Token again"
        ) from None
    if settings.slack_app_token is not None:
        app_token = settings.slack_app_token.get_secret_value()
        try:
            _ask_slack(settings, "SLACK_APP_TOKEN", lambda: client.apps_connections_open(app_token=app_token))
        except SlackApiError as exc:
            raise ConfigError(
                f"Slack rejected SLACK_APP_TOKEN ({_slack_error(exc)}); {APP_TOKEN_FIX}"
            ) from None
    return f"{result.get('user', '?')} in {result.get('team', '?')}"


def _ask_slack(settings: Settings, token: str, call: Callable[[], SlackResponse]) -> SlackResponse:
    """One start-up call to Slack: an unreachable or failing Slack becomes ConfigError; a refusal (an error
    Slack answers with HTTP 200 or 4xx) is the caller's to word."""
    try:
        return call()
    except SlackApiError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status < 500:
            raise
        raise ConfigError(
            f"Slack answered HTTP {status} when jobbot checked {token} at SLACK_API_URL "
            f"{settings.slack_api_url}; Slack is having trouble (see https://slack-status.com): start again "
            "shortly"
        ) from None
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        said = getattr(reason, "strerror", None) or str(reason)
        raise ConfigError(
            f"could not reach Slack at SLACK_API_URL {settings.slack_api_url} to check {token} ({said}); "
            "check SLACK_API_URL and that this host can reach it (a proxy goes in HTTPS_PROXY)"
        ) from None


def _slack_error(exc: SlackApiError) -> str:
    return str(exc.response.get("error", "unknown error")) if exc.response is not None else "no response"


def slack_web_client(settings: Settings) -> WebClient:
    """The Web API client for replies: honours SLACK_API_URL; retries 429s, 5xx and lost connections."""
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


def notice_client(settings: Settings) -> WebClient:
    """The Web API client for notices: retries nothing. A retried post after an error could post twice,
    and a 429 retried here would sleep its Retry-After on the notifier's thread; the notifier schedules
    the retry for that destination instead, while it keeps polling and posting elsewhere."""
    return single_try_client(settings, timeout=10)


# The workspace lookup runs on the request thread, before the ack: one short try, no retries, and after a
# failure every request for this long is refused with the same reason before Slack is asked again.
WORKSPACE_LOOKUP_SECONDS = 2
WORKSPACE_RETRY_SECONDS = 30.0


def workspace_lookup_client(settings: Settings) -> WebClient:
    """The Web API client for `auth.test` when guarding a request: short, and never retried."""
    return single_try_client(settings, timeout=WORKSPACE_LOOKUP_SECONDS)


def workspace_team(
    client: WebClient,
    *,
    retry_after: float = WORKSPACE_RETRY_SECONDS,
    monotonic: Callable[[], float] = time.monotonic,
) -> Callable[[], str]:
    """The id of the workspace the bot is installed in (auth.test; a success is remembered).

    Raises WorkspaceUnknown, with Slack's reason, while it cannot be learned; a failure is remembered
    only for `retry_after` seconds, so a passing outage or a fixed token is noticed without a restart.
    """
    known: list[str] = []
    failed: list[tuple[float, str]] = []
    lock = threading.Lock()

    def team() -> str:
        with lock:
            if known:
                return known[0]
            if failed and monotonic() - failed[0][0] < retry_after:
                raise WorkspaceUnknown(failed[0][1])
            try:
                found = str(client.auth_test().get("team_id") or "")
                reason = "auth.test named no workspace"
            except SlackApiError as exc:
                found = ""
                error = exc.response.get("error", "error") if exc.response is not None else "no answer"
                # Shown in Slack as mrkdwn: whatever answered at SLACK_API_URL may not be Slack.
                reason = f"Slack's auth.test said {code_span(str(error), 40)}"
            except OSError as exc:
                found = ""
                reason = f"Slack could not be reached ({type(exc).__name__})"
            if found:
                known.append(found)
                failed.clear()
                return found
            log.warning("could not learn this workspace's id (%s); will ask again", reason)
            failed[:] = [(monotonic(), reason)]
            raise WorkspaceUnknown(reason)

    return team


def work_threads(servers: int) -> int:
    """Threads for replies: each server's in-flight limit, and as many again for replies that need no
    server. So servers that never answer hold only their own share, never another server's or help's
    (WORK_THREADS for one server)."""
    return INTERACTIVE_IN_FLIGHT * (servers + 1)


def job_client(settings: Settings, server: Server | None = None, **options: Any) -> JobClient:
    """The job client for one server (the first, if none is named); `options` (timeouts, backoff) go to
    `JobClient` as they are. Each server's client has its own connections and in-flight limit, so one
    server that never answers cannot take another's."""
    server = server or settings.servers.first
    return JobClient(
        server.url,
        deadline=settings.jobbot_interactive_deadline,
        max_in_flight=INTERACTIVE_IN_FLIGHT,
        server=server.name,
        **options,
    )


def create_bot(
    settings: Settings,
    *,
    slack_client: WebClient | None = None,
    jobs: JobClient | None = None,
    store: Store | None = None,
    poster: SlackPoster | None = None,
    clock: Clock = utc_now,
) -> Bot:
    client = slack_client or slack_web_client(settings)
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    bot_token = client.token

    def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
        # bolt's own single-team authorization calls auth.test on the request thread and answers a failure
        # with a generic "reinstall" text; who may act is decided by the guard (JobsHandlers.guard), which
        # fails closed with the reason, so bolt needs only the token here.
        return AuthorizeResult(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=bot_token
        )

    app = App(
        client=client,
        signing_secret=secret,
        authorize=authorize,
        # Socket Mode messages come over an authenticated WebSocket and carry no signature; in HTTP mode
        # jobbot.web checks the signature on the raw bytes before bolt parses anything (bolt's own check
        # would log the whole body of every request that fails it).
        request_verification_enabled=False,
        # auth.test runs once at start-up (verify_slack) with a clear error, not in the constructor.
        token_verification_enabled=False,
        # Unknown actions are answered 404 (and named in one line by jobbot.web); never raise into the
        # transport.
        raise_error_for_unhandled_request=False,
        # Every listener acks first and hands its work to `work`, so bolt may run it inline: this skips
        # bolt's 5-thread listener pool and its ack-polling loop, which held an HTTP thread per request.
        process_before_response=True,
    )
    servers = settings.servers
    clients = {server.name: job_client(settings, server) for server in servers}
    if jobs is not None:
        clients[servers.first.name].close()
        clients[servers.first.name] = jobs
    store = store or open_store(settings.jobbot_database_url)
    store.serve(servers)
    work = ThreadPoolExecutor(max_workers=work_threads(len(servers)), thread_name_prefix="jobbot-work")
    notices = NoticeSettings(
        enabled=settings.jobbot_notifier,
        default_channel=settings.jobbot_notify_channel,
        default_statuses=settings.jobbot_notify_statuses,
        default_style=settings.jobbot_notify_style,
    )
    access = Access(
        cancel_users=settings.jobbot_cancel_users,
        cancel_usergroups=settings.jobbot_cancel_usergroups,
        allowed_channels=settings.jobbot_allowed_channels,
        client=client,
        workspace_team=workspace_team(slack_client or workspace_lookup_client(settings)),
    )
    tools = [
        ServerTools(
            own.server.name,
            clients[own.server.name],
            access.with_cancellers(
                own.cancel_users,
                own.cancel_usergroups,
                server=servers.label(own.server.name),
                settings=own.cancel_settings,
            ),
        )
        for own in settings.server_settings
    ]
    JobsHandlers(
        tools,
        work=work,
        store=store,
        notices=notices,
        legacy=servers.legacy,
        clock=clock,
        stale_after_seconds=settings.jobbot_stale_running_hours * 3600,
    ).register(app)
    notifiers: dict[str, Notifier] = {}
    if settings.jobbot_notifier:
        # One poster for every server: Slack's pace is per channel, whichever server a notice is about.
        poster = poster or SlackPoster(notice_client(settings))
        for own in settings.server_settings:
            name = own.server.name
            notifiers[name] = Notifier(
                clients[name],
                store.for_server(name),
                poster,
                clock=clock,
                default_channel=own.notify_channel,
                default_statuses=settings.jobbot_notify_statuses,
                poll_interval=own.poll_interval,
                reconcile_interval=settings.jobbot_reconcile_interval,
                notify_style=settings.jobbot_notify_style,
                long_running_after=settings.jobbot_long_running_after,
                server=name,
                label=servers.label(name),
            )
    return Bot(
        app=app,
        work=work,
        store=store,
        settings=settings,
        servers=servers,
        clients=clients,
        notifiers=notifiers,
    )
