"""Makes a double-clicked Cancel send one DELETE: one cancel per job at a time, and who did it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

# Enough to answer "who cancelled this?" for recent clicks without growing for ever.
_REMEMBERED = 1000


class CancelGate:
    """Serialises cancels per job id within this process and remembers recent cancellers."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._users: dict[str, int] = {}
        self._cancelled_by: OrderedDict[str, str] = OrderedDict()

    @contextmanager
    def hold(self, job_id: str) -> Iterator[None]:
        """Run the body alone for this job: a second click waits, then sees the job already ended."""
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

    def record(self, job_id: str, user_id: str) -> None:
        with self._guard:
            self._cancelled_by[job_id] = user_id
            self._cancelled_by.move_to_end(job_id)
            while len(self._cancelled_by) > _REMEMBERED:
                self._cancelled_by.popitem(last=False)

    def cancelled_by(self, job_id: str) -> str | None:
        with self._guard:
            return self._cancelled_by.get(job_id)
