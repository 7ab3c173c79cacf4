"""The store, on SQLite and on PostgreSQL: schema versions, the ledger's unique key, claims and leases
between replicas, and what it keeps across reopening."""

from __future__ import annotations

import logging
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg
import pytest

from jobbot.errors import ConfigError, InvalidJobId, StoreError
from jobbot.models import AuditEntry, FinishedJob, Subscription, SubscriptionChange
from jobbot.servers import DEFAULT_SERVER
from jobbot.store import Delivery, DeliveryState, NoticeRow, Store, TrackedJob, open_store
from jobbot.store.database import scoped
from jobbot.store.open import POSTGRES_EXTRA_MISSING
from jobbot.store.sqlite import SCHEMA_VERSION, SqliteStore
from tests.support import FakeClock

NOW = datetime(2026, 1, 1, tzinfo=UTC)
T = TypeVar("T")
StoreFactory = Callable[[], Store]


def notice(job_id: str, destination: str = "C0AAA", status: str = "SUCCESS") -> NoticeRow:
    return NoticeRow(FinishedJob(id=job_id, status=status), destination, offline=False)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database of the backend under test (a fresh file, or a fresh PostgreSQL database)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/s.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store_factory(database_url: str) -> Iterator[StoreFactory]:
    """Opens stores (replicas) on one database; every store it opened is closed after the test."""
    opened: list[Store] = []

    def open_one() -> Store:
        store = open_store(database_url)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    """One store (one replica) on the test's database."""
    return store_factory()


BACKENDS = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def together(*calls: Callable[[], T]) -> list[T]:
    """Run the calls on their own threads, released at once, and return their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


# Both backends.


@BACKENDS
def test_reopening_keeps_data_and_the_instance_id(store_factory: StoreFactory) -> None:
    """A second opening of the same database migrates nothing and sees the data and instance id."""
    first = store_factory()
    assert isinstance(first.instance_id, str) and first.instance_id, "an id made with the schema"
    first.take_baseline([TrackedJob("3", "RUNNING", False)], NOW)
    first.close()
    again = store_factory()
    assert again.instance_id == first.instance_id
    assert [j.id for j in again.active_jobs()] == ["3"] and again.baseline_taken()
    assert again.last_reconcile() == NOW and again.high_water() == 3


@BACKENDS
def test_each_database_gets_an_instance_id_of_its_own(database_url: str, tmp_path: Path) -> None:
    """Two databases never share an instance id: it prefixes every notice's ledger key in Slack, so a
    new database (or another deployment posting to the same channel) must never find the old one's
    notices in a channel's history and take them for its own. It is 8 random bytes in hex."""
    other_url = f"sqlite:///{tmp_path}/other.db"
    first, second = open_store(database_url), open_store(other_url)
    try:
        assert first.instance_id != second.instance_id
        assert all(re.fullmatch("[0-9a-f]{16}", s.instance_id) for s in (first, second))
    finally:
        first.close()
        second.close()


@BACKENDS
def test_each_job_status_destination_is_in_the_ledger_once(store: Store) -> None:
    """The same notice enqueued twice is one row; another destination or status is another."""
    assert store.record_poll([], [notice("1"), notice("1")], now=NOW, reconciled=False) == 1
    assert store.record_poll([], [notice("1"), notice("1", "C0BBB")], now=NOW, reconciled=False) == 1
    assert store.notice_count("1") == 2


@BACKENDS
def test_record_poll_tracks_jobs_and_removes_only_answered_watches(store: Store) -> None:
    """Statuses are upserted, terminal jobs leave the active set, and only the answered watch goes."""
    store.take_baseline([TrackedJob("1", "RUNNING", False), TrackedJob("2", "RUNNING", False)], NOW)
    store.watch("1", "U1", NOW)
    store.watch("2", "U1", NOW)
    later = NOW + timedelta(minutes=5)
    store.record_poll([TrackedJob("1", "SUCCESS", True)], [notice("1", "U1")], now=later, reconciled=True)
    assert [j.id for j in store.active_jobs()] == ["2"]
    assert store.job_statuses()["1"] == TrackedJob("1", "SUCCESS", True)
    assert store.watchers("1") == [] and store.watchers("2") == ["U1"]
    assert store.last_reconcile() == later and store.high_water() == 2


@BACKENDS
def test_a_new_store_has_no_baseline_no_reconcile_and_no_jobs(store: Store) -> None:
    """Before the notifier's first poll, the store says so: no baseline, never reconciled, nothing tracked."""
    assert not store.baseline_taken() and store.last_reconcile() is None
    assert store.high_water() == 0 and store.newest_job() is None and store.job_statuses() == {}


@BACKENDS
def test_a_poll_that_only_reconciled_records_when_and_a_quiet_poll_counts_nothing(store: Store) -> None:
    """A poll with no jobs and no notices returns 0 new notices; when it reconciled, its time is kept
    as the last reconcile, and when it did not, the previous one stays."""
    store.take_baseline([], NOW)
    later = NOW + timedelta(minutes=5)
    assert store.record_poll([], [], now=later, reconciled=False) == 0
    assert store.last_reconcile() == NOW
    assert store.record_poll([], [], now=later, reconciled=True) == 0
    assert store.last_reconcile() == later


@BACKENDS
def test_grouping_creates_pending_deliveries_with_their_jobs(store: Store) -> None:
    """Grouped notices become deliveries that carry their jobs and move through the states."""
    store.record_poll([], [notice("1"), notice("2")], now=NOW, reconciled=False)
    rows = store.ungrouped_notices()
    [delivery_id] = store.group_notices([rows], NOW)
    assert store.ungrouped_notices() == []
    [delivery] = store.open_deliveries()
    assert delivery.state is DeliveryState.PENDING and [j.id for j in delivery.jobs] == ["1", "2"]
    assert delivery.created_at == NOW and delivery.created_at.tzinfo is not None
    assert store.claim_delivery(delivery_id, attempts=0, channel="C0AAA", now=NOW)
    assert not store.claim_delivery(delivery_id, attempts=0, channel="C0AAA", now=NOW), "claimed once"
    store.set_delivery_state(delivery_id, DeliveryState.POSTED, now=NOW, ts="1.2")
    [posted] = store.open_deliveries()
    assert (posted.state, posted.channel, posted.ts, posted.attempts) == (
        DeliveryState.POSTED,
        "C0AAA",
        "1.2",
        1,
    )
    store.set_delivery_state(delivery_id, DeliveryState.DONE, now=NOW)
    assert store.open_deliveries() == []


