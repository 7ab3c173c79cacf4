"""Live job cards, digest cards, ending replies, long-running alerts and full-log files: content, buttons
by state, and Slack's limits under hostile server data."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobbot import slack_ids
from jobbot.models import FinishedJob, FullLog, JobStatus
from jobbot.render.cards import (
    FULL_LOG_MAX_BYTES,
    MAX_WATCHERS_SHOWN,
    digest_card,
    ending_reply,
    full_log_file,
    live_card,
    long_running_alert,
)
from jobbot.render.kit import Message
from jobbot.render.notices import DIGEST_MAX_JOBS
from tests.render_fixtures import (
    HOSTILE_TEXTS,
    LONGEST_JOB_ID,
    NOW,
    START_MS,
    all_buttons,
    all_text,
    button_ids,
    make_finished,
    section_texts,
    server_text,
)
from tests.slack_limits import check_limits, check_safe

STARTED = "<!date^1718000000^{date_short_pretty} {time}|2024-06-10 06:13 UTC>"
STARTED_AGO = "<!date^1718000000^{date_short_pretty} {time} ({ago})|2024-06-10 06:13 UTC>"


def running(job_id: str | int = 42, status: str = "RUNNING", **fields: Any) -> FinishedJob:
    """A job as a live card sees it while it runs: no end time yet."""
    return make_finished(job_id, status, end_time_ms=None, **fields)


def context_texts(message: Message) -> list[str]:
    return [
        element["text"]
        for block in message.blocks
        if block["type"] == "context"
        for element in block["elements"]
    ]


def ids(prefix: str, job_id: str) -> str:
    return slack_ids.action_id(prefix, job_id)


# --- one job's live card --------------------------------------------------------------------


def test_running_card_shows_status_job_graph_start_and_watchers() -> None:
    """A running job's card: status, job and graph, when it started and how long ago, and who watches it."""
    message = live_card(running(42), watchers=["U0A", "W0B"], now=NOW)
    assert section_texts(message) == [":hourglass_flowing_sand: RUNNING  ·  Job *#42*  ·  graph `2`"]
    assert context_texts(message) == [f"Started {STARTED_AGO}  ·  Watched by <@U0A>, <@W0B>"]
    assert message.text == "Job 42 is running on graph 2"


@pytest.mark.parametrize("status", ["RUNNING", "WAITING"])
def test_active_card_has_details_cancel_and_full_log_buttons(status: str) -> None:
    """A job that can still be cancelled gets Details, Cancel (with its dialog) and Full log, for its id."""
    message = live_card(running(42, status), now=NOW)
    assert button_ids(message) == [
        ids(slack_ids.JOB_DETAILS, "42"),
        ids(slack_ids.JOB_CANCEL, "42"),
        ids(slack_ids.JOB_FULL_LOG, "42"),
    ]
    details, cancel, full_log = all_buttons(message)
    assert details["value"] == cancel["value"] == full_log["value"] == "42"
    assert cancel["style"] == "danger" and cancel["confirm"]["title"]["text"] == "Cancel job 42?"
    assert full_log["text"]["text"] == "Full log"


def test_waiting_card_says_the_job_waits() -> None:
    """A WAITING job's notification says it waits rather than runs."""
    assert live_card(running(42, "WAITING"), now=NOW).text == "Job 42 is waiting on graph 2"


def test_card_of_an_unknown_status_shows_it_without_cancel() -> None:
    """A status jobbot does not know shows as not ended; Cancel is offered only for active jobs."""
    message = live_card(running(42, "PAUSED"), now=NOW)
    assert section_texts(message)[0].startswith(":grey_question: PAUSED  ·  ")
    assert context_texts(message) == [f"Started {STARTED_AGO}"]
    assert button_ids(message) == [ids(slack_ids.JOB_DETAILS, "42"), ids(slack_ids.JOB_FULL_LOG, "42")]
    assert message.text == "Job 42 is PAUSED on graph 2"


