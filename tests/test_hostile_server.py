"""Whatever the Interactive server sends back, the person gets a clear answer and the log a line."""

from __future__ import annotations

import json
import logging
import socket

import pytest

from jobbot.emulator import GET_JOB, LIST_JOBS, Emulator
from jobbot.render.kit import Message
from tests.fakes import FakeSlack
from tests.http_bot import HttpBot, serve_http_bot
from tests.slack_limits import check_limits, check_safe

CASES = {
    "invalid JSON": (GET_JOB, 200, b'{"id": "1", "status": '),
    "error with unescaped quotes": (
        GET_JOB,
        500,
        b'{"code": 999, "message": "bad "quoted" value\nline two"}',
    ),
    "plain-text error": (GET_JOB, 400, b"job_id not given"),
    "HTML from a proxy": (GET_JOB, 502, b"<html><body>Bad gateway <!channel></body></html>"),
    "wrong types": (
        GET_JOB,
        200,
        b'{"id": 1, "status": 5, "start_time": "soon", "end_time": [], "detail": "x"}',
    ),
    "missing fields": (GET_JOB, 200, b'{"id": "1"}'),
    "not an object": (GET_JOB, 200, b'["1"]'),
}


def reply_text(reply: dict[str, object]) -> str:
    return str(reply["text"]) + json.dumps(reply["blocks"], ensure_ascii=False)


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_broken_answer_gives_a_clear_reply_and_a_log_line(
    case: str, http_bot: HttpBot, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Broken, hostile or half-empty answers to `/jobs status 1`: a valid message, no traceback, a warning."""
    route, status, body = CASES[case]
    emulator.add_job(status="RUNNING")
    emulator.faults.fail_next(3, status=status, body=body, route=route)  # enough for the client's retries
    with caplog.at_level(logging.INFO):
        http_bot.command("status 1")
        [reply] = http_bot.slack.wait_for_responses(1)
    text = reply_text(reply)
    assert "Traceback" not in text and "<!channel>" not in text
    check_limits(Message(str(reply["text"]), list(reply["blocks"])))
    check_safe(Message(str(reply["text"]), list(reply["blocks"])))
    assert "Job 1" in text or "Interactive server" in text
    warnings = [r for r in caplog.records if r.name.startswith("jobbot") and r.levelno >= logging.WARNING]
    assert warnings, "the problem is also in the log"


def test_malformed_entries_in_the_list_are_skipped_and_logged(
    http_bot: HttpBot, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A list with junk entries still shows the good jobs; the junk is logged, not shown."""
    body = json.dumps(
        [{"id": "3", "status": "SUCCESS"}, "junk", {"id": True}, {"status": "RUNNING"}, None]
    ).encode()
    emulator.faults.fail_next(1, status=200, body=body, route=LIST_JOBS)
    with caplog.at_level(logging.WARNING, logger="jobbot.jobs_api"):
        http_bot.command("list")
        [reply] = http_bot.slack.wait_for_responses(1)
    assert "#3" in reply_text(reply)
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 4
    assert any("missing or mistyped" in r.getMessage() for r in caplog.records)


def test_a_5_mb_log_shows_its_end_in_a_valid_card(http_bot: HttpBot, emulator: Emulator) -> None:
    """A job whose log is 5 MB of hostile text gives a card with the log's last lines, escaped."""
    log = ("<!channel> ```" + "x" * 90 + "\n") * 50_000 + "the real error is here\n"
    job_id = emulator.add_job(status="FAILED", log=log)
    http_bot.command(f"status {job_id}")
    [reply] = http_bot.slack.wait_for_responses(1)
    message = Message(str(reply["text"]), list(reply["blocks"]))
    check_limits(message)
    check_safe(message)
    assert "the real error is here" in reply_text(reply)


def test_a_list_of_20000_jobs_gives_one_valid_page(fake_slack: FakeSlack, emulator: Emulator) -> None:
    """A long history (20,000 jobs, shuffled by the server) gives one valid page, newest first."""
    emulator.seed_history(20_000, log_bytes=64)
    # The emulator takes a while to build 20,000 entries on a loaded machine: give it the usual timeout.
    bots = serve_http_bot(fake_slack, emulator.url, read_timeout=10.0)
    http_bot = next(bots)
    try:
        http_bot.command("list")
        [reply] = http_bot.slack.wait_for_responses(1, timeout=60)
    finally:
        bots.close()
    check_limits(Message(str(reply["text"]), list(reply["blocks"])))
    assert "#20000" in reply_text(reply) and "20,000" in reply_text(reply)


def test_credentials_in_the_endpoint_never_reach_a_reply_or_the_log(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    """With a user and password in INTERACTIVE_ADMIN_ENDPOINT, the reply names the server without them."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bots = serve_http_bot(fake_slack, f"http://admin:s3cret-pass@127.0.0.1:{port}")
    http_bot = next(bots)
    try:
        with caplog.at_level(logging.DEBUG):
            http_bot.command("status 1")
            [reply] = http_bot.slack.wait_for_responses(1)
    finally:
        bots.close()
    text = reply_text(reply)
    assert f"http://***@127.0.0.1:{port}" in text and "refused" in text
    assert "s3cret" not in text and "admin" not in text
    assert not [r for r in caplog.records if "s3cret" in r.getMessage()]


def test_a_trickling_server_gets_a_did_not_finish_reply(fake_slack: FakeSlack, emulator: Emulator) -> None:
    """A server answering a byte at a time is dropped at JOBBOT_INTERACTIVE_DEADLINE; the reply says so."""
    job_id = emulator.add_job(status="RUNNING")
    emulator.faults.trickle(0.1, route=GET_JOB)
    bots = serve_http_bot(fake_slack, emulator.url, JOBBOT_INTERACTIVE_DEADLINE="1")
    http_bot = next(bots)
    try:
        http_bot.command(f"status {job_id}")
        [reply] = http_bot.slack.wait_for_responses(1)
    finally:
        emulator.faults.release()
        bots.close()
    assert f"{emulator.url}: it did not finish answering in 1 s" in reply_text(reply)


def test_help_and_audit_are_answered_while_a_trickling_server_holds_requests(
    fake_slack: FakeSlack, emulator: Emulator
) -> None:
    """Sixteen `/jobs status` against a server that never finishes: the extra ones are refused as busy, and
    `/jobs help` and `/jobs audit` are still answered while the others wait on the server."""
    job_id = emulator.add_job(status="RUNNING")
    emulator.faults.trickle(0.5, route=GET_JOB)
    bots = serve_http_bot(fake_slack, emulator.url, JOBBOT_INTERACTIVE_DEADLINE="600")
    http_bot = next(bots)
    status_replies = [f"status-{n}" for n in range(16)]
    try:
        for name in status_replies:
            assert http_bot.command(f"status {job_id}", reply_to=name).status_code == 200
        assert emulator.wait_until(lambda: len(emulator.requests) >= 1)
        http_bot.command("help", reply_to="help")
        http_bot.command("audit", reply_to="audit")
        [help_reply] = http_bot.slack.wait_for_responses(1, name="help")
        [audit_reply] = http_bot.slack.wait_for_responses(1, name="audit")
        answered = [name for name in status_replies if http_bot.slack.responses(name)]
        busy = [name for name in answered if "busy" in reply_text(http_bot.slack.responses(name)[0])]
        still_waiting = len(status_replies) - len(answered)
    finally:
        emulator.faults.release()
        bots.close()
    assert "/jobs" in reply_text(help_reply) and reply_text(audit_reply)
    assert still_waiting > 0, "the server's requests were still held when help and audit were answered"
    assert busy == answered and busy, "every status answered so early was refused as busy"