@BACKENDS
def test_an_open_delivery_comes_back_with_every_field_in_its_place(store: Store) -> None:
    """A direct message's delivery is read back with each field from its own column: the user it is for,
    the DM channel it was posted to, its state, ts, offline flag, attempts, creation time and job."""
    job = FinishedJob(id="1", status="FAILED")
    store.record_poll([], [NoticeRow(job, "U1", offline=True)], now=NOW, reconciled=False)
    [delivery_id] = store.group_notices([store.ungrouped_notices()], NOW)
    pending = Delivery(delivery_id, "U1", None, DeliveryState.PENDING, None, True, 0, NOW, (job,))
    assert store.open_deliveries() == [pending]
    assert store.claim_delivery(delivery_id, attempts=0, channel="D1", now=NOW)
    store.set_delivery_state(delivery_id, DeliveryState.POSTED, now=NOW, ts="1.5")
    assert store.open_deliveries() == [
        replace(pending, channel="D1", state=DeliveryState.POSTED, ts="1.5", attempts=1)
    ]


@BACKENDS
def test_subscriptions_watches_and_cancels_round_trip(store: Store) -> None:
    """Subscriptions replace by channel, watches are per user and job, cancels remember the user."""
    store.subscribe(Subscription(channel_id="C1", statuses=("FAILED",), added_by="U1", added_at=NOW))
    store.subscribe(
        Subscription(channel_id="C1", statuses=("SUCCESS", "FAILED"), added_by="U2", added_at=NOW)
    )
    [sub] = store.subscriptions()
    assert sub.statuses == ("SUCCESS", "FAILED") and sub.added_by == "U2" and sub.added_at == NOW
    assert store.unsubscribe("C1") and not store.unsubscribe("C1")
    store.watch("7", "U1", NOW)
    store.watch("7", "U1", NOW)
    assert store.watchers("7") == ["U1"] and store.unwatch("7", "U1") and not store.unwatch("7", "U1")
    assert store.claim_cancel("7", "U9", NOW, stale_after=60) is None
    assert store.cancelled_by("7") == "U9"
    store.forget_cancel("7", "U9")
    assert store.cancelled_by("7") is None


@BACKENDS
def test_watchers_come_back_first_watched_first_and_by_user_id_at_the_same_instant(store: Store) -> None:
    """Watchers are listed by when they asked, earliest first; those who asked at the same instant by
    user id, so every replica lists them in one order."""
    store.watch("7", "U3", NOW)
    store.watch("7", "U2", NOW + timedelta(seconds=1))
    store.watch("7", "U1", NOW + timedelta(seconds=1))
    assert store.watchers("7") == ["U3", "U1", "U2"]


@BACKENDS
def test_a_stale_cancel_claim_is_taken_over(store: Store) -> None:
    """A claim younger than `stale_after` names its holder to others; an older one passes to them."""
    assert store.claim_cancel("7", "U1", NOW, stale_after=60) is None
    assert store.claim_cancel("7", "U2", NOW + timedelta(seconds=30), stale_after=60) == "U1"
    assert store.claim_cancel("7", "U2", NOW + timedelta(seconds=61), stale_after=60) is None
    assert store.cancelled_by("7") == "U2"


@BACKENDS
def test_concurrent_writers_lose_nothing(store: Store) -> None:
    """Handler threads and the notifier writing at once: every write lands."""

    def write(offset: int) -> None:
        for i in range(50):
            store.watch(str(offset * 100 + i), "U1", NOW)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(store.watchers(str(n * 100 + i))) for n in range(4) for i in range(50)) == 200


def test_the_lease_is_taken_renewed_refused_and_taken_over_after_expiry(tmp_path: Path) -> None:
    """One holder at a time: renewals keep it, another replica is refused until it expires, then takes it."""
    clock = FakeClock()  # one host, one clock: both replicas read it
    first, second = (SqliteStore(str(tmp_path / "s.db"), lease_clock=clock.time) for _ in range(2))
    try:
        assert first.acquire_lease("notifier", "A", ttl=30)
        assert first.acquire_lease("notifier", "A", ttl=30), "renewed by its holder"
        assert not second.acquire_lease("notifier", "B", ttl=30), "refused while held"
        assert first.acquire_lease("notifier", "A", ttl=5), "renewed with a shorter ttl"
        clock.advance(4.5)
        assert not second.acquire_lease("notifier", "B", ttl=30), "refused until the renewed ttl runs out"
        clock.advance(1)
        assert second.acquire_lease("notifier", "B", ttl=30), "taken over once expired"
        _the_taken_over_lease_is_the_new_holders(first, second)
    finally:
        first.close()
        second.close()


@POSTGRES_ONLY
def test_the_postgres_lease_is_taken_over_after_expiry_by_the_database_clock(
    store_factory: StoreFactory,
) -> None:
    """On PostgreSQL a lease expires by the database's clock: after its ttl another replica takes it."""
    # PostgreSQL leases read clock_timestamp() so that replicas on several hosts judge expiry by one
    # clock; no clock of this process can stand in for it, so this waits out a short real ttl.
    first, second = store_factory(), store_factory()
    assert first.acquire_lease("notifier", "A", ttl=30)
    assert first.acquire_lease("notifier", "A", ttl=30), "renewed by its holder"
    assert not second.acquire_lease("notifier", "B", ttl=30), "refused while held"
    assert first.acquire_lease("notifier", "A", ttl=0.3), "renewed with a short ttl"
    deadline = time.monotonic() + 10
    while not second.acquire_lease("notifier", "B", ttl=30):
        assert time.monotonic() < deadline, "the expired lease was never taken over"
        time.sleep(0.02)
    _the_taken_over_lease_is_the_new_holders(first, second)


def _the_taken_over_lease_is_the_new_holders(first: Store, second: Store) -> None:
    """After `second` took the lease over from `first`: only `second` can give it back."""
    assert not first.acquire_lease("notifier", "A", ttl=30), "the old holder lost it"
    first.release_lease("notifier", "A")  # not the holder: changes nothing
    assert not first.acquire_lease("notifier", "A", ttl=30)
    second.release_lease("notifier", "B")
    assert first.acquire_lease("notifier", "A", ttl=30), "free again once released"