def test_finished_card_shows_duration_and_canceller_without_cancel() -> None:
    """At its end a card shows the final status, how long the job took and who cancelled it; no Cancel."""
    job = make_finished(42, "CANCELLED", cancelled_by="U0CANCEL")
    message = live_card(job, watchers=["U0A"], now=NOW)
    assert section_texts(message) == [":no_entry_sign: CANCELLED  ·  Job *#42*  ·  graph `2`"]
    assert context_texts(message) == [
        f"Started {STARTED}  ·  took 1m 05s  ·  Cancelled by <@U0CANCEL>  ·  Watched by <@U0A>"
    ]
    assert button_ids(message) == [ids(slack_ids.JOB_DETAILS, "42"), ids(slack_ids.JOB_FULL_LOG, "42")]
    assert message.text == "Job 42 was cancelled (graph 2, took 1m 05s)"


@pytest.mark.parametrize(
    ("status", "text"),
    [
        ("FAILED", "Job 42 failed (graph 2, took 1m 05s)"),
        ("SUCCESS", "Job 42 succeeded (graph 2, took 1m 05s)"),
        ("success ", "Job 42 succeeded (graph 2, took 1m 05s)"),
    ],
)
def test_finished_card_notification_reads_as_a_sentence(status: str, text: str) -> None:
    """The notification of an ended card says how it ended, on which graph and how long it took."""
    assert live_card(make_finished(42, status), now=NOW).text == text


def test_card_leaves_out_what_is_not_known() -> None:
    """A job without graph or times still gets a card, without empty parts."""
    message = live_card(FinishedJob(id="3", status="RUNNING"), now=NOW)
    assert section_texts(message) == [":hourglass_flowing_sand: RUNNING  ·  Job *#3*"]
    assert context_texts(message) == []
    assert message.text == "Job 3 is running"
    assert live_card(FinishedJob(id="3", status="FAILED"), now=NOW).text == "Job 3 failed"


def test_card_of_a_job_started_after_now_does_not_say_ago() -> None:
    """A start after `now` (the server's clock ahead of jobbot's) is not shown as "in 5 minutes"."""
    job = running(42, start_time_ms=int((NOW + timedelta(minutes=5)).timestamp() * 1000))
    [context] = context_texts(live_card(job, now=NOW))
    assert "{ago}" not in context and context.startswith("Started <!date^")


@pytest.mark.parametrize("job_id", ["007", "12a", "<!here>", "", "1" * 21, "-1"])
def test_card_of_a_mangled_id_has_no_buttons(job_id: str) -> None:
    """A job id the server mangled gets no buttons (no request could be built from it), only escaped text."""
    for message in (
        live_card(running(job_id), now=NOW),
        live_card(make_finished(job_id, "FAILED"), now=NOW),
        long_running_alert(running(job_id), running_for=7380, usual=None),
    ):
        assert all_buttons(message) == []
        check_limits(message)
        check_safe(message)


def test_card_leaves_out_malformed_and_repeated_watchers() -> None:
    """Only well-formed user ids become mentions, each once: nothing else goes inside `<@...>`."""
    message = live_card(running(), watchers=["U0A", "<!channel>", "u0b", "U0A", "W0C"], now=NOW)
    assert context_texts(message)[0].endswith("Watched by <@U0A>, <@W0C>")
    check_safe(message)
    nobody = live_card(running(), watchers=["<!channel>"], now=NOW)
    assert "Watched" not in all_text(nobody)


def test_card_with_many_watchers_names_some_and_counts_the_rest() -> None:
    """A crowd of watchers is cut to MAX_WATCHERS_SHOWN mentions and a count, so the card stays small."""
    watchers = [f"U{n:08d}" for n in range(MAX_WATCHERS_SHOWN + 7)]
    message = live_card(running(), watchers=watchers, now=NOW)
    [context] = context_texts(message)
    assert context.count("<@U") == MAX_WATCHERS_SHOWN and context.endswith("and 7 more")


