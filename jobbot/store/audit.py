"""The audit trail, written once for both engines: cancel attempts and subscription changes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from jobbot.models import AuditEntry, SubscriptionChange
from jobbot.servers import EVERY_SERVER
from jobbot.store.base import job_key
from jobbot.store.database import SERVER, Database, Transaction, elapsed

AUDIT_COLUMNS = (
    "at, user_id, team_id, channel_id, job_id, status_before, outcome, message, repeats, last_at, server"
)
SUBSCRIPTION_AUDIT_COLUMNS = "at, user_id, team_id, channel_id, action, statuses, repeats, last_at, server"
# A repeat is counted by copying its row to a new id (then deleting the old one): the row moves to the
# top, so "newest first" by id stays "latest activity first" through the primary key alone.
# The arguments are (the repeat's time, the old row's id).
_FOLD = (
    "INSERT INTO {table} ({copied}, repeats, last_at) "
    "SELECT {copied}, repeats + 1, ? FROM {table} WHERE id = ?"
)
FOLD_AUDIT_SQL = _FOLD.format(
    table="audit",
    copied="at, user_id, team_id, channel_id, job_id, status_before, outcome, message, server",
)
FOLD_SUBSCRIPTION_CHANGE_SQL = _FOLD.format(
    table="subscription_audit",
    copied="at, user_id, team_id, channel_id, action, statuses, server",
)


def audit_from_row(row: Sequence[Any], at: datetime, last_at: datetime | None = None) -> AuditEntry:
    """An audit entry from a row of AUDIT_COLUMNS, its times converted by the engine first."""
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
        server=str(row[10]),
    )


def audit_filter(job_id: str | None, refused: bool | None) -> tuple[str, tuple[object, ...]]:
    """The WHERE clause (and its arguments) picking one job's entries, and refusals or the others."""
    conditions: list[str] = [f"server = {SERVER}"]
    args: list[object] = []
    if job_id is not None:
        conditions.append("job_id = ?")
        args.append(job_key(job_id))
    if refused is not None:
        conditions.append("outcome = 'refused'" if refused else "outcome <> 'refused'")
    return " WHERE " + " AND ".join(conditions), tuple(args)


def subscription_change_from_row(
    row: Sequence[Any], at: datetime, last_at: datetime | None
) -> SubscriptionChange:
    """A subscription change from a row of SUBSCRIPTION_AUDIT_COLUMNS, its times converted by the engine."""
    return SubscriptionChange(
        at=at,
        user_id=row[1],
        team_id=row[2],
        channel_id=row[3],
        action=row[4],
        statuses=tuple(json.loads(row[5])),
        repeats=int(row[6]),
        last_at=last_at,
        server=str(row[8]),
    )


class AuditTrailSql:
    """Who tried to cancel what and how it ended; who subscribed or unsubscribed a channel."""

    _db: Database

    def record_audit(self, entry: AuditEntry, *, fold_within: float = 0.0) -> None:
        at = self._db.to_db(entry.at)

        def work(tx: Transaction) -> None:
            like = f"job_id = ? AND user_id = ? AND outcome = ? AND server = {SERVER}"
            args = (job_key(entry.job_id), entry.user_id, entry.outcome)
            if self._fold(tx, "audit", FOLD_AUDIT_SQL, like, args, entry.at, fold_within):
                return
            tx.execute(
                "INSERT INTO audit "
                "(at, user_id, team_id, channel_id, job_id, status_before, outcome, message, server) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, {SERVER})",
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
        where, args = audit_filter(job_id, refused)
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
            like = f"channel_id = ? AND user_id = ? AND action = ? AND statuses = ? AND server = {SERVER}"
            args = (change.channel_id, change.user_id, change.action, statuses)
            if self._fold(
                tx, "subscription_audit", FOLD_SUBSCRIPTION_CHANGE_SQL, like, args, change.at, fold_within
            ):
                return
            tx.execute(
                "INSERT INTO subscription_audit (at, user_id, team_id, channel_id, action, statuses, server) "
                f"VALUES (?, ?, ?, ?, ?, ?, {SERVER})",
                (at, change.user_id, change.team_id, change.channel_id, change.action, statuses),
            )

        self._db.transaction(work)

    def subscription_changes(self, limit: int) -> list[SubscriptionChange]:
        rows = self._db.transaction(
            lambda tx: tx.execute(
                # A server's changes, and those to every server's notices.
                f"SELECT {SUBSCRIPTION_AUDIT_COLUMNS} FROM subscription_audit "
                f"WHERE server IN ({SERVER}, '{EVERY_SERVER}') ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall(),
            write=False,
        )
        return [subscription_change_from_row(r, self._db.from_db(r[0]), self._last_at(r[7])) for r in rows]

    def _fold(
        self,
        tx: Transaction,
        table: str,
        fold_sql: str,
        like: str,
        args: tuple[object, ...],
        moment: datetime,
        fold_within: float,
    ) -> bool:
        """Count a repeat at `moment` on the latest row `like` it, if that row was last repeated at most
        `fold_within` seconds before; False when there is none (or no window) and a row must be added."""
        if fold_within <= 0:
            return False
        # Locked: two replicas folding the same repeat count it twice, never lose one.
        latest = tx.execute(
            f"SELECT id, COALESCE(last_at, at) FROM {table} WHERE {like} "
            f"ORDER BY id DESC LIMIT 1{self._db.for_update()}",
            args,
        ).fetchone()
        if latest is None or not 0 <= elapsed(self._db, latest[1], moment) <= fold_within:
            return False
        tx.execute(fold_sql, (self._db.to_db(moment), latest[0]))
        tx.execute(f"DELETE FROM {table} WHERE id = ?", (latest[0],))
        return True

    def _last_at(self, value: object) -> datetime | None:
        return None if value is None else self._db.from_db(value)
