"""Choose the store backend from JOBBOT_DATABASE_URL: sqlite:/// or postgresql://."""

from __future__ import annotations

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
        try:
            from jobbot.store.postgres import PostgresStore
        except ImportError as exc:
            # psycopg is an optional extra; "no pq wrapper available" (no libpq) is fixed the same way.
            if exc.name is not None and not exc.name.startswith("psycopg"):
                raise
            raise ConfigError(POSTGRES_EXTRA_MISSING) from None
        return PostgresStore(url)
    raise ConfigError(
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
