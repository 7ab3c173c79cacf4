"""Whatever the Interactive server sends back, the person gets a clear answer and the log a line."""

from __future__ import annotations

import json
import logging

import pytest

from jobbot.blocks import Message
from jobbot.emulator import GET_JOB, LIST_JOBS, Emulator
from tests.conftest import HttpBot
from tests.test_blocks import check_limits, check_safe

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
    check_limits(Message(str(reply["text"]), list(reply["blocks"])))  # type: ignore[arg-type]
    check_safe(Message(str(reply["text"]), list(reply["blocks"])))  # type: ignore[arg-type]
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
    with caplog.at_level(logging.WARNING, logger="jobbot.interactive"):
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


def test_a_list_of_20000_jobs_gives_one_valid_page(http_bot: HttpBot, emulator: Emulator) -> None:
    """A long history (20,000 jobs, shuffled by the server) gives one valid page, newest first."""
    emulator.seed_history(20_000, log_bytes=64)
    http_bot.command("list")
    [reply] = http_bot.slack.wait_for_responses(1, timeout=60)
    check_limits(Message(str(reply["text"]), list(reply["blocks"])))
    assert "#20000" in reply_text(reply) and "20,000" in reply_text(reply)
