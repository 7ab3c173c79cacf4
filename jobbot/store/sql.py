"""The Store written once in SQL: the role queries over one engine's Database."""

from __future__ import annotations

import secrets

from jobbot.store.audit import AuditTrailSql
from jobbot.store.cards import LiveCardsSql
from jobbot.store.claims import CancelClaimsSql, LeaseSql, SubscriptionsSql
from jobbot.store.database import Database, Transaction
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


class SqlStore(
    JobTrackingSql, NoticeLedgerSql, LiveCardsSql, SubscriptionsSql, CancelClaimsSql, AuditTrailSql, LeaseSql
):
    """The Store on one database, opened (created and migrated as needed) by its engine's Database."""

    def __init__(self, database: Database) -> None:
        self._db = database
        database.migrate()
        self.instance_id = database.transaction(_instance_id)

    def close(self) -> None:
        self._db.close()
