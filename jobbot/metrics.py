"""Prometheus metrics: what operators watch. One registry for the process, served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

# Slack gives up at 3 s: the buckets are fine below that, coarse above.
_ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_NOTICE_BUCKETS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 900)

COMMANDS = Counter(
    "jobbot_commands_total",
    "`/jobs` commands and button clicks, by subcommand (or button) and outcome.",
    ["subcommand", "outcome"],
    registry=REGISTRY,
)
ACK_SECONDS = Histogram(
    "jobbot_ack_seconds",
    "Time from a listener starting to its ack() returning.",
    buckets=_ACK_BUCKETS,
    registry=REGISTRY,
)
INTERACTIVE_SECONDS = Histogram(
    "jobbot_interactive_request_seconds",
    "Interactive admin API calls, by operation (list, get, cancel), retries included.",
    ["operation"],
    buckets=_REQUEST_BUCKETS,
    registry=REGISTRY,
)
INTERACTIVE_ERRORS = Counter(
    "jobbot_interactive_errors_total",
    "Interactive admin API calls that failed, by operation and kind of error.",
    ["operation", "error"],
    registry=REGISTRY,
)
CARDS = Counter(
    "jobbot_live_cards_total",
    "Live card work by what was done: posted, edited, failed (refused for good), and follow-ups posted "
    "by kind (ending, log, file, long_running).",
    ["result"],
    registry=REGISTRY,
)
NOTICES = Counter(
    "jobbot_notices_total",
    "Notice deliveries by result: posted, found_in_history, refused (will retry), failed (given up).",
    ["result"],
    registry=REGISTRY,
)
NOTICE_LATENCY = Histogram(
    "jobbot_notice_latency_seconds",
    "From a job's end_time to its notice being posted.",
    buckets=_NOTICE_BUCKETS,
    registry=REGISTRY,
)
POLL_SECONDS = Histogram(
    "jobbot_poll_seconds",
    "Duration of one notifier poll (reading jobs and posting notices).",
    buckets=_REQUEST_BUCKETS,
    registry=REGISTRY,
)
LEADER = Gauge(
    "jobbot_leader",
    "1 while this replica holds the notifier lease (polls and posts), 0 on standby.",
    registry=REGISTRY,
)
ODD_JOBS_SKIPPED = Counter(
    "jobbot_odd_jobs_skipped_total",
    "Jobs the server listed with an id that is not a job id, skipped by the notifier; each counted once "
    "per process. Reason: not_a_number, too_large (past 2**63-1) or not_canonical (leading zeros).",
    ["reason"],
    registry=REGISTRY,
)
INTERACTIVE_RESETS = Counter(
    "jobbot_interactive_resets_total",
    "Times the Interactive server's job ids started again at 1 (a redeploy that lost its metadata), "
    "each beginning a new generation of jobs.",
    registry=REGISTRY,
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


def exposition() -> tuple[bytes, str]:
    """The body and content type of a /metrics answer."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
