"""One store, several Interactive servers: each server's rows are its own, and a single-server store
upgraded in place keeps its history under the server it came from."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jobbot.models import AuditEntry, Subscription, SubscriptionChange
from jobbot.servers import DEFAULT_SERVER, EVERY_SERVER, Server, Servers
from jobbot.store import DeliveryState, Store, TrackedJob, open_store
from jobbot.store.sqlite import SqliteStore
from tests.test_store import BACKENDS, NOW, POSTGRES_ONLY, admin, database_url, notice

__all__ = ["database_url"]  # the fixture, used by name

TWO = Servers((Server("prod", "http://a:7777"), Server("staging", "http://b:7777")), legacy="prod")


@pytest.fixture
def root(database_url: str) -> Iterator[Store]:
    store = open_store(database_url)
    store.serve(TWO)
    yield store
    store.close()


@BACKENDS
def test_the_same_job_id_on_two_servers_is_two_jobs(root: Store) -> None:
    """Job 3 on prod and job 3 on staging: tracked, announced, watched and claimed apart."""
    prod, staging = root.for_server("prod"), root.for_server("staging")
    prod.take_baseline([TrackedJob("3", "RUNNING", False)], NOW)
    assert not staging.baseline_taken(), "each server takes its own baseline"
    staging.take_baseline([TrackedJob("3", "RUNNING", False), TrackedJob("4", "RUNNING", False)], NOW)
    assert prod.high_water() == 3 and staging.high_water() == 4

    prod.watch("3", "U1", NOW)
    assert staging.watchers("3") == [] and prod.watchers("3") == ["U1"]
    assert prod.claim_cancel("3", "U1", NOW, stale_after=60) is None
    assert staging.claim_cancel("3", "U2", NOW, stale_after=60) is None, "another server's job 3"
    assert prod.cancelled_by("3") == "U1" and staging.cancelled_by("3") == "U2"

    prod.record_poll([TrackedJob("3", "SUCCESS", True)], [notice("3")], now=NOW, reconciled=False)
    assert [j.id for j in staging.active_jobs()] == ["3", "4"], "staging's job 3 still runs"
    assert staging.ungrouped_notices() == [] and len(prod.ungrouped_notices()) == 1
    assert staging.record_poll([], [notice("3")], now=NOW, reconciled=False) == 1, "its own notice"

    prod.group_notices([prod.ungrouped_notices()], NOW)
    staging.group_notices([staging.ungrouped_notices()], NOW)
    (prod_delivery,) = prod.open_deliveries()
    (staging_delivery,) = staging.open_deliveries()
    assert prod_delivery.id != staging_delivery.id, "delivery ids (and so ledger keys) are never shared"
    prod.set_delivery_state(prod_delivery.id, DeliveryState.DONE, now=NOW)
    assert staging.open_deliveries() == [staging_delivery]


@BACKENDS
def test_leases_and_audit_entries_are_per_server(root: Store) -> None:
    """A replica may lead one server while another leads the other; `/jobs audit` reads one server's."""
    prod, staging = root.for_server("prod"), root.for_server("staging")
    assert prod.acquire_lease("notifier", "replica-a", 30)
    assert staging.acquire_lease("notifier", "replica-b", 30), "staging's lease is free"
    assert not prod.acquire_lease("notifier", "replica-b", 30)

    entry = AuditEntry(at=NOW, user_id="U1", job_id="3", outcome="confirmed")
    prod.record_audit(entry)
    staging.record_audit(entry, fold_within=600)
    assert [e.server for e in prod.audit_entries("3", 10)] == ["prod"]
    assert [(e.server, e.repeats) for e in staging.audit_entries("3", 10)] == [("staging", 1)], (
        "a repeat on another server is no repeat"
    )


