"""The store's interface by role: each caller asks only for the roles it uses; `Store` is all of them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from jobbot.models import AuditEntry, Subscription, SubscriptionChange
from jobbot.servers import Servers
from jobbot.store.base import (
    Card,
    CardJob,
    CardState,
    Delivery,
    DeliveryState,
    FollowUp,
    FollowUpRow,
    FollowUpState,
    NoticeRow,
    TrackedJob,
)


class JobTracking(Protocol):
    """The jobs the notifier has seen, per server generation. Every method is one transaction."""

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
        cards: Sequence[CardJob] = (),
        followups: Sequence[FollowUpRow] = (),
    ) -> int:
        """Record job statuses, enqueue notices, record jobs as live cards show them and add follow-ups,
        all together, so a crash can lose none alone.

        Notices already in the ledger (same job, status, destination) are ignored; returns how many
        were new. The watches these notices answer are removed. A changed job moves its cards' versions
        on; a long-running follow-up marks its job alerted.
        """
        ...

    def usual_durations(self, graph_id: str, limit: int) -> list[float]:
        """Seconds the graph's latest successful jobs (at most `limit`, newest first) took."""
        ...


class NoticeLedger(Protocol):
    """Notices of finished jobs, grouped into deliveries (Slack messages) that move through their states."""

    instance_id: str  # random, made with the schema: tells this ledger's messages from another's

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


class LiveCards(Protocol):
    """Live cards (one Slack message per job or burst, edited as its jobs change) and follow-ups."""

    def ungrouped_card_jobs(self) -> list[CardJob]: ...
    def group_card_jobs(self, groups: Sequence[Sequence[CardJob]], now: datetime) -> list[int]: ...
    def open_cards(self) -> list[Card]:
        """Cards still to post, and posted cards whose newest version Slack does not show yet."""
        ...

    def claim_card(self, card_id: int, *, attempts: int, channel: str, now: datetime) -> bool: ...
    def set_card_state(
        self,
        card_id: int,
        state: CardState,
        *,
        now: datetime,
        ts: str | None = None,
        shown: int | None = None,
        error: str | None = None,
    ) -> None: ...
    def open_followups(self) -> list[FollowUp]: ...
    def claim_followup(self, followup: FollowUp, *, channel: str, now: datetime) -> bool: ...
    def set_followup_state(
        self,
        followup: FollowUp,
        state: FollowUpState,
        *,
        now: datetime,
        ts: str | None = None,
        error: str | None = None,
    ) -> None: ...


class Subscriptions(Protocol):
    """Channels subscribed to finished jobs, and users watching one job; channels' default servers."""

    def subscribe(self, subscription: Subscription) -> None:
        """Subscribe a channel to the store's server (scoped to EVERY_SERVER: to every server)."""
        ...

    def unsubscribe(self, channel_id: str) -> bool:
        """End the channel's subscription to the store's server (to EVERY_SERVER: all its subscriptions)."""
        ...

    def subscriptions(self) -> list[Subscription]:
        """The channels that hear of the store's server's jobs, one subscription each."""
        ...

    def every_subscription(self) -> list[Subscription]: ...
    def set_channel_server(self, channel_id: str, user_id: str, now: datetime) -> str | None:
        """Make the store's server the channel's default; the default it had before, if any."""
        ...

    def channel_server(self, channel_id: str) -> str | None: ...
    def channel_servers(self) -> dict[str, str]: ...
    def watch(self, job_id: str, user_id: str, now: datetime) -> None: ...
    def unwatch(self, job_id: str, user_id: str) -> bool: ...
    def watchers(self, job_id: str) -> list[str]: ...


class CancelClaims(Protocol):
    """Who cancelled what through jobbot: the one cancel of a job, claimed once."""

    def claim_cancel(self, job_id: str, user_id: str, now: datetime, *, stale_after: float) -> str | None:
        """Claim the one cancel of a job. None: the caller holds the claim and may send the DELETE.
        Otherwise the user id of whoever holds it. A claim older than `stale_after` seconds (its
        holder died before finishing) may be taken over."""
        ...

    def forget_cancel(self, job_id: str, user_id: str) -> None: ...
    def cancelled_by(self, job_id: str) -> str | None: ...


class AuditTrail(Protocol):
    """The audit trail: cancel attempts and subscription changes."""

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


class Lease(Protocol):
    """Leadership among replicas: one notifier polls and posts at a time."""

    def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take the lease if free or expired, or renew it if `holder` has it; True if held now.
        Expiry is judged by the database's clock, so replicas on several hosts agree."""
        ...

    def release_lease(self, name: str, holder: str) -> None: ...


class NotifierStore(JobTracking, NoticeLedger, LiveCards, Subscriptions, CancelClaims, Lease, Protocol):
    """What the notifier uses: everything but the audit trail."""


class CancelStore(CancelClaims, AuditTrail, Protocol):
    """What the cancel workflow uses: the claim that makes one DELETE per job, and the audit trail."""


class CommandStore(Subscriptions, CancelClaims, AuditTrail, Protocol):
    """What the `/jobs` command and its buttons use: subscriptions and watches, cancel claims, audit."""


class Store(JobTracking, NoticeLedger, LiveCards, Subscriptions, CancelClaims, AuditTrail, Lease, Protocol):
    """Everything jobbot persists: every role, and closing the database. Every method is one transaction.

    A store is scoped to one server (`server`): job-keyed rows, deliveries, cards, the lease and the
    audit trail are that server's. `for_server` gives the same database scoped to another.
    """

    server: str

    def for_server(self, name: str) -> Store: ...
    def serve(self, servers: Servers) -> None:
        """Ready the store for these servers (a single-server store's rows go to `servers.legacy`)."""
        ...

    def close(self) -> None: ...
