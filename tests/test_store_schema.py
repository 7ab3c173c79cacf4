"""The store's schema on SQLite and on PostgreSQL: the same tables, columns and indexes on both, whether
created from empty or migrated in place from any earlier version, with nothing lost on the way."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from jobbot.models import FinishedJob, Subscription
from jobbot.store import Delivery, DeliveryState, NoticeRow, Store, open_store, schema
from jobbot.store import postgres as pg_backend
from jobbot.store import sqlite as sqlite_backend

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LEASE_END = datetime(2100, 1, 1, tzinfo=UTC)  # a lease an earlier jobbot holds, still held

# The schema's version number is kept apart from the tables on each engine: SQLite's `PRAGMA
# user_version`, PostgreSQL's `schema_version` table (which records when each migration ran).
VERSION_BOOKKEEPING = {"schema_version"}


@dataclass(frozen=True)
class Table:
    """One table as the schema test compares it: names only, since the types are each engine's own."""

    columns: tuple[str, ...]
    primary_key: tuple[str, ...]
    indexes: dict[str, tuple[tuple[str, ...], bool]]  # name -> (columns, partial)


def sqlite_schema(path: Path) -> dict[str, Table]:
    """The tables of a SQLite store file, their columns, primary keys and named indexes."""
    with sqlite3.connect(path) as db:
        names = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        schema = {}
        for table in names:
            info = db.execute(f"PRAGMA table_info({table})").fetchall()
            indexes = {}
            for _, index, _, origin, partial in db.execute(f"PRAGMA index_list({table})"):
                if origin != "pk":
                    columns = tuple(c for _, _, c in db.execute(f"PRAGMA index_info({index})"))
                    indexes[index] = (columns, bool(partial))
            schema[table] = Table(
                columns=tuple(row[1] for row in info),
                primary_key=tuple(row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]),
                indexes=indexes,
            )
    return schema


PG_INDEXES = """
SELECT t.relname, i.relname, x.indisprimary, x.indpred IS NOT NULL,
       array_agg(a.attname::text ORDER BY k.ord)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
WHERE n.nspname = 'public'
GROUP BY t.relname, i.relname, x.indisprimary, x.indpred
"""


def postgres_schema(url: str) -> dict[str, Table]:
    """The tables of a PostgreSQL store database, their columns, primary keys and named indexes."""
    with psycopg.connect(url) as db:
        columns: dict[str, list[str]] = {}
        for table, column in db.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ):
            columns.setdefault(table, []).append(column)
        keys: dict[str, tuple[str, ...]] = {}
        indexes: dict[str, dict[str, tuple[tuple[str, ...], bool]]] = {}
        for table, index, primary, partial, indexed in db.execute(PG_INDEXES):
            if primary:
                keys[table] = tuple(indexed)
            else:
                indexes.setdefault(table, {})[index] = (tuple(indexed), partial)
    return {
        table: Table(tuple(names), keys.get(table, ()), indexes.get(table, {}))
        for table, names in columns.items()
        if table not in VERSION_BOOKKEEPING
    }


def opened(url: str) -> None:
    """Open the store at `url` (creating or migrating its schema) and close it again."""
    open_store(url).close()


def test_both_engines_migrated_from_empty_have_the_same_tables_columns_and_indexes(
    tmp_path: Path, postgres_url: str
) -> None:
    """A new SQLite file and a new PostgreSQL database get the same tables, columns in the same order,
    primary keys and named indexes (partial where the other's is)."""
    opened(f"sqlite:///{tmp_path}/new.db")
    opened(postgres_url)
    from_sqlite, from_postgres = sqlite_schema(tmp_path / "new.db"), postgres_schema(postgres_url)
    assert "deliveries_open" in from_sqlite["deliveries"].indexes, "the comparison sees indexes"
    assert from_sqlite == from_postgres


def test_both_engines_count_the_same_schema_versions() -> None:
    """Each version number names one change on both engines: they have as many migrations."""
    assert sqlite_backend.SCHEMA_VERSION == pg_backend.SCHEMA_VERSION == len(sqlite_backend.MIGRATIONS)