@BACKENDS
def test_only_one_of_two_replicas_claims_a_delivery(store_factory: StoreFactory) -> None:
    """Two stores on one database claiming one delivery at the same moment: exactly one wins, each time."""
    first, second = store_factory(), store_factory()
    first.record_poll([], [notice("1")], now=NOW, reconciled=False)
    [delivery_id] = first.group_notices([first.ungrouped_notices()], NOW)
    for attempts in range(20):
        won = together(
            *[
                partial(replica.claim_delivery, delivery_id, attempts=attempts, channel="C0AAA", now=NOW)
                for replica in (first, second)
            ]
        )
        assert sorted(won) == [False, True], f"round {attempts}: {won}"
    [delivery] = second.open_deliveries()
    assert delivery.attempts == 20 and delivery.state is DeliveryState.POSTING


@BACKENDS
def test_only_one_of_two_replicas_claims_a_cancel(store_factory: StoreFactory) -> None:
    """Two users' clicks on two replicas at once: one holds the cancel, the other is told who does."""
    first, second = store_factory(), store_factory()
    for job in range(20):
        outcome = together(
            partial(first.claim_cancel, str(job), "U1", NOW, stale_after=60),
            partial(second.claim_cancel, str(job), "U2", NOW, stale_after=60),
        )
        assert outcome in ([None, "U1"], ["U2", None]), f"job {job}: {outcome}"
        assert first.cancelled_by(str(job)) == ("U1" if outcome[0] is None else "U2")


MAX_JOB_ID = 2**63 - 1


@BACKENDS
def test_ids_up_to_2_63_minus_1_are_kept_and_007_is_job_7(store: Store) -> None:
    """The largest job id BIGINT holds goes through every job-keyed table; "007" and "7" are one job."""
    top = str(MAX_JOB_ID)
    store.take_baseline([TrackedJob(top, "RUNNING", False)], NOW)
    assert store.high_water() == MAX_JOB_ID and [j.id for j in store.active_jobs()] == [top]
    store.watch(top, "U1", NOW)
    assert store.claim_cancel(top, "U1", NOW, stale_after=60) is None
    store.record_audit(AuditEntry(at=NOW, user_id="U1", job_id=top, outcome="confirmed"))
    assert store.record_poll([], [notice(top, "U1")], now=NOW, reconciled=False) == 1
    assert store.notice_count(top) == 1 and store.watchers(top) == [] and store.cancelled_by(top) == "U1"
    assert [e.job_id for e in store.audit_entries(top, 10)] == [top]
    store.watch("007", "U2", NOW)
    assert store.watchers("7") == ["U2"] and store.unwatch("0007", "U2")


@BACKENDS
@pytest.mark.parametrize("bad", ["job-3", str(MAX_JOB_ID + 1), "9" * 20, "\u0661\u0662", ""])
def test_the_store_refuses_what_is_not_a_job_id_with_the_job_id_error(store: Store, bad: str) -> None:
    """Ids that are not job ids are refused as such by every job-keyed method, never as an overflow or a
    database error, and nothing is written."""
    calls: list[Callable[[], object]] = [
        lambda: store.take_baseline([TrackedJob(bad, "RUNNING", False)], NOW),
        lambda: store.record_poll([TrackedJob(bad, "RUNNING", False)], [], now=NOW, reconciled=False),
        lambda: store.record_poll([], [notice(bad)], now=NOW, reconciled=False),
        lambda: store.watch(bad, "U1", NOW),
        lambda: store.watchers(bad),
        lambda: store.claim_cancel(bad, "U1", NOW, stale_after=60),
        lambda: store.cancelled_by(bad),
        lambda: store.record_audit(AuditEntry(at=NOW, user_id="U1", job_id=bad, outcome="refused")),
        lambda: store.audit_entries(bad, 10),
        lambda: store.notice_count(bad),
    ]
    for call in calls:
        with pytest.raises(InvalidJobId):
            call()
    assert store.job_statuses() == {} and store.audit_entries(None, 10) == []


@BACKENDS
def test_a_new_generation_keeps_the_old_jobs_in_history_and_shares_no_key_with_them(store: Store) -> None:
    """After a reset, the old server's jobs, notices, watches and cancel claims stay stored but are not
    the new server's: the same ids start afresh, notices included, and an old open delivery still goes."""
    store.take_baseline(
        [TrackedJob("1", "SUCCESS", True, 1000), TrackedJob("2", "RUNNING", False, 2000)], NOW
    )
    store.watch("2", "U1", NOW)
    assert store.claim_cancel("2", "U9", NOW, stale_after=60) is None
    store.record_poll([], [notice("1", "C0AAA")], now=NOW, reconciled=False)
    old_rows = store.ungrouped_notices()
    assert store.newest_job() == TrackedJob("2", "RUNNING", False, 2000)
    assert store.begin_generation(NOW) == 2
    assert store.job_statuses() == {} and store.active_jobs() == [] and store.high_water() == 0
    assert store.newest_job() is None
    assert store.watchers("2") == [] and store.cancelled_by("2") is None and store.notice_count("1") == 0
    assert store.claim_cancel("2", "U5", NOW, stale_after=60) is None, "no old claim stands in the way"
    later = NOW + timedelta(minutes=1)
    new_job = TrackedJob("1", "SUCCESS", True, 9000)
    assert store.record_poll([new_job], [notice("1", "C0AAA")], now=later, reconciled=True) == 1
    assert store.job_statuses() == {"1": new_job} and store.high_water() == 1
    assert store.notice_count("1") == 1
    rows = store.ungrouped_notices()
    assert len(rows) == 2 and rows[0].generation != rows[1].generation
    store.group_notices([old_rows], NOW)
    assert [r.generation for r in store.ungrouped_notices()] == [rows[1].generation]
    [delivery] = store.open_deliveries()
    assert [j.id for j in delivery.jobs] == ["1"]


