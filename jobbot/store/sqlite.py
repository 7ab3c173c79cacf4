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

from jobbot.errors import StoreError
from jobbot.models import AuditEntry, FinishedJob, Subscription
from jobbot.store.base import AUDIT_COLUMNS, Delivery, DeliveryState, NoticeRow, TrackedJob, audit_from_row

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
)
SCHEMA_VERSION = len(MIGRATIONS)


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
            row = self._db.execute("SELECT MAX(id) FROM jobs").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def active_jobs(self) -> list[TrackedJob]:
        with self._lock:
            rows = self._db.execute("SELECT id, status FROM jobs WHERE terminal = 0 ORDER BY id").fetchall()
        return [TrackedJob(str(i), str(s), False) for i, s in rows]

    def job_statuses(self) -> dict[str, TrackedJob]:
        with self._lock:
            rows = self._db.execute("SELECT id, status, terminal FROM jobs").fetchall()
        return {str(i): TrackedJob(str(i), s, bool(t)) for i, s, t in rows}

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
                    "INSERT INTO notices (job_id, status, destination, job_json, offline, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (
                        int(notice.job.id),
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
                "DELETE FROM watches WHERE job_id = ? AND user_id = ?",
                [(int(n.job.id), n.destination) for n in notices],
            )
            if reconciled:
                self._set_meta(db, "reconciled_at", str(now.timestamp()))
        return new

    @staticmethod
    def _upsert_jobs(db: sqlite3.Connection, jobs: Iterable[TrackedJob]) -> None:
        db.executemany(
            "INSERT INTO jobs (id, status, terminal) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, terminal = excluded.terminal",
            [(int(j.id), j.status, int(j.terminal)) for j in jobs],
        )

    # The notice ledger.

    def ungrouped_notices(self) -> list[NoticeRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT job_json, destination, offline FROM notices WHERE delivery_id IS NULL "
                "ORDER BY created_at, job_id"
            ).fetchall()
        return [NoticeRow(FinishedJob.model_validate_json(j), d, bool(o)) for j, d, o in rows]

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
                    "AND delivery_id IS NULL",
                    [(delivery_id, int(n.job.id), n.job.status, n.destination) for n in group],
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
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM notices WHERE job_id = ?", (int(job_id),)).fetchone()
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
                "INSERT INTO watches (job_id, user_id, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (int(job_id), user_id, now.timestamp()),
            )

    def unwatch(self, job_id: str, user_id: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM watches WHERE job_id = ? AND user_id = ?", (int(job_id), user_id)
            )
            return cursor.rowcount > 0

    def watchers(self, job_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT user_id FROM watches WHERE job_id = ? ORDER BY added_at", (int(job_id),)
            ).fetchall()
        return [str(r[0]) for r in rows]

    # Who cancelled what through jobbot.

    def claim_cancel(self, job_id: str, user_id: str, now: datetime, *, stale_after: float) -> str | None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO cancels (job_id, user_id, at) VALUES (?, ?, ?) "
                "ON CONFLICT (job_id) DO UPDATE SET user_id = excluded.user_id, at = excluded.at "
                "WHERE cancels.at < ?",
                (int(job_id), user_id, now.timestamp(), now.timestamp() - stale_after),
            )
            holder, at = db.execute(
                "SELECT user_id, at FROM cancels WHERE job_id = ?", (int(job_id),)
            ).fetchone()
        return None if holder == user_id and at == now.timestamp() else str(holder)

    def forget_cancel(self, job_id: str, user_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM cancels WHERE job_id = ? AND user_id = ?", (int(job_id), user_id))

    def record_audit(self, entry: AuditEntry) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO audit "
                "(at, user_id, team_id, channel_id, job_id, status_before, outcome, message) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.at.timestamp(),
                    entry.user_id,
                    entry.team_id,
                    entry.channel_id,
                    int(entry.job_id),
                    entry.status_before,
                    entry.outcome,
                    entry.message,
                ),
            )

    def audit_entries(self, job_id: str | None, limit: int) -> list[AuditEntry]:
        columns = AUDIT_COLUMNS
        with self._lock:
            if job_id is None:
                rows = self._db.execute(
                    f"SELECT {columns} FROM audit ORDER BY id DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    f"SELECT {columns} FROM audit WHERE job_id = ? ORDER BY id DESC LIMIT ?",
                    (int(job_id), limit),
                ).fetchall()
        return [audit_from_row(r, datetime.fromtimestamp(float(r[0]), tz=UTC)) for r in rows]

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
        with self._lock:
            row = self._db.execute("SELECT user_id FROM cancels WHERE job_id = ?", (int(job_id),)).fetchone()
        return None if row is None else str(row[0])
