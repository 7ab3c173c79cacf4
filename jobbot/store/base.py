"""The records that cross the store's interface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from jobbot.models import FinishedJob, validate_job_id


class DeliveryState(StrEnum):
    """Where one Slack message of the ledger stands.

    `POSTING` and `THREADING` mean "a post was attempted and its outcome is unknown": after a crash, the
    destination's history is searched for the message before posting again.
    """

    PENDING = "pending"
    POSTING = "posting"
    POSTED = "posted"  # the notice is in Slack; a failure's thread reply is still to come
    THREADING = "threading"
    DONE = "done"
    FAILED = "failed"  # Slack refused for good (channel archived, bot not in channel): reported once


class CardState(StrEnum):
    """Where a live card stands. `POSTING` means "a post was attempted, its outcome unknown", as for
    deliveries; once `POSTED`, the card is edited until Slack shows its newest version."""

    PENDING = "pending"
    POSTING = "posting"
    POSTED = "posted"
    FAILED = "failed"  # Slack refused the destination for good: reported once, never tried again


class FollowUpKind(StrEnum):
    """A post that follows a job: in its card's thread on a live destination, or on its own."""

    ENDING = "ending"  # the job's end, broadcast from the card's thread when the filter asks for it
    LOG = "log"  # a failure's last log lines
    FILE = "file"  # a failure's full log, uploaded as a file
    LONG_RUNNING = "long_running"  # the job has run longer than it should


class FollowUpState(StrEnum):
    PENDING = "pending"
    POSTING = "posting"  # attempted, outcome unknown: the thread is searched before trying again
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class TrackedJob:
    """A job as the notifier last saw it. Its start time tells it from another job that a reset server
    later gave the same id."""

    id: str
    status: str
    terminal: bool
    start_time_ms: int | None = None
    graph_id: str | None = None
    end_time_ms: int | None = None
    alerted: bool = False  # a long-running alert was recorded for it


@dataclass(frozen=True)
class NoticeRow:
    """One (job, final status, destination) of the ledger, not yet grouped into a Slack message."""

    job: FinishedJob
    destination: str
    offline: bool
    # The server generation the job belongs to, as read back from the ledger; a row being recorded
    # belongs to the current one whatever this says.
    generation: int | None = None


@dataclass(frozen=True)
class Delivery:
    """One Slack message carrying one notice or a digest of several."""

    id: int
    destination: str  # a channel id, or a user id for a direct message
    channel: str | None  # where it was posted (a user's DM channel once opened)
    state: DeliveryState
    ts: str | None
    offline: bool
    attempts: int
    created_at: datetime
    jobs: tuple[FinishedJob, ...]


def with_their_jobs(
    rows: Sequence[Sequence[Any]], job_column: int
) -> dict[int, tuple[Sequence[Any], list[FinishedJob]]]:
    """Rows of a message (a delivery, a card) LEFT JOINed with its jobs, keyed by its id in column 0: its
    first row and its jobs in order. A message whose jobs all went elsewhere carries none."""
    messages: dict[int, tuple[Sequence[Any], list[FinishedJob]]] = {}
    for row in rows:
        _, jobs = messages.setdefault(int(row[0]), (row, []))
        if row[job_column] is not None:
            jobs.append(FinishedJob.model_validate_json(row[job_column]))
    return messages


def job_key(job_id: str) -> int:
    """A job id as both databases hold it: the one id rule (`validate_job_id`), as an integer that fits
    SQLite's INTEGER and PostgreSQL's BIGINT. Anything else raises InvalidJobId before any SQL runs."""
    return int(validate_job_id(job_id))


@dataclass(frozen=True)
class CardJob:
    """A job as a live destination's card shows it; recorded at each change, grouped into a card once."""

    job: FinishedJob
    destination: str
    generation: int | None = None  # as read back; a row being recorded belongs to the current one


@dataclass(frozen=True)
class Card:
    """One Slack message showing one job, or a burst of jobs, on one live destination."""

    id: int
    destination: str
    channel: str | None
    state: CardState
    ts: str | None
    attempts: int
    version: int  # grows with every change to a job on the card
    shown: int  # the version Slack shows
    created_at: datetime
    jobs: tuple[FinishedJob, ...]


@dataclass(frozen=True)
class FollowUpRow:
    """A follow-up to record: what kind, for which job and destination, and its detail (an alert's
    figures, as JSON)."""

    kind: FollowUpKind
    job: FinishedJob
    destination: str
    detail: str | None = None


@dataclass(frozen=True)
class FollowUp:
    """A follow-up as the store holds it, with the card whose thread it goes in (live destinations)."""

    generation: int
    kind: FollowUpKind
    job: FinishedJob
    destination: str
    state: FollowUpState
    attempts: int
    channel: str | None
    created_at: datetime
    detail: str | None
    card_id: int | None  # None: the destination is not live, the follow-up is a message of its own
    card_channel: str | None
    card_ts: str | None
    card_state: CardState | None
