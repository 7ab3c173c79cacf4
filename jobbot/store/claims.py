"""Subscriptions, watches, cancel claims and the lease, written once for both engines."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from jobbot.models import NoticeStyle, Subscription
from jobbot.servers import DEFAULT_SERVER, EVERY_SERVER
from jobbot.store.base import job_key
from jobbot.store.cards import cards_show_watchers
from jobbot.store.database import GENERATION, SERVER, Database, Transaction


class SubscriptionsSql:
    """Channels subscribed to finished jobs, and users watching one job."""

    _db: Database

    # A subscription is stored for the server the store is scoped to: one server's name, or EVERY_SERVER.
    server: str

    def subscribe(self, subscription: Subscription) -> None:
        self._db.transaction(
            lambda tx: tx.execute(
                "INSERT INTO subscriptions (channel_id, server, statuses, style, added_by, added_at) "
                f"VALUES (?, {SERVER}, ?, ?, ?, ?) ON CONFLICT (channel_id, server) DO UPDATE SET "
                "statuses = excluded.statuses, style = excluded.style, added_by = excluded.added_by, "
                "added_at = excluded.added_at",
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
        # Scoped to every server, it ends the channel's subscriptions to each server as well.
        return self._db.transaction(
            lambda tx: (
                tx.execute(
                    f"DELETE FROM subscriptions WHERE channel_id = ? AND (server = {SERVER} "
                    f"OR {SERVER} = '{EVERY_SERVER}')",
                    (channel_id,),
                ).rowcount
                > 0
            )
        )

    def subscriptions(self) -> list[Subscription]:
        """The channels that hear of this server's jobs: subscribed to it, or to every server. A channel
        subscribed both ways gets what its subscription to this server asks for."""
        chosen: dict[str, Subscription] = {}
        for subscription in self._subscription_rows(f"WHERE server IN ({SERVER}, '{EVERY_SERVER}')"):
            if subscription.channel_id not in chosen or subscription.server != EVERY_SERVER:
                chosen[subscription.channel_id] = subscription
        return list(chosen.values())

    def every_subscription(self) -> list[Subscription]:
        """Every channel's subscriptions, to whichever server."""
        return self._subscription_rows("")

    def _subscription_rows(self, where: str) -> list[Subscription]:
        rows = self._db.transaction(
            lambda tx: tx.execute(
                f"SELECT channel_id, statuses, style, added_by, added_at, server FROM subscriptions {where} "
                "ORDER BY added_at, channel_id, server"
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
                server=server,
            )
            for c, s, style, a, t, server in rows
        ]

    def set_channel_server(self, channel_id: str, user_id: str, now: datetime) -> str | None:
        """Make the store's server the channel's default; returns the default it had before, if any."""

        def work(tx: Transaction) -> str | None:
            row = tx.execute(
                f"SELECT server FROM channel_servers WHERE channel_id = ?{self._db.for_update()}",
                (channel_id,),
            ).fetchone()
            tx.execute(
                "INSERT INTO channel_servers (channel_id, server, set_by, set_at) "
                f"VALUES (?, {SERVER}, ?, ?) "
                "ON CONFLICT (channel_id) DO UPDATE SET server = excluded.server, set_by = excluded.set_by, "
                "set_at = excluded.set_at",
                (channel_id, user_id, self._db.to_db(now)),
            )
            return None if row is None else str(row[0])

        return self._db.transaction(work)

    def channel_server(self, channel_id: str) -> str | None:
        """The default server a channel picked with `/jobs use`, if it did."""
        row = self._db.transaction(
            lambda tx: tx.execute(
                "SELECT server FROM channel_servers WHERE channel_id = ?", (channel_id,)
            ).fetchone(),
            write=False,
        )
        return None if row is None else str(row[0])

    def channel_servers(self) -> dict[str, str]:
        """Every channel's default server, by channel."""
        rows = self._db.transaction(
            lambda tx: tx.execute(
                "SELECT channel_id, server FROM channel_servers ORDER BY channel_id"
            ).fetchall(),
            write=False,
        )
        return {str(channel): str(server) for channel, server in rows}

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
    """Leadership among replicas: one notifier per server polls and posts at a time."""

    _db: Database
    server: str

    def _lease_key(self, name: str) -> str:
        # Each server's lease is its own, so replicas may share the servers out between them.
        return name if self.server == DEFAULT_SERVER else f"{name}:{self.server}"

    def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        later, now, clock_args = self._db.lease_clock(ttl)
        key = self._lease_key(name)

        def work(tx: Transaction) -> bool:
            tx.execute(
                f"INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, {later}) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                f"WHERE leases.holder = excluded.holder OR leases.expires_at < {now}",
                (key, holder, *clock_args),
            )
            row = tx.execute("SELECT holder FROM leases WHERE name = ?", (key,)).fetchone()
            return row is not None and row[0] == holder

        return self._db.transaction(work)

    def release_lease(self, name: str, holder: str) -> None:
        self._db.transaction(
            lambda tx: tx.execute(
                "DELETE FROM leases WHERE name = ? AND holder = ?", (self._lease_key(name), holder)
            )
        )
