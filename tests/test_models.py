"""Job statuses: the JobStatus enum, its UNKNOWN fallback, and the status sets built from it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobbot.models import (
    ACTIVE_STATUSES,
    KNOWN_STATUSES,
    NOTICE_STATUSES,
    TERMINAL_STATUSES,
    Job,
    JobStatus,
)
from jobbot.render.mrkdwn import status_label

WORDS = ["RUNNING", "WAITING", "SUCCESS", "FAILED", "CANCELLED", "UNKNOWN"]


@pytest.mark.parametrize("word", WORDS)
def test_each_known_word_is_its_status_and_equals_its_text(word: str) -> None:
    """A known word, in any case and with spaces around it, reads as its status (for a job too), which
    equals the word."""
    status = JobStatus(f" {word.lower()} ")
    assert status.value == word
    assert status == word and f"{status}" == word and str(status) == word
    assert Job.from_server({"id": "1", "status": word.lower()}).known_status is status


@pytest.mark.parametrize("sent", ["PAUSED", "", "   ", "SUCCEEDED", "RUNNING!", None, 3, True, ["RUNNING"]])
def test_anything_else_the_server_sends_is_unknown(sent: Any) -> None:
    """An unseen word, a blank or a non-string status reads as UNKNOWN instead of raising."""
    assert JobStatus(sent) is JobStatus.UNKNOWN


@given(st.text(max_size=20))
def test_a_job_knows_its_status_as_jobstatus_reads_the_word(word: str) -> None:
    """For any status text, a job's known_status is a known word's status, else UNKNOWN."""
    job = Job.from_server({"id": "1", "status": word})
    expected = word.strip().upper() if word.strip().upper() in WORDS else "UNKNOWN"
    assert job.known_status is JobStatus(expected)


def test_an_unknown_word_is_kept_and_shown_as_the_server_sent_it() -> None:
    """A job whose status jobbot has never seen keeps the word, shown with a question mark, not UNKNOWN."""
    job = Job.from_server({"id": "1", "status": "paused "})
    assert job.status == "PAUSED" and job.known_status is JobStatus.UNKNOWN
    assert status_label(job.status) == ":grey_question: PAUSED"
    assert not job.is_active and not job.is_terminal
    missing = Job.from_server({"id": "2"})
    assert missing.status == "UNKNOWN" and status_label(missing.status) == ":grey_question: UNKNOWN"


def test_the_status_sets_come_from_the_enum() -> None:
    """Active and terminal statuses split the known ones (UNKNOWN is neither); notices are the terminal
    ones in a fixed order, and a person may filter on every status."""
    assert {JobStatus.RUNNING, JobStatus.WAITING} == ACTIVE_STATUSES
    assert {JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELLED} == TERMINAL_STATUSES
    assert ACTIVE_STATUSES | TERMINAL_STATUSES | {JobStatus.UNKNOWN} == set(JobStatus)
    assert NOTICE_STATUSES == ("SUCCESS", "FAILED", "CANCELLED")
    assert tuple(WORDS) == KNOWN_STATUSES
    # Plain strings still find their status in the sets while callers move over to the enum.
    assert "RUNNING" in ACTIVE_STATUSES and "FAILED" in TERMINAL_STATUSES
    assert Job.from_server({"id": "1", "status": "waiting"}).is_active
    assert Job.from_server({"id": "1", "status": "cancelled"}).is_terminal
