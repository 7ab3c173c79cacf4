"""Cancels that kill blindly: stale RUNNING jobs (running far longer than any finished load of their
graph, or than a set limit), and jobs whose status is UNKNOWN.

The Interactive server does not reconcile job records after a restart: a job that was running stays
RUNNING for ever, and cancelling it kills the stored process id, which the OS may since have given to
another program. UNKNOWN is not in the server's finished set either, so a cancel of an UNKNOWN job kills
its stored process id too. Nothing here can tell for sure; it says when a cancel may hit another program.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from jobbot.models import ACTIVE_STATUSES, TERMINAL_STATUSES, Job

# Far longer: more than this many times the longest finished load of the same graph...
STALE_FACTOR = 3.0
# ...judged only from at least this many finished loads with known times...
MIN_FINISHED_LOADS = 3
# ...and never within this long: a graph whose loads take seconds must not look stale after a minute.
MIN_STALE_SECONDS = 15 * 60.0
DEFAULT_LIMIT_HOURS = 24.0
# Times past this (year 3000) are garbage, as `jobbot.models` treats them.
MAX_TIME_MS = 32_503_680_000_000


@dataclass(frozen=True)
class Stale:
    """Why a running job looks stale: its graph's history, or the configured limit."""

    job_id: str
    graph_id: str | None
    process_id: int | None
    running_seconds: float
    longest_finished_seconds: float | None  # set when the graph's finished loads say so
    limit_seconds: float | None  # set when only the limit says so


@dataclass(frozen=True)
class UnknownStatus:
    """A job the server knows neither as running nor as finished: its cancel still kills the stored
    process id, whatever now has it."""

    job_id: str
    status: str  # the server's word, as sent
    process_id: int | None


# Why a cancel of a job may kill something other than its loader.
KillRisk = Stale | UnknownStatus


def kill_risks(
    candidates: Iterable[Job], history: Iterable[Job], *, now: datetime, limit_seconds: float
) -> dict[str, KillRisk]:
    """The jobs among `candidates` whose cancel may kill another program, by job id: those whose status
    is neither active nor finished, and the stale ones (`find_stale`, which reads `history` as it says)."""
    candidates = list(candidates)
    found: dict[str, KillRisk] = {}
    for job in candidates:
        if (unknown := unknown_status(job)) is not None:
            found[job.id] = unknown
    found.update(find_stale(candidates, history, now=now, limit_seconds=limit_seconds))
    return found


def unknown_status(job: Job) -> UnknownStatus | None:
    """The risk of cancelling a job whose status is neither active nor finished; None for any other job."""
    if job.status in ACTIVE_STATUSES or job.status in TERMINAL_STATUSES:
        return None
    return UnknownStatus(job_id=job.id, status=job.status, process_id=job.process_id)


def find_stale(
    candidates: Iterable[Job], history: Iterable[Job], *, now: datetime, limit_seconds: float
) -> dict[str, Stale]:
    """The active jobs among `candidates` that look stale, by job id.

    `history` is every job the server lists (the candidates may be among them); it is read only when a
    candidate has run long enough to be judged by its graph's loads, so the usual list costs nothing.
    """
    running: dict[str, tuple[Job, float]] = {}
    for job in candidates:
        seconds = job.duration_seconds(now) if job.is_active else None
        if seconds is not None:
            running[job.id] = (job, seconds)
    graphs = {
        job.graph_id
        for job, seconds in running.values()
        if job.graph_id is not None and seconds > MIN_STALE_SECONDS
    }
    loads = _finished_loads(history, graphs) if graphs else {}
    found = {}
    for job_id, (job, seconds) in running.items():
        count, longest_ms = loads.get(job.graph_id or "", (0, 0))
        longest = longest_ms / 1000 if count >= MIN_FINISHED_LOADS else None
        by_history = longest is not None and seconds > max(STALE_FACTOR * longest, MIN_STALE_SECONDS)
        if by_history or seconds > limit_seconds:
            found[job_id] = Stale(
                job_id=job_id,
                graph_id=job.graph_id,
                process_id=job.process_id,
                running_seconds=seconds,
                longest_finished_seconds=longest if by_history else None,
                limit_seconds=None if by_history else limit_seconds,
            )
    return found


def _finished_loads(history: Iterable[Job], graphs: set[str]) -> dict[str, tuple[int, int]]:
    """How many finished jobs each of `graphs` has, and the longest one's milliseconds.

    A long history is read here, so the times are taken as the server's integers rather than through
    datetimes: the same rule as `Job.duration_seconds` (both known, end not before start).
    """
    loads: dict[str, tuple[int, int]] = {}
    terminal = TERMINAL_STATUSES
    for job in history:
        graph = job.graph_id
        if graph is None or graph not in graphs or job.status not in terminal:
            continue
        start, end = job.start_time_ms, job.end_time_ms
        if start is not None and end is not None and 0 < start <= end <= MAX_TIME_MS:
            count, longest = loads.get(graph, (0, 0))
            loads[graph] = (count + 1, max(longest, end - start))
    return loads


def worth_history(job: Job, now: datetime) -> bool:
    """Whether judging `job` needs its graph's history: only a job running for a while can be stale by it."""
    seconds = job.duration_seconds(now) if job.is_active else None
    return seconds is not None and job.graph_id is not None and seconds > MIN_STALE_SECONDS
