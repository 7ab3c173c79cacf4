"""The one job-id rule: ASCII digits worth at most 2**63-1, canonical, the same in commands, replies,
the store and the notifier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobbot import commands
from jobbot.emulator import Emulator
from jobbot.errors import InvalidJobId
from jobbot.models import validate_job_id
from tests.fakes import FakeSlack
from tests.http_bot import HttpBot, serve_http_bot
from tests.slack_requests import ALLOWED_USER

MAX_JOB_ID = 2**63 - 1  # the largest value SQLite's INTEGER and PostgreSQL's BIGINT hold
TOO_LARGE = str(MAX_JOB_ID + 1)  # 9223372036854775808: one past what BIGINT holds
TWENTY_DIGITS = "9" * 20


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", "7"),
        ("007", "7"),
        ("0", "0"),
        ("000", "0"),
        (str(MAX_JOB_ID), str(MAX_JOB_ID)),
        ("0" * 30 + "5", "5"),
        (TOO_LARGE, None),
        (TWENTY_DIGITS, None),
        ("job-3", None),
        ("", None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("١٢", None),  # Arabic-Indic digits pass str.isdecimal()
        ("²", None),  # a superscript passes str.isdigit()
        ("1" * 5000, None),  # longer than int() converts
    ],
)
def test_an_id_is_ascii_digits_up_to_bigint_and_canonical(raw: str, expected: str | None) -> None:
    """parse_job_id keeps ASCII digits worth at most 2**63-1, without leading zeros, and nothing else."""
    from jobbot.models import parse_job_id

    assert parse_job_id(raw) == expected
    if expected is None:
        with pytest.raises(InvalidJobId):
            validate_job_id(raw)
    else:
        assert validate_job_id(raw) == expected


@pytest.mark.parametrize(
    ("listed", "fault"),
    [
        ("7", None),
        ("0", None),
        (str(MAX_JOB_ID), None),
        ("007", "not_canonical"),
        ("00", "not_canonical"),
        (TOO_LARGE, "too_large"),
        (TWENTY_DIGITS, "too_large"),
        ("job-3", "not_a_number"),
        ("", "not_a_number"),
        (" 7", "not_a_number"),
        ("\u0661\u0662", "not_a_number"),  # Arabic-Indic digits are not digits to a job id
    ],
)
def test_a_listed_id_that_is_not_a_job_id_says_why(listed: str, fault: str | None) -> None:
    """job_id_fault names why a server's id cannot be followed: written another way, too large, or not
    a number; None for a job id."""
    from jobbot.models import job_id_fault

    assert job_id_fault(listed) == fault


# Every character outside ASCII that str.isdigit() accepts: other scripts' digits, superscripts, circled
# digits. The /jobs parser takes a word starting with any of them for an attempted job id (so the answer
# says why it is not one); the one id rule must refuse them all.
NON_ASCII_DIGITS = [chr(code) for code in range(0x80, 0x110000) if chr(code).isdigit()]


def test_no_digit_outside_ascii_makes_a_job_id() -> None:
    """parse_job_id refuses every non-ASCII digit, alone or among ASCII digits, and `/jobs <digit>`
    answers that it is not a job id."""
    from jobbot.models import parse_job_id

    assert len(NON_ASCII_DIGITS) > 600
    for digit in NON_ASCII_DIGITS:
        for raw in (digit, f"1{digit}", f"{digit}1", digit * 3):
            assert parse_job_id(raw) is None, ascii(raw)
        answer = commands.parse(digit)
        assert isinstance(answer, commands.Help) and answer.problem is not None, ascii(digit)
        assert "is not a job id" in answer.problem


def test_007_and_7_are_the_same_job_in_commands() -> None:
    """A typed id is canonicalised, so `/jobs status 007` and `/jobs status 7` ask for the same job."""
    assert commands.parse("status 007") == commands.parse("status 7") == commands.ShowJob("7")
    assert commands.parse("watch #0042") == commands.Watch("42")


@pytest.mark.parametrize("subcommand", ["status", "cancel", "watch", "unwatch", "audit"])
def test_a_twenty_digit_id_is_not_a_job_id(subcommand: str) -> None:
    """An id past 2**63-1 gets the usage answer, for every subcommand that takes one."""
    parsed = commands.parse(f"{subcommand} {TWENTY_DIGITS}")
    assert isinstance(parsed, commands.Help) and parsed.problem
    assert "is not a job id" in parsed.problem


@pytest.fixture
def bot_on_a_server_past_bigint(fake_slack: FakeSlack) -> Iterator[tuple[HttpBot, Emulator]]:
    """jobbot over HTTP against a server whose counter has passed 20 digits, with a running job there."""
    with Emulator(first_id=int(TWENTY_DIGITS)).start() as emulator:
        emulator.add_job(status="RUNNING")
        yield from ((bot, emulator) for bot in serve_http_bot(fake_slack, emulator.url))


@pytest.mark.parametrize(
    ("text", "user"),
    [
        (f"watch {TWENTY_DIGITS}", ALLOWED_USER),
        (f"audit {TWENTY_DIGITS}", ALLOWED_USER),
        (f"cancel {TWENTY_DIGITS}", ALLOWED_USER),
        (f"cancel {TWENTY_DIGITS}", "U0SOMEONE"),  # a refused cancel writes an audit row
        (f"status {TWENTY_DIGITS}", ALLOWED_USER),
    ],
)
def test_twenty_digit_ids_get_the_usage_answer_not_an_internal_error(
    bot_on_a_server_past_bigint: tuple[HttpBot, Emulator], text: str, user: str
) -> None:
    """watch, audit and cancel (allowed or refused) of a 20-digit id answer "not a job id", never
    "Something went wrong", and nothing is asked of the server."""
    bot, emulator = bot_on_a_server_past_bigint
    before = len(emulator.requests)
    assert bot.command(text, user_id=user).status_code == 200
    [reply] = bot.slack.wait_for_responses(1)
    shown = str(reply)
    assert "is not a job id" in shown, shown
    assert "went wrong" not in shown
    assert emulator.requests[before:] == []


def test_the_list_offers_details_only_for_ids_the_server_can_be_asked_about() -> None:
    """In `/jobs list`, odd server ids ("007", letters, 20 digits) are shown but get no Details button
    and sort last; job ids sort by value, the largest first."""
    from datetime import UTC, datetime

    from jobbot.models import Job
    from jobbot.render.jobs import job_list

    listed = ["5", "007", "job-3", TWENTY_DIGITS, str(MAX_JOB_ID), "10"]
    jobs = [
        Job.from_server({"id": job_id, "status": "SUCCESS", "start_time": 1, "end_time": 2})
        for job_id in listed
    ]
    message = job_list(jobs, now=datetime(2026, 1, 1, tzinfo=UTC), may_cancel=True)
    elements = [e for block in message.blocks for e in block.get("elements", [])]
    details = [e["value"] for e in elements if str(e.get("action_id", "")).startswith("jobbot.job.details:")]
    assert details == [str(MAX_JOB_ID), "10", "5"]
    rows = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert [row.split("*")[1] for row in rows][:3] == [f"#{MAX_JOB_ID}", "#10", "#5"], "odd ids last"