@BACKENDS
def test_a_channel_subscribes_to_one_server_or_to_every_one(root: Store) -> None:
    """Each server's notifier reads the channels subscribed to it or to every server; a channel's own
    subscription to a server wins over its subscription to all."""
    prod, staging, every = (root.for_server(name) for name in ("prod", "staging", EVERY_SERVER))
    every.subscribe(Subscription(channel_id="C0ALL", added_by="U1", added_at=NOW))
    prod.subscribe(Subscription(channel_id="C0ALL", statuses=("FAILED",), added_by="U1", added_at=NOW))
    staging.subscribe(Subscription(channel_id="C0STG", added_by="U1", added_at=NOW))
    assert {(s.channel_id, s.statuses) for s in prod.subscriptions()} == {("C0ALL", ("FAILED",))}
    assert {(s.channel_id, s.server) for s in staging.subscriptions()} == {
        ("C0ALL", EVERY_SERVER),
        ("C0STG", "staging"),
    }
    assert len(root.every_subscription()) == 3

    assert not staging.unsubscribe("C0ALL"), "staging's notices there come from the subscription to all"
    assert every.unsubscribe("C0ALL"), "`all unsubscribe` ends every subscription of the channel"
    assert prod.subscriptions() == [] and [s.channel_id for s in staging.subscriptions()] == ["C0STG"]


@BACKENDS
def test_a_channel_keeps_its_default_server(root: Store) -> None:
    """`/jobs use NAME` is stored per channel; the reply can say what it replaced."""
    assert root.channel_server("C0AAA") is None
    assert root.for_server("staging").set_channel_server("C0AAA", "U1", NOW) is None
    assert root.for_server("prod").set_channel_server("C0AAA", "U2", NOW) == "staging"
    assert root.channel_server("C0AAA") == "prod" and root.channel_servers() == {"C0AAA": "prod"}
    root.for_server("prod").record_subscription_change(
        SubscriptionChange(at=NOW, user_id="U2", channel_id="C0AAA", action="default server")
    )
    assert [c.server for c in root.for_server("prod").subscription_changes(5)] == ["prod"]
    assert root.for_server("staging").subscription_changes(5) == []


# Upgrading a single-server store.

# The schema version before several servers: what a deployed jobbot has.
BEFORE_SERVERS = 7


def fill_single_server_store(db: Any, mark: str) -> None:
    """A single-server store in use: a baseline, a running and a finished job, a notice waiting to be
    posted, a watch, a subscription and an audit entry."""
    true, at = (True, NOW) if mark == "%s" else (1, NOW.timestamp())
    db.execute(f"INSERT INTO meta (key, value) VALUES ('baseline_at', {mark})", (str(NOW.timestamp()),))
    db.execute(
        f"INSERT INTO jobs (generation, id, status, terminal) VALUES (1, 5, 'SUCCESS', {mark}), "
        f"(1, 6, 'RUNNING', {mark})",
        (true, not true),
    )
    db.execute(
        "INSERT INTO notices (generation, job_id, status, destination, job_json, offline, created_at) "
        f"VALUES (1, 5, 'SUCCESS', 'C0AAA', {mark}, {mark}, {mark})",
        ('{"id": "5", "status": "SUCCESS"}', not true, at),
    )
    db.execute(
        f"INSERT INTO watches (generation, job_id, user_id, added_at) VALUES (1, 6, 'U1', {mark})", (at,)
    )
    db.execute(
        "INSERT INTO subscriptions (channel_id, statuses, added_by, added_at) "
        f"VALUES ('C0AAA', '[\"FAILED\"]', 'U1', {mark})",
        (at,),
    )
    db.execute(
        f"INSERT INTO audit (at, user_id, job_id, outcome) VALUES ({mark}, 'U1', 6, 'refused')",
        (at,),
    )