@BACKENDS
def test_a_known_start_time_is_kept_when_a_later_record_has_none(store: Store) -> None:
    """A job recorded without a start time (marked gone, say) keeps the one it had."""
    store.take_baseline([TrackedJob("4", "RUNNING", False, 1234)], NOW)
    store.record_poll([TrackedJob("4", "GONE", True)], [], now=NOW, reconciled=False)
    assert store.job_statuses()["4"] == TrackedJob("4", "GONE", True, 1234)
    assert store.newest_job() is None, "a job that vanished is no witness to what the server holds"


def test_an_sqlite_store_from_before_generations_keeps_its_data_as_the_first(tmp_path: Path) -> None:
    """Opening a store made by the previous schema moves its jobs, ledger, watches and claims into
    generation 1 unchanged, and the store goes on working."""
    from jobbot.store import sqlite as backend

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for script in backend.MIGRATIONS[:GENERATIONS_MIGRATION]:
            db.executescript(script)
        fill_previous_schema(db, "?")
        db.execute(f"PRAGMA user_version = {GENERATIONS_MIGRATION}")
    store = SqliteStore(str(path))
    try:
        check_previous_data(store)
    finally:
        store.close()


@POSTGRES_ONLY
def test_a_postgres_store_from_before_generations_keeps_its_data_as_the_first(database_url: str) -> None:
    """The same upgrade on PostgreSQL: the previous schema's data is generation 1, and it goes on."""
    from jobbot.store import postgres as backend

    with admin(database_url) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
        for number, script in enumerate(backend.MIGRATIONS[:GENERATIONS_MIGRATION], start=1):
            db.execute(script)
            db.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        fill_previous_schema(db, "%s")
    store = open_store(database_url)
    try:
        check_previous_data(store)
    finally:
        store.close()


# The migration that brought generations: the schema before it is what a deployed jobbot has.
GENERATIONS_MIGRATION = 3


def fill_previous_schema(db: Any, mark: str) -> None:
    """Rows as the schema before generations held them: two jobs, a notice, a watch, a claim."""
    true, at = (True, NOW) if mark == "%s" else (1, NOW.timestamp())
    db.execute(f"INSERT INTO meta (key, value) VALUES ('baseline_at', {mark})", (str(NOW.timestamp()),))
    db.execute(f"INSERT INTO jobs VALUES (5, 'SUCCESS', {mark}), (6, 'RUNNING', {mark})", (true, not true))
    db.execute(
        f"INSERT INTO notices (job_id, status, destination, job_json, offline, created_at) "
        f"VALUES (5, 'SUCCESS', 'C0AAA', {mark}, {mark}, {mark})",
        (FinishedJob(id="5", status="SUCCESS").model_dump_json(), not true, at),
    )
    db.execute(f"INSERT INTO watches VALUES (6, 'U1', {mark})", (at,))
    db.execute(f"INSERT INTO cancels VALUES (6, 'U9', {mark})", (at,))


def check_previous_data(store: Store) -> None:
    assert store.baseline_taken() and store.high_water() == 6
    assert [j.id for j in store.active_jobs()] == ["6"]
    assert store.watchers("6") == ["U1"] and store.cancelled_by("6") == "U9" and store.notice_count("5") == 1
    assert store.record_poll([], [notice("5")], now=NOW, reconciled=False) == 0, "the same notice, once"
    assert store.begin_generation(NOW) == 2 and store.job_statuses() == {}


# SQLite only: files and their paths.


def test_schema_is_created_versioned_and_reopened_unchanged(tmp_path: Path) -> None:
    """A new file gets the current schema version; reopening keeps data and the instance id."""
    path = str(tmp_path / "s.db")
    store = SqliteStore(path)
    store.take_baseline([TrackedJob("3", "RUNNING", False)], NOW)
    instance = store.instance_id
    store.close()
    again = SqliteStore(path)
    assert (
        again.instance_id == instance
        and [j.id for j in again.active_jobs()] == ["3"]
        and again.baseline_taken()
    )
    again.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_open_deliveries_and_all_their_jobs_are_read_in_one_statement(tmp_path: Path) -> None:
    """However many deliveries are open, reading them with their jobs is one SQL statement (not one per
    delivery), and each delivery gets its own jobs in order."""
    store = SqliteStore(str(tmp_path / "s.db"))
    try:
        store.record_poll([], [notice(n) for n in ("1", "2", "3", "4")], now=NOW, reconciled=False)
        one, two, three, four = store.ungrouped_notices()
        store.group_notices([[two, one], [three], [four]], NOW)
        statements: list[str] = []
        store._engine._conn.set_trace_callback(statements.append)
        deliveries = store.open_deliveries()
        store._engine._conn.set_trace_callback(None)
    finally:
        store.close()
    assert [[j.id for j in d.jobs] for d in deliveries] == [["1", "2"], ["3"], ["4"]]
    assert len(statements) == 1, statements


def test_a_store_from_a_newer_jobbot_is_refused(tmp_path: Path) -> None:
    """A schema newer than this code stops start-up with a clear error, naming the file and both versions,
    instead of corrupting it."""
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError) as caught:
        SqliteStore(str(path))
    assert str(caught.value) == (
        f"the store {str(path)!r} has schema version {SCHEMA_VERSION + 1}, newer than this jobbot "
        f"({SCHEMA_VERSION}); upgrade jobbot (or set JOBBOT_DATABASE_URL to another store)"
    )


def test_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    """A path in a missing directory fails with a StoreError naming the file."""
    with pytest.raises(StoreError, match="cannot open the SQLite store"):
        open_store(f"sqlite:///{tmp_path}/missing/dir/s.db")


def test_a_file_that_is_not_a_database_is_a_store_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file SQLite cannot read as a database stops start-up at once (it is not a lock to wait out) with a
    StoreError naming the file and what SQLite said, not a bare sqlite3 traceback."""
    pauses: list[float] = []
    monkeypatch.setattr("jobbot.store.sqlite.time.sleep", pauses.append)
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 100)
    with pytest.raises(StoreError) as caught:
        open_store(f"sqlite:///{path}")
    assert str(caught.value) == f"cannot open the SQLite store {str(path)!r}: file is not a database"
    assert pauses == []


def hold_the_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's connection in the middle of a write: switching `path` to WAL is told "locked"
    at once, without SQLite's busy wait."""
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    return writer


