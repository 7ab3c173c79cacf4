"""The records that cross the store's interface."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

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


@dataclass(frozen=True)
class TrackedJob:
    """A job as the notifier last saw it. Its start time tells it from another job that a reset server
    later gave the same id."""

    id: str
    status: str
    terminal: bool
    start_time_ms: int | None = None


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


def job_key(job_id: str) -> int:
    """A job id as both databases hold it: the one id rule (`validate_job_id`), as an integer that fits
    SQLite's INTEGER and PostgreSQL's BIGINT. Anything else raises InvalidJobId before any SQL runs."""
    return int(validate_job_id(job_id))
