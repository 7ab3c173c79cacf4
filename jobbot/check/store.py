"""`jobbot check`'s look at the store: reachable, and its schema one this jobbot can use. Nothing is
created or migrated."""

from __future__ import annotations

import os
from pathlib import Path

from jobbot.check.checklist import Item, failed, passed
from jobbot.config import Settings
from jobbot.errors import ConfigError, StoreError
from jobbot.store import SchemaState, read_schema
from jobbot.urls import without_credentials


def check_store(settings: Settings) -> Item:
    """The store can be opened and its schema is one this jobbot can use; nothing is created or migrated."""
    what = "store"
    url = settings.jobbot_database_url
    try:
        state = read_schema(url)
    except ConfigError as exc:
        return failed(what, str(exc))
    except StoreError as exc:
        shown = without_credentials(url).split("?", 1)[0]
        postgres = not url.lower().startswith("sqlite")
        fix = (
            "check JOBBOT_DATABASE_URL (host, port, database, user) and that PostgreSQL accepts connections "
            "from this host"
            if postgres
            else "point JOBBOT_DATABASE_URL at jobbot's SQLite file, or at a path where it may create one"
        )
        return failed(what, f"{exc} ({shown})" if shown not in str(exc) else str(exc), fix)
    return _schema_item(what, state)


def _schema_item(what: str, state: SchemaState) -> Item:
    where = f"{state.engine} {state.where}"
    if state.version is None and state.engine == "SQLite":
        return _new_sqlite_file(what, state.where)
    if state.engine == "SQLite" and not os.access(state.where, os.W_OK):
        return failed(what, f"{where} is not writable by this user", "give this user write access to it")
    if not state.version:
        return passed(what, f"{where} holds no jobbot tables yet; jobbot sets them up at first start")
    if state.version > state.current:
        return failed(
            what,
            f"{where} has schema version {state.version}, newer than this jobbot knows ({state.current})",
            "run the jobbot release that wrote it, or a newer one",
        )
    if state.version < state.current:
        return passed(
            what,
            f"{where} has schema version {state.version}; jobbot upgrades it to {state.current} at start",
        )
    return passed(what, f"{where} is reachable and its schema is current (version {state.current})")


def _new_sqlite_file(what: str, path: str) -> Item:
    directory = Path(path).parent
    if not directory.is_dir():
        return failed(
            what,
            f"SQLite {path} cannot be created: there is no directory {directory}",
            "create the directory, or change JOBBOT_DATABASE_URL",
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        return failed(
            what,
            f"SQLite {path} cannot be created: {directory} is not writable by this user",
            "give this user write access to the directory, or change JOBBOT_DATABASE_URL",
        )
    return passed(what, f"SQLite {path} does not exist yet; jobbot creates it at first start")
