"""Prometheus metrics: what operators watch. One registry for the process, served at /metrics.

The metrics about one server's work carry a `server` label, first. Callers record them as they would any
metric (`NOTICES.labels("posted").inc()`, `LEADER.set(1)`) and the label comes from the context: the
server set with `jobbot.servers.acting_on`, else the single server's internal name. Code that knows its
server without a context (the job client) names it: `INTERACTIVE_SECONDS.on(server, "list")`.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.context_managers import Timer
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics import MetricWrapperBase

from jobbot import servers

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

# Slack gives up at 3 s: the buckets are fine below that, coarse above.
_ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_NOTICE_BUCKETS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 900)

M = TypeVar("M", bound=MetricWrapperBase)


def server_label() -> str:
    """The `server` label of a metric recorded now: the server the work in hand is about. Work on no
    particular server (or before its server is known) counts under the single server's internal name,
    which is stable across restarts."""
    return servers.current() or servers.DEFAULT_SERVER


class _ByServer(Generic[M]):
    """A metric whose first label is `server`: `labels(*rest)` puts the context's server before `rest`."""

    def __init__(self, metric: M) -> None:
        self.metric = metric

    def labels(self, *values: str) -> M:
        return self.metric.labels(server_label(), *values)

    def on(self, server: str, *values: str) -> M:
        """The child for server `server`, whatever the context says."""
        return self.metric.labels(server, *values)


class ServerCounter(_ByServer[Counter]):
    def inc(self, amount: float = 1) -> None:
        self.labels().inc(amount)


class ServerGauge(_ByServer[Gauge]):
    def set(self, value: float) -> None:
        self.labels().set(value)


class ServerHistogram(_ByServer[Histogram]):
    def observe(self, amount: float) -> None:
        self.labels().observe(amount)

    def time(self) -> Timer:
        """Times a block for the server of the context when the block starts."""
        return self.labels().time()


COMMANDS = ServerCounter(
    Counter(
        "jobbot_commands_total",
        "`/jobs` commands and button clicks, by subcommand (or button) and outcome.",
        ["server", "subcommand", "outcome"],
        registry=REGISTRY,
    )
)
ACK_SECONDS = Histogram(
    "jobbot_ack_seconds",
    "Time from a listener starting to its ack() returning.",
    buckets=_ACK_BUCKETS,
    registry=REGISTRY,
)
INTERACTIVE_SECONDS = ServerHistogram(
    Histogram(
        "jobbot_interactive_request_seconds",
        "Interactive admin API calls, by operation (list, get, cancel, and probe: the notifier's look for "
        "the next new job id, once or more a poll), retries included.",
        ["server", "operation"],
        buckets=_REQUEST_BUCKETS,
        registry=REGISTRY,
    )
)
INTERACTIVE_ERRORS = ServerCounter(
    Counter(
        "jobbot_interactive_errors_total",
        "Interactive admin API calls that failed, by operation and kind of error. JobNotFound is a job "
        "asked for by id that the server does not have (a person's `/jobs 999`, a known job gone); a "
        "probe's usual answer, no job with the next id yet, is not an error and is not counted.",
        ["server", "operation", "error"],
        registry=REGISTRY,
    )
)
CARDS = ServerCounter(
    Counter(
        "jobbot_live_cards_total",
        "Live card work by what was done: posted, edited, failed (refused for good), and follow-ups posted "
        "by kind (ending, log, file, long_running).",
        ["server", "result"],
        registry=REGISTRY,
    )
)
NOTICES = ServerCounter(
    Counter(
        "jobbot_notices_total",
        "Notice deliveries by result: posted, found_in_history, refused (will retry), failed (given up).",
        ["server", "result"],
        registry=REGISTRY,
    )
)
NOTICE_LATENCY = ServerHistogram(
    Histogram(
        "jobbot_notice_latency_seconds",
        "From a job's end_time to its notice being posted.",
        ["server"],
        buckets=_NOTICE_BUCKETS,
        registry=REGISTRY,
    )
)
POLL_SECONDS = ServerHistogram(
    Histogram(
        "jobbot_poll_seconds",
        "Duration of one notifier poll (reading jobs and posting notices).",
        ["server"],
        buckets=_REQUEST_BUCKETS,
        registry=REGISTRY,
    )
)
LEADER = ServerGauge(
    Gauge(
        "jobbot_leader",
        "1 while this replica holds the notifier lease (polls and posts), 0 on standby.",
        ["server"],
        registry=REGISTRY,
    )
)
ODD_JOBS_SKIPPED = ServerCounter(
    Counter(
        "jobbot_odd_jobs_skipped_total",
        "Jobs the server listed with an id that is not a job id, skipped by the notifier; each counted once "
        "per process. Reason: not_a_number, too_large (past 2**63-1) or not_canonical (leading zeros).",
        ["server", "reason"],
        registry=REGISTRY,
    )
)
INTERACTIVE_RESETS = ServerCounter(
    Counter(
        "jobbot_interactive_resets_total",
        "Times the Interactive server's job ids started again at 1 (a redeploy that lost its metadata), "
        "each beginning a new generation of jobs.",
        ["server"],
        registry=REGISTRY,
    )
)
SLACK_ERRORS = Counter(
    "jobbot_slack_api_errors_total",
    "Slack Web API calls that failed, by method and Slack's error code.",
    ["method", "error"],
    registry=REGISTRY,
)
REFUSED_REQUESTS = Counter(
    "jobbot_http_refused_total",
    "Requests to /slack/events refused before bolt saw them, by HTTP status: 401 not signed by Slack "
    "(many at once: a wrong SLACK_SIGNING_SECRET, or someone probing), 413 too large, 400 unreadable.",
    ["status"],
    registry=REGISTRY,
)

# A replacement connection is ready in well under a second; a long outage shows in the top buckets.
_RECONNECT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
SOCKET_RECONNECTS = Counter(
    "jobbot_socket_mode_reconnects_total",
    "Socket Mode connections replaced, by reason: dropped (closed without Slack's notice), "
    "unanswered_ping (silent: no pong in time), disconnect (Slack's `disconnect` message, e.g. a refresh).",
    ["reason"],
    registry=REGISTRY,
)
SOCKET_RECONNECT_SECONDS = Histogram(
    "jobbot_socket_mode_reconnect_seconds",
    "From a Socket Mode connection found dead (or Slack asking to replace it) to its replacement's hello.",
    buckets=_RECONNECT_BUCKETS,
    registry=REGISTRY,
)
SOCKET_CONNECTED = Gauge(
    "jobbot_socket_mode_connected",
    "1 while a verified Socket Mode connection takes Slack's envelopes, else 0.",
    registry=REGISTRY,
)


def exposition() -> tuple[bytes, str]:
    """The body and content type of a /metrics answer."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