# What each shipped version executes on each engine, as the SHA-256 of its text. A version that has
# shipped never changes: a database deployed at an earlier version must migrate as it always did (and
# SQLite keeps each CREATE statement's text as written). A new version appends its digests here.
SHIPPED = {
    "sqlite": (
        "c71677e07fc1089f634825a4cef31b4c2bf192644d4f33e7a5992fa2bed9962d",
        "dd1d2af70fe008d7bb196fe269d76960447be476fb8c265cb74dd3d7a1e1fc31",
        "be3af5e854de0e54cdffdba88780864f28e15eed4cd9dd12adbbc754bd02d294",
        "1d2fdd124591342cc4f59bf2a7afa5e01e2b5f73061f180bb512a791f495892b",
        "49172eda8c046f45cd83c82e18a204ed62fcd6dd4b9646247629793f6487bec9",
        "bbaefeaaa6c14c05ae1fbef3c53ab99e365e3814857ee350a67498b07a66907e",
        "29c6e517bceaa42f9b19337074734fb345ad349e39a910bd4b408da10105c555",
        "852d7bcc7621de5582c89d29bfa250052d998751e6fb64abfcbf92fab41552e4",
    ),
    "postgres": (
        "5d8c05040a5bfb5ce8d7b8618c78f5554ea6b739b4b72a7306e5430960dfa806",
        "30896c761eee443a2bde8698872b02237b14c177ac1bc28e1d57f9b6bce591dd",
        "5cb0da3ed32ae5a0f55df52b5ba73f72ac695aaebcec2a9ba564bba0bbc78a3a",
        "1e1d0cfaedadf83654d7e435d3490ba344dcb2fe56877a2a2b9fb0ab2a7c380e",
        "b13f30ff0a0f9b0ed910f3b6b2616ddbe67d78da7a55e78c6a3f68a236997b13",
        "4001517daefa3e1edb66d51dca483269fbaf31c1ca54351e70a5e6a3f0f552ba",
        "dd32f41ba0a99a1256ef13af2942f21e594a9f7139546622aa278b8eae08fb94",
        "b4caceb2a4536da6bfa497265e0c711d8f726ff9a2b52428b289b6120715d044",
    ),
}


@pytest.mark.parametrize("engine", [sqlite_backend, pg_backend], ids=["sqlite", "postgres"])
def test_every_shipped_migration_executes_the_text_it_shipped_with(engine: Any) -> None:
    """Each schema version runs, on each engine, the SQL text it shipped with, to the byte."""
    name = engine.__name__.rsplit(".", 1)[-1]
    digests = tuple(hashlib.sha256(script.encode()).hexdigest() for script in engine.MIGRATIONS)
    assert digests == SHIPPED[name]


def test_a_step_that_no_schema_version_has_is_refused() -> None:
    """An engine's step whose name no version holds is an error, not DDL silently never run."""
    steps = {**sqlite_backend.STEPS, "audit_index": "CREATE INDEX audit_by_user ON audit (user_id);"}
    with pytest.raises(ValueError, match=r"no schema version has the steps \['audit_index'\]"):
        schema.migrations(sqlite_backend.COLUMN_TYPES, steps)


# Earlier versions, as a deployed jobbot left them.

EARLIER_VERSIONS = range(1, sqlite_backend.SCHEMA_VERSION)
SENT_JOB = FinishedJob(id="5", status="SUCCESS")
WAITING_JOB = FinishedJob(id="7", status="FAILED")