def test_a_store_file_locked_by_a_writer_is_opened_in_wal_once_the_lock_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a store while another connection writes to it tries again after each short pause, and opens
    it in WAL mode as soon as the writer is done."""
    path = tmp_path / "s.db"
    writer = hold_the_write_lock(path)
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            writer.execute("COMMIT")

    monkeypatch.setattr("jobbot.store.sqlite.time.sleep", pause)
    try:
        store = SqliteStore(str(path))
    finally:
        writer.close()
    try:
        assert len(pauses) == 3 and store.high_water() == 0
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_store_file_that_stays_locked_is_given_up_on_after_a_few_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock that never goes: after 100 attempts, a few seconds of pauses in all, start-up stops with a
    StoreError saying the store is locked."""
    path = tmp_path / "s.db"
    writer = hold_the_write_lock(path)
    pauses: list[float] = []
    monkeypatch.setattr("jobbot.store.sqlite.time.sleep", pauses.append)
    try:
        with pytest.raises(StoreError) as caught:
            SqliteStore(str(path))
    finally:
        writer.close()
    assert str(caught.value) == f"cannot open the SQLite store {str(path)!r}: database is locked"
    assert len(pauses) == 99 and sum(pauses) <= 5


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db/jobbot", "unsupported scheme 'mysql'"),
        ("sqlite://jobbot.db", "must look like sqlite:///jobbot.db"),
        ("sqlite:///", "names no file"),
        ("postgresql://u:pw@db/jobbot?bogus=1", "not a valid PostgreSQL URL"),
    ],
)
def test_bad_database_urls_are_clear(url: str, message: str) -> None:
    """A database URL jobbot cannot use is a one-line error naming the variable."""
    with pytest.raises(ConfigError, match=message) as caught:
        open_store(url)
    assert "JOBBOT_DATABASE_URL" in str(caught.value) and "\n" not in str(caught.value)


# PostgreSQL only.


def admin(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection to the test's database, to look at it and to meddle."""
    return psycopg.connect(url, autocommit=True)


@POSTGRES_ONLY
def test_postgres_schema_is_versioned_once(database_url: str, store: Store) -> None:
    """Each migration is recorded once; `postgres://` opens the same store as `postgresql://`."""
    from jobbot.store.postgres import SCHEMA_VERSION as PG_VERSION
    from jobbot.store.postgres import PostgresStore

    again = open_store(database_url.replace("postgresql://", "postgres://", 1))
    try:
        assert isinstance(again, PostgresStore) and again.instance_id == store.instance_id
    finally:
        again.close()
    with admin(database_url) as db:
        versions = [v for (v,) in db.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, PG_VERSION + 1))


@POSTGRES_ONLY
def test_a_postgres_store_from_a_newer_jobbot_is_refused(database_url: str, store: Store) -> None:
    """A schema version newer than this code stops start-up with a clear error."""
    from jobbot.store.postgres import SCHEMA_VERSION as PG_VERSION

    store.close()
    with admin(database_url) as db:
        db.execute("INSERT INTO schema_version (version) VALUES (%s)", (PG_VERSION + 1,))
    with pytest.raises(StoreError, match="newer than this jobbot"):
        open_store(database_url)


@POSTGRES_ONLY
def test_replicas_starting_together_migrate_once(database_url: str) -> None:
    """Four replicas opening an empty database at once all start, on one schema and one instance id."""
    stores = together(*[lambda: open_store(database_url)] * 4)
    try:
        assert len({s.instance_id for s in stores}) == 1
    finally:
        for store in stores:
            store.close()
    from jobbot.store.postgres import SCHEMA_VERSION as PG_VERSION

    with admin(database_url) as db:
        expected = (PG_VERSION, PG_VERSION)
        assert (
            db.execute("SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_version").fetchone() == expected
        )


def backends_of(db: psycopg.Connection[tuple[Any, ...]], database_url: str) -> list[int]:
    """The server processes connected to the test's database, other than `db`'s own."""
    name = database_url.rsplit("/", 1)[1]
    query = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() ORDER BY pid"
    return [pid for (pid,) in db.execute(query, (name,))]


