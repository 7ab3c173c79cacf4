"""What the shared queries ask of a database engine: one transaction at a time, its times, its clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from jobbot.store.base import DeliveryState

T = TypeVar("T")

# What each schema version brings, on both engines (written once in schema.py, in each engine's types
# and with its own steps where they differ): 1 the jobs, the notice ledger, subscriptions, watches and
# cancel claims; 2 leases; 3 the audit trail; 4 server generations; 5 folded repeats and subscription
# changes; 6 the indexes the shared queries read through; 7 live cards, follow-ups, and each job's graph
# and end. Never edit a version that has shipped: add the next one, on both.

# The generation every job-keyed read and write is in: the newest. Read inside each statement, so a
# replica's handlers follow a new generation the leader began without being told. (The table has a
# row per redeploy: reading it whole is no scan of history.)
GENERATION = "(SELECT MAX(number) FROM generations)"

# Deliveries in these states are finished: they pile up for ever, and the open ones are read through
# a partial index that leaves them out. Written into SQL text (not bound) so that both engines can
# match a query's condition to the index's.
FINISHED_STATES = (DeliveryState.DONE, DeliveryState.FAILED)
OPEN_DELIVERY = "state NOT IN ({})".format(", ".join(f"'{state.value}'" for state in FINISHED_STATES))


class Rows(Protocol):
    """What a statement gives back: its rows, and how many it changed."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Transaction(Protocol):
    """Statements inside one transaction, written with `?` placeholders whatever the engine."""

    def execute(self, query: str, args: Sequence[Any] = (), /) -> Rows: ...
    def executemany(self, query: str, args: Iterable[Sequence[Any]], /) -> object: ...


class Database(Protocol):
    """One engine's connection: everything in which SQLite and PostgreSQL differ beyond the schema."""

    def migrate(self) -> None:
        """Bring the schema to this jobbot's version, or refuse a newer one."""
        ...

    def transaction(self, work: Callable[[Transaction], T], *, write: bool = True) -> T:
        """Run `work` as one transaction (`write=False`: it only reads) and return what it returns."""
        ...

    def to_db(self, moment: datetime) -> object:
        """A time as the engine stores it."""
        ...

    def from_db(self, value: Any) -> datetime:
        """A stored time back as an aware UTC datetime."""
        ...

    def lease_clock(self, ttl: float) -> tuple[str, str, tuple[object, ...]]:
        """SQL for "now + ttl" and for "now" by the clock leases are judged by, and their arguments."""
        ...

    def indexed_by(self, index: str) -> str:
        """A clause making a query read through `index`, where the engine has one (else empty)."""
        ...

    def for_update(self) -> str:
        """A clause locking the rows a read inside a write transaction picked (empty where the whole
        database is locked for the transaction anyway)."""
        ...

    def close(self) -> None: ...


def elapsed(db: Database, since: Any, moment: datetime) -> float:
    """Seconds from a stored time to `moment`, both as the engine holds them."""
    return (db.from_db(db.to_db(moment)) - db.from_db(since)).total_seconds()
