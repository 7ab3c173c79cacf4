"""The PostgreSQL store: for replicas on several hosts. One connection, serialised by a lock, reopened
once when the server drops it; psycopg is imported here and nowhere else."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from jobbot.errors import ConfigError, StoreError
from jobbot.store.database import OPEN_DELIVERY, Rows, Transaction
from jobbot.store.schema import ColumnTypes, migrations
from jobbot.store.sql import SqlStore

log = logging.getLogger(__name__)

T = TypeVar("T")
Cursor = psycopg.Cursor[tuple[Any, ...]]

# The schema's column types as PostgreSQL spells them.
COLUMN_TYPES = ColumnTypes(
    bigint="BIGINT",
    boolean="BOOLEAN",
    time="TIMESTAMPTZ",
    identity_key="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    serial_key="BIGSERIAL PRIMARY KEY",
)

# The steps of the schema's versions that PostgreSQL takes its own way.
STEPS = {
    # The indexes the shared queries read through, from version 1 on.
    "jobs_indexes": "CREATE INDEX jobs_active ON jobs (id) WHERE NOT terminal;",
    "deliveries_indexes": (
        "CREATE INDEX deliveries_open ON deliveries (id) WHERE state NOT IN ('done', 'failed');"
    ),
    "notices_indexes": """
    CREATE INDEX notices_ungrouped ON notices (created_at, job_id) WHERE delivery_id IS NULL;
    CREATE INDEX notices_delivery ON notices (delivery_id, job_id) WHERE delivery_id IS NOT NULL;
    """,
    "notices_delivery_index": "",  # notices_delivery, since version 1
    "key_by_generation": """
    ALTER TABLE jobs ADD COLUMN generation BIGINT NOT NULL DEFAULT 1, ADD COLUMN start_time_ms BIGINT;
    ALTER TABLE jobs DROP CONSTRAINT jobs_pkey, ADD CONSTRAINT jobs_pkey PRIMARY KEY (generation, id);
    DROP INDEX jobs_active;
    CREATE INDEX jobs_active ON jobs (generation, id) WHERE NOT terminal;
    ALTER TABLE notices ADD COLUMN generation BIGINT NOT NULL DEFAULT 1;
    ALTER TABLE notices DROP CONSTRAINT notices_pkey,
        ADD CONSTRAINT notices_pkey PRIMARY KEY (generation, job_id, status, destination);
    ALTER TABLE watches ADD COLUMN generation BIGINT NOT NULL DEFAULT 1;
    ALTER TABLE watches DROP CONSTRAINT watches_pkey,
        ADD CONSTRAINT watches_pkey PRIMARY KEY (generation, job_id, user_id);
    ALTER TABLE cancels ADD COLUMN generation BIGINT NOT NULL DEFAULT 1;
    ALTER TABLE cancels DROP CONSTRAINT cancels_pkey,
        ADD CONSTRAINT cancels_pkey PRIMARY KEY (generation, job_id);
    """,
    # PostgreSQL had them from version 1; stated again so that version 6 means the same on both.
    "read_indexes": f"""
    CREATE INDEX IF NOT EXISTS jobs_active ON jobs (generation, id) WHERE NOT terminal;
    CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries (id) WHERE {OPEN_DELIVERY};
    CREATE INDEX IF NOT EXISTS notices_ungrouped ON notices (created_at, job_id) WHERE delivery_id IS NULL;
    CREATE INDEX IF NOT EXISTS notices_delivery ON notices (delivery_id, job_id)
        WHERE delivery_id IS NOT NULL;
    """,
}
MIGRATIONS = migrations(COLUMN_TYPES, STEPS)
SCHEMA_VERSION = len(MIGRATIONS)

# Held (per database) while migrating, so replicas starting together migrate one after another.
# "jobbot" in ASCII, then 1: a fixed key no other application is likely to pick.
MIGRATION_LOCK = 0x6A6F62626F740001

# Unless the URL says otherwise: give up on an unreachable host in seconds, and notice a server that
# vanished mid-query within a minute (TCP keepalives) rather than holding the store's lock for hours.
CONNECT_DEFAULTS = {
    "connect_timeout": "10",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "application_name": "jobbot",
}


class PostgresDatabase:
    """One PostgreSQL database: one connection, serialised by a lock; every call one transaction."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._secrets = _passwords(url)
        self.where = self._scrub(_describe(url))
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None

    def close(self) -> None:
        with self._lock:
            self._discard()

    # Connections and transactions.

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            given = conninfo_to_dict(self._url)
            defaults = {key: value for key, value in CONNECT_DEFAULTS.items() if key not in given}
            try:
                self._conn = psycopg.connect(make_conninfo(self._url, **defaults))
            except psycopg.Error as exc:
                raise StoreError(
                    f"cannot connect to the PostgreSQL store at {self.where}: {self._scrub(exc)} "
                    "(check JOBBOT_DATABASE_URL, and that the server is up and lets jobbot in)"
                ) from None
        return self._conn

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self, work: Callable[[Cursor], T]) -> T:
        """Run `work` as one transaction. If the connection was lost (the server restarted, a proxy
        dropped it), connect again and run it once more; but never after COMMIT was sent, whose outcome
        is then unknown."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._connect()
                committing = False
                try:
                    with conn.cursor() as cursor:
                        result = work(cursor)
                    committing = True
                    conn.commit()
                    return result
                except psycopg.OperationalError as exc:
                    self._abandon(conn)
                    if committing:
                        raise StoreError(
                            f"the PostgreSQL store at {self.where} failed while committing, so the change "
                            f"may or may not have been saved: {self._scrub(exc)}"
                        ) from None
                    if attempt == 2:
                        raise StoreError(
                            f"the PostgreSQL store at {self.where} failed: {self._scrub(exc)}"
                        ) from None
                    log.warning("store: retrying once at %s after: %s", self.where, self._scrub(exc))
                except psycopg.Error as exc:
                    self._abandon(conn)
                    raise StoreError(
                        f"the PostgreSQL store at {self.where} failed: {self._scrub(exc)}"
                    ) from None
                except BaseException:
                    self._abandon(conn)
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _abandon(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        """Roll back what failed; a connection that cannot even do that is closed, to be reopened."""
        if not conn.closed:
            try:
                conn.rollback()
                return
            except psycopg.Error:
                pass
        self._discard()

    def _scrub(self, text: object) -> str:
        """The text on one line, with the URL's password replaced: error messages end up in logs."""
        message = " ".join(str(text).split())
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return message

    def transaction(self, work: Callable[[Transaction], T], *, write: bool = True) -> T:
        # Reads too are a transaction here: the connection is never left in autocommit.
        return self._run(lambda cursor: work(_Statements(cursor)))

    def migrate(self) -> None:
        self._run(self._migrate)

    def _migrate(self, db: Cursor) -> None:
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        row = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store at {self.where} has schema version {version}, newer than this jobbot "
                f"({SCHEMA_VERSION}); upgrade jobbot (or set JOBBOT_DATABASE_URL to another store)"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            db.execute(script)
            db.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))

    def stored_version(self) -> int | None:
        """The schema version the database holds, read without creating or changing anything; None when
        jobbot has not set it up yet."""

        def read(db: Cursor) -> int | None:
            found = db.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
            if not found or not found[0]:
                return None
            row = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
            return int(row[0]) if row else 0

        return self._run(read)

    @staticmethod
    def to_db(moment: datetime) -> datetime:
        """The same instant as an aware UTC datetime (a naive one is local time, as `timestamp()` reads
        it)."""
        return datetime.fromtimestamp(moment.timestamp(), tz=UTC)

    @staticmethod
    def from_db(value: Any) -> datetime:
        return value.astimezone(UTC)  # type: ignore[no-any-return]

    @staticmethod
    def lease_clock(ttl: float) -> tuple[str, str, tuple[object, ...]]:
        # The database's clock, not ours: replicas on several hosts judge expiry by the same time.
        return "clock_timestamp() + make_interval(secs => ?)", "clock_timestamp()", (float(ttl),)

    @staticmethod
    def indexed_by(index: str) -> str:
        return ""  # the planner picks the partial indexes itself (a test checks the plans)

    @staticmethod
    def for_update() -> str:
        return " FOR UPDATE"


