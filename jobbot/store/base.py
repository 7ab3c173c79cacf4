"""The records that cross the store's interface, and the row mappings both engines share."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from jobbot.models import AuditEntry, FinishedJob, SubscriptionChange, validate_job_id


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


AUDIT_COLUMNS = "at, user_id, team_id, channel_id, job_id, status_before, outcome, message, repeats, last_at"
SUBSCRIPTION_AUDIT_COLUMNS = "at, user_id, team_id, channel_id, action, statuses, repeats, last_at"
# A repeat is counted by copying its row to a new id (then deleting the old one): the row moves to the
# top, so "newest first" by id stays "latest activity first" through the primary key alone.
# `{p}` is the backend's placeholder; the arguments are (the repeat's time, the old row's id).
_FOLD = "INSERT INTO {table} ({columns}) SELECT {copied}, repeats + 1, {{p}} FROM {table} WHERE id = {{p}}"
FOLD_AUDIT_SQL = _FOLD.format(
    table="audit",
    columns=AUDIT_COLUMNS,
    copied="at, user_id, team_id, channel_id, job_id, status_before, outcome, message",
)
FOLD_SUBSCRIPTION_CHANGE_SQL = _FOLD.format(
    table="subscription_audit",
    columns=SUBSCRIPTION_AUDIT_COLUMNS,
    copied="at, user_id, team_id, channel_id, action, statuses",
)


def audit_from_row(row: Sequence[Any], at: datetime, last_at: datetime | None = None) -> AuditEntry:
    """An audit entry from a row of AUDIT_COLUMNS; each backend converts its own times first."""
    return AuditEntry(
        at=at,
        user_id=row[1],
        team_id=row[2],
        channel_id=row[3],
        job_id=str(row[4]),
        status_before=row[5],
        outcome=row[6],
        message=row[7],
        repeats=int(row[8]),
        last_at=last_at,
    )


def audit_filter(
    job_id: str | None, refused: bool | None, *, placeholder: str
) -> tuple[str, tuple[object, ...]]:
    """The WHERE clause (and its arguments) picking one job's entries, and refusals or the others."""
    conditions: list[str] = []
    args: list[object] = []
    if job_id is not None:
        conditions.append(f"job_id = {placeholder}")
        args.append(job_key(job_id))
    if refused is not None:
        conditions.append("outcome = 'refused'" if refused else "outcome <> 'refused'")
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), tuple(args)


def subscription_change_from_row(
    row: Sequence[Any], at: datetime, last_at: datetime | None
) -> SubscriptionChange:
    """A subscription change from a row of SUBSCRIPTION_AUDIT_COLUMNS (times converted by the backend)."""
    return SubscriptionChange(
        at=at,
        user_id=row[1],
        team_id=row[2],
        channel_id=row[3],
        action=row[4],
        statuses=tuple(json.loads(row[5])),
        repeats=int(row[6]),
        last_at=last_at,
    )
