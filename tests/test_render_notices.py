"""Completion notices, digests and failure-log replies: content, order, and limits under hostile data."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobbot import slack_ids
from jobbot.models import NOTICE_STATUSES, FinishedJob
from jobbot.render.kit import MAX_BLOCKS_JSON_CHARS
from jobbot.render.notices import DIGEST_MAX_JOBS, completion_digest, completion_notice, failure_log_reply
from tests.render_fixtures import (
    FAILED_LOG,
    HOSTILE_TEXTS,
    LONGEST_JOB_ID,
    START_MS,
    all_buttons,
    all_text,
    make_finished,
    section_texts,
    server_text,
)
from tests.slack_limits import check_limits, check_safe

# --- completion notices ---------------------------------------------------------------------


def test_notice_is_one_line_with_a_details_button() -> None:
    """A notice is one section: status, job, graph, start, duration, and a Details button for the job."""
    message = completion_notice(make_finished(7, "SUCCESS"))
    [section] = message.blocks
    assert section["text"]["text"] == (
        ":white_check_mark: SUCCESS  ·  Job *#7*  ·  graph `2`  ·  started "
        "<!date^1718000000^{date_short_pretty} {time}|2024-06-10 06:13 UTC>  ·  took 1m 05s"
    )
    assert section["accessory"]["action_id"] == slack_ids.action_id(slack_ids.JOB_DETAILS, "7")
    assert section["accessory"]["value"] == "7"
    assert message.text == "Job 7 finished: SUCCESS (graph 2, took 1m 05s)"


def test_notice_without_graph_or_times_leaves_them_out() -> None:
    """A job the ledger knows little about still gets a notice, without empty parts."""
    message = completion_notice(FinishedJob(id="3", status="FAILED"))
    assert section_texts(message) == [":x: FAILED  ·  Job *#3*"]
    assert message.text == "Job 3 finished: FAILED"


def test_notice_names_who_cancelled_the_job() -> None:
    """A job cancelled through jobbot says who cancelled it, as a mention of their user id."""
    message = completion_notice(make_finished(8, "CANCELLED", cancelled_by="W0ENTERPRISE1"))
    assert section_texts(message)[0].endswith("  ·  Cancelled by <@W0ENTERPRISE1>")
    check_safe(message)


def test_a_job_jobbot_cancelled_that_the_server_recorded_failed_says_cancelled_in_its_text() -> None:
    """The server's loader may record FAILED over a cancel: the notice's text (what a notification and
    a screen reader show) still says the job was cancelled, and its line names who cancelled it."""
    message = completion_notice(make_finished(8, "FAILED", cancelled_by="U012ABCDEF"))
    assert message.text == "Job 8 finished: FAILED after it was cancelled (graph 2, took 1m 05s)"
    assert section_texts(message)[0].endswith("  ·  Cancelled by <@U012ABCDEF>")
    plain = completion_notice(make_finished(8, "FAILED"))
    assert plain.text == "Job 8 finished: FAILED (graph 2, took 1m 05s)"


def test_a_cancel_the_server_recorded_as_failed_is_announced_cancelled_naming_the_record() -> None:
    """The notifier announces such a job as CANCELLED (what jobbot did) and keeps the server's FAILED:
    the line names both, so nobody takes the record for a second failure."""
    job = make_finished(8, "CANCELLED", cancelled_by="U012ABCDEF").model_copy(
        update={"recorded_as": "FAILED"}
    )
    message = completion_notice(job)
    assert message.text == "Job 8 finished: CANCELLED (graph 2, took 1m 05s)"
    line = section_texts(message)[0]
    assert line.endswith(
        "  ·  Cancelled by <@U012ABCDEF>  ·  GraphScope recorded FAILED as the killed loader exited"
    )
    check_safe(message)


@pytest.mark.parametrize(
    "cancelled_by", ["", "<!channel>", "U12>|x", "U012ABC\n", "u012abc", "C012ABC", "U1", "U" + "A" * 31]
)
def test_notice_omits_a_malformed_canceller(cancelled_by: str) -> None:
    """A cancelled_by that is not a Slack user id is left out rather than put inside `<@...>`."""
    message = completion_notice(make_finished(8, "CANCELLED", cancelled_by=cancelled_by))
    assert "Cancelled by" not in all_text(message)
    check_safe(message)


def test_notice_for_a_mangled_id_has_no_button_and_escapes_everything() -> None:
    """A job id, status and graph id of hostile text are escaped, and no button carries the id."""
    job = make_finished("<!here>", "<!channel>", graph_id="<https://evil|x>" * 1000)
    message = completion_notice(job)
    assert all_buttons(message) == [] and "accessory" not in message.blocks[0]
    assert "&lt;!here&gt;" in message.text
    check_safe(message)
    check_limits(message)


def test_digest_counts_statuses_and_lists_newest_first_without_buttons() -> None:
    """A digest says how many jobs finished, counts them by status, and lists them newest id first."""
    jobs = [make_finished(9), make_finished(100, "FAILED"), make_finished(10, "CANCELLED"), make_finished(11)]
    message = completion_digest([*jobs, make_finished(2, "PAUSED")], offline=False)
    assert message.blocks[0]["text"]["text"] == "5 jobs finished"
    summary, lines = section_texts(message)
    assert summary.split("  ·  ") == [
        ":white_check_mark: 2 succeeded",
        ":x: 1 failed",
        ":no_entry_sign: 1 cancelled",
        ":grey_question: 1 other",
    ]
    assert re.findall(r"Job \*#(\d+)\*", lines) == ["100", "11", "10", "9", "2"]
    assert message.text == "5 jobs finished: 2 succeeded, 1 failed, 1 cancelled, 1 other"
    assert all_buttons(message) == []
    assert "`/jobs status ID`" in all_text(message)


@pytest.mark.parametrize(
    ("offline", "title"), [(False, "1 job finished"), (True, "While jobbot was offline, 1 job finished")]
)
def test_digest_title_says_whether_jobbot_was_offline(offline: bool, title: str) -> None:
    """The header counts in the singular for one job and mentions the outage when `offline`."""
    message = completion_digest([make_finished(7)], offline=offline)
    assert message.blocks[0]["text"]["text"] == title
    assert message.text.startswith(title + ":")


def test_digest_of_more_than_the_maximum_lists_the_newest_and_counts_the_rest() -> None:
    """A caller that did not split a big batch still gets a valid digest: the newest jobs and a count."""
    jobs = [make_finished(n) for n in range(1, DIGEST_MAX_JOBS + 8)]
    message = completion_digest(jobs, offline=True)
    assert message.blocks[0]["text"]["text"] == f"While jobbot was offline, {len(jobs)} jobs finished"
    lines = "\n".join(section_texts(message)[1:]).split("\n")
    assert len(lines) == DIGEST_MAX_JOBS and "Job *#32*" in lines[0]
    assert "7 older jobs are not listed here" in all_text(message)
    check_limits(message)


def hostile_finished_jobs(kind: str, count: int, **fields: Any) -> list[FinishedJob]:
    """`count` finished jobs whose graph ids (10 kB), statuses and some ids are hostile text."""
    hostile = HOSTILE_TEXTS[kind]
    return [
        make_finished(
            LONGEST_JOB_ID - n if n % 3 else hostile[:40] + str(n),
            NOTICE_STATUSES[n % 3] if n % 2 else hostile,
            graph_id=(hostile * 10)[:10_000],
            start_time_ms=START_MS,
            end_time_ms=START_MS + 3 * 86_400_000 + n,
            cancelled_by="W" + "Z" * 30,
            **fields,
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXTS))
@pytest.mark.parametrize("offline", [False, True])
def test_digest_of_the_most_hostile_jobs_stays_within_limits(kind: str, offline: bool) -> None:
    """DIGEST_MAX_JOBS jobs with long or hostile ids, 10 kB graph ids and odd statuses fit, one line each."""
    message = completion_digest(hostile_finished_jobs(kind, DIGEST_MAX_JOBS), offline=offline)
    check_limits(message)
    check_safe(message)
    lines = "\n".join(section_texts(message)[1:]).split("\n")
    assert len(lines) == DIGEST_MAX_JOBS
    assert all("Cancelled by <@W" in line for line in lines)
    longest_ids = [line for line in lines if re.search(r"Job \*#\d{19}\*", line)]
    assert len(longest_ids) == len([n for n in range(DIGEST_MAX_JOBS) if n % 3])


# --- the failure log reply ------------------------------------------------------------------


def test_failure_log_reply_shows_each_failed_jobs_log_end_escaped() -> None:
    """Only FAILED jobs get a section: a heading and the escaped end of the log, newest job first."""
    jobs = [make_finished(9, "FAILED", log_tail=FAILED_LOG), make_finished(7), make_finished(11, "FAILED")]
    message = failure_log_reply(jobs)
    first, second = section_texts(message)
    assert first == "*Job #11* \u2014 _(log is empty)_"
    assert second.startswith("*Job #9* \u2014 last lines of the log:\n```\n")
    assert "&lt;!channel&gt;" in second and second.count("```") == 2
    assert message.text == "Last log lines of failed jobs 11 and 9"
    assert failure_log_reply([make_finished(4, "FAILED", log_tail="x")]).text == (
        "Last log lines of failed job 4"
    )
    check_safe(message)


def test_failure_log_reply_without_failed_jobs_says_so() -> None:
    """Called for a batch with no failure, the reply is still a valid message that explains itself."""
    message = failure_log_reply([make_finished(7), make_finished(8, "CANCELLED")])
    assert "no log to show" in message.text
    check_limits(message)


def test_failure_log_reply_shares_room_left_by_short_logs() -> None:
    """Room a short log leaves unused goes to the next job, so one long log gets more than an equal share."""
    long_log = "".join(f"row {n} failed to parse\n" for n in range(2000))
    jobs = [make_finished(n, "FAILED", log_tail="short") for n in range(2, 20)]
    message = failure_log_reply([*jobs, make_finished(1, "FAILED", log_tail=long_log)])
    last = section_texts(message)[-1]
    assert last.startswith("*Job #1*") and len(last) > MAX_BLOCKS_JSON_CHARS // 19
    assert last.endswith("row 1999 failed to parse\n```")
    check_limits(message)


FIVE_MB_LOGS = {
    "mentions": ("<!channel> <!here> <@U123> <https://evil|click> & " * 120_000)[:5_000_000],
    "backticks": ("```closing fence``` `x`\n" * 220_000)[:5_000_000] + "\nEND",
    "emoji": ("\U0001f600" * 99 + "\n") * 50_000,
    "one_line": "&" * 5_000_000,
    "bidi": ("\u202e\u2067 \u200b" * 99 + "\n") * 50_000,
}


@pytest.mark.parametrize("kind", sorted(FIVE_MB_LOGS))
def test_failure_log_reply_for_the_most_jobs_with_5_mb_logs_fits(kind: str) -> None:
    """DIGEST_MAX_JOBS failed jobs with hostile 5 MB logs give one valid reply that pings no one."""
    jobs = [
        make_finished(LONGEST_JOB_ID - n, "FAILED", log_tail=FIVE_MB_LOGS[kind])
        for n in range(DIGEST_MAX_JOBS)
    ]
    message = failure_log_reply(jobs)
    check_limits(message)
    check_safe(message)
    sections = section_texts(message)
    assert len(sections) == DIGEST_MAX_JOBS
    assert all(text.count("```") in (0, 2) for text in sections)
    shown = [text for text in sections if "```" in text]
    others = [text for text in sections if "```" not in text]
    assert shown, "at least the first logs fit"
    assert all("no room for the log here: `/jobs status 9" in text for text in others)


def test_failure_log_reply_of_more_than_the_maximum_counts_the_rest() -> None:
    """More failed jobs than DIGEST_MAX_JOBS: the newest are shown and the rest are counted."""
    jobs = [make_finished(n, "FAILED", log_tail="boom") for n in range(1, DIGEST_MAX_JOBS + 4)]
    message = failure_log_reply(jobs)
    assert len(section_texts(message)) == DIGEST_MAX_JOBS
    assert "3 more failed jobs are not shown here" in all_text(message)
    assert message.text.endswith("and 3 more")
    check_limits(message)


finished_jobs = st.builds(
    lambda job_id, status, graph_id, log, start, end, by: make_finished(
        job_id, status, graph_id=graph_id, log_tail=log, start_time_ms=start, end_time_ms=end, cancelled_by=by
    ),
    job_id=st.integers(min_value=0, max_value=10**20 - 1) | st.text(max_size=30),
    status=st.sampled_from(NOTICE_STATUSES) | server_text,
    graph_id=st.none() | server_text,
    log=server_text,
    start=st.none() | st.integers(min_value=-(2**40), max_value=2**45),
    end=st.none() | st.integers(min_value=-(2**40), max_value=2**45),
    by=st.none() | st.from_regex(r"[UW][A-Z0-9]{2,30}", fullmatch=True) | st.text(max_size=40),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(finished_jobs, max_size=DIGEST_MAX_JOBS), st.booleans())
def test_any_finished_jobs_give_valid_notices_digest_and_log_reply(
    jobs: list[FinishedJob], offline: bool
) -> None:
    """Whatever the ledger holds, notices, digests and failure-log replies are valid and ping no one."""
    for message in (completion_digest(jobs, offline=offline), failure_log_reply(jobs)):
        check_limits(message)
        check_safe(message)
    for job in jobs[:3]:
        check_limits(message := completion_notice(job))
        check_safe(message)
