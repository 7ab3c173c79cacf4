"""The notice ledger, written once for both engines: notices grouped into deliveries, and their states."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from jobbot.models import FinishedJob
from jobbot.store.base import Delivery, DeliveryState, NoticeRow, job_key, with_their_jobs
from jobbot.store.database import (
    GENERATION,
    OPEN_DELIVERY,
    SERVER,
    SERVER_GENERATIONS,
    Database,
    Transaction,
)

# Read by every steady poll, named so a test can check their plans (see tracking.py).
UNGROUPED_NOTICES_SQL = (
    "SELECT job_json, destination, offline, generation FROM notices WHERE delivery_id IS NULL "
    f"AND generation IN {SERVER_GENERATIONS} ORDER BY created_at, job_id"
)
# The open deliveries and their jobs in one statement. `{indexed_by}` makes SQLite read through the
# partial index (or fail loudly): finished deliveries pile up for ever and must never be read here.
OPEN_DELIVERIES_SQL = (
    "SELECT d.id, d.destination, d.channel, d.state, d.ts, d.offline, d.attempts, d.created_at, "
    "n.job_json FROM deliveries AS d {indexed_by} LEFT JOIN notices AS n ON n.delivery_id = d.id "
    f"WHERE d.{OPEN_DELIVERY} AND d.server = {SERVER} ORDER BY d.id, n.job_id"
)
# A claim moves a delivery to POSTING from these states only.
CLAIMABLE_STATES = (DeliveryState.PENDING, DeliveryState.POSTING)


class NoticeLedgerSql:
    """Notices waiting to be grouped, and the deliveries (Slack messages) they were grouped into."""

    _db: Database

    def ungrouped_notices(self) -> list[NoticeRow]:
        rows = self._db.transaction(lambda tx: tx.execute(UNGROUPED_NOTICES_SQL).fetchall(), write=False)
        return [NoticeRow(FinishedJob.model_validate_json(j), str(d), bool(o), int(g)) for j, d, o, g in rows]

    def group_notices(self, groups: Sequence[Sequence[NoticeRow]], now: datetime) -> list[int]:
        at = self._db.to_db(now)

        def work(tx: Transaction) -> list[int]:
            ids = []
            for group in groups:
                if not group:
                    continue
                (delivery_id,) = tx.execute(
                    "INSERT INTO deliveries (destination, state, offline, created_at, updated_at, server) "
                    f"VALUES (?, ?, ?, ?, ?, {SERVER}) RETURNING id",
                    (
                        group[0].destination,
                        DeliveryState.PENDING.value,
                        any(n.offline for n in group),
                        at,
                        at,
                    ),
                ).fetchone()
                tx.executemany(
                    "UPDATE notices SET delivery_id = ? "
                    "WHERE job_id = ? AND status = ? AND destination = ? AND delivery_id IS NULL "
                    f"AND generation = COALESCE(?, {GENERATION})",
                    [
                        (delivery_id, job_key(n.job.id), n.job.status, n.destination, n.generation)
                        for n in group
                    ],
                )
                ids.append(int(delivery_id))
            return ids

        return self._db.transaction(work)

    def open_deliveries(self) -> list[Delivery]:
        query = OPEN_DELIVERIES_SQL.format(indexed_by=self._db.indexed_by("deliveries_open"))
        rows = self._db.transaction(lambda tx: tx.execute(query).fetchall(), write=False)
        return [
            Delivery(
                id=delivery_id,
                destination=str(row[1]),
                channel=row[2],
                state=DeliveryState(row[3]),
                ts=row[4],
                offline=bool(row[5]),
                attempts=int(row[6]),
                created_at=self._db.from_db(row[7]),
                jobs=tuple(jobs),
            )
            for delivery_id, (row, jobs) in with_their_jobs(rows, job_column=8).items()
        ]

    def set_delivery_state(
        self,
        delivery_id: int,
        state: DeliveryState,
        *,
        now: datetime,
        channel: str | None = None,
        ts: str | None = None,
        error: str | None = None,
    ) -> None:
        self._db.transaction(
            lambda tx: tx.execute(
                "UPDATE deliveries SET state = ?, channel = COALESCE(?, channel), ts = COALESCE(?, ts), "
                "error = COALESCE(?, error), updated_at = ? WHERE id = ?",
                (state.value, channel, ts, error, self._db.to_db(now), delivery_id),
            )
        )

    def claim_delivery(self, delivery_id: int, *, attempts: int, channel: str, now: datetime) -> bool:
        # A concurrent claimer waits for our row lock (PostgreSQL) or our write lock (SQLite), then
        # re-checks the WHERE against our new row.
        pending, posting = (state.value for state in CLAIMABLE_STATES)
        rows = self._db.transaction(
            lambda tx: (
                tx.execute(
                    "UPDATE deliveries SET state = ?, channel = ?, attempts = attempts + 1, updated_at = ? "
                    "WHERE id = ? AND attempts = ? AND state IN (?, ?)",
                    (
                        DeliveryState.POSTING.value,
                        channel,
                        self._db.to_db(now),
                        delivery_id,
                        attempts,
                        pending,
                        posting,
                    ),
                ).rowcount
            )
        )
        return rows == 1

    def notice_count(self, job_id: str) -> int:
        key = job_key(job_id)
        row = self._db.transaction(
            lambda tx: tx.execute(
                f"SELECT COUNT(*) FROM notices WHERE generation = {GENERATION} AND job_id = ?", (key,)
            ).fetchone(),
            write=False,
        )
        return int(row[0]) if row else 0