# --- the digest card ------------------------------------------------------------------------


def test_digest_of_jobs_that_all_run_says_they_started() -> None:
    """A burst of running jobs is "N jobs started", counted as running, newest first, without buttons."""
    message = digest_card([running(5), running(12), running(9, "WAITING")], now=NOW)
    assert message.blocks[0]["text"]["text"] == "3 jobs started"
    summary, lines = section_texts(message)
    assert summary == ":hourglass_flowing_sand: 2 running  ·  :double_vertical_bar: 1 waiting"
    assert re.findall(r"Job \*#(\d+)\*", lines) == ["12", "9", "5"]
    assert lines.split("\n")[0] == (
        f":hourglass_flowing_sand: RUNNING  ·  Job *#12*  ·  graph `2`  ·  started {STARTED_AGO}"
    )
    assert message.text == "3 jobs started: 2 running, 1 waiting"
    assert all_buttons(message) == []
    assert context_texts(message) == ["`/jobs status ID` shows a job's details and log"]
    assert digest_card([running(5)], now=NOW).blocks[0]["text"]["text"] == "1 job started"


def test_digest_with_ended_jobs_counts_each_state() -> None:
    """Once some jobs ended the digest counts every state, and ended lines say how long and who cancelled."""
    jobs = [
        running(1),
        make_finished(4, "FAILED"),
        make_finished(3, "CANCELLED", cancelled_by="U0CANCEL"),
        make_finished(2),
        running(6),
        make_finished(5, "PAUSED"),
    ]
    message = digest_card(jobs, now=NOW)
    assert message.blocks[0]["text"]["text"] == "6 jobs"
    summary, lines = section_texts(message)
    assert summary.split("  ·  ") == [
        ":hourglass_flowing_sand: 2 running",
        ":white_check_mark: 1 succeeded",
        ":x: 1 failed",
        ":no_entry_sign: 1 cancelled",
        ":grey_question: 1 other",
    ]
    rows = lines.split("\n")
    assert re.findall(r"Job \*#(\d+)\*", lines) == ["6", "5", "4", "3", "2", "1"]
    assert rows[3] == (
        f":no_entry_sign: CANCELLED  ·  Job *#3*  ·  graph `2`  ·  started {STARTED}  ·  took 1m 05s"
        "  ·  Cancelled by <@U0CANCEL>"
    )
    assert message.text == "6 jobs: 2 running, 1 succeeded, 1 failed, 1 cancelled, 1 other"


def test_digest_of_more_than_the_maximum_lists_the_newest_and_counts_the_rest() -> None:
    """A caller that did not split a burst gets a valid card: the newest jobs and a count of the rest."""
    jobs = [running(n) for n in range(1, DIGEST_MAX_JOBS + 5)]
    message = digest_card(jobs, now=NOW)
    assert message.blocks[0]["text"]["text"] == f"{len(jobs)} jobs started"
    lines = "\n".join(section_texts(message)[1:]).split("\n")
    assert len(lines) == DIGEST_MAX_JOBS and "Job *#29*" in lines[0]
    assert context_texts(message)[0].startswith("4 older jobs are not listed here")
    check_limits(message)


def test_empty_digest_is_still_a_valid_message() -> None:
    """Called with no jobs, the digest says so rather than failing."""
    message = digest_card([], now=NOW)
    assert message.blocks[0]["text"]["text"] == "0 jobs"
    check_limits(message)


# --- the ending reply and the long-running alert --------------------------------------------


def test_ending_reply_is_one_line_with_how_the_job_ended() -> None:
    """The reply broadcast from the card's thread: status, job, graph, duration and canceller on one line."""
    message = ending_reply(make_finished(42, "CANCELLED", cancelled_by="U0CANCEL"))
    assert section_texts(message) == [
        ":no_entry_sign: Job *#42* was cancelled  ·  graph `2`  ·  took 1m 05s  ·  Cancelled by <@U0CANCEL>"
    ]
    assert message.text == "Job 42 was cancelled (graph 2, took 1m 05s)"
    assert all_buttons(message) == []
    failed = ending_reply(make_finished(42, "FAILED"))
    assert section_texts(failed) == [":x: Job *#42* failed  ·  graph `2`  ·  took 1m 05s"]


