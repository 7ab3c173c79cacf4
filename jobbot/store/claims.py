"""Subscriptions, watches, cancel claims and the lease, written once for both engines."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from jobbot.models import NoticeStyle, Subscription
from jobbot.store.base import job_key
from jobbot.store.cards import cards_show_watchers
from jobbot.store.database import GENERATION, Database, Transaction


class SubscriptionsSql:
    """Channels subscribed to finished jobs, and users watching one job."""

    _db: Database

    def subscribe(self, subscription: Subscription) -> None:
        self._db.transaction(
            lambda tx: tx.execute(
                "INSERT INTO subscriptions (channel_id, statuses, style, added_by, added_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel_id) DO UPDATE SET statuses = excluded.statuses, "
                "style = excluded.style, added_by = excluded.added_by, added_at = excluded.added_at",
                (
                    subscription.channel_id,
                    json.dumps(list(subscription.statuses)),
                    subscription.style.value,
                    subscription.added_by,
                    self._db.to_db(subscription.added_at),
                ),
            )
        )

    def unsubscribe(self, channel_id: str) -> bool:
        return self._db.transaction(
            lambda tx: (
                tx.execute("DELETE FROM subscriptions WHERE channel_id = ?", (channel_id,)).rowcount > 0
            )
        )

    def subscriptions(self) -> list[Subscription]:
        rows = self._db.transaction(
            lambda tx: tx.execute(
                "SELECT channel_id, statuses, style, added_by, added_at FROM subscriptions "
                "ORDER BY added_at, channel_id"
            ).fetchall(),
            write=False,
        )
        return [
            Subscription(
                channel_id=c,
                statuses=tuple(json.loads(s)),
                style=NoticeStyle(style),
                added_by=a,
                added_at=self._db.from_db(t),
            )
            for c, s, style, a, t in rows
        ]

    def watch(self, job_id: str, user_id: str, now: datetime) -> None:
        def work(tx: Transaction) -> None:
            added = tx.execute(
                "INSERT INTO watches (generation, job_id, user_id, added_at) "
                f"VALUES ({GENERATION}, ?, ?, ?) ON CONFLICT DO NOTHING",
                (job_key(job_id), user_id, self._db.to_db(now)),
            ).rowcount
            if added:
                cards_show_watchers(tx, job_id)

        self._db.transaction(work)

    def unwatch(self, job_id: str, user_id: str) -> bool:
        def work(tx: Transaction) -> bool:
            removed = tx.execute(
                f"DELETE FROM watches WHERE generation = {GENERATION} AND job_id = ? AND user_id = ?",
                (job_key(job_id), user_id),
            ).rowcount
            if removed:
                cards_show_watchers(tx, job_id)
            return removed > 0

        return self._db.transaction(work)

    def watchers(self, job_id: str) -> list[str]:
        # The first to watch first; watches made at the same instant by user id, so the order is stable.
        rows = self._db.transaction(
            lambda tx: tx.execute(
                f"SELECT user_id FROM watches WHERE generation = {GENERATION} AND job_id = ? "
                "ORDER BY added_at, user_id",
                (job_key(job_id),),
            ).fetchall(),
            write=False,
        )
        return [str(r[0]) for r in rows]


class CancelClaimsSql:
    """Who holds (or held) the one cancel of a job."""

    _db: Database

    def claim_cancel(self, job_id: str, user_id: str, now: datetime, *, stale_after: float) -> str | None:
        at = self._db.to_db(now)
        key = job_key(job_id)

        def work(tx: Transaction) -> tuple[str, object]:
            # ON CONFLICT locks the existing row even when it is not stale, so the read below sees the
            # claim that stands until we commit; a concurrent claimer waits, then finds ours.
            tx.execute(
                f"INSERT INTO cancels (generation, job_id, user_id, at) VALUES ({GENERATION}, ?, ?, ?) "
                "ON CONFLICT (generation, job_id) DO UPDATE SET user_id = excluded.user_id, at = excluded.at "
                "WHERE cancels.at < ?",
                (key, user_id, at, self._db.to_db(now - timedelta(seconds=stale_after))),
            )
            row = tx.execute(
                f"SELECT user_id, at FROM cancels WHERE generation = {GENERATION} AND job_id = ?", (key,)
            ).fetchone()
            assert row is not None  # inserted, updated or locked above
            return str(row[0]), row[1]

        holder, held_since = self._db.transaction(work)
        return None if holder == user_id and held_since == at else holder

    def forget_cancel(self, job_id: str, user_id: str) -> None:
        self._db.transaction(
            lambda tx: tx.execute(
                f"DELETE FROM cancels WHERE generation = {GENERATION} AND job_id = ? AND user_id = ?",
                (job_key(job_id), user_id),
            )
        )

    def cancelled_by(self, job_id: str) -> str | None:
        key = job_key(job_id)
        row = self._db.transaction(
            lambda tx: tx.execute(
                f"SELECT user_id FROM cancels WHERE generation = {GENERATION} AND job_id = ?", (key,)
            ).fetchone(),
            write=False,
        )
        return None if row is None else str(row[0])


class LeaseSql:
    """Leadership among replicas: one notifier polls and posts at a time."""

    _db: Database

    def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        later, now, clock_args = self._db.lease_clock(ttl)

        def work(tx: Transaction) -> bool:
            tx.execute(
                f"INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, {later}) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                f"WHERE leases.holder = excluded.holder OR leases.expires_at < {now}",
                (name, holder, *clock_args),
            )
            row = tx.execute("SELECT holder FROM leases WHERE name = ?", (name,)).fetchone()
            return row is not None and row[0] == holder

        return self._db.transaction(work)

    def release_lease(self, name: str, holder: str) -> None:
        self._db.transaction(
            lambda tx: tx.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))
        )
