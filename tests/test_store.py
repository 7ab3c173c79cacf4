"""The store: schema versions, the ledger's unique key, and what it keeps across reopening."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobbot.errors import ConfigError, StoreError
from jobbot.models import FinishedJob, Subscription
from jobbot.store import DeliveryState, NoticeRow, TrackedJob, open_store
from jobbot.store.sqlite import SCHEMA_VERSION, SqliteStore

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def notice(job_id: str, destination: str = "C0AAA", status: str = "SUCCESS") -> NoticeRow:
    return NoticeRow(FinishedJob(id=job_id, status=status), destination, offline=False)


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


def test_a_store_from_a_newer_jobbot_is_refused(tmp_path: Path) -> None:
    """A schema newer than this code stops start-up with a clear error instead of corrupting it."""
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this jobbot"):
        SqliteStore(str(path))


def test_each_job_status_destination_is_in_the_ledger_once(tmp_path: Path) -> None:
    """The same notice enqueued twice is one row; another destination or status is another."""
    store = SqliteStore(str(tmp_path / "s.db"))
    assert store.record_poll([], [notice("1"), notice("1")], now=NOW, reconciled=False) == 1
    assert store.record_poll([], [notice("1"), notice("1", "C0BBB")], now=NOW, reconciled=False) == 1
    assert store.notice_count("1") == 2
    store.close()


def test_grouping_creates_pending_deliveries_with_their_jobs(tmp_path: Path) -> None:
    """Grouped notices become deliveries that carry their jobs and move through the states."""
    store = SqliteStore(str(tmp_path / "s.db"))
    store.record_poll([], [notice("1"), notice("2")], now=NOW, reconciled=False)
    rows = store.ungrouped_notices()
    [delivery_id] = store.group_notices([rows], NOW)
    assert store.ungrouped_notices() == []
    [delivery] = store.open_deliveries()
    assert delivery.state is DeliveryState.PENDING and [j.id for j in delivery.jobs] == ["1", "2"]
    assert store.claim_delivery(delivery_id, attempts=0, channel="C0AAA", now=NOW)
    assert not store.claim_delivery(delivery_id, attempts=0, channel="C0AAA", now=NOW), "claimed once"
    store.set_delivery_state(delivery_id, DeliveryState.DONE, now=NOW, ts="1.2")
    assert store.open_deliveries() == []
    store.close()


def test_subscriptions_watches_and_cancels_round_trip(tmp_path: Path) -> None:
    """Subscriptions replace by channel, watches are per user and job, cancels remember the user."""
    store = SqliteStore(str(tmp_path / "s.db"))
    store.subscribe(Subscription(channel_id="C1", statuses=("FAILED",), added_by="U1", added_at=NOW))
    store.subscribe(
        Subscription(channel_id="C1", statuses=("SUCCESS", "FAILED"), added_by="U2", added_at=NOW)
    )
    [sub] = store.subscriptions()
    assert sub.statuses == ("SUCCESS", "FAILED") and sub.added_by == "U2"
    assert store.unsubscribe("C1") and not store.unsubscribe("C1")
    store.watch("7", "U1", NOW)
    store.watch("7", "U1", NOW)
    assert store.watchers("7") == ["U1"] and store.unwatch("7", "U1") and not store.unwatch("7", "U1")
    assert store.claim_cancel("7", "U9", NOW, stale_after=60) is None
    assert store.cancelled_by("7") == "U9"
    store.forget_cancel("7", "U9")
    assert store.cancelled_by("7") is None
    store.close()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Handler threads and the notifier writing at once: every write lands."""
    store = SqliteStore(str(tmp_path / "s.db"))

    def write(offset: int) -> None:
        for i in range(50):
            store.watch(str(offset * 100 + i), "U1", NOW)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(store.watchers(str(n * 100 + i))) for n in range(4) for i in range(50)) == 200
    store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db/jobbot", "unsupported scheme 'mysql'"),
        ("sqlite://jobbot.db", "must look like sqlite:///jobbot.db"),
        ("sqlite:///", "names no file"),
    ],
)
def test_bad_database_urls_are_clear(url: str, message: str) -> None:
    """A database URL jobbot cannot use is a one-line error naming the variable."""
    with pytest.raises(ConfigError, match=message) as caught:
        open_store(url)
    assert "JOBBOT_DATABASE_URL" in str(caught.value)


def test_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    """A path in a missing directory fails with a StoreError naming the file."""
    with pytest.raises(StoreError, match="cannot open the SQLite store"):
        open_store(f"sqlite:///{tmp_path}/missing/dir/s.db")
