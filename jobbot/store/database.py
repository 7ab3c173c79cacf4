"""What the shared queries ask of a database engine: one transaction at a time, its times, its clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from jobbot.servers import EVERY_SERVER, is_server_name
from jobbot.store.base import DeliveryState

T = TypeVar("T")

# What each schema version brings, on both engines (written once in schema.py, in each engine's types
# and with its own steps where they differ): 1 the jobs, the notice ledger, subscriptions, watches and
# cancel claims; 2 leases; 3 the audit trail; 4 server generations; 5 folded repeats and subscription
# changes; 6 the indexes the shared queries read through; 7 live cards, follow-ups, and each job's graph
# and end; 8 several servers. Never edit a version that has shipped: add the next one, on both.

# Queries say SERVER where they mean the server a store is scoped to (SqlStore.for_server): the scoped
# transaction writes that server's name in its place, as an SQL string. Names pass servers.Server's
# check (lowercase letters, digits and dashes), so the text cannot carry anything else; binding it as a
# parameter instead would shift every query's other parameters.
SERVER = "@server"

# The generation every job-keyed read and write is in: the server's newest. Read inside each statement,
# so a replica's handlers follow a new generation the leader began without being told. (The table has a
# row per redeploy of each server: reading it is no scan of history.)
GENERATION = f"(SELECT MAX(number) FROM generations WHERE server = {SERVER})"
# Every generation of the server: rows keyed by a generation belong to the server through it.
SERVER_GENERATIONS = f"(SELECT number FROM generations WHERE server = {SERVER})"

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


class ScopedTransaction:
    """A transaction whose statements name one server where they say SERVER."""

    def __init__(self, tx: Transaction, server_literal: str) -> None:
        self._tx = tx
        self._server = server_literal

    def execute(self, query: str, args: Sequence[Any] = (), /) -> Rows:
        return self._tx.execute(query.replace(SERVER, self._server), args)

    def executemany(self, query: str, args: Iterable[Sequence[Any]], /) -> object:
        return self._tx.executemany(query.replace(SERVER, self._server), args)


def scoped(query: str, server: str) -> str:
    """A query as a store scoped to `server` runs it."""
    return query.replace(SERVER, server_literal(server))


class ScopedDatabase:
    """An engine's Database whose transactions are scoped to one server (see SERVER)."""

    def __init__(self, engine: Database, server: str) -> None:
        self.engine = engine
        self._server = server_literal(server)

    def migrate(self) -> None:
        self.engine.migrate()

    def transaction(self, work: Callable[[Transaction], T], *, write: bool = True) -> T:
        return self.engine.transaction(lambda tx: work(ScopedTransaction(tx, self._server)), write=write)

    def to_db(self, moment: datetime) -> object:
        return self.engine.to_db(moment)

    def from_db(self, value: Any) -> datetime:
        return self.engine.from_db(value)

    def lease_clock(self, ttl: float) -> tuple[str, str, tuple[object, ...]]:
        return self.engine.lease_clock(ttl)

    def indexed_by(self, index: str) -> str:
        return self.engine.indexed_by(index)

    def for_update(self) -> str:
        return self.engine.for_update()

    def close(self) -> None:
        self.engine.close()


def server_literal(name: str) -> str:
    """The server's name as an SQL string; anything but a server's name (or the every-server mark) fails."""
    if not (is_server_name(name) or name == EVERY_SERVER):
        raise ValueError(f"not a server name: {name[:40]!r}")
    return f"'{name}'"


def elapsed(db: Database, since: Any, moment: datetime) -> float:
    """Seconds from a stored time to `moment`, both as the engine holds them."""
    return (db.from_db(db.to_db(moment)) - db.from_db(since)).total_seconds()
