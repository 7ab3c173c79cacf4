"""The audit trail, written once for both engines: cancel attempts and subscription changes."""

from __future__ import annotations

import json
from datetime import datetime

from jobbot.models import AuditEntry, SubscriptionChange
from jobbot.store.base import (
    AUDIT_COLUMNS,
    FOLD_AUDIT_SQL,
    FOLD_SUBSCRIPTION_CHANGE_SQL,
    SUBSCRIPTION_AUDIT_COLUMNS,
    audit_filter,
    audit_from_row,
    job_key,
    subscription_change_from_row,
)
from jobbot.store.database import Database, Transaction, elapsed


class AuditTrailSql:
    """Who tried to cancel what and how it ended; who subscribed or unsubscribed a channel."""

    _db: Database

    def record_audit(self, entry: AuditEntry, *, fold_within: float = 0.0) -> None:
        at = self._db.to_db(entry.at)

        def work(tx: Transaction) -> None:
            if fold_within > 0:
                # Locked: two replicas folding the same refusal count it twice, never lose one.
                latest = tx.execute(
                    "SELECT id, COALESCE(last_at, at) FROM audit WHERE job_id = ? AND user_id = ? "
                    f"AND outcome = ? ORDER BY id DESC LIMIT 1{self._db.for_update()}",
                    (job_key(entry.job_id), entry.user_id, entry.outcome),
                ).fetchone()
                if latest is not None and 0 <= elapsed(self._db, latest[1], entry.at) <= fold_within:
                    tx.execute(FOLD_AUDIT_SQL.format(p="?"), (at, latest[0]))
                    tx.execute("DELETE FROM audit WHERE id = ?", (latest[0],))
                    return
            tx.execute(
                "INSERT INTO audit "
                "(at, user_id, team_id, channel_id, job_id, status_before, outcome, message) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    at,
                    entry.user_id,
                    entry.team_id,
                    entry.channel_id,
                    job_key(entry.job_id),
                    entry.status_before,
                    entry.outcome,
                    entry.message,
                ),
            )

        self._db.transaction(work)

    def audit_entries(
        self, job_id: str | None, limit: int, *, refused: bool | None = None
    ) -> list[AuditEntry]:
        where, args = audit_filter(job_id, refused, placeholder="?")
        rows = self._db.transaction(
            lambda tx: tx.execute(
                f"SELECT {AUDIT_COLUMNS} FROM audit{where} ORDER BY id DESC LIMIT ?", (*args, limit)
            ).fetchall(),
            write=False,
        )
        return [audit_from_row(r, self._db.from_db(r[0]), self._last_at(r[9])) for r in rows]

    def record_subscription_change(self, change: SubscriptionChange, *, fold_within: float = 0.0) -> None:
        at = self._db.to_db(change.at)
        statuses = json.dumps(list(change.statuses))

        def work(tx: Transaction) -> None:
            if fold_within > 0:
                latest = tx.execute(
                    "SELECT id, COALESCE(last_at, at) FROM subscription_audit WHERE channel_id = ? "
                    "AND user_id = ? AND action = ? AND statuses = ? "
                    f"ORDER BY id DESC LIMIT 1{self._db.for_update()}",
                    (change.channel_id, change.user_id, change.action, statuses),
                ).fetchone()
                if latest is not None and 0 <= elapsed(self._db, latest[1], change.at) <= fold_within:
                    tx.execute(FOLD_SUBSCRIPTION_CHANGE_SQL.format(p="?"), (at, latest[0]))
                    tx.execute("DELETE FROM subscription_audit WHERE id = ?", (latest[0],))
                    return
            tx.execute(
                "INSERT INTO subscription_audit (at, user_id, team_id, channel_id, action, statuses) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (at, change.user_id, change.team_id, change.channel_id, change.action, statuses),
            )

        self._db.transaction(work)

    def subscription_changes(self, limit: int) -> list[SubscriptionChange]:
        rows = self._db.transaction(
            lambda tx: tx.execute(
                f"SELECT {SUBSCRIPTION_AUDIT_COLUMNS} FROM subscription_audit ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall(),
            write=False,
        )
        return [subscription_change_from_row(r, self._db.from_db(r[0]), self._last_at(r[7])) for r in rows]

    def _last_at(self, value: object) -> datetime | None:
        return None if value is None else self._db.from_db(value)
