"""The PostgreSQL store: for replicas on several hosts. One connection, serialised by a lock, reopened
once when the server drops it; psycopg is imported here and nowhere else."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from jobbot.errors import ConfigError, StoreError
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

log = logging.getLogger(__name__)

T = TypeVar("T")
Cursor = psycopg.Cursor[tuple[Any, ...]]

# Each entry moves the schema one version up; never edit one that has shipped, add another. The versions
# mean the same as SQLite's (1: the ledger, 2: leases, 3: the audit trail, then folded repeats and
# subscription changes), with PostgreSQL's types.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE jobs (
        id BIGINT PRIMARY KEY,
        status TEXT NOT NULL,
        terminal BOOLEAN NOT NULL
    );
    CREATE INDEX jobs_active ON jobs (id) WHERE NOT terminal;
    CREATE TABLE deliveries (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        destination TEXT NOT NULL,
        channel TEXT,
        state TEXT NOT NULL,
        ts TEXT,
        offline BOOLEAN NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX deliveries_open ON deliveries (id) WHERE state NOT IN ('done', 'failed');
    CREATE TABLE notices (
        job_id BIGINT NOT NULL,
        status TEXT NOT NULL,
        destination TEXT NOT NULL,
        job_json TEXT NOT NULL,
        offline BOOLEAN NOT NULL,
        delivery_id BIGINT REFERENCES deliveries (id),
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (job_id, status, destination)
    );
    CREATE INDEX notices_ungrouped ON notices (created_at, job_id) WHERE delivery_id IS NULL;
    CREATE INDEX notices_delivery ON notices (delivery_id, job_id) WHERE delivery_id IS NOT NULL;
    CREATE TABLE subscriptions (
        channel_id TEXT PRIMARY KEY,
        statuses TEXT NOT NULL,
        added_by TEXT NOT NULL,
        added_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE watches (
        job_id BIGINT NOT NULL,
        user_id TEXT NOT NULL,
        added_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (job_id, user_id)
    );
    CREATE TABLE cancels (job_id BIGINT PRIMARY KEY, user_id TEXT NOT NULL, at TIMESTAMPTZ NOT NULL);
    """,
    """
    CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at TIMESTAMPTZ NOT NULL);
    """,
    """
    CREATE TABLE audit (
        id BIGSERIAL PRIMARY KEY,
        at TIMESTAMPTZ NOT NULL,
        user_id TEXT NOT NULL,
        team_id TEXT,
        channel_id TEXT,
        job_id BIGINT NOT NULL,
        status_before TEXT,
        outcome TEXT NOT NULL,
        message TEXT
    );
    CREATE INDEX audit_by_job ON audit (job_id, id);
    """,
    # Server generations, as in SQLite's migration: everything keyed by a job id is keyed by
    # (generation, job id), and what was stored before is generation 1.
    """
    CREATE TABLE generations (number BIGINT PRIMARY KEY, started_at TIMESTAMPTZ);
    INSERT INTO generations (number, started_at) VALUES (1, NULL);
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
    """
    ALTER TABLE audit ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE audit ADD COLUMN last_at TIMESTAMPTZ;
    CREATE TABLE subscription_audit (
        id BIGSERIAL PRIMARY KEY,
        at TIMESTAMPTZ NOT NULL,
        user_id TEXT NOT NULL,
        team_id TEXT,
        channel_id TEXT NOT NULL,
        action TEXT NOT NULL,
        statuses TEXT NOT NULL,
        repeats INTEGER NOT NULL DEFAULT 1,
        last_at TIMESTAMPTZ
    );
    CREATE INDEX subscription_audit_by_channel ON subscription_audit (channel_id, id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# The generation every job-keyed read and write is in: the newest. Read inside each statement, so a
# replica's handlers follow a new generation the leader began without being told. (The table has a
# row per redeploy: reading it whole is no scan of history.)
GENERATION = "(SELECT MAX(number) FROM generations)"
JOB_COLUMNS = "id, status, terminal, start_time_ms"

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

# The queries every steady poll runs, named so a test can check their plans: each reads through an
# index, never through the history that piles up.
HIGH_WATER_SQL = f"SELECT MAX(id) FROM jobs WHERE generation = {GENERATION}"
ACTIVE_JOBS_SQL = (
    f"SELECT {JOB_COLUMNS} FROM jobs WHERE NOT terminal AND generation = {GENERATION} ORDER BY id"
)
UNGROUPED_NOTICES_SQL = (
    "SELECT job_json, destination, offline, generation FROM notices WHERE delivery_id IS NULL "
    "ORDER BY created_at, job_id"
)
OPEN_DELIVERIES_SQL = (
    "SELECT id, destination, channel, state, ts, offline, attempts, created_at "
    "FROM deliveries WHERE state NOT IN ('done', 'failed') ORDER BY id"
)
DELIVERY_JOBS_SQL = (
    "SELECT delivery_id, job_json FROM notices WHERE delivery_id = ANY(%s) ORDER BY delivery_id, job_id"
)


class PostgresStore:
    """The Store on one PostgreSQL database."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._secrets = _passwords(url)
        self.where = self._scrub(_describe(url))
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        try:
            self._run(self._migrate)
            self.instance_id = self._run(self._instance_id)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # Connections and transactions.

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            given = conninfo_to_dict(self._url)
            defaults = {key: value for key, value in CONNECT_DEFAULTS.items() if key not in given}
            try:
                self._conn = psycopg.connect(make_conninfo(self._url, **defaults))
            except psycopg.Error as exc:
                raise StoreError(
                    f"cannot connect to the PostgreSQL store at {self.where}: {self._scrub(exc)}"
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

    # Schema.

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
                f"({SCHEMA_VERSION}); upgrade jobbot"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            db.execute(script)
            db.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))

    @staticmethod
    def _instance_id(db: Cursor) -> str:
        # Replicas starting together may each propose one; the first to commit is everybody's.
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('instance_id', %s) ON CONFLICT DO NOTHING",
            (secrets.token_hex(8),),
        )
        row = db.execute("SELECT value FROM meta WHERE key = 'instance_id'").fetchone()
        assert row is not None  # inserted above or by whoever won
        return str(row[0])

    def _meta(self, key: str) -> str | None:
        row = self._run(lambda db: db.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone())
        return None if row is None else str(row[0])

    @staticmethod
    def _set_meta(db: Cursor, key: str, value: str) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, value),
        )

    # Jobs the notifier has seen.

    def baseline_taken(self) -> bool:
        return self._meta("baseline_at") is not None

    def take_baseline(self, jobs: Iterable[TrackedJob], now: datetime) -> None:
        jobs = list(jobs)  # the transaction may run twice

        def work(db: Cursor) -> None:
            self._upsert_jobs(db, jobs)
            self._set_meta(db, "baseline_at", str(now.timestamp()))
            self._set_meta(db, "reconciled_at", str(now.timestamp()))

        self._run(work)

    def high_water(self) -> int:
        row = self._run(lambda db: db.execute(HIGH_WATER_SQL).fetchone())
        return int(row[0]) if row and row[0] is not None else 0

    def active_jobs(self) -> list[TrackedJob]:
        rows = self._run(lambda db: db.execute(ACTIVE_JOBS_SQL).fetchall())
        return [_tracked(row) for row in rows]

    def job_statuses(self) -> dict[str, TrackedJob]:
        rows = self._run(
            lambda db: db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE generation = {GENERATION}"
            ).fetchall()
        )
        return {str(row[0]): _tracked(row) for row in rows}

    def newest_job(self) -> TrackedJob | None:
        row = self._run(
            lambda db: db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE generation = {GENERATION} AND status <> 'GONE' "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
        )
        return None if row is None else _tracked(row)

    def begin_generation(self, now: datetime) -> int:
        def work(db: Cursor) -> int:
            row = db.execute(f"SELECT COUNT(*) FROM jobs WHERE generation = {GENERATION}").fetchone()
            db.execute(
                "INSERT INTO generations (number, started_at) SELECT MAX(number) + 1, %s FROM generations",
                (_utc(now),),
            )
            return int(row[0]) if row else 0

        return self._run(work)

    def last_reconcile(self) -> datetime | None:
        value = self._meta("reconciled_at")
        return None if value is None else datetime.fromtimestamp(float(value), tz=UTC)

    def record_poll(
        self, seen: Sequence[TrackedJob], notices: Sequence[NoticeRow], *, now: datetime, reconciled: bool
    ) -> int:
        if not seen and not notices and not reconciled:
            return 0  # a quiet poll writes nothing
        at = _utc(now)

        def work(db: Cursor) -> int:
            self._upsert_jobs(db, seen)
            new = 0
            for notice in notices:
                db.execute(
                    "INSERT INTO notices "
                    "(generation, job_id, status, destination, job_json, offline, created_at) "
                    f"VALUES ({GENERATION}, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (
                        job_key(notice.job.id),
                        notice.job.status,
                        notice.destination,
                        notice.job.model_dump_json(),
                        notice.offline,
                        at,
                    ),
                )
                new += db.rowcount
            # Only the watches these notices answer: one added meanwhile waits for its own notice.
            if notices:
                db.executemany(
                    f"DELETE FROM watches WHERE generation = {GENERATION} AND job_id = %s AND user_id = %s",
                    [(job_key(n.job.id), n.destination) for n in notices],
                )
            if reconciled:
                self._set_meta(db, "reconciled_at", str(now.timestamp()))
            return new

        return self._run(work)

    @staticmethod
    def _upsert_jobs(db: Cursor, jobs: Sequence[TrackedJob]) -> None:
        if jobs:
            db.executemany(
                "INSERT INTO jobs (generation, id, status, terminal, start_time_ms) "
                f"VALUES ({GENERATION}, %s, %s, %s, %s) "
                "ON CONFLICT (generation, id) DO UPDATE SET status = EXCLUDED.status, "
                "terminal = EXCLUDED.terminal, "
                "start_time_ms = COALESCE(EXCLUDED.start_time_ms, jobs.start_time_ms)",
                [(job_key(j.id), j.status, j.terminal, j.start_time_ms) for j in jobs],
            )

    # The notice ledger.

    def ungrouped_notices(self) -> list[NoticeRow]:
        rows = self._run(lambda db: db.execute(UNGROUPED_NOTICES_SQL).fetchall())
        return [NoticeRow(FinishedJob.model_validate_json(j), str(d), bool(o), int(g)) for j, d, o, g in rows]

    def group_notices(self, groups: Sequence[Sequence[NoticeRow]], now: datetime) -> list[int]:
        at = _utc(now)

        def work(db: Cursor) -> list[int]:
            ids = []
            for group in groups:
                if not group:
                    continue
                row = db.execute(
                    "INSERT INTO deliveries (destination, state, offline, created_at, updated_at) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (
                        group[0].destination,
                        DeliveryState.PENDING.value,
                        any(n.offline for n in group),
                        at,
                        at,
                    ),
                ).fetchone()
                assert row is not None  # INSERT ... RETURNING yields the new row
                delivery_id = int(row[0])
                db.executemany(
                    "UPDATE notices SET delivery_id = %s "
                    "WHERE job_id = %s AND status = %s AND destination = %s AND delivery_id IS NULL "
                    f"AND generation = COALESCE(%s, {GENERATION})",
                    [
                        (delivery_id, job_key(n.job.id), n.job.status, n.destination, n.generation)
                        for n in group
                    ],
                )
                ids.append(delivery_id)
            return ids

        return self._run(work)

    def open_deliveries(self) -> list[Delivery]:
        def work(db: Cursor) -> list[Delivery]:
            # Through the partial indexes: finished deliveries pile up for ever and must never be read here.
            rows = db.execute(OPEN_DELIVERIES_SQL).fetchall()
            jobs: dict[int, list[FinishedJob]] = {int(row[0]): [] for row in rows}
            if jobs:
                for delivery_id, job_json in db.execute(DELIVERY_JOBS_SQL, (list(jobs),)).fetchall():
                    jobs[int(delivery_id)].append(FinishedJob.model_validate_json(job_json))
            return [
                Delivery(
                    id=int(row[0]),
                    destination=str(row[1]),
                    channel=row[2],
                    state=DeliveryState(row[3]),
                    ts=row[4],
                    offline=bool(row[5]),
                    attempts=int(row[6]),
                    created_at=row[7].astimezone(UTC),
                    jobs=tuple(jobs[int(row[0])]),
                )
                for row in rows
            ]

        return self._run(work)

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
        self._run(
            lambda db: db.execute(
                "UPDATE deliveries SET state = %s, channel = COALESCE(%s, channel), ts = COALESCE(%s, ts), "
                "error = COALESCE(%s, error), updated_at = %s WHERE id = %s",
                (state.value, channel, ts, error, _utc(now), delivery_id),
            )
        )

    def claim_delivery(self, delivery_id: int, *, attempts: int, channel: str, now: datetime) -> bool:
        # A concurrent claimer waits for our row lock, then re-checks the WHERE against our new row.
        def work(db: Cursor) -> bool:
            db.execute(
                "UPDATE deliveries SET state = 'posting', channel = %s, attempts = attempts + 1, "
                "updated_at = %s WHERE id = %s AND attempts = %s AND state IN ('pending', 'posting')",
                (channel, _utc(now), delivery_id, attempts),
            )
            return db.rowcount == 1

        return self._run(work)

    def notice_count(self, job_id: str) -> int:
        key = job_key(job_id)
        row = self._run(
            lambda db: db.execute(
                f"SELECT COUNT(*) FROM notices WHERE generation = {GENERATION} AND job_id = %s", (key,)
            ).fetchone()
        )
        return int(row[0]) if row else 0

    # Subscriptions and watches.

    def subscribe(self, subscription: Subscription) -> None:
        self._run(
            lambda db: db.execute(
                "INSERT INTO subscriptions (channel_id, statuses, added_by, added_at) "
                "VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (channel_id) DO UPDATE SET statuses = EXCLUDED.statuses, "
                "added_by = EXCLUDED.added_by, added_at = EXCLUDED.added_at",
                (
                    subscription.channel_id,
                    json.dumps(list(subscription.statuses)),
                    subscription.added_by,
                    _utc(subscription.added_at),
                ),
            )
        )

    def unsubscribe(self, channel_id: str) -> bool:
        return self._run(
            lambda db: (
                db.execute("DELETE FROM subscriptions WHERE channel_id = %s", (channel_id,)).rowcount > 0
            )
        )

    def subscriptions(self) -> list[Subscription]:
        rows = self._run(
            lambda db: db.execute(
                "SELECT channel_id, statuses, added_by, added_at FROM subscriptions "
                "ORDER BY added_at, channel_id"
            ).fetchall()
        )
        return [
            Subscription(channel_id=c, statuses=tuple(json.loads(s)), added_by=a, added_at=t.astimezone(UTC))
            for c, s, a, t in rows
        ]

    def watch(self, job_id: str, user_id: str, now: datetime) -> None:
        self._run(
            lambda db: db.execute(
                "INSERT INTO watches (generation, job_id, user_id, added_at) "
                f"VALUES ({GENERATION}, %s, %s, %s) ON CONFLICT DO NOTHING",
                (job_key(job_id), user_id, _utc(now)),
            )
        )

    def unwatch(self, job_id: str, user_id: str) -> bool:
        return self._run(
            lambda db: (
                db.execute(
                    f"DELETE FROM watches WHERE generation = {GENERATION} AND job_id = %s AND user_id = %s",
                    (job_key(job_id), user_id),
                ).rowcount
                > 0
            )
        )

    def watchers(self, job_id: str) -> list[str]:
        rows = self._run(
            lambda db: db.execute(
                f"SELECT user_id FROM watches WHERE generation = {GENERATION} AND job_id = %s "
                "ORDER BY added_at, user_id",
                (job_key(job_id),),
            ).fetchall()
        )
        return [str(r[0]) for r in rows]

    # Who cancelled what through jobbot.

    def claim_cancel(self, job_id: str, user_id: str, now: datetime, *, stale_after: float) -> str | None:
        at = _utc(now)
        key = job_key(job_id)

        def work(db: Cursor) -> tuple[str, datetime]:
            # ON CONFLICT locks the existing row even when it is not stale, so the read below sees the
            # claim that stands until we commit; a concurrent claimer waits, then finds ours.
            db.execute(
                f"INSERT INTO cancels (generation, job_id, user_id, at) VALUES ({GENERATION}, %s, %s, %s) "
                "ON CONFLICT (generation, job_id) DO UPDATE SET user_id = EXCLUDED.user_id, at = EXCLUDED.at "
                "WHERE cancels.at < %s",
                (job_key(job_id), user_id, at, at - timedelta(seconds=stale_after)),
            )
            row = db.execute(
                f"SELECT user_id, at FROM cancels WHERE generation = {GENERATION} AND job_id = %s", (key,)
            ).fetchone()
            assert row is not None  # inserted, updated or locked above
            return str(row[0]), row[1]

        holder, held_since = self._run(work)
        return None if holder == user_id and held_since == at else holder

    def forget_cancel(self, job_id: str, user_id: str) -> None:
        self._run(
            lambda db: db.execute(
                f"DELETE FROM cancels WHERE generation = {GENERATION} AND job_id = %s AND user_id = %s",
                (job_key(job_id), user_id),
            )
        )

    def cancelled_by(self, job_id: str) -> str | None:
        key = job_key(job_id)
        row = self._run(
            lambda db: db.execute(
                f"SELECT user_id FROM cancels WHERE generation = {GENERATION} AND job_id = %s", (key,)
            ).fetchone()
        )
        return None if row is None else str(row[0])

    # The audit trail of cancel attempts.

    def record_audit(self, entry: AuditEntry, *, fold_within: float = 0.0) -> None:
        at = _utc(entry.at)

        def work(db: Cursor) -> None:
            if fold_within > 0:
                # FOR UPDATE: two replicas folding the same refusal count it twice, never lose one.
                latest = db.execute(
                    "SELECT id, COALESCE(last_at, at) FROM audit WHERE job_id = %s AND user_id = %s "
                    "AND outcome = %s ORDER BY id DESC LIMIT 1 FOR UPDATE",
                    (job_key(entry.job_id), entry.user_id, entry.outcome),
                ).fetchone()
                if latest is not None and 0 <= (at - latest[1]).total_seconds() <= fold_within:
                    db.execute(FOLD_AUDIT_SQL.format(p="%s"), (at, latest[0]))
                    db.execute("DELETE FROM audit WHERE id = %s", (latest[0],))
                    return
            db.execute(
                "INSERT INTO audit "
                "(at, user_id, team_id, channel_id, job_id, status_before, outcome, message) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
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

        self._run(work)

    def audit_entries(
        self, job_id: str | None, limit: int, *, refused: bool | None = None
    ) -> list[AuditEntry]:
        where, args = audit_filter(job_id, refused, placeholder="%s")
        rows = self._run(
            lambda db: db.execute(
                f"SELECT {AUDIT_COLUMNS} FROM audit{where} ORDER BY id DESC LIMIT %s", (*args, limit)
            ).fetchall()
        )
        return [audit_from_row(r, r[0].astimezone(UTC), r[9].astimezone(UTC) if r[9] else None) for r in rows]

    def record_subscription_change(self, change: SubscriptionChange, *, fold_within: float = 0.0) -> None:
        at = _utc(change.at)
        statuses = json.dumps(list(change.statuses))

        def work(db: Cursor) -> None:
            if fold_within > 0:
                latest = db.execute(
                    "SELECT id, COALESCE(last_at, at) FROM subscription_audit WHERE channel_id = %s "
                    "AND user_id = %s AND action = %s AND statuses = %s ORDER BY id DESC LIMIT 1 FOR UPDATE",
                    (change.channel_id, change.user_id, change.action, statuses),
                ).fetchone()
                if latest is not None and 0 <= (at - latest[1]).total_seconds() <= fold_within:
                    db.execute(FOLD_SUBSCRIPTION_CHANGE_SQL.format(p="%s"), (at, latest[0]))
                    db.execute("DELETE FROM subscription_audit WHERE id = %s", (latest[0],))
                    return
            db.execute(
                "INSERT INTO subscription_audit (at, user_id, team_id, channel_id, action, statuses) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (at, change.user_id, change.team_id, change.channel_id, change.action, statuses),
            )

        self._run(work)

    def subscription_changes(self, limit: int) -> list[SubscriptionChange]:
        rows = self._run(
            lambda db: db.execute(
                f"SELECT {SUBSCRIPTION_AUDIT_COLUMNS} FROM subscription_audit ORDER BY id DESC LIMIT %s",
                (limit,),
            ).fetchall()
        )
        return [
            subscription_change_from_row(r, r[0].astimezone(UTC), r[7].astimezone(UTC) if r[7] else None)
            for r in rows
        ]

    # Leadership among replicas.

    def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        # The database's clock, not ours: replicas on several hosts judge expiry by the same time.
        def work(db: Cursor) -> bool:
            row = db.execute(
                "INSERT INTO leases (name, holder, expires_at) "
                "VALUES (%s, %s, clock_timestamp() + make_interval(secs => %s)) "
                "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at "
                "WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < clock_timestamp() "
                "RETURNING holder",
                (name, holder, float(ttl)),
            ).fetchone()
            return row is not None and row[0] == holder

        return self._run(work)

    def release_lease(self, name: str, holder: str) -> None:
        self._run(lambda db: db.execute("DELETE FROM leases WHERE name = %s AND holder = %s", (name, holder)))


def _tracked(row: Sequence[Any]) -> TrackedJob:
    """A TrackedJob from a row of JOB_COLUMNS."""
    return TrackedJob(str(row[0]), str(row[1]), bool(row[2]), None if row[3] is None else int(row[3]))


def _utc(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime (a naive one is local time, as `timestamp()` reads it)."""
    return datetime.fromtimestamp(moment.timestamp(), tz=UTC)


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