def test_long_running_alert_says_how_long_and_how_long_is_usual() -> None:
    """The alert says how long the job has run and, when known, how long its graph's jobs usually take."""
    message = long_running_alert(running(42), running_for=7380, usual=720)
    assert section_texts(message) == [
        ":hourglass: *Job #42 has been running for 2h 03m*  ·  graph `2`"
        "  ·  its graph's jobs usually take 12m 00s"
    ]
    assert (
        message.text == "Job #42 has been running for 2h 03m (graph 2; its graph's jobs usually take 12m 00s)"
    )
    assert button_ids(message) == [
        ids(slack_ids.JOB_DETAILS, "42"),
        ids(slack_ids.JOB_CANCEL, "42"),
        ids(slack_ids.JOB_FULL_LOG, "42"),
    ]


def test_long_running_alert_without_usual_or_graph() -> None:
    """Without a usual duration or a graph the alert says only how long the job has run."""
    message = long_running_alert(FinishedJob(id="7", status="RUNNING"), running_for=45, usual=None)
    assert section_texts(message) == [":hourglass: *Job #7 has been running for 45s*"]
    assert message.text == "Job #7 has been running for 45s"


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), -5.0])
def test_long_running_alert_survives_odd_durations(seconds: float) -> None:
    """A duration that is not a finite positive number renders as 0s, or is left out as the usual one."""
    message = long_running_alert(running(42), running_for=seconds, usual=seconds)
    assert "running for 0s" in message.text and "usually" not in message.text


# --- hostile data ---------------------------------------------------------------------------


def hostile_jobs(kind: str, count: int) -> list[FinishedJob]:
    """`count` jobs, running and ended, whose graph ids (10 kB), statuses and some ids are hostile text."""
    hostile = HOSTILE_TEXTS[kind]
    statuses = ("RUNNING", "SUCCESS", "FAILED", "CANCELLED", "WAITING")
    return [
        make_finished(
            LONGEST_JOB_ID - n if n % 3 else hostile[:40] + str(n),
            statuses[n % len(statuses)] if n % 2 else hostile,
            graph_id=(hostile * 10)[:10_000],
            start_time_ms=START_MS,
            end_time_ms=START_MS + 3 * 86_400_000 + n if n % 4 else None,
            cancelled_by="W" + "Z" * 30,
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXTS))
def test_every_message_of_the_most_hostile_jobs_stays_within_limits(kind: str) -> None:
    """Hostile ids, statuses and 10 kB graph ids give valid cards, replies and alerts that ping no one."""
    jobs = hostile_jobs(kind, DIGEST_MAX_JOBS)
    digest = digest_card(jobs, now=NOW)
    check_limits(digest)
    check_safe(digest)
    assert len("\n".join(section_texts(digest)[1:]).split("\n")) == DIGEST_MAX_JOBS
    watchers = [f"W{n:030d}" for n in range(60)]
    for job in jobs[:6]:
        for message in (
            live_card(job, watchers=watchers, now=NOW),
            ending_reply(job),
            long_running_alert(job, running_for=1e12, usual=1e12),
        ):
            check_limits(message)
            check_safe(message)


def test_mrkdwn_in_server_text_is_shown_not_obeyed() -> None:
    """`<!channel>`, links and backticks from the server render as text and cannot break out of code."""
    job = running("<!channel>", "<!here>", graph_id="*bold* `x` <!channel> <https://evil|click>")
    message = live_card(job, now=NOW)
    [line] = section_texts(message)
    assert "&lt;!channel&gt;" in line and "&lt;!here&gt;" in line
    assert "graph `*bold* \u02cbx\u02cb &lt;!channel&gt; &lt;https://evil|click&gt;`" in line
    assert "&lt;!channel&gt;" in message.text
    check_safe(message)


