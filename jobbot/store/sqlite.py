"""The SQLite store: the embedded default. One connection, serialised by a lock; WAL so that other
processes (a second replica on the same host, an operator's sqlite3 shell) can read while we write."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from jobbot.errors import StoreError
from jobbot.models import AuditEntry, FinishedJob, Subscription, SubscriptionChange
from jobbot.store.base import (
    AUDIT_COLUMNS,
    FOLD_AUDIT_SQL,
    FOLD_SUBSCRIPTION_CHANGE_SQL,
    SUBSCRIPTION_AUDIT_COLUMNS,
    Delivery,
    DeliveryState,
    NoticeRow,
    TrackedJob,
    audit_filter,
    audit_from_row,
    job_key,
    subscription_change_from_row,
)

# Each entry moves the schema one version up; never edit one that has shipped, add another.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        status TEXT NOT NULL,
        terminal INTEGER NOT NULL
    );
    CREATE INDEX jobs_active ON jobs (terminal) WHERE terminal = 0;
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        destination TEXT NOT NULL,
        channel TEXT,
        state TEXT NOT NULL,
        ts TEXT,
        offline INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX deliveries_open ON deliveries (state) WHERE state NOT IN ('done', 'failed');
    CREATE TABLE notices (
        job_id INTEGER NOT NULL,
        status TEXT NOT NULL,
        destination TEXT NOT NULL,
        job_json TEXT NOT NULL,
        offline INTEGER NOT NULL,
        delivery_id INTEGER REFERENCES deliveries (id),
        created_at REAL NOT NULL,
        PRIMARY KEY (job_id, status, destination)
    );
    CREATE INDEX notices_ungrouped ON notices (delivery_id) WHERE delivery_id IS NULL;
    CREATE TABLE subscriptions (
        channel_id TEXT PRIMARY KEY,
        statuses TEXT NOT NULL,
        added_by TEXT NOT NULL,
        added_at REAL NOT NULL
    );
    CREATE TABLE watches (
        job_id INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        added_at REAL NOT NULL,
        PRIMARY KEY (job_id, user_id)
    );
    CREATE TABLE cancels (job_id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, at REAL NOT NULL);
    """,
    """
    CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at REAL NOT NULL);
    """,
    """
    CREATE INDEX notices_by_delivery ON notices (delivery_id, job_id);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        user_id TEXT NOT NULL,
        team_id TEXT,
        channel_id TEXT,
        job_id INTEGER NOT NULL,
        status_before TEXT,
        outcome TEXT NOT NULL,
        message TEXT
    );
    CREATE INDEX audit_by_job ON audit (job_id, id);
    """,
    # Server generations: a redeployed Interactive server numbers its jobs from 1 again, so everything
    # keyed by a job id is keyed by (generation, job id). What was stored before is generation 1.
    # SQLite cannot change a primary key in place: each table is copied into its new shape. The
    # columns keep PostgreSQL's order (new ones last), so both backends have the same tables.
    """
    CREATE TABLE generations (number INTEGER PRIMARY KEY, started_at REAL);
    INSERT INTO generations (number, started_at) VALUES (1, NULL);
    CREATE TABLE jobs_v4 (
        id INTEGER NOT NULL,
        status TEXT NOT NULL,
        terminal INTEGER NOT NULL,
        generation INTEGER NOT NULL DEFAULT 1,
        start_time_ms INTEGER,
        PRIMARY KEY (generation, id)
    );
    INSERT INTO jobs_v4 (id, status, terminal) SELECT id, status, terminal FROM jobs;
    DROP TABLE jobs;
    ALTER TABLE jobs_v4 RENAME TO jobs;
    CREATE INDEX jobs_active ON jobs (generation, id) WHERE terminal = 0;
    CREATE TABLE notices_v4 (
        job_id INTEGER NOT NULL,
        status TEXT NOT NULL,
        destination TEXT NOT NULL,
        job_json TEXT NOT NULL,
        offline INTEGER NOT NULL,
        delivery_id INTEGER REFERENCES deliveries (id),
        created_at REAL NOT NULL,
        generation INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (generation, job_id, status, destination)
    );
    INSERT INTO notices_v4 (job_id, status, destination, job_json, offline, delivery_id, created_at)
        SELECT job_id, status, destination, job_json, offline, delivery_id, created_at FROM notices;
    DROP TABLE notices;
    ALTER TABLE notices_v4 RENAME TO notices;
    CREATE INDEX notices_ungrouped ON notices (delivery_id) WHERE delivery_id IS NULL;
    CREATE INDEX notices_by_delivery ON notices (delivery_id, job_id);
    CREATE TABLE watches_v4 (
        job_id INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        added_at REAL NOT NULL,
        generation INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (generation, job_id, user_id)
    );
    INSERT INTO watches_v4 (job_id, user_id, added_at) SELECT job_id, user_id, added_at FROM watches;
    DROP TABLE watches;
    ALTER TABLE watches_v4 RENAME TO watches;
    CREATE TABLE cancels_v4 (
        job_id INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        at REAL NOT NULL,
        generation INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (generation, job_id)
    );
    INSERT INTO cancels_v4 (job_id, user_id, at) SELECT job_id, user_id, at FROM cancels;
    DROP TABLE cancels;
    ALTER TABLE cancels_v4 RENAME TO cancels;
    """,
    """
    ALTER TABLE audit ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE audit ADD COLUMN last_at REAL;
    CREATE TABLE subscription_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        user_id TEXT NOT NULL,
        team_id TEXT,
        channel_id TEXT NOT NULL,
        action TEXT NOT NULL,
        statuses TEXT NOT NULL,
        repeats INTEGER NOT NULL DEFAULT 1,
        last_at REAL
    );
    CREATE INDEX subscription_audit_by_channel ON subscription_audit (channel_id, id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# The generation every job-keyed read and write is in: the newest. Read inside each statement, so a
# replica's handlers follow a new generation the leader began without being told.
GENERATION = "(SELECT MAX(number) FROM generations)"


def _create_private(path: str) -> None:
    """Create the store file readable and writable by its owner only, unless it exists already.

    It holds the audit trail, watches and notices; sqlite3 would create it 0644 (less the umask). SQLite
    gives its -wal and -shm companions the database file's own mode, so they are private too.
    """
    if path == ":memory:":  # no file at all (sqlite3 is not asked to read URIs, so "file:..." is a name)
        return
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))


class SqliteStore:
    """The Store on one SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            _create_private(path)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            self._enable_wal()
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            self.instance_id = self._instance_id()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite store {path!r}: {exc}") from None
        except OSError as exc:
            raise StoreError(f"cannot open the SQLite store {path!r}: {exc.strerror}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _enable_wal(self) -> None:
        # Switching to WAL takes an exclusive lock that SQLite's busy timeout does not wait for: when
        # several processes open a new file at once, all but one are told "locked" and try again.
        for attempt in range(100):
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"the SQLite store is not writable: {exc}") from None
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._transaction() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store {self.path!r} has schema version {version}, newer than this jobbot "
                    f"({SCHEMA_VERSION}); upgrade jobbot"
                )
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _instance_id(self) -> str:
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'instance_id'").fetchone()
            if row:
                return str(row[0])
            value = secrets.token_hex(8)
            db.execute("INSERT INTO meta (key, value) VALUES ('instance_id', ?)", (value,))
            return value

    def _meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # Jobs the notifier has seen.

    def baseline_taken(self) -> bool:
        return self._meta("baseline_at") is not None

    def take_baseline(self, jobs: Iterable[TrackedJob], now: datetime) -> None:
        with self._transaction() as db:
            self._upsert_jobs(db, jobs)
            self._set_meta(db, "baseline_at", str(now.timestamp()))
            self._set_meta(db, "reconciled_at", str(now.timestamp()))

    def high_water(self) -> int:
        with self._lock:
            row = self._db.execute(f"SELECT MAX(id) FROM jobs WHERE generation = {GENERATION}").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def active_jobs(self) -> list[TrackedJob]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE terminal = 0 AND generation = {GENERATION} ORDER BY id"
            ).fetchall()
        return [_tracked(row) for row in rows]

    def job_statuses(self) -> dict[str, TrackedJob]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE generation = {GENERATION}"
            ).fetchall()
        return {str(row[0]): _tracked(row) for row in rows}

    def newest_job(self) -> TrackedJob | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE generation = {GENERATION} AND status <> 'GONE' "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return None if row is None else _tracked(row)

    def begin_generation(self, now: datetime) -> int:
        with self._transaction() as db:
            (kept,) = db.execute(f"SELECT COUNT(*) FROM jobs WHERE generation = {GENERATION}").fetchone()
            db.execute(
                "INSERT INTO generations (number, started_at) SELECT MAX(number) + 1, ? FROM generations",
                (now.timestamp(),),
            )
        return int(kept)

    def last_reconcile(self) -> datetime | None:
        value = self._meta("reconciled_at")
        return None if value is None else datetime.fromtimestamp(float(value), tz=UTC)

    def record_poll(
        self, seen: Sequence[TrackedJob], notices: Sequence[NoticeRow], *, now: datetime, reconciled: bool
    ) -> int:
        if not seen and not notices and not reconciled:
            return 0  # a quiet poll writes nothing
        with self._transaction() as db:
            self._upsert_jobs(db, seen)
            new = 0
            for notice in notices:
                cursor = db.execute(
                    "INSERT INTO notices "
                    "(generation, job_id, status, destination, job_json, offline, created_at) "
                    f"VALUES ({GENERATION}, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (
                        job_key(notice.job.id),
                        notice.job.status,
                        notice.destination,
                        notice.job.model_dump_json(),
                        int(notice.offline),
                        now.timestamp(),
                    ),
                )
                new += cursor.rowcount
            # Only the watches these notices answer: one added meanwhile waits for its own notice.
            db.executemany(
                f"DELETE FROM watches WHERE generation = {GENERATION} AND job_id = ? AND user_id = ?",
                [(job_key(n.job.id), n.destination) for n in notices],
            )
            if reconciled:
                self._set_meta(db, "reconciled_at", str(now.timestamp()))
        return new

    @staticmethod
    def _upsert_jobs(db: sqlite3.Connection, jobs: Iterable[TrackedJob]) -> None:
        db.executemany(
            "INSERT INTO jobs (generation, id, status, terminal, start_time_ms) "
            f"VALUES ({GENERATION}, ?, ?, ?, ?) "
            "ON CONFLICT (generation, id) DO UPDATE SET status = excluded.status, "
            "terminal = excluded.terminal, "
            "start_time_ms = COALESCE(excluded.start_time_ms, jobs.start_time_ms)",
            [(job_key(j.id), j.status, int(j.terminal), j.start_time_ms) for j in jobs],
        )

    # The notice ledger.

    def ungrouped_notices(self) -> list[NoticeRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT job_json, destination, offline, generation FROM notices WHERE delivery_id IS NULL "
                "ORDER BY created_at, job_id"
            ).fetchall()
        return [NoticeRow(FinishedJob.model_validate_json(j), d, bool(o), int(g)) for j, d, o, g in rows]

    def group_notices(self, groups: Sequence[Sequence[NoticeRow]], now: datetime) -> list[int]:
        ids = []
        with self._transaction() as db:
            for group in groups:
                if not group:
                    continue
                destination = group[0].destination
                cursor = db.execute(
                    "INSERT INTO deliveries (destination, state, offline, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        destination,
                        DeliveryState.PENDING.value,
                        int(any(n.offline for n in group)),
                        now.timestamp(),
                        now.timestamp(),
                    ),
                )
                delivery_id = int(cursor.lastrowid or 0)
                db.executemany(
                    "UPDATE notices SET delivery_id = ? WHERE job_id = ? AND status = ? AND destination = ? "
                    f"AND delivery_id IS NULL AND generation = COALESCE(?, {GENERATION})",
                    [
                        (delivery_id, job_key(n.job.id), n.job.status, n.destination, n.generation)
                        for n in group
                    ],
                )
                ids.append(delivery_id)
        return ids

    def open_deliveries(self) -> list[Delivery]:
        with self._lock:
            # Through the partial index: finished deliveries pile up for ever and must never be read here.
            rows = self._db.execute(
                "SELECT id, destination, channel, state, ts, offline, attempts, created_at "
                "FROM deliveries INDEXED BY deliveries_open WHERE state NOT IN ('done', 'failed') ORDER BY id"
            ).fetchall()
            deliveries = []
            for row in rows:
                jobs = self._db.execute(
                    "SELECT job_json FROM notices WHERE delivery_id = ? ORDER BY job_id", (row[0],)
                ).fetchall()
                deliveries.append(
                    Delivery(
                        id=int(row[0]),
                        destination=str(row[1]),
                        channel=row[2],
                        state=DeliveryState(row[3]),
                        ts=row[4],
                        offline=bool(row[5]),
                        attempts=int(row[6]),
                        created_at=datetime.fromtimestamp(float(row[7]), tz=UTC),
                        jobs=tuple(FinishedJob.model_validate_json(j) for (j,) in jobs),
                    )
                )
        return deliveries

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
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET state = ?, channel = COALESCE(?, channel), ts = COALESCE(?, ts), "
                "error = COALESCE(?, error), updated_at = ? WHERE id = ?",
                (state.value, channel, ts, error, now.timestamp(), delivery_id),
            )

    def claim_delivery(self, delivery_id: int, *, attempts: int, channel: str, now: datetime) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE deliveries SET state = 'posting', channel = ?, attempts = attempts + 1, "
                "updated_at = ? WHERE id = ? AND attempts = ? AND state IN ('pending', 'posting')",
                (channel, now.timestamp(), delivery_id, attempts),
            )
            return cursor.rowcount == 1

    def notice_count(self, job_id: str) -> int:
        key = job_key(job_id)
        with self._lock:
            row = self._db.execute(
                f"SELECT COUNT(*) FROM notices WHERE generation = {GENERATION} AND job_id = ?", (key,)
            ).fetchone()
        return int(row[0])

    # Subscriptions and watches.

    def subscribe(self, subscription: Subscription) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO subscriptions (channel_id, statuses, added_by, added_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (channel_id) DO UPDATE SET statuses = excluded.statuses, "
                "added_by = excluded.added_by, added_at = excluded.added_at",
                (
                    subscription.channel_id,
                    json.dumps(list(subscription.statuses)),
                    subscription.added_by,
                    subscription.added_at.timestamp(),
                ),
            )

    def unsubscribe(self, channel_id: str) -> bool:
        with self._transaction() as db:
            return db.execute("DELETE FROM subscriptions WHERE channel_id = ?", (channel_id,)).rowcount > 0

    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            rows = self._db.execute(
                "SELECT channel_id, statuses, added_by, added_at FROM subscriptions "
                "ORDER BY added_at, channel_id"
            ).fetchall()
        return [
            Subscription(
                channel_id=c,
                statuses=tuple(json.loads(s)),
                added_by=a,
                added_at=datetime.fromtimestamp(float(t), tz=UTC),
            )
            for c, s, a, t in rows
        ]

    def watch(self, job_id: str, user_id: str, now: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO watches (generation, job_id, user_id, added_at) "
                f"VALUES ({GENERATION}, ?, ?, ?) ON CONFLICT DO NOTHING",
                (job_key(job_id), user_id, now.timestamp()),
            )

    def unwatch(self, job_id: str, user_id: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                f"DELETE FROM watches WHERE generation = {GENERATION} AND job_id = ? AND user_id = ?",
                (job_key(job_id), user_id),
            )
            return cursor.rowcount > 0

    def watchers(self, job_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT user_id FROM watches WHERE generation = {GENERATION} AND job_id = ? "
                "ORDER BY added_at",
                (job_key(job_id),),
            ).fetchall()
        return [str(r[0]) for r in rows]

    # Who cancelled what through jobbot.

    def claim_cancel(self, job_id: str, user_id: str, now: datetime, *, stale_after: float) -> str | None:
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO cancels (generation, job_id, user_id, at) VALUES ({GENERATION}, ?, ?, ?) "
                "ON CONFLICT (generation, job_id) DO UPDATE SET user_id = excluded.user_id, at = excluded.at "
                "WHERE cancels.at < ?",
                (job_key(job_id), user_id, now.timestamp(), now.timestamp() - stale_after),
            )
            holder, at = db.execute(
                f"SELECT user_id, at FROM cancels WHERE generation = {GENERATION} AND job_id = ?",
                (job_key(job_id),),
            ).fetchone()
        return None if holder == user_id and at == now.timestamp() else str(holder)

    def forget_cancel(self, job_id: str, user_id: str) -> None:
        with self._transaction() as db:
            db.execute(
                f"DELETE FROM cancels WHERE generation = {GENERATION} AND job_id = ? AND user_id = ?",
                (job_key(job_id), user_id),
            )

    def record_audit(self, entry: AuditEntry, *, fold_within: float = 0.0) -> None:
        at = entry.at.timestamp()
        with self._transaction() as db:
            if fold_within > 0:
                latest = db.execute(
                    "SELECT id, COALESCE(last_at, at) FROM audit WHERE job_id = ? AND user_id = ? "
                    "AND outcome = ? ORDER BY id DESC LIMIT 1",
                    (job_key(entry.job_id), entry.user_id, entry.outcome),
                ).fetchone()
                if latest is not None and 0 <= at - float(latest[1]) <= fold_within:
                    db.execute(FOLD_AUDIT_SQL.format(p="?"), (at, latest[0]))
                    db.execute("DELETE FROM audit WHERE id = ?", (latest[0],))
                    return
            db.execute(
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

    def audit_entries(
        self, job_id: str | None, limit: int, *, refused: bool | None = None
    ) -> list[AuditEntry]:
        where, args = audit_filter(job_id, refused, placeholder="?")
        with self._lock:
            rows = self._db.execute(
                f"SELECT {AUDIT_COLUMNS} FROM audit{where} ORDER BY id DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return [audit_from_row(r, _from_epoch(r[0]), _from_epoch_or_none(r[9])) for r in rows]

    def record_subscription_change(self, change: SubscriptionChange, *, fold_within: float = 0.0) -> None:
        at = change.at.timestamp()
        statuses = json.dumps(list(change.statuses))
        with self._transaction() as db:
            if fold_within > 0:
                latest = db.execute(
                    "SELECT id, COALESCE(last_at, at) FROM subscription_audit WHERE channel_id = ? "
                    "AND user_id = ? AND action = ? AND statuses = ? ORDER BY id DESC LIMIT 1",
                    (change.channel_id, change.user_id, change.action, statuses),
                ).fetchone()
                if latest is not None and 0 <= at - float(latest[1]) <= fold_within:
                    db.execute(FOLD_SUBSCRIPTION_CHANGE_SQL.format(p="?"), (at, latest[0]))
                    db.execute("DELETE FROM subscription_audit WHERE id = ?", (latest[0],))
                    return
            db.execute(
                "INSERT INTO subscription_audit (at, user_id, team_id, channel_id, action, statuses) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (at, change.user_id, change.team_id, change.channel_id, change.action, statuses),
            )

    def subscription_changes(self, limit: int) -> list[SubscriptionChange]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {SUBSCRIPTION_AUDIT_COLUMNS} FROM subscription_audit ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [subscription_change_from_row(r, _from_epoch(r[0]), _from_epoch_or_none(r[7])) for r in rows]

    def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        # One host shares one clock: SQLite replicas are processes on the same machine.
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                "WHERE leases.holder = excluded.holder OR leases.expires_at < ?",
                (name, holder, now + ttl, now),
            )
            row = db.execute("SELECT holder FROM leases WHERE name = ?", (name,)).fetchone()
        return bool(row) and row[0] == holder

    def release_lease(self, name: str, holder: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    def cancelled_by(self, job_id: str) -> str | None:
        key = job_key(job_id)
        with self._lock:
            row = self._db.execute(
                f"SELECT user_id FROM cancels WHERE generation = {GENERATION} AND job_id = ?", (key,)
            ).fetchone()
        return None if row is None else str(row[0])


JOB_COLUMNS = "id, status, terminal, start_time_ms"


def _tracked(row: Sequence[Any]) -> TrackedJob:
    """A TrackedJob from a row of JOB_COLUMNS."""
    return TrackedJob(str(row[0]), str(row[1]), bool(row[2]), None if row[3] is None else int(row[3]))


def _from_epoch(value: float) -> datetime:
    return datetime.fromtimestamp(float(value), tz=UTC)


def _from_epoch_or_none(value: float | None) -> datetime | None:
    return None if value is None else _from_epoch(value)