@POSTGRES_ONLY
def test_a_dropped_connection_is_reopened_once(
    database_url: str, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """After the server kills the store's connection, the next call reconnects and succeeds."""
    store.watch("7", "U1", NOW)
    with admin(database_url) as db:
        [pid] = backends_of(db, database_url)
        assert db.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone() == (True,)
        with caplog.at_level(logging.WARNING, logger="jobbot.store.postgres"):
            store.watch("8", "U1", NOW)
        assert store.watchers("7") == ["U1"] and store.watchers("8") == ["U1"]
        [new_pid] = backends_of(db, database_url)
    assert new_pid != pid and "retrying once" in caplog.text


@POSTGRES_ONLY
def test_a_connection_lost_while_committing_is_never_retried(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once COMMIT was sent its outcome is unknown: running the work again could record a notice twice,
    so the store reports the doubt instead of retrying."""
    from jobbot.store.postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    connection = store._engine._connect()

    def lost(*_: object) -> None:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(connection, "commit", lost)
    runs = []
    with pytest.raises(StoreError) as failed:
        store._engine._run(lambda db: runs.append(db.execute("SELECT 1").fetchone()))
    assert runs == [(1,)]
    assert str(failed.value) == (
        f"the PostgreSQL store at {store.where} failed while committing, so the change may or may not "
        "have been saved: server closed the connection unexpectedly"
    )


@POSTGRES_ONLY
def test_a_connection_lost_twice_is_retried_once_and_both_losses_are_told(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Work that loses its connection runs once more on a new one; a second loss is a StoreError with
    the server's words, and the retry's warning names where and why."""
    from jobbot.store.postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    runs = []

    def lose(db: object) -> None:
        runs.append(db)
        raise psycopg.OperationalError(f"connection lost, try {len(runs)}")

    with (
        caplog.at_level(logging.WARNING, logger="jobbot.store.postgres"),
        pytest.raises(StoreError) as failed,
    ):
        store._engine._run(lose)
    assert len(runs) == 2
    assert str(failed.value) == f"the PostgreSQL store at {store.where} failed: connection lost, try 2"
    [warning] = [r.getMessage() for r in caplog.records if r.name == "jobbot.store.postgres"]
    assert warning == f"store: retrying once at {store.where} after: connection lost, try 1"


@POSTGRES_ONLY
def test_an_error_the_server_answers_is_a_store_error_with_its_words_and_no_retry(store: Store) -> None:
    """An error PostgreSQL answers (not a lost connection) fails at once, naming where and what it said."""
    from jobbot.store.postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    runs = []

    def refused(db: Any) -> None:
        runs.append(db)
        db.execute("SELECT * FROM no_such_table")

    with pytest.raises(StoreError) as failed:
        store._engine._run(refused)
    assert len(runs) == 1
    # What follows the colon is the server's own sentence, in the server's language.
    message = str(failed.value)
    assert message.startswith(f"the PostgreSQL store at {store.where} failed: ")
    assert "no_such_table" in message.partition("failed: ")[2]
    assert store.watchers("7") == []  # the connection it abandoned is replaced


@POSTGRES_ONLY
def test_a_lost_server_is_a_store_error_naming_the_database(
    database_url: str, store: Store, postgres_server: str
) -> None:
    """When reconnecting fails too, the call raises a StoreError that names host, port and database."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    with admin(postgres_server) as db:
        db.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        [pid] = backends_of(db, database_url)
        db.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    where = f"{parts.hostname}:{parts.port or 5432}/{name}"
    with pytest.raises(StoreError, match=re.escape(f"cannot connect to the PostgreSQL store at {where}")):
        store.watchers("7")


@POSTGRES_ONLY
def test_poll_queries_read_through_indexes_not_history(database_url: str, store: Store) -> None:
    """With much finished history, every steady-poll query plans an index scan and no sequential scan."""
    from jobbot.store import ledger, tracking

    with admin(database_url) as db:
        db.execute("INSERT INTO jobs SELECT n, 'SUCCESS', true FROM generate_series(1, 20000) n")
        db.execute("INSERT INTO jobs VALUES (20001, 'RUNNING', false)")
        db.execute(
            "INSERT INTO deliveries (destination, state, offline, created_at, updated_at) "
            "SELECT 'C1', CASE WHEN n = 20000 THEN 'pending' ELSE 'done' END, false, now(), now() "
            "FROM generate_series(1, 20000) n"
        )
        db.execute(
            "INSERT INTO notices SELECT n, 'SUCCESS', 'C1', '{}', false, "
            "CASE WHEN n < 20000 THEN n END, now() FROM generate_series(1, 20000) n"
        )
        db.execute("ANALYZE")
        queries = {
            tracking.HIGH_WATER_SQL: ["jobs_pkey"],
            tracking.ACTIVE_JOBS_SQL: ["jobs_active"],
            ledger.UNGROUPED_NOTICES_SQL: ["notices_ungrouped"],
            # The open deliveries and their jobs, in one statement.
            ledger.OPEN_DELIVERIES_SQL.format(indexed_by=""): ["deliveries_open", "notices_delivery"],
        }
        for query, indexes in queries.items():
            plan = "\n".join(line for (line,) in db.execute(f"EXPLAIN {scoped(query, DEFAULT_SERVER)}"))
            # The generations table has one row per redeploy of the server: reading it whole is fine.
            history_plan = plan.replace("Seq Scan on generations", "")
            assert all(index in plan for index in indexes) and "Seq Scan" not in history_plan, (
                f"{query}\n{plan}"
            )


def test_a_postgres_url_without_the_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without psycopg installed, a PostgreSQL URL stops start-up with one line naming `jobbot[postgres]`."""
    monkeypatch.delitem(sys.modules, "jobbot.store.postgres", raising=False)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    for url in ("postgresql://jobbot@db/jobbot", "postgres://jobbot@db/jobbot"):
        with pytest.raises(ConfigError) as caught:
            open_store(url)
        assert str(caught.value) == POSTGRES_EXTRA_MISSING
    assert "pip install 'jobbot[postgres]'" in POSTGRES_EXTRA_MISSING and "\n" not in POSTGRES_EXTRA_MISSING


def test_a_password_never_appears_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    """A failed connection names host, port and database, never the password, in the error and the logs."""
    password = "s3cr3t-Pa55"
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreError) as caught:
        open_store(f"postgresql://jobbot:{password}@127.0.0.1:1/ledger?connect_timeout=5")
    message = str(caught.value)
    assert "127.0.0.1:1/ledger" in message and "\n" not in message
    assert password not in message and password not in repr(caught.value) and password not in caplog.text
    with pytest.raises(ConfigError) as bad:  # libpq's own message would quote this password
        open_store("postgresql://jobbot:s3cr%zz@db/ledger")
    assert "s3cr" not in str(bad.value)


@POSTGRES_ONLY
def test_a_password_is_scrubbed_from_server_errors(database_url: str) -> None:
    """A server-side failure (here: no such database) is reported without the URL's password."""
    password = "s3cr3t-Pa55"
    parts = urlsplit(database_url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port or 5432}"
    url = parts._replace(netloc=netloc, path=parts.path + "_missing").geturl()
    with pytest.raises(StoreError, match="cannot connect to the PostgreSQL store") as caught:
        open_store(url)
    assert password not in str(caught.value)


@BACKENDS
def test_audit_entries_come_back_newest_first_per_job(store: Store) -> None:
    """The audit trail keeps every field and answers for one job or for all, newest first."""
    from jobbot.models import AuditEntry

    for n, outcome in enumerate(["confirmed", "succeeded"]):
        store.record_audit(
            AuditEntry(
                at=NOW + timedelta(seconds=n),
                user_id="U1",
                team_id="T1",
                channel_id="C1",
                job_id="7",
                status_before="RUNNING",
                outcome=outcome,
                message="Successfully cancel job: 7" if n else None,
            )
        )
    store.record_audit(AuditEntry(at=NOW, user_id="U2", job_id="8", outcome="refused"))
    assert [e.outcome for e in store.audit_entries("7", 10)] == ["succeeded", "confirmed"]
    [latest] = store.audit_entries(None, 1)
    assert (latest.job_id, latest.user_id, latest.outcome) == ("8", "U2", "refused")
    newest_for_7 = store.audit_entries("7", 1)[0]
    assert newest_for_7.message == "Successfully cancel job: 7" and newest_for_7.at == NOW + timedelta(
        seconds=1
    )


def test_sqlite_replicas_opening_a_new_file_together_all_start(tmp_path: Path) -> None:
    """Four processes' worth of stores opening one new SQLite file at once all start, on one schema."""
    path = str(tmp_path / "shared.db")
    for _ in range(5):
        Path(path).unlink(missing_ok=True)
        stores = together(*[lambda: SqliteStore(path)] * 4)
        try:
            assert len({s.instance_id for s in stores}) == 1
        finally:
            for store in stores:
                store.close()


def refusal(user_id: str, job_id: str, at: datetime) -> AuditEntry:
    return AuditEntry(
        at=at, user_id=user_id, channel_id="C1", job_id=job_id, outcome="refused", message="cancel"
    )


@BACKENDS
def test_repeated_refusals_fold_into_the_latest_row(store: Store) -> None:
    """A refusal by the same user for the same job within the window counts on the latest row; after the
    window, or by someone else, or for another job, it is a row of its own."""
    window = 600.0
    for minute in range(14):
        store.record_audit(refusal("U1", "3", NOW + timedelta(minutes=minute)), fold_within=window)
    [folded] = store.audit_entries("3", 10)
    assert (folded.repeats, folded.at, folded.last_at) == (14, NOW, NOW + timedelta(minutes=13))
    store.record_audit(refusal("U2", "3", NOW + timedelta(minutes=14)), fold_within=window)
    store.record_audit(refusal("U1", "4", NOW + timedelta(minutes=14)), fold_within=window)
    store.record_audit(refusal("U1", "3", NOW + timedelta(minutes=13 + 11)), fold_within=window)
    assert [(e.user_id, e.job_id, e.repeats) for e in store.audit_entries(None, 10)] == [
        ("U1", "3", 1),
        ("U1", "4", 1),
        ("U2", "3", 1),
        ("U1", "3", 14),
    ]
    # A repeat makes its row the newest: the latest activity comes first.
    store.record_audit(refusal("U2", "3", NOW + timedelta(minutes=15)), fold_within=window)
    assert [(e.user_id, e.job_id, e.repeats) for e in store.audit_entries(None, 2)] == [
        ("U2", "3", 2),
        ("U1", "3", 1),
    ]


@BACKENDS
def test_only_asked_for_entries_fold(store: Store) -> None:
    """Without a window every entry is a row of its own, and other outcomes never join a refusal."""
    store.record_audit(refusal("U1", "3", NOW))
    store.record_audit(refusal("U1", "3", NOW + timedelta(seconds=1)))
    store.record_audit(
        AuditEntry(at=NOW + timedelta(seconds=2), user_id="U1", job_id="3", outcome="confirmed"),
        fold_within=600,
    )
    assert [(e.outcome, e.repeats) for e in store.audit_entries("3", 10)] == [
        ("confirmed", 1),
        ("refused", 1),
        ("refused", 1),
    ]


@BACKENDS
def test_refusals_are_listed_apart_from_other_entries(store: Store) -> None:
    """Asked for refusals or for everything else, the audit trail answers each on its own, newest first."""
    store.record_audit(AuditEntry(at=NOW, user_id="U1", job_id="3", outcome="succeeded"))
    for n in range(30):
        store.record_audit(refusal(f"U{n}", str(100 + n), NOW + timedelta(seconds=n)), fold_within=600)
    [kept] = store.audit_entries(None, 20, refused=False)
    assert kept.outcome == "succeeded"
    refused = store.audit_entries(None, 5, refused=True)
    assert [e.job_id for e in refused] == ["129", "128", "127", "126", "125"]
    assert [e.outcome for e in store.audit_entries("3", 5, refused=True)] == []


@BACKENDS
def test_subscription_changes_are_audited_and_folded(store: Store) -> None:
    """Who subscribed or unsubscribed which channel, when, to what: kept newest first; the same change
    repeated within the window counts on its row."""
    subscribe = SubscriptionChange(
        at=NOW, user_id="U1", team_id="T1", channel_id="C1", action="subscribed", statuses=("FAILED",)
    )
    store.record_subscription_change(subscribe, fold_within=600)
    store.record_subscription_change(
        subscribe.model_copy(update={"at": NOW + timedelta(seconds=5)}), fold_within=600
    )
    store.record_subscription_change(
        SubscriptionChange(
            at=NOW + timedelta(minutes=1), user_id="U2", channel_id="C1", action="unsubscribed", statuses=()
        ),
        fold_within=600,
    )
    latest, first = store.subscription_changes(10)
    assert (latest.user_id, latest.action, latest.statuses, latest.repeats) == ("U2", "unsubscribed", (), 1)
    assert (first.user_id, first.team_id, first.channel_id, first.statuses) == ("U1", "T1", "C1", ("FAILED",))
    assert (first.repeats, first.at, first.last_at) == (2, NOW, NOW + timedelta(seconds=5))
    assert len(store.subscription_changes(1)) == 1


@BACKENDS
def test_an_audit_entry_comes_back_with_every_field_in_its_place(store: Store) -> None:
    """Each field of an audit entry is read back from its own column, none from a neighbour's."""
    entry = AuditEntry(
        at=NOW,
        user_id="U1",
        team_id="T1",
        channel_id="C1",
        job_id="7",
        status_before="RUNNING",
        outcome="failed",
        message="Job 7 is not running",
    )
    store.record_audit(entry)
    assert store.audit_entries("7", 10) == [entry]


# A window short enough that the mutants of `fold_within > 0` (as `> 1`) show.
HALF_SECOND = timedelta(milliseconds=500)


@BACKENDS
def test_audit_entries_fold_from_the_same_instant_to_the_end_of_the_window_and_never_without_one(
    store: Store,
) -> None:
    """A repeat at the very instant of the latest one, or exactly `fold_within` after it, is counted on
    it; without a window (the default, and 0) even a repeat at the same instant is a row of its own."""
    window = HALF_SECOND.total_seconds()
    store.record_audit(refusal("U1", "3", NOW), fold_within=window)
    store.record_audit(refusal("U1", "3", NOW), fold_within=window)
    store.record_audit(refusal("U1", "3", NOW + HALF_SECOND), fold_within=window)
    [folded] = store.audit_entries("3", 10)
    assert (folded.repeats, folded.at, folded.last_at) == (3, NOW, NOW + HALF_SECOND)
    store.record_audit(refusal("U2", "4", NOW))
    store.record_audit(refusal("U2", "4", NOW))
    store.record_audit(refusal("U2", "4", NOW), fold_within=0.0)
    assert [e.repeats for e in store.audit_entries("4", 10)] == [1, 1, 1]


@BACKENDS
def test_subscription_changes_fold_from_the_same_instant_to_the_end_of_the_window_and_never_without_one(
    store: Store,
) -> None:
    """The same rule for subscription changes: the same instant and the window's last instant fold, a
    moment later does not; without a window nothing folds."""
    window = HALF_SECOND.total_seconds()
    change = SubscriptionChange(
        at=NOW, user_id="U1", channel_id="C1", action="subscribed", statuses=("FAILED",)
    )
    store.record_subscription_change(change, fold_within=window)
    store.record_subscription_change(change, fold_within=window)
    store.record_subscription_change(change.model_copy(update={"at": NOW + HALF_SECOND}), fold_within=window)
    [folded] = store.subscription_changes(10)
    assert (folded.repeats, folded.at, folded.last_at) == (3, NOW, NOW + HALF_SECOND)
    beyond = NOW + HALF_SECOND * 2 + timedelta(milliseconds=1)
    store.record_subscription_change(change.model_copy(update={"at": beyond}), fold_within=window)
    assert [c.repeats for c in store.subscription_changes(10)] == [1, 3]
    other = change.model_copy(update={"channel_id": "C2"})
    store.record_subscription_change(other)
    store.record_subscription_change(other)
    store.record_subscription_change(other, fold_within=0.0)
    assert [c.repeats for c in store.subscription_changes(10) if c.channel_id == "C2"] == [1, 1, 1]


@BACKENDS
def test_an_empty_group_is_skipped_and_the_groups_after_it_are_still_grouped(store: Store) -> None:
    """group_notices makes no delivery for an empty group, and goes on with the groups that follow it."""
    store.record_poll([], [notice("1"), notice("2")], now=NOW, reconciled=False)
    first, second = store.ungrouped_notices()
    ids = store.group_notices([[first], [], [second]], NOW)
    assert len(ids) == 2 and store.ungrouped_notices() == []
    assert [[j.id for j in d.jobs] for d in store.open_deliveries()] == [["1"], ["2"]]


def test_an_audit_trail_from_before_folding_is_kept_on_upgrade(tmp_path: Path) -> None:
    """A SQLite store made by the previous schema keeps its audit rows, each counted once."""
    from jobbot.store.sqlite import MIGRATIONS

    path = str(tmp_path / "old.db")
    with sqlite3.connect(path) as db:
        for script in MIGRATIONS[:3]:
            db.executescript(script)
        db.execute("PRAGMA user_version = 3")
        db.execute(
            "INSERT INTO audit (at, user_id, job_id, outcome) VALUES (?, 'U1', 7, 'refused')",
            (NOW.timestamp(),),
        )
    store = SqliteStore(path)
    try:
        [entry] = store.audit_entries("7", 5)
        assert (entry.outcome, entry.repeats, entry.last_at) == ("refused", 1, None)
    finally:
        store.close()


@POSTGRES_ONLY
def test_a_postgres_audit_trail_from_before_folding_is_kept_on_upgrade(database_url: str) -> None:
    """A PostgreSQL store made by the previous schema keeps its audit rows, each counted once."""
    from jobbot.store.postgres import MIGRATIONS

    with admin(database_url) as db:
        db.execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())"
        )
        for number, script in enumerate(MIGRATIONS[:3], start=1):
            db.execute(script)
            db.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        db.execute("INSERT INTO audit (at, user_id, job_id, outcome) VALUES (%s, 'U1', 7, 'refused')", (NOW,))
    store = open_store(database_url)
    try:
        [entry] = store.audit_entries("7", 5)
        assert (entry.outcome, entry.repeats, entry.last_at) == ("refused", 1, None)
    finally:
        store.close()


