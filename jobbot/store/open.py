"""Choose the store backend from JOBBOT_DATABASE_URL: sqlite:/// or postgresql://."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from jobbot.errors import ConfigError
from jobbot.store.roles import Store

POSTGRES_EXTRA_MISSING = (
    "JOBBOT_DATABASE_URL is a PostgreSQL URL; install PostgreSQL support with: pip install 'jobbot[postgres]'"
)


def open_store(url: str) -> Store:
    """Open (creating and migrating as needed) the store that `url` names."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        from jobbot.store.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url))
    if scheme in ("postgresql", "postgres"):
        with _postgres_extra():
            from jobbot.store.postgres import PostgresStore
        return PostgresStore(url)
    raise _unsupported(scheme)


@dataclass(frozen=True)
class SchemaState:
    """What a store holds, as read without creating or changing anything."""

    engine: str  # "SQLite" or "PostgreSQL"
    where: str  # the file, or host:port/database (never a password)
    # The schema version found; None when there is nothing yet (no file, or a database jobbot never used).
    version: int | None
    # The version this jobbot migrates to at start.
    current: int


def read_schema(url: str) -> SchemaState:
    """The schema version of the store that `url` names, read only: unlike `open_store`, this never
    creates a file or a table, nor migrates. Raises StoreError when it cannot be read."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        from jobbot.store import sqlite

        path = sqlite_path(url)
        return SchemaState("SQLite", path, sqlite.stored_version(path), sqlite.SCHEMA_VERSION)
    if scheme in ("postgresql", "postgres"):
        with _postgres_extra():
            from jobbot.store import postgres
        database = postgres.PostgresDatabase(url)
        try:
            version = database.stored_version()
        finally:
            database.close()
        return SchemaState("PostgreSQL", database.where, version, postgres.SCHEMA_VERSION)
    raise _unsupported(scheme)


@contextmanager
def _postgres_extra() -> Iterator[None]:
    """Around importing the PostgreSQL store: a missing optional extra says how to install it."""
    try:
        yield
    except ImportError as exc:
        # psycopg is an optional extra; "no pq wrapper available" (no libpq) is fixed the same way.
        if exc.name is not None and not exc.name.startswith("psycopg"):
            raise
        raise ConfigError(POSTGRES_EXTRA_MISSING) from None


def _unsupported(scheme: str) -> ConfigError:
    return ConfigError(
        f"JOBBOT_DATABASE_URL has an unsupported scheme {scheme!r}; expected sqlite:///PATH "
        "(such as sqlite:///jobbot.db) or postgresql://USER@HOST:PORT/DATABASE"
    )


def sqlite_path(url: str) -> str:
    """`sqlite:///jobbot.db` -> `jobbot.db` (relative), `sqlite:////var/lib/jobbot.db` -> absolute."""
    if not url.lower().startswith("sqlite:///"):
        raise ConfigError("JOBBOT_DATABASE_URL for SQLite must look like sqlite:///jobbot.db")
    path = url[len("sqlite:///") :]
    if not path:
        raise ConfigError("JOBBOT_DATABASE_URL names no file; expected sqlite:///jobbot.db")
    return path
