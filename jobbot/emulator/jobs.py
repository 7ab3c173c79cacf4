"""The emulator's job table: thread-safe, each job's JSON cached as bytes, listed in directory order."""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

RUNNING = "RUNNING"
UNKNOWN = "UNKNOWN"
# The server's finished set: a cancel of any other status (UNKNOWN included) kills the stored pid.
TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILED", "CANCELLED"})
# What the server can read back from a job record; any other text reads as UNKNOWN.
READABLE_STATUSES = TERMINAL_STATUSES | {RUNNING}
JOB_TYPE = "BULK_LOADING"

# Who has a job's process id now, once its loader is gone (a server restart, a stale record):
# nobody (kill fails, ESRCH), another user's process (kill fails, EPERM), or one of the server's own
# processes (kill succeeds, 200, and that unrelated process dies).
PID_GONE = "gone"
PID_OTHER_USER = "other_user"
PID_REUSED = "reused"
PID_FATES = (PID_GONE, PID_OTHER_USER, PID_REUSED)
# strerror() of the two kill failures, as the server words them.
_KILL_ERRORS = {PID_GONE: "No such process", PID_OTHER_USER: "Operation not permitted"}


class UnknownJob(LookupError):
    """No job has this id (the server's code 4)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


class JobNotRunning(Exception):
    """A cancel reached a job that is not RUNNING (the server's code 102)."""

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(job_id, status)
        self.job_id = job_id
        self.status = status


class KillFailed(Exception):
    """The stored pid names no process we may kill (the server's code 103); `reason` is strerror()."""

    def __init__(self, job_id: str, process_id: int, reason: str = "No such process") -> None:
        super().__init__(job_id, process_id, reason)
        self.job_id = job_id
        self.process_id = process_id
        self.reason = reason


class InvalidProcessId(Exception):
    """A cancel of a job whose stored pid is <= 0 (the server's code 103, checked before the status)."""

    def __init__(self, job_id: str, process_id: int) -> None:
        super().__init__(job_id, process_id)
        self.job_id = job_id
        self.process_id = process_id


class ExistingKey(Exception):
    """The id counter handed out an id that is already stored (its file was lost): no job is created."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


class UnknownGraph(LookupError):
    """Data loading for a graph the server does not have (code 4, 404)."""

    def __init__(self, graph_id: str) -> None:
        super().__init__(graph_id)
        self.graph_id = graph_id


class GraphLocked(Exception):
    """Data loading for a graph that is being served or already loading (code 111, 400)."""

    def __init__(self, graph_id: str) -> None:
        super().__init__(graph_id)
        self.graph_id = graph_id


@dataclass(frozen=True)
class EmulatedJob:
    """A snapshot of one job as the emulator holds it, for tests to inspect."""

    id: str
    status: str
    type: str
    start_time_ms: int
    end_time_ms: int
    log: str
    graph_id: str
    process_id: int
    stale_pid: bool
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Who has the pid now if the loader is gone (PID_GONE, PID_OTHER_USER, PID_REUSED), else None.
    pid_fate: str | None = None
    # The log file was cleaned away: the log reads "".
    log_lost: bool = False


class _Record:
    """One mutable job row; the log is kept only as its JSON encoding, so a big history is stored once."""

    __slots__ = (
        "end_time_ms",
        "extra",
        "graph_id",
        "head",
        "id",
        "log_json",
        "log_lost",
        "pid_fate",
        "process_id",
        "start_time_ms",
        "status",
        "tail",
        "type",
    )

    def __init__(
        self,
        job_id: str,
        *,
        status: str,
        job_type: str,
        start_time_ms: int,
        end_time_ms: int,
        log: str,
        graph_id: str,
        process_id: int,
        pid_fate: str | None,
        extra: Mapping[str, Any] | None,
    ) -> None:
        self.id = job_id
        self.status = status
        self.type = job_type
        self.start_time_ms = start_time_ms
        self.end_time_ms = end_time_ms
        self.log_json = json.dumps(log).encode()
        self.graph_id = graph_id
        self.process_id = process_id
        self.pid_fate = pid_fate
        self.log_lost = False
        self.extra = dict(extra) if extra else {}
        self.head: bytes | None = None
        self.tail: bytes | None = None

    def fragments(self) -> tuple[bytes, bytes, bytes]:
        """The job's JSON in three pieces (before the log, the log, after it), cached until a change."""
        if self.head is None or self.tail is None:
            # Field order as the real server writes it.
            self.head = (
                f'{{"id":{_string(self.id)},"status":{_string(self.status)},'
                f'"start_time":{self.start_time_ms},"end_time":{self.end_time_ms},"log":'
            ).encode()
            extra = (
                "".join(f",{json.dumps(k)}:{json.dumps(v)}" for k, v in self.extra.items())
                if self.extra
                else ""
            )
            self.tail = (
                f',"detail":{{"graph_id":{_string(self.graph_id)},"process_id":{self.process_id}}},'
                f'"type":{_string(self.type)}{extra}}}'
            ).encode()
        return self.head, b'""' if self.log_lost else self.log_json, self.tail

    def invalidate(self) -> None:
        self.head = None
        self.tail = None

    def snapshot(self) -> EmulatedJob:
        return EmulatedJob(
            id=self.id,
            status=self.status,
            type=self.type,
            start_time_ms=self.start_time_ms,
            end_time_ms=self.end_time_ms,
            log="" if self.log_lost else json.loads(self.log_json),
            graph_id=self.graph_id,
            process_id=self.process_id,
            stale_pid=self.pid_fate is not None,
            extra=dict(self.extra),
            pid_fate=self.pid_fate,
            log_lost=self.log_lost,
        )


def _string(text: str) -> str:
    """A JSON string; plain words skip the encoder, which counts when listing 100,000 jobs."""
    return f'"{text}"' if text.isascii() and text.replace("_", "").isalnum() else json.dumps(text)


def directory_key(job_id: str) -> tuple[int, int]:
    """Where a job lands in a listing: a fixed scramble of its id, standing in for directory order."""
    # A hand-placed odd id ("job-3") has no number: it is listed as if its digits were its bytes.
    number = int(job_id) if job_id.isascii() and job_id.isdigit() else int.from_bytes(job_id.encode()[:16])
    # Knuth's multiplicative hash: deterministic, yet not id-sorted, so clients must sort for themselves.
    return ((number * 0x9E3779B1) & 0xFFFFFFFF, number)


class NewJob(NamedTuple):
    """The fields of a job about to be added; the table assigns its id. (A tuple: cheap to make 100k.)"""

    status: str
    start_time_ms: int
    end_time_ms: int
    log: str
    graph_id: str
    process_id: int
    job_type: str = JOB_TYPE
    # Who has the pid now (a PID_* fate) when the loader is already gone; None: the loader runs.
    pid_fate: str | None = None
    extra: Mapping[str, Any] | None = None
    # Stored under this id instead of the counter's next one (which is then left alone): what a
    # hand-edited or foreign metadata store can hold, odd ids included.
    job_id: str | None = None


class JobTable:
    """Every job ever created, guarded by one condition that is notified on each change."""

    def __init__(self, changed: threading.Condition, first_id: int = 1) -> None:
        self._changed = changed
        self._next_id = first_id
        self._records: dict[str, _Record] = {}
        self._order: list[str] | None = []
        # The list body in pieces, rebuilt after any change: a static history lists with one join.
        self._listing: list[bytes] | None = None
        # Called with the job id between a cancel's status read and its kill (outside the lock), so a
        # test can end the job in that window, as a loader may on the server.
        self.between_read_and_kill: Callable[[str], object] | None = None

    def __len__(self) -> int:
        with self._changed:
            return len(self._records)

    def add(self, job: NewJob) -> str:
        """Store a new job under the next id and return that id."""
        return self.add_many([job])[0]

    def add_many(self, jobs: Iterable[NewJob]) -> list[str]:
        """Store many jobs at once (seeding history); ids follow the counter, which only grows."""
        with self._changed:
            ids: list[str] = []
            try:
                self._add_each(jobs, ids)
            finally:
                if len(ids) == 1 and self._order is not None:
                    bisect.insort(self._order, ids[0], key=directory_key)
                elif ids:
                    self._order = None
                self._listing = None
                self._changed.notify_all()
            return ids

    def _add_each(self, jobs: Iterable[NewJob], ids: list[str]) -> None:
        with self._changed:
            for job in jobs:
                job_id = job.job_id
                if job_id is None:
                    job_id = str(self._next_id)
                    if job_id in self._records:
                        # The counter file was lost and started again: the server refuses the
                        # write and the counter does not move, so every new job fails alike.
                        raise ExistingKey(job_id)
                    self._next_id += 1
                self._records[job_id] = _Record(
                    job_id,
                    status=job.status,
                    job_type=job.job_type,
                    start_time_ms=job.start_time_ms,
                    end_time_ms=job.end_time_ms,
                    log=job.log,
                    graph_id=job.graph_id,
                    process_id=job.process_id,
                    pid_fate=job.pid_fate,
                    extra=job.extra,
                )
                ids.append(job_id)

    def forget_all(self, first_id: int = 1) -> int:
        """Drop every job and start the counter again at `first_id`, as a server that lost its metadata
        directory does; returns how many jobs were dropped."""
        with self._changed:
            dropped = len(self._records)
            self._records = {}
            self._order = []
            self._listing = None
            self._next_id = first_id
            self._changed.notify_all()
            return dropped

    def get(self, job_id: str) -> EmulatedJob:
        """A snapshot of one job; raises UnknownJob."""
        with self._changed:
            return self._record(job_id).snapshot()

    def snapshot(self) -> list[EmulatedJob]:
        """Every job, sorted by id (inspection is easier sorted; the HTTP listing is not)."""
        with self._changed:
            records = sorted(self._records.values(), key=lambda record: int(record.id))
            return [record.snapshot() for record in records]

    def ids_with_status(self, status: str) -> list[str]:
        with self._changed:
            return [job_id for job_id, record in self._records.items() if record.status == status]

    def body(self, job_id: str) -> bytes:
        """One job's JSON as the server sends it; raises UnknownJob."""
        with self._changed:
            return b"".join(self._record(job_id).fragments())

    def listing(self) -> list[bytes]:
        """Every job's JSON, comma-separated, in directory order, as pieces to send without brackets."""
        with self._changed:
            if self._listing is None:
                if self._order is None:
                    self._order = sorted(self._records, key=directory_key)
                pieces: list[bytes] = []
                for job_id in self._order:
                    if pieces:
                        pieces.append(b",")
                    pieces.extend(self._records[job_id].fragments())
                self._listing = pieces
            return self._listing

    def update(
        self,
        job_id: str,
        *,
        only_if_status: str | None = None,
        status: str | None = None,
        end_time_ms: int | None = None,
        append_log: str | None = None,
        pid_fate: str | None = None,
        lose_log: bool = False,
    ) -> bool:
        """Change one job; with `only_if_status`, only when it still has that status. Raises UnknownJob.

        Text appended to a lost log is lost too: the loader writes to a file nobody can open any more."""
        with self._changed:
            record = self._record(job_id)
            if only_if_status is not None and record.status != only_if_status:
                return False
            if status is not None:
                record.status = status
            if end_time_ms is not None:
                record.end_time_ms = end_time_ms
            if lose_log:
                record.log_lost = True
                record.log_json = b'""'
            if append_log and not record.log_lost:
                record.log_json = json.dumps(json.loads(record.log_json) + append_log).encode()
            if pid_fate is not None:
                record.pid_fate = pid_fate
            record.invalidate()
            self._listing = None
            self._changed.notify_all()
            return True

    def cancel(self, job_id: str, end_time_ms: Callable[[], int]) -> bool:
        """What the server's cancel does, in its order: the pid check, the status read, the kill, then
        the CANCELLED write. Returns True when the kill reached the job's own loader (whose thread then
        races to record FAILED), False when it killed whatever process has the pid now.

        The lock is let go between the status read and the kill, as the server's are separate steps: a
        loader that ends in between leaves no process, and the kill fails (500), as on the server."""
        with self._changed:
            record = self._record(job_id)
            if record.process_id <= 0:
                raise InvalidProcessId(job_id, record.process_id)
            if record.status in TERMINAL_STATUSES:
                raise JobNotRunning(job_id, record.status)
            read_status = record.status
        if self.between_read_and_kill is not None:
            self.between_read_and_kill(job_id)
        # The kill: SIGKILL to the stored pid.
        with self._changed:
            record = self._record(job_id)
            fate = record.pid_fate
            if fate is None and record.status != read_status and record.status in TERMINAL_STATUSES:
                fate = PID_GONE
            if fate in _KILL_ERRORS:
                raise KillFailed(job_id, record.process_id, _KILL_ERRORS[fate])
            self.update(job_id, status="CANCELLED", end_time_ms=end_time_ms())
            return fate is None

    def mark_running_stale(self, fate: Callable[[str], str]) -> list[str]:
        """What a server restart does: every RUNNING job keeps its status but loses its process, whose
        id `fate(job_id)` hands to nobody, another user, or one of the server's own processes."""
        with self._changed:
            stale = [
                job_id
                for job_id, record in self._records.items()
                if record.status == RUNNING and record.pid_fate is None
            ]
            for job_id in stale:
                self.update(job_id, pid_fate=fate(job_id))
            return stale

    def lose_logs(self) -> int:
        """Every job's log file is cleaned away; returns how many logs were lost."""
        with self._changed:
            records = [record for record in self._records.values() if not record.log_lost]
            for record in records:
                self.update(record.id, lose_log=True)
            return len(records)

    def lose_counter(self) -> None:
        """The id counter's file is gone: the counter starts again at 1 (jobs stay)."""
        with self._changed:
            self._next_id = 1

    def loading(self, graph_id: str) -> bool:
        """Whether a RUNNING job loads `graph_id` (its lock is held until the loader's thread ends;
        after a restart nothing ends it)."""
        with self._changed:
            return any(r.graph_id == graph_id and r.status == RUNNING for r in self._records.values())

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def _record(self, job_id: str) -> _Record:
        record = self._records.get(job_id)
        if record is None:
            raise UnknownJob(job_id)
        return record
