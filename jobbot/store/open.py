"""Choose the store backend from JOBBOT_DATABASE_URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from jobbot.errors import ConfigError
from jobbot.store.base import Store


def open_store(url: str) -> Store:
    """Open (creating and migrating as needed) the store that `url` names."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        from jobbot.store.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url))
    raise ConfigError(
        f"JOBBOT_DATABASE_URL has an unsupported scheme {scheme!r}; expected sqlite:///PATH (such as sqlite:///jobbot.db)"
    )


def sqlite_path(url: str) -> str:
    """`sqlite:///jobbot.db` -> `jobbot.db` (relative), `sqlite:////var/lib/jobbot.db` -> absolute."""
    if not url.lower().startswith("sqlite:///"):
        raise ConfigError("JOBBOT_DATABASE_URL for SQLite must look like sqlite:///jobbot.db")
    path = url[len("sqlite:///") :]
    if not path:
        raise ConfigError("JOBBOT_DATABASE_URL names no file; expected sqlite:///jobbot.db")
    return path
