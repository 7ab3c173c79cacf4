"""The Store written once in SQL: the role queries over one engine's Database."""

from __future__ import annotations

import copy
import functools
import logging
import secrets
from typing import Self

from jobbot.servers import DEFAULT_SERVER, Servers
from jobbot.store.audit import AuditTrailSql
from jobbot.store.cards import LiveCardsSql
from jobbot.store.claims import CancelClaimsSql, LeaseSql, SubscriptionsSql
from jobbot.store.database import Database, ScopedDatabase, Transaction
from jobbot.store.ledger import NoticeLedgerSql
from jobbot.store.tracking import JobTrackingSql


def _instance_id(tx: Transaction) -> str:
    # Replicas starting together may each propose one; the first to commit is everybody's.
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('instance_id', ?) ON CONFLICT DO NOTHING",
        (secrets.token_hex(8),),
    )
    row = tx.execute("SELECT value FROM meta WHERE key = 'instance_id'").fetchone()
    assert row is not None  # inserted above or by whoever won
    return str(row[0])


log = logging.getLogger(__name__)

# The tables whose rows name their server, and those keyed by channel (or key) and server, where a row
# handed over yields to one the server already has.
_SERVER_COLUMNS = ("generations", "deliveries", "cards", "audit", "subscription_audit", "channel_servers")
_KEYED_BY_SERVER = {"subscriptions": "channel_id", "server_meta": "key"}


def _adopt_default_server(tx: Transaction, servers: Servers) -> bool:
    """Hand the rows of a single-server jobbot ('default') to the server it spoke to (`servers.legacy`).

    Their generations move with them, so the jobs, notices, watches, claims, cards and follow-ups keyed
    by those generations follow: nothing is announced again and nothing is lost.
    """
    if DEFAULT_SERVER in servers.names:
        return False
    if tx.execute("SELECT 1 FROM generations WHERE server = ?", (DEFAULT_SERVER,)).fetchone() is None:
        return False
    legacy = servers.legacy
    for table, key in _KEYED_BY_SERVER.items():
        tx.execute(
            f"DELETE FROM {table} WHERE server = ? AND {key} IN (SELECT {key} FROM {table} WHERE server = ?)",
            (DEFAULT_SERVER, legacy),
        )
    for table in (*_SERVER_COLUMNS, *_KEYED_BY_SERVER):
        tx.execute(f"UPDATE {table} SET server = ? WHERE server = ?", (legacy, DEFAULT_SERVER))
    tx.execute("DELETE FROM leases WHERE name = 'notifier'")
    return True


def _ensure_generation(tx: Transaction, server: str) -> bool:
    """Give a server seen for the first time its first generation (numbers are shared by all servers);
    False when another replica took the number meanwhile, and it must be tried again."""
    if tx.execute("SELECT 1 FROM generations WHERE server = ?", (server,)).fetchone() is not None:
        return True
    return (
        tx.execute(
            "INSERT INTO generations (number, started_at, server) "
            # `WHERE true`: SQLite would read ON CONFLICT as a join's ON without a WHERE before it.
            "SELECT COALESCE(MAX(number), 0) + 1, NULL, ? FROM generations WHERE true ON CONFLICT DO NOTHING",
            (server,),
        ).rowcount
        == 1
    )


class SqlStore(
    JobTrackingSql, NoticeLedgerSql, LiveCardsSql, SubscriptionsSql, CancelClaimsSql, AuditTrailSql, LeaseSql
):
    """The Store on one database, opened (created and migrated as needed) by its engine's Database."""

    def __init__(self, database: Database) -> None:
        self._engine = database
        database.migrate()
        self.instance_id = database.transaction(_instance_id)
        self.server = DEFAULT_SERVER
        self._db: Database = ScopedDatabase(database, DEFAULT_SERVER)

    def serve(self, servers: Servers) -> None:
        """Make the store ready for `servers`: a single-server store's rows go to the server they came
        from, and each server has a generation."""
        if self._engine.transaction(lambda tx: _adopt_default_server(tx, servers)):
            log.info("the store's rows from before JOBBOT_SERVERS now belong to server %s", servers.legacy)
        for name in servers.names:
            while not self._engine.transaction(functools.partial(_ensure_generation, server=name)):
                pass  # a rare race between replicas starting together; the number has moved on

    def for_server(self, name: str) -> Self:
        """The same store, its reads and writes scoped to server `name` (or EVERY_SERVER, for
        subscriptions to every server)."""
        view = copy.copy(self)
        view.server = name
        view._db = ScopedDatabase(self._engine, name)
        return view

    def close(self) -> None:
        self._engine.close()
