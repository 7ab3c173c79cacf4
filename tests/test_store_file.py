"""The SQLite store's files on disk: the audit trail, watches and notices are readable by jobbot alone."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobbot.store import open_store
from jobbot.store.sqlite import SqliteStore


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o002])
def test_a_new_store_and_its_journal_files_are_private(tmp_path: Path, umask: int) -> None:
    """A new SQLite store file and its -wal and -shm companions have mode 0600, whatever the umask."""
    path = tmp_path / "jobbot.db"
    previous = os.umask(umask)
    try:
        store = SqliteStore(str(path))
    finally:
        os.umask(previous)
    try:
        store.watch("7", "U0ALLOWED1", datetime.now(UTC))  # a write, so that the WAL holds something
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        modes = {file.name: oct(stat.S_IMODE(file.stat().st_mode)) for file in files}
    finally:
        store.close()
    assert modes == dict.fromkeys(modes, oct(0o600))


def test_an_in_memory_store_creates_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sqlite:///:memory:` opens a working store in memory and leaves no file named `:memory:` behind."""
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///:memory:")
    try:
        store.watch("7", "U0ALLOWED1", datetime.now(UTC))
        assert store.watchers("7") == ["U0ALLOWED1"]
    finally:
        store.close()
    assert list(tmp_path.iterdir()) == []