def fill(db: Any, version: int, mark: str, at: object, until: object) -> None:
    """Rows in every table that a store at `version` has, written in that version's columns only."""

    def put(table: str, columns: str, *values: object) -> None:
        marks = ", ".join([mark] * len(values))
        db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)

    put("meta", "key, value", "baseline_at", str(NOW.timestamp()))
    put("meta", "key, value", "reconciled_at", str(NOW.timestamp()))
    put("jobs", "id, status, terminal", 5, "SUCCESS", True)
    put("jobs", "id, status, terminal", 6, "RUNNING", False)
    put(
        "deliveries",
        "destination, channel, state, ts, offline, attempts, created_at, updated_at",
        *("C0AAA", "C0AAA", "posted", "1.5", False, 1, at, at),
    )
    notice_columns = "job_id, status, destination, job_json, offline, delivery_id, created_at"
    put("notices", notice_columns, 5, "SUCCESS", "C0AAA", SENT_JOB.model_dump_json(), False, 1, at)
    put("notices", notice_columns, 7, "FAILED", "C0BBB", WAITING_JOB.model_dump_json(), True, None, at)
    put("subscriptions", "channel_id, statuses, added_by, added_at", "C0AAA", '["FAILED"]', "U1", at)
    put("watches", "job_id, user_id, added_at", 6, "U1", at)
    put("cancels", "job_id, user_id, at", 6, "U9", at)
    if version >= 2:
        put("leases", "name, holder, expires_at", "notifier", "A", until)
    if version >= 3:
        put("audit", "at, user_id, job_id, outcome", at, "U1", 7, "refused")
    if version >= 5:
        columns = "at, user_id, channel_id, action, statuses"
        put("subscription_audit", columns, at, "U1", "C0AAA", "subscribed", '["FAILED"]')


def check_kept(store: Store, version: int) -> None:
    """Everything `fill` wrote reads back through the store, as the current generation's."""
    assert store.baseline_taken() and store.last_reconcile() == NOW and store.high_water() == 6
    assert [j.id for j in store.active_jobs()] == ["6"]
    assert store.open_deliveries() == [
        Delivery(1, "C0AAA", "C0AAA", DeliveryState.POSTED, "1.5", False, 1, NOW, (SENT_JOB,))
    ]
    assert store.ungrouped_notices() == [NoticeRow(WAITING_JOB, "C0BBB", True, 1)]
    assert store.subscriptions() == [
        Subscription(channel_id="C0AAA", statuses=("FAILED",), added_by="U1", added_at=NOW)
    ]
    assert store.watchers("6") == ["U1"] and store.cancelled_by("6") == "U9"
    if version >= 2:
        assert not store.acquire_lease("notifier", "B", ttl=30), "the earlier holder keeps its lease"
    if version >= 3:
        [entry] = store.audit_entries("7", 5)
        assert (entry.user_id, entry.outcome, entry.at, entry.repeats, entry.last_at) == (
            "U1",
            "refused",
            NOW,
            1,
            None,
        )
    if version >= 5:
        [change] = store.subscription_changes(5)
        assert (change.channel_id, change.statuses, change.repeats) == ("C0AAA", ("FAILED",), 1)


@pytest.mark.parametrize("version", EARLIER_VERSIONS)
def test_an_sqlite_store_at_any_earlier_version_migrates_in_place_and_keeps_everything(
    tmp_path: Path, version: int
) -> None:
    """A SQLite file left at an earlier schema version opens, keeps every row, and ends with the schema
    a new file gets."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for script in sqlite_backend.MIGRATIONS[:version]:
            db.executescript(script)
        fill(db, version, "?", NOW.timestamp(), LEASE_END.timestamp())
        db.execute(f"PRAGMA user_version = {version}")
    store = open_store(f"sqlite:///{path}")
    try:
        check_kept(store, version)
    finally:
        store.close()
    opened(f"sqlite:///{tmp_path}/new.db")
    assert sqlite_schema(path) == sqlite_schema(tmp_path / "new.db")


@pytest.mark.parametrize("version", EARLIER_VERSIONS)
def test_a_postgres_store_at_any_earlier_version_migrates_in_place_and_keeps_everything(
    tmp_path: Path, postgres_url: str, version: int
) -> None:
    """A PostgreSQL database left at an earlier schema version opens, keeps every row, and ends with the
    schema a new store gets (the same as SQLite's)."""
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())"
        )
        for number, script in enumerate(pg_backend.MIGRATIONS[:version], start=1):
            db.execute(script)
            db.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        fill(db, version, "%s", NOW, LEASE_END)
    store = open_store(postgres_url)
    try:
        check_kept(store, version)
    finally:
        store.close()
    with psycopg.connect(postgres_url) as db:
        versions = [v for (v,) in db.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, pg_backend.SCHEMA_VERSION + 1))
    opened(f"sqlite:///{tmp_path}/new.db")
    assert postgres_schema(postgres_url) == sqlite_schema(tmp_path / "new.db")