live_jobs = st.builds(
    lambda job_id, status, graph_id, start, end, by: make_finished(
        job_id, status, graph_id=graph_id, start_time_ms=start, end_time_ms=end, cancelled_by=by
    ),
    job_id=st.integers(min_value=0, max_value=10**20 - 1) | st.text(max_size=30),
    status=st.sampled_from(list(JobStatus)) | server_text,
    graph_id=st.none() | server_text,
    start=st.none() | st.integers(min_value=-(2**40), max_value=2**45),
    end=st.none() | st.integers(min_value=-(2**40), max_value=2**45),
    by=st.none() | st.from_regex(r"[UW][A-Z0-9]{2,30}", fullmatch=True) | st.text(max_size=40),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(live_jobs, max_size=DIGEST_MAX_JOBS),
    st.lists(st.text(max_size=40), max_size=30),
    st.floats(allow_nan=True),
    st.none() | st.floats(allow_nan=True),
)
def test_any_jobs_give_valid_cards(
    jobs: list[FinishedJob], watchers: list[str], running_for: float, usual: float | None
) -> None:
    """Whatever the server sent, every card, reply and alert is valid Block Kit and pings no one."""
    messages = [digest_card(jobs, now=NOW)]
    for job in jobs[:3]:
        messages += [
            live_card(job, watchers=watchers, now=NOW),
            ending_reply(job),
            long_running_alert(job, running_for=running_for, usual=usual),
        ]
    for message in messages:
        check_limits(message)
        check_safe(message)


# --- the full log as a file -----------------------------------------------------------------


def test_full_log_file_holds_the_whole_log() -> None:
    """A log under the cap is uploaded whole, as UTF-8, named after its job."""
    log = full_log_file(FullLog(job_id="42", text="loading é\ndone\n", cut=False))
    assert log.content == "loading é\ndone\n".encode()
    assert log.filename == "job-42.log"
    assert log.title == log.comment == "Full log of job #42"


def test_full_log_file_of_a_log_cut_by_the_server_says_so() -> None:
    """A log jobbot received cut starts with a line saying so and where the whole log is."""
    log = full_log_file(FullLog(job_id="42", text="tail\n", cut=True))
    first, rest = log.content.split(b"\n", 1)
    assert first.startswith(b"[jobbot: this log was longer than 1 MiB") and rest == b"tail\n"
    assert log.title == "Full log of job #42 (its last part)"


def test_full_log_file_over_the_cap_keeps_whole_characters_and_says_it_was_cut() -> None:
    """A log over the cap keeps its end, starting at a character boundary, fits the cap, and says so."""
    # 2 bytes a character, and ends of either parity: one of the two cuts falls inside a character.
    for end in ("END", "ENDS"):
        log = full_log_file(FullLog(job_id="42", text="é" * FULL_LOG_MAX_BYTES + end, cut=False))
        assert len(log.content) <= FULL_LOG_MAX_BYTES
        decoded = log.content.decode("utf-8")  # strict: a split character would raise
        first, rest = decoded.split("\n", 1)
        assert first.startswith("[jobbot: this log was longer than 1 MiB")
        assert rest.endswith("é" + end) and set(rest[: -len(end)]) == {"é"}
        assert log.title.endswith("(its last part)")


def test_full_log_file_of_a_mangled_job_id_pings_no_one() -> None:
    """The file's comment is mrkdwn: a hostile job id is escaped there, and kept out of the file name."""
    log = full_log_file(FullLog(job_id="<!channel>/../x", text="x", cut=False))
    assert "<!channel>" not in log.comment and "&lt;!channel&gt;" in log.comment
    assert log.filename == "job.log"
    assert "<" not in log.title