@lru_cache(maxsize=256)
def _placeholders(query: str) -> str:
    """A query written with `?` as psycopg wants it: `%s`, and any literal `%` doubled."""
    return query.replace("%", "%%").replace("?", "%s")


class _Statements:
    """A psycopg cursor taking the shared queries' `?` placeholders."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def execute(self, query: str, args: Sequence[Any] = (), /) -> Rows:
        return self._cursor.execute(_placeholders(query), args)

    def executemany(self, query: str, args: Any, /) -> None:
        self._cursor.executemany(_placeholders(query), args)


class PostgresStore(SqlStore):
    """The Store on one PostgreSQL database."""

    _engine: PostgresDatabase

    def __init__(self, url: str) -> None:
        database = PostgresDatabase(url)
        self.where = database.where
        try:
            super().__init__(database)
        except BaseException:
            database.close()
            raise


def _passwords(url: str) -> list[str]:
    """The password as the URL spells it and as decoded, longest first, to be kept out of messages."""
    found = set()
    with contextlib.suppress(psycopg.Error):
        found.add(str(conninfo_to_dict(url).get("password") or ""))
    try:
        raw = urlsplit(url).password or ""
    except ValueError:
        raw = ""
    found.update({raw, unquote(raw)})
    return sorted(filter(None, found), key=len, reverse=True)


def _describe(url: str) -> str:
    """host:port/database for messages: enough to find the server, never the password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        # libpq's complaint may quote the URL, password included: say only what is expected.
        raise ConfigError(
            "JOBBOT_DATABASE_URL is not a valid PostgreSQL URL; expected postgresql://USER@HOST:PORT/DATABASE"
        ) from None
    host = str(params.get("host") or "localhost")
    port = str(params.get("port") or 5432)
    database = str(params.get("dbname") or params.get("user") or "the default database")
    return f"{host}:{port}/{database}"
