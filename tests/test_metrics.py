"""Per-server metrics: the `server` label comes first, from the context or from the job client's server."""

from __future__ import annotations

import logging

import httpx
import pytest

from jobbot import logs, metrics, servers
from jobbot.errors import InteractiveServerError
from jobbot.jobs_api import JobClient

# The metrics about one server's work, each with `server` as its first label.
PER_SERVER: list[metrics.ServerCounter | metrics.ServerGauge | metrics.ServerHistogram] = [
    metrics.COMMANDS,
    metrics.INTERACTIVE_SECONDS,
    metrics.INTERACTIVE_ERRORS,
    metrics.CARDS,
    metrics.NOTICES,
    metrics.NOTICE_LATENCY,
    metrics.POLL_SECONDS,
    metrics.LEADER,
    metrics.ODD_JOBS_SKIPPED,
    metrics.INTERACTIVE_RESETS,
]


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_per_server_metric_has_server_as_its_first_label() -> None:
    """The ten per-server metrics are labelled `server` first; the process-wide ones are not."""
    for metric in PER_SERVER:
        assert metric.metric._labelnames[0] == "server", metric.metric._name
    for process_wide in (metrics.ACK_SECONDS, metrics.SLACK_ERRORS, metrics.REFUSED_REQUESTS):
        assert "server" not in process_wide._labelnames


def test_the_server_label_is_the_contexts_server_else_the_single_servers_name() -> None:
    """`server_label()` is the server set by `acting_on`, and "default" outside any server."""
    assert metrics.server_label() == servers.DEFAULT_SERVER
    with servers.acting_on("staging"):
        assert metrics.server_label() == "staging"
    with servers.acting_on(None):
        assert metrics.server_label() == servers.DEFAULT_SERVER


def test_callers_record_as_before_and_the_context_names_the_server() -> None:
    """`NOTICES.labels("posted").inc()` inside `acting_on("prod")` counts for prod only, not staging."""
    before = {
        name: sample("jobbot_notices_total", server=name, result="posted") for name in ("prod", "staging")
    }
    with servers.acting_on("prod"):
        metrics.NOTICES.labels("posted").inc()
    assert sample("jobbot_notices_total", server="prod", result="posted") == before["prod"] + 1
    assert sample("jobbot_notices_total", server="staging", result="posted") == before["staging"]


def test_unlabelled_calls_take_the_contexts_server() -> None:
    """inc, set, observe and time on a metric with only the server label record under the context's server."""
    resets = sample("jobbot_interactive_resets_total", server="eu")
    latency = sample("jobbot_notice_latency_seconds_count", server="eu")
    polls = sample("jobbot_poll_seconds_count", server="eu")
    with servers.acting_on("eu"):
        metrics.INTERACTIVE_RESETS.inc()
        metrics.LEADER.set(1)
        metrics.NOTICE_LATENCY.observe(2.0)
        with metrics.POLL_SECONDS.time():
            pass
    assert sample("jobbot_interactive_resets_total", server="eu") == resets + 1
    assert sample("jobbot_leader", server="eu") == 1
    assert sample("jobbot_notice_latency_seconds_count", server="eu") == latency + 1
    assert sample("jobbot_poll_seconds_count", server="eu") == polls + 1
    with servers.acting_on("us"):
        metrics.LEADER.set(0)
    assert sample("jobbot_leader", server="eu") == 1 and sample("jobbot_leader", server="us") == 0


def test_on_names_the_server_whatever_the_context() -> None:
    """`on("staging", ...)` labels staging even inside `acting_on("prod")`."""
    before = sample("jobbot_live_cards_total", server="staging", result="edited")
    with servers.acting_on("prod"):
        metrics.CARDS.on("staging", "edited").inc()
    assert sample("jobbot_live_cards_total", server="staging", result="edited") == before + 1


def _client(server: str, status: int = 200) -> JobClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=[] if status == 200 else {}))
    return JobClient("http://gs:7777", http=httpx.Client(transport=transport), retries=0, server=server)


def test_the_job_client_is_on_the_single_server_unless_told() -> None:
    """`JobClient(...)` without `server` is on "default"; with it, on the named server."""
    assert JobClient("http://gs:7777").server == servers.DEFAULT_SERVER
    assert JobClient("http://gs:7777", server="staging").server == "staging"


def test_the_job_client_labels_its_calls_with_its_server_not_the_context() -> None:
    """A staging client's list and its failure count for staging, even when the context says prod."""
    count = "jobbot_interactive_request_seconds_count"
    listed = sample(count, server="staging", operation="list")
    failed = sample(
        "jobbot_interactive_errors_total", server="staging", operation="list", error="InteractiveServerError"
    )
    prod = sample(count, server="prod", operation="list")
    with servers.acting_on("prod"):
        assert _client("staging").list_jobs() == []
        with pytest.raises(InteractiveServerError):
            _client("staging", status=500).list_jobs()
    assert (
        sample("jobbot_interactive_request_seconds_count", server="staging", operation="list") == listed + 2
    )
    errors = sample(
        "jobbot_interactive_errors_total", server="staging", operation="list", error="InteractiveServerError"
    )
    assert errors == failed + 1
    assert sample(count, server="prod", operation="list") == prod


def test_the_job_clients_log_lines_name_its_server(caplog: pytest.LogCaptureFixture) -> None:
    """What the client logs while it works carries its server; the context is as it was afterwards."""
    caplog.handler.addFilter(logs.ContextFields())
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=[{"id": "x"}]))
    client = JobClient("http://gs:7777", http=httpx.Client(transport=transport), server="staging")
    with caplog.at_level(logging.WARNING, logger="jobbot.jobs_api"):
        client.list_jobs()
    records = [record for record in caplog.records if record.name == "jobbot.jobs_api"]
    assert records and all(getattr(record, "server", None) == "staging" for record in records)
    assert servers.current() is None