@BACKENDS
def test_a_notice_that_cannot_be_written_rolls_back_the_polls_job_statuses(store: Store) -> None:
    """record_poll is one transaction: when a notice fails to insert, the jobs' new statuses written
    before it are rolled back too, so the next poll sees the change again and enqueues its notice."""
    store.take_baseline([TrackedJob("1", "RUNNING", False), TrackedJob("2", "RUNNING", False)], NOW)
    seen = [TrackedJob("1", "SUCCESS", True), TrackedJob("2", "FAILED", True)]
    with pytest.raises(InvalidJobId):
        # The second notice's job id cannot be keyed: the insert fails after the statuses were written.
        store.record_poll(seen, [notice("1"), notice("job-2")], now=NOW, reconciled=False)
    assert [j.id for j in store.active_jobs()] == ["1", "2"]
    assert {j.status for j in store.job_statuses().values()} == {"RUNNING"}
    assert store.notice_count("1") == 0 and store.ungrouped_notices() == []


@BACKENDS
def test_a_finished_delivery_cannot_be_claimed(store: Store) -> None:
    """claim_delivery refuses a delivery that is done or failed, even with its current attempt count."""
    store.record_poll([], [notice("1"), notice("2")], now=NOW, reconciled=False)
    done, failed = store.group_notices([[n] for n in store.ungrouped_notices()], NOW)
    store.set_delivery_state(done, DeliveryState.DONE, now=NOW)
    store.set_delivery_state(failed, DeliveryState.FAILED, now=NOW, error="not_in_channel")
    for delivery_id in (done, failed):
        assert not store.claim_delivery(delivery_id, attempts=0, channel="C0AAA", now=NOW)
    assert store.open_deliveries() == []


@BACKENDS
def test_forgetting_a_cancel_removes_only_its_holders_claim(store: Store) -> None:
    """forget_cancel by someone who does not hold the claim leaves it; by its holder, removes it."""
    assert store.claim_cancel("7", "U1", NOW, stale_after=60) is None
    store.forget_cancel("7", "U2")
    assert store.cancelled_by("7") == "U1"
    assert store.claim_cancel("7", "U2", NOW, stale_after=60) == "U1"
    store.forget_cancel("7", "U1")
    assert store.cancelled_by("7") is None
