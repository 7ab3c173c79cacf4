"""Operations endpoints and logs: /healthz, /readyz, /metrics, JSON lines with ids and no secrets."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest

from jobbot import logs
from jobbot.emulator import Emulator
from tests.fakes import Scripted
from tests.http_bot import HttpBot


def test_readyz_reports_each_check_when_ready(http_bot: HttpBot) -> None:
    """Slack auth, the store and the notifier each report ok; the answer is 200 JSON."""
    response = httpx.get(http_bot.url + "/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True and set(body["checks"]) == {"slack", "store", "notifier"}


def test_readyz_is_503_with_a_reason_when_slack_rejects_the_token(http_bot: HttpBot) -> None:
    """A revoked token makes the replica unready, and the JSON says why."""
    http_bot.slack.script("auth.test", Scripted(200, {"ok": False, "error": "token_revoked"}))
    response = httpx.get(http_bot.url + "/readyz")
    assert response.status_code == 503
    assert "token_revoked" in response.json()["reason"]


def test_readyz_is_503_when_the_leader_has_not_polled_successfully(http_bot: HttpBot) -> None:
    """A leading notifier whose last good poll is older than three intervals is not ready."""
    [notifier] = http_bot.bot.notifiers.values()
    notifier.is_leader = True
    notifier.last_success = time.monotonic() - 10 * notifier.poll_interval
    response = httpx.get(http_bot.url + "/readyz")
    assert response.status_code == 503 and "last successful poll" in response.json()["reason"]
    notifier.is_leader = False
    assert httpx.get(http_bot.url + "/readyz").json()["checks"]["notifier"] == "ok (standby)"


def test_readyz_is_503_when_the_store_is_gone(http_bot: HttpBot) -> None:
    """A store that cannot be queried makes the replica unready."""
    http_bot.bot.store.close()
    response = httpx.get(http_bot.url + "/readyz")
    assert response.status_code == 503 and response.json()["checks"]["store"] == "unavailable"


def test_readyz_names_the_failing_check_but_not_where_the_store_lives(
    http_bot: HttpBot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The probe says "store: unavailable"; the store's error (host, port, database) is logged per change."""
    from jobbot.errors import StoreError

    where = "db-internal.corp.example:6543/jobbot_prod"

    def failing() -> None:
        raise StoreError(f"cannot connect to the PostgreSQL store at {where}: connection refused")

    store = http_bot.bot.store
    working = store.high_water
    monkeypatch.setattr(store, "high_water", failing)
    with caplog.at_level(logging.INFO, logger="jobbot.probes"):
        answers = [httpx.get(http_bot.url + "/readyz") for _ in range(3)]
        monkeypatch.setattr(store, "high_water", working)
        recovered = [httpx.get(http_bot.url + "/readyz") for _ in range(2)]
    for answer in answers:
        assert answer.status_code == 503 and answer.json()["reason"] == "store: unavailable"
        for detail in ("db-internal", "6543", "jobbot_prod", "StoreError"):
            assert detail not in answer.text
    assert all(answer.status_code == 200 for answer in recovered)
    logged = [record.getMessage() for record in caplog.records if record.name == "jobbot.probes"]
    assert len(logged) == 2, logged
    assert where in logged[0] and "store" in logged[1]


def test_metrics_count_commands_and_interactive_calls(http_bot: HttpBot, emulator: Emulator) -> None:
    """After `/jobs list`, /metrics shows the command's outcome and the Interactive call's latency."""

    def sample(text: str, name: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + " ") or (line.startswith(name + "{") and line.split(" ")[0] == name):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = httpx.get(http_bot.url + "/metrics").text
    http_bot.command("list")
    http_bot.slack.wait_for_responses(1)
    after = httpx.get(http_bot.url + "/metrics").text
    commands = 'jobbot_commands_total{outcome="ok",server="default",subcommand="list"}'
    assert sample(after, commands) == sample(before, commands) + 1
    listing = 'jobbot_interactive_request_seconds_count{operation="list",server="default"}'
    assert sample(after, listing) >= sample(before, listing) + 1
    for name in ("jobbot_ack_seconds_bucket", "jobbot_leader", "process_resident_memory_bytes"):
        assert name in after


def test_json_log_lines_carry_request_and_job_ids(capsys: pytest.CaptureFixture[str]) -> None:
    """JOBBOT_LOG_FORMAT=json: each record is one JSON object with the ids of its context, tokens scrubbed."""
    logs.configure(logging.INFO, secrets=["very-secret-signing"], json_lines=True)
    try:
        with logs.context(request_id="abc123", job_id="42"):
            logging.getLogger("jobbot.test").info("token xoxb-1-2-3 and very-secret-signing here")
        logging.getLogger("jobbot.test").info("no context")
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["request_id"] == "abc123" and lines[0]["job_id"] == "42"
    assert "xoxb-1" not in lines[0]["message"] and "very-secret" not in lines[0]["message"]
    assert "request_id" not in lines[1]
