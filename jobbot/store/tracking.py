"""Job tracking, written once for both engines: the jobs the notifier has seen and its polls."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from jobbot.store.base import CardJob, FollowUpKind, FollowUpRow, NoticeRow, TrackedJob, job_key
from jobbot.store.cards import record_card_jobs, record_followups
from jobbot.store.database import GENERATION, SERVER, Database, Transaction

JOB_COLUMNS = "id, status, terminal, start_time_ms, graph_id, end_time_ms, alerted_at IS NOT NULL"

# The queries every steady poll runs, named so a test can check their plans: each reads through an
# index, never through the history that piles up.
HIGH_WATER_SQL = f"SELECT MAX(id) FROM jobs WHERE generation = {GENERATION}"
ACTIVE_JOBS_SQL = (
    f"SELECT {JOB_COLUMNS} FROM jobs WHERE NOT terminal AND generation = {GENERATION} ORDER BY id"
)

# A graph's latest successful jobs' durations in seconds, through the index of successes by graph.
USUAL_DURATIONS_SQL = (
    "SELECT end_time_ms - start_time_ms FROM jobs WHERE graph_id = ? AND status = 'SUCCESS' "
    f"AND generation = {GENERATION} AND end_time_ms >= start_time_ms ORDER BY id DESC LIMIT ?"
)


def read_meta(db: Database, key: str) -> str | None:
    """One of the server's own facts (when its baseline was taken, when it was last reconciled)."""
    row = db.transaction(
        lambda tx: tx.execute(
            f"SELECT value FROM server_meta WHERE server = {SERVER} AND key = ?", (key,)
        ).fetchone(),
        write=False,
    )
    return None if row is None else str(row[0])


def write_meta(tx: Transaction, key: str, value: str) -> None:
    tx.execute(
        f"INSERT INTO server_meta (server, key, value) VALUES ({SERVER}, ?, ?) "
        "ON CONFLICT (server, key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _tracked(row: Sequence[Any]) -> TrackedJob:
    """A TrackedJob from a row of JOB_COLUMNS."""
    return TrackedJob(
        str(row[0]),
        str(row[1]),
        bool(row[2]),
        None if row[3] is None else int(row[3]),
        None if row[4] is None else str(row[4]),
        None if row[5] is None else int(row[5]),
        bool(row[6]),
    )


class JobTrackingSql:
    """The jobs the notifier has seen, per server generation."""

    _db: Database

    def baseline_taken(self) -> bool:
        return read_meta(self._db, "baseline_at") is not None

    def take_baseline(self, jobs: Iterable[TrackedJob], now: datetime) -> None:
        jobs = list(jobs)  # the transaction may run twice

        def work(tx: Transaction) -> None:
            self._upsert_jobs(tx, jobs)
            write_meta(tx, "baseline_at", str(now.timestamp()))
            write_meta(tx, "reconciled_at", str(now.timestamp()))

        self._db.transaction(work)

    def high_water(self) -> int:
        row = self._db.transaction(lambda tx: tx.execute(HIGH_WATER_SQL).fetchone(), write=False)
        return int(row[0]) if row and row[0] is not None else 0

    def active_jobs(self) -> list[TrackedJob]:
        rows = self._db.transaction(lambda tx: tx.execute(ACTIVE_JOBS_SQL).fetchall(), write=False)
        return [_tracked(row) for row in rows]

    def job_statuses(self) -> dict[str, TrackedJob]:
        rows = self._db.transaction(
            lambda tx: tx.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE generation = {GENERATION}"
            ).fetchall(),
            write=False,
        )
        return {str(row[0]): _tracked(row) for row in rows}

    def newest_job(self) -> TrackedJob | None:
        row = self._db.transaction(
            lambda tx: tx.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE generation = {GENERATION} AND status <> 'GONE' "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone(),
            write=False,
        )
        return None if row is None else _tracked(row)

    def last_reconcile(self) -> datetime | None:
        value = read_meta(self._db, "reconciled_at")
        return None if value is None else datetime.fromtimestamp(float(value), tz=UTC)

    def begin_generation(self, now: datetime) -> int:
        def work(tx: Transaction) -> int:
            row = tx.execute(f"SELECT COUNT(*) FROM jobs WHERE generation = {GENERATION}").fetchone()
            tx.execute(
                # Numbers are shared by all servers, so a generation names its server too.
                f"INSERT INTO generations (number, started_at, server) SELECT MAX(number) + 1, ?, {SERVER} "
                "FROM generations",
                (self._db.to_db(now),),
            )
            return int(row[0]) if row else 0

        return self._db.transaction(work)

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
        if not seen and not notices and not reconciled and not cards and not followups:
            return 0  # a quiet poll writes nothing
        at = self._db.to_db(now)

        def work(tx: Transaction) -> int:
            self._upsert_jobs(tx, seen)
            record_card_jobs(tx, cards, at)
            record_followups(tx, followups, at)
            # A long-running alert is recorded once per job, whatever its destinations.
            alerted = {f.job.id for f in followups if f.kind is FollowUpKind.LONG_RUNNING}
            if alerted:
                tx.executemany(
                    f"UPDATE jobs SET alerted_at = ? WHERE generation = {GENERATION} AND id = ?",
                    [(at, job_key(job_id)) for job_id in sorted(alerted)],
                )
            new = 0
            for notice in notices:
                new += tx.execute(
                    "INSERT INTO notices "
                    "(generation, job_id, status, destination, job_json, offline, created_at) "
                    f"VALUES ({GENERATION}, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (
                        job_key(notice.job.id),
                        notice.job.status,
                        notice.destination,
                        notice.job.model_dump_json(),
                        notice.offline,
                        at,
                    ),
                ).rowcount
            # Only the watches these notices answer: one added meanwhile waits for its own notice.
            if notices:
                tx.executemany(
                    f"DELETE FROM watches WHERE generation = {GENERATION} AND job_id = ? AND user_id = ?",
                    [(job_key(n.job.id), n.destination) for n in notices],
                )
            if reconciled:
                write_meta(tx, "reconciled_at", str(now.timestamp()))
            return new

        return self._db.transaction(work)

    @staticmethod
    def _upsert_jobs(tx: Transaction, jobs: Sequence[TrackedJob]) -> None:
        if jobs:
            tx.executemany(
                "INSERT INTO jobs (generation, id, status, terminal, start_time_ms, graph_id, end_time_ms) "
                f"VALUES ({GENERATION}, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (generation, id) DO UPDATE SET status = excluded.status, "
                "terminal = excluded.terminal, "
                "start_time_ms = COALESCE(excluded.start_time_ms, jobs.start_time_ms), "
                "graph_id = COALESCE(excluded.graph_id, jobs.graph_id), "
                "end_time_ms = COALESCE(excluded.end_time_ms, jobs.end_time_ms)",
                [
                    (job_key(j.id), j.status, j.terminal, j.start_time_ms, j.graph_id, j.end_time_ms)
                    for j in jobs
                ],
            )

    def usual_durations(self, graph_id: str, limit: int) -> list[float]:
        rows = self._db.transaction(
            lambda tx: tx.execute(
                USUAL_DURATIONS_SQL,
                (graph_id, limit),
            ).fetchall(),
            write=False,
        )
        return [float(row[0]) / 1000 for row in rows]
