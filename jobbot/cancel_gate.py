"""Makes a double-clicked Cancel send one DELETE: one cancel per job at a time within this process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class CancelGate:
    """Serialises cancels per job id; a second click waits, then sees the job already ended."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._users: dict[str, int] = {}

    @contextmanager
    def hold(self, job_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(job_id, threading.Lock())
            self._users[job_id] = self._users.get(job_id, 0) + 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                self._users[job_id] -= 1
                if not self._users[job_id]:
                    del self._users[job_id]
                    del self._locks[job_id]
