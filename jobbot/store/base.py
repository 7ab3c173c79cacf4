"""The store interface and the records that cross it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from jobbot.models import AuditEntry, FinishedJob, Subscription, SubscriptionChange, validate_job_id


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


class Store(Protocol):
    """Everything the notifier and the handlers persist. Every method is one transaction."""

    instance_id: str  # random, made with the schema: tells this ledger's messages from another's

    def close(self) -> None: ...

    # Jobs the notifier has seen.
    def baseline_taken(self) -> bool: ...
    def take_baseline(self, jobs: Iterable[TrackedJob], now: datetime) -> None: ...
    def high_water(self) -> int: ...
    def active_jobs(self) -> list[TrackedJob]: ...
    def job_statuses(self) -> dict[str, TrackedJob]: ...
    def newest_job(self) -> TrackedJob | None:
        """The highest-numbered job of the current generation still thought to be on the server."""
        ...

    def last_reconcile(self) -> datetime | None: ...

    def begin_generation(self, now: datetime) -> int:
        """Start a new server generation (its ids began again at 1); return how many jobs the previous
        one keeps in history.

        Everything keyed by job id (jobs, the notice ledger, watches, cancel claims) belongs to one
        generation and is read and written in the current one only, so the new server's job 3 is never
        the old server's job 3. The old rows are kept, not deleted: the old server's open deliveries
        still go out, and an operator can still see what happened.
        """
        ...

    def record_poll(
        self,
        seen: Sequence[TrackedJob],
        notices: Sequence[NoticeRow],
        *,
        now: datetime,
        reconciled: bool,
    ) -> int:
        """Record job statuses and enqueue notices together, so a crash can lose neither alone.

        Notices already in the ledger (same job, status, destination) are ignored; returns how many
        were new. The watches these notices answer are removed.
        """
        ...

    # The notice ledger.
    def ungrouped_notices(self) -> list[NoticeRow]: ...
    def group_notices(self, groups: Sequence[Sequence[NoticeRow]], now: datetime) -> list[int]: ...
    def open_deliveries(self) -> list[Delivery]: ...
    def set_delivery_state(
        self,
        delivery_id: int,
        state: DeliveryState,
        *,
        now: datetime,
        channel: str | None = None,
        ts: str | None = None,
        error: str | None = None,
    ) -> None: ...
    def claim_delivery(self, delivery_id: int, *, attempts: int, channel: str, now: datetime) -> bool:
        """Mark a delivery POSTING if it is still as the caller read it (same attempt count).

        False means another replica moved it meanwhile: the caller must leave it alone.
        """
        ...

    def notice_count(self, job_id: str) -> int: ...

    # Subscriptions and watches.
    def subscribe(self, subscription: Subscription) -> None: ...
    def unsubscribe(self, channel_id: str) -> bool: ...
    def subscriptions(self) -> list[Subscription]: ...
    def watch(self, job_id: str, user_id: str, now: datetime) -> None: ...
    def unwatch(self, job_id: str, user_id: str) -> bool: ...
    def watchers(self, job_id: str) -> list[str]: ...

    # Who cancelled what through jobbot.
    def claim_cancel(self, job_id: str, user_id: str, now: datetime, *, stale_after: float) -> str | None:
        """Claim the one cancel of a job. None: the caller holds the claim and may send the DELETE.
        Otherwise the user id of whoever holds it. A claim older than `stale_after` seconds (its
        holder died before finishing) may be taken over."""
        ...

    def forget_cancel(self, job_id: str, user_id: str) -> None: ...
    def cancelled_by(self, job_id: str) -> str | None: ...

    # The audit trail: cancel attempts and subscription changes.
    def record_audit(self, entry: AuditEntry, *, fold_within: float = 0.0) -> None:
        """Add an entry. With `fold_within` (seconds), an entry like the latest one by the same user for
        the same job with the same outcome, at most that long after that one was last repeated, is
        counted on it (`repeats`, `last_at`, and it becomes the newest) instead of added: a flood of
        refusals is one row."""
        ...

    def audit_entries(
        self, job_id: str | None, limit: int, *, refused: bool | None = None
    ) -> list[AuditEntry]:
        """The newest entries first, for one job or for all; only refusals (True), only the others
        (False), or both (None)."""
        ...

    def record_subscription_change(self, change: SubscriptionChange, *, fold_within: float = 0.0) -> None:
        """Add a change; the same change (user, channel, action, statuses) repeated within `fold_within`
        seconds of the latest such one is counted on it instead."""
        ...

    def subscription_changes(self, limit: int) -> list[SubscriptionChange]:
        """The newest subscription changes first."""
        ...

    # Leadership among replicas: one notifier polls and posts at a time.
    def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take the lease if free or expired, or renew it if `holder` has it; True if held now.
        Expiry is judged by the database's clock, so replicas on several hosts agree."""
        ...

    def release_lease(self, name: str, holder: str) -> None: ...