def check_single_server_data(store: Store) -> None:
    """The upgraded store's rows, as the server they came from sees them."""
    assert store.baseline_taken() and store.high_water() == 6, "no new baseline: nothing is announced again"
    assert [j.id for j in store.active_jobs()] == ["6"] and store.watchers("6") == ["U1"]
    assert [n.job.id for n in store.ungrouped_notices()] == ["5"], "the waiting notice is not lost"
    assert store.record_poll([], [notice("5")], now=NOW, reconciled=False) == 0, "nor repeated"
    assert [(s.channel_id, s.statuses) for s in store.subscriptions()] == [("C0AAA", ("FAILED",))]
    assert [e.outcome for e in store.audit_entries("6", 5)] == ["refused"]


def sqlite_before_servers(path: Path) -> None:
    from jobbot.store import sqlite as backend

    with sqlite3.connect(path) as db:
        for script in backend.MIGRATIONS[:BEFORE_SERVERS]:
            db.executescript(script)
        fill_single_server_store(db, "?")
        db.execute(f"PRAGMA user_version = {BEFORE_SERVERS}")


def test_a_single_server_sqlite_store_keeps_its_history_alone_and_then_under_a_named_server(
    tmp_path: Path,
) -> None:
    """Upgraded with JOBBOT_SERVERS unset, nothing changes; when JOBBOT_SERVERS is set later, the rows go
    to the server whose URL was INTERACTIVE_ADMIN_ENDPOINT, and the other server starts afresh."""
    path = tmp_path / "old.db"
    sqlite_before_servers(path)
    store = SqliteStore(str(path))
    try:
        store.serve(Servers.single("http://b:7777"))
        check_single_server_data(store)
        store.serve(Servers(TWO.all, legacy="staging"))
        check_single_server_data(store.for_server("staging"))
        prod = store.for_server("prod")
        assert not prod.baseline_taken() and prod.high_water() == 0 and prod.subscriptions() == []
        assert store.for_server(DEFAULT_SERVER).high_water() == 0, "nothing is left behind"
        store.serve(Servers(TWO.all, legacy="staging"))
        check_single_server_data(store.for_server("staging"))
    finally:
        store.close()


@POSTGRES_ONLY
def test_a_single_server_postgres_store_upgraded_with_servers_set_keeps_its_history(
    database_url: str,
) -> None:
    """The same upgrade on PostgreSQL, straight to JOBBOT_SERVERS."""
    from jobbot.store import postgres as backend

    with admin(database_url) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
        for number, script in enumerate(backend.MIGRATIONS[:BEFORE_SERVERS], start=1):
            db.execute(script)
            db.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        fill_single_server_store(db, "%s")
    store = open_store(database_url)
    try:
        store.serve(TWO)
        check_single_server_data(store.for_server("prod"))
        assert not store.for_server("staging").baseline_taken()
    finally:
        store.close()


@BACKENDS
def test_a_new_server_gets_a_generation_of_its_own_and_redeploys_stay_apart(root: Store) -> None:
    """A redeploy of staging (its ids start again) begins a generation for staging only."""
    prod, staging = root.for_server("prod"), root.for_server("staging")
    prod.take_baseline([TrackedJob("7", "RUNNING", False)], NOW)
    staging.take_baseline([TrackedJob("7", "RUNNING", False)], NOW)
    assert staging.begin_generation(NOW + timedelta(seconds=1)) == 1
    assert staging.high_water() == 0 and prod.high_water() == 7, "prod's jobs are where they were"


def test_handing_the_single_servers_rows_over_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The log says when a single-server store's rows go to a named server: once, on the start that
    does it; not on a single-server start, nor on later starts."""
    store = SqliteStore(str(tmp_path / "s.db"))
    try:
        with caplog.at_level(logging.INFO, logger="jobbot.store"):
            store.serve(Servers.single("http://a:7777"))
            assert caplog.records == []
            store.serve(TWO)
            [line] = [r.getMessage() for r in caplog.records]
            assert line == "the store's rows from before JOBBOT_SERVERS now belong to server prod"
            store.serve(TWO)
            assert len(caplog.records) == 1
    finally:
        store.close()
