"""The SQLite store: the embedded default. One connection, serialised by a lock; WAL so that other
processes (a second replica on the same host, an operator's sqlite3 shell) can read while we write."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from jobbot.errors import StoreError
from jobbot.store.database import OPEN_DELIVERY, Transaction
from jobbot.store.schema import ColumnTypes, migrations
from jobbot.store.sql import SqlStore

T = TypeVar("T")

# The schema's column types as SQLite spells them: a time is seconds since the epoch, and both
# spellings of a generated row id are one.
_ROW_ID = "INTEGER PRIMARY KEY AUTOINCREMENT"
COLUMN_TYPES = ColumnTypes(
    bigint="INTEGER", boolean="INTEGER", time="REAL", identity_key=_ROW_ID, serial_key=_ROW_ID
)

# The steps of the schema's versions that SQLite takes its own way.
STEPS = {
    # Version 1's indexes as SQLite first had them, and version 3's; version 6 replaces them.
    "jobs_indexes": "CREATE INDEX jobs_active ON jobs (terminal) WHERE terminal = 0;",
    "deliveries_indexes": (
        "CREATE INDEX deliveries_open ON deliveries (state) WHERE state NOT IN ('done', 'failed');"
    ),
    "notices_indexes": "CREATE INDEX notices_ungrouped ON notices (delivery_id) WHERE delivery_id IS NULL;",
    "notices_delivery_index": "CREATE INDEX notices_by_delivery ON notices (delivery_id, job_id);",
    # SQLite cannot change a primary key in place: each table is copied into its new shape. The
    # columns keep PostgreSQL's order (new ones last), so both backends have the same tables.
    "key_by_generation": """
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
    # PostgreSQL's indexes (which it had already), in place of SQLite's first ones.
    "read_indexes": f"""
    DROP INDEX jobs_active;
    CREATE INDEX jobs_active ON jobs (generation, id) WHERE NOT terminal;
    DROP INDEX deliveries_open;
    CREATE INDEX deliveries_open ON deliveries (id) WHERE {OPEN_DELIVERY};
    DROP INDEX notices_ungrouped;
    CREATE INDEX notices_ungrouped ON notices (created_at, job_id) WHERE delivery_id IS NULL;
    DROP INDEX notices_by_delivery;
    CREATE INDEX notices_delivery ON notices (delivery_id, job_id) WHERE delivery_id IS NOT NULL;
    """,
}
MIGRATIONS = migrations(COLUMN_TYPES, STEPS)
SCHEMA_VERSION = len(MIGRATIONS)


def _create_private(path: str) -> None:
    """Create the store file readable and writable by its owner only, unless it exists already.

    It holds the audit trail, watches and notices; sqlite3 would create it 0644 (less the umask). SQLite
    gives its -wal and -shm companions the database file's own mode, so they are private too.
    """
    if path == ":memory:":  # no file at all (sqlite3 is not asked to read URIs, so "file:..." is a name)
        return
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))


class SqliteDatabase:
    """One SQLite file: one connection, serialised by a lock; writes take the file's write lock at once."""

    def __init__(self, path: str, *, lease_clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._lease_now = lease_clock
        self._lock = threading.RLock()
        _create_private(path)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._enable_wal()
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _enable_wal(self) -> None:
        # Switching to WAL takes an exclusive lock that SQLite's busy timeout does not wait for: when
        # several processes open a new file at once, all but one are told "locked" and try again.
        for attempt in range(100):
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05)

    def transaction(self, work: Callable[[Transaction], T], *, write: bool = True) -> T:
        if not write:  # one statement reads a consistent snapshot on its own
            with self._lock:
                return work(self._conn)
        with self._write() as conn:
            return work(conn)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"the SQLite store is not writable: {exc}") from None
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def migrate(self) -> None:
        with self._write() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store {self.path!r} has schema version {version}, newer than this jobbot "
                    f"({SCHEMA_VERSION}); upgrade jobbot (or set JOBBOT_DATABASE_URL to another store)"
                )
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def to_db(moment: datetime) -> float:
        return moment.timestamp()

    @staticmethod
    def from_db(value: Any) -> datetime:
        return datetime.fromtimestamp(float(value), tz=UTC)

    def lease_clock(self, ttl: float) -> tuple[str, str, tuple[object, ...]]:
        # One host shares one clock: SQLite replicas are processes on the same machine.
        now = self._lease_now()
        return "?", "?", (now + ttl, now)

    @staticmethod
    def indexed_by(index: str) -> str:
        return f"INDEXED BY {index}"

    @staticmethod
    def for_update() -> str:
        return ""  # BEGIN IMMEDIATE already holds the file's write lock


def stored_version(path: str) -> int | None:
    """The schema version of the store file at `path`, read without creating or changing anything; None
    when there is no file yet (jobbot creates it at first start)."""
    if not os.path.exists(path):
        return None
    try:
        # Read-only: even an empty file stays as it is (connecting read-write would begin a database).
        with contextlib.closing(sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)) as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the SQLite store {path!r}: {exc}") from None


class SqliteStore(SqlStore):
    """The Store on one SQLite file."""

    _engine: SqliteDatabase

    def __init__(self, path: str, *, lease_clock: Callable[[], float] = time.time) -> None:
        """`lease_clock` gives the epoch seconds that leases expire by: the host's clock, or a test's."""
        self.path = path
        try:
            super().__init__(SqliteDatabase(path, lease_clock=lease_clock))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite store {path!r}: {exc}") from None
        except OSError as exc:
            raise StoreError(
                f"cannot open the SQLite store {path!r}: {exc.strerror}; set JOBBOT_DATABASE_URL to a file "
                "in a directory that exists and that jobbot may write"
            ) from None
