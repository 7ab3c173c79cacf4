"""The Emulator: an in-memory Interactive admin server with a Python control API, served on loopback."""

from __future__ import annotations

import collections
import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

from jobbot.emulator import control, loader_log, routes
from jobbot.emulator.demo import DemoRunner, LoadingStarted
from jobbot.emulator.faults import Faults
from jobbot.emulator.http import EmulatorHTTPServer
from jobbot.emulator.jobs import (
    JOB_TYPE,
    PID_FATES,
    PID_GONE,
    PID_OTHER_USER,
    PID_REUSED,
    READABLE_STATUSES,
    RUNNING,
    UNKNOWN,
    EmulatedJob,
    GraphLocked,
    JobTable,
    NewJob,
    UnknownGraph,
)
from jobbot.emulator.quirks import Quirks
from jobbot.emulator.routes import Reply

logger = logging.getLogger(__name__)

# How many recent requests `requests` remembers; a benchmark may send millions.
REQUEST_MEMORY = 100_000

# The graphs a fresh server has, and the one it serves (which no load may touch).
GRAPHS = ("1", "2", "3")
SERVING = "1"

# Who has a stale job's pid when the emulator decides (judgement: most often nobody).
_PID_FATE_WEIGHTS = {PID_GONE: 0.5, PID_OTHER_USER: 0.25, PID_REUSED: 0.25}

# When a late FAILED lands after a cancel's reply, unless Quirks.cancel_overwrite_delay says.
LATE_OVERWRITE_DELAY = 0.1

# Where numbered jobs fall, turn by turn, against Quirks.cancel_ends_failed (see Emulator.cancel_fate):
# spread out so that any share is met early and often. With the default 0.5: job 1 ends FAILED
# before the reply, 2 stays CANCELLED, 3 ends FAILED after the reply, 4 stays, and round again.
_CANCEL_ROUND = (0.0, 0.5, 0.125, 0.625, 0.25, 0.75, 0.375, 0.875)

# What a cancel's race with the loader's thread comes to (see Quirks.cancel_ends_failed).
CANCEL_STAYS = "stays_cancelled"
CANCEL_FAILED_AT_ONCE = "failed_before_reply"
CANCEL_FAILED_LATER = "failed_after_reply"


class Emulator:
    """A GraphScope Interactive admin server in memory: jobs, quirks, faults, and an HTTP face.

    Every method is thread-safe. `clock` returns epoch seconds; it stamps start and end times
    and drives the demo, so a test can make time run fast.
    """

    def __init__(
        self,
        *,
        quirks: Quirks | None = None,
        clock: Callable[[], float] = time.time,
        first_id: int = 1,
        seed: int = 0,
        log_requests: bool = False,
        graphs: tuple[str, ...] = GRAPHS,
        serving: str | None = SERVING,
    ) -> None:
        self.quirks = quirks or Quirks()
        self.clock = clock
        self.faults = Faults()
        self.log_requests = log_requests
        self.seed = seed
        # Data loading: graphs outside `graphs` are unknown (404); `serving` is locked (400, code 111).
        self.graphs = frozenset(graphs)
        self.serving = serving
        # Processes that a cancel killed by a reused pid, as (job id, pid): an unrelated process died.
        self.killed_strangers: list[tuple[str, int]] = []
        # One condition for every change (jobs, requests), so tests can wait on anything.
        self._changed = threading.Condition()
        self._table = JobTable(self._changed, first_id)
        self._rng = random.Random(seed)
        # A stream of its own, so the other values (pids, logs) stay what they were for a seed.
        self._end_time_rng = random.Random(f"{seed}:end_time")
        self._requests: collections.deque[tuple[str, str]] = collections.deque(maxlen=REQUEST_MEMORY)
        self._request_total = 0
        self._routes: dict[str, list[int]] = {}
        self._timers: set[threading.Timer] = set()
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._address: tuple[str, int] | None = None
        self._demo: DemoRunner | None = None
        # Called with (job_id, labels, start) when a loading job starts; the demo's loader listens here.
        self.on_loading_started: LoadingStarted | None = None

    # Lifecycle.

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Emulator:
        """Serve on (host, port) from a background thread; port 0 picks a free port."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self.faults.open()
        server = EmulatorHTTPServer((host, port), self._serve, self._sent, self.log_requests)
        self._server = server
        self._address = (host, server.server_port)
        # A short poll interval: stop() waits for the serving loop to notice, once per test.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="interactive-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: hung and delayed requests are dropped, open connections cut, new ones refused."""
        if self._demo is not None:
            self._demo.stop()
            self._demo = None
        with self._changed:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
        self._stop_serving()

    def restart(self, *, lose_logs: bool = False) -> None:
        """Stop and serve again on the same port; RUNNING jobs stay RUNNING forever, and who has their
        pids now is decided per job (`pid_fate`). `lose_logs`: /tmp went with the old container."""
        if self._address is None:
            raise RuntimeError("the emulator has never been started")
        host, port = self._address
        self._stop_serving()
        self._table.mark_running_stale(self.pid_fate)
        if lose_logs:
            self._table.lose_logs()
        self.start(host, port)

    def between_read_and_kill(self, hook: Callable[[str], object] | None) -> None:
        """Call `hook(job_id)` in each cancel between its status read and its kill (None: no hook): a
        test can end the job there, and the kill then fails as on the server."""
        self._table.between_read_and_kill = hook

    def lose_counter(self) -> None:
        """Lose only the id counter's file: it starts again at 1, so every new job fails with 500
        "got an existing key" while job 1 exists."""
        self._table.lose_counter()

    def lose_log(self, job_id: str | None = None) -> int:
        """Clean one job's log file away (every job's when None): its log reads "" from now on.
        Returns how many logs were lost."""
        if job_id is None:
            return self._table.lose_logs()
        self._table.update(job_id, lose_log=True)
        return 1

    def forget_jobs(self, first_id: int = 1) -> int:
        """Lose the metadata directory while serving: every job is gone and ids start again at
        `first_id`. Returns how many jobs were dropped."""
        return self._table.forget_all(first_id)

    def redeploy(self, downtime: float = 0.0, first_id: int = 1) -> None:
        """What redeploying the server without its metadata volume does: it stops answering for
        `downtime` seconds, then serves again on the same port with no jobs and ids from `first_id`."""
        if self._address is None:
            raise RuntimeError("the emulator has never been started")
        host, port = self._address
        self._stop_serving()
        self._table.forget_all(first_id)
        if downtime > 0:
            time.sleep(downtime)
        self.start(host, port)

    def _stop_serving(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        self.faults.close()
        server.shutdown()
        server.server_close()
        server.cut_connections()
        if thread is not None:
            thread.join()

    def __enter__(self) -> Emulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._address is None:
            raise RuntimeError("the emulator has not been started")
        return self._address[1]

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:7777 (no trailing slash, no path prefix, like the server)."""
        if self._address is None:
            raise RuntimeError("the emulator has not been started")
        host, port = self._address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    # Jobs.

    def add_job(
        self,
        *,
        status: str = RUNNING,
        graph_id: str = "1",
        log: str | None = None,
        start_time_ms: int | None = None,
        end_time_ms: int | None = None,
        process_id: int | None = None,
        job_type: str = JOB_TYPE,
        stale_pid: bool = False,
        extra: Mapping[str, Any] | None = None,
        job_id: str | None = None,
        pid_fate: str | None = None,
    ) -> str:
        """Create a job directly (not through dataloading, so no graph rule applies) and return its id.

        Defaults: started now, log a loader opening (plus its ending if terminal), end_time now if
        terminal else whatever the server's unwritten field holds (`Quirks.running_end_time_zero`).
        `status` reads back as the server would (`Quirks.raw_status_text`). `stale_pid`: the loader is
        gone and `pid_fate` (or, if None, a per-job draw) says who has its pid now. `extra` adds unknown
        fields to the JSON, as newer servers may. `job_id` stores the job under that id, whatever it
        is ("job-3", "007"), and leaves the counter alone.
        """
        now = self.clock()
        start = start_time_ms / 1000 if start_time_ms is not None else now
        pid = process_id if process_id is not None else self._pid()
        status = self.readable(status)
        terminal = status != RUNNING
        if end_time_ms is None:
            end_time_ms = max(self._ms(now), self._ms(start)) if terminal else self._unwritten_end_time(start)
        if pid_fate is not None and pid_fate not in PID_FATES:
            raise ValueError(f"pid_fate must be one of {PID_FATES}")
        fate = pid_fate if pid_fate is not None else PID_GONE if stale_pid else None
        if log is None:
            labels = loader_log.pick_labels(self._rng)
            log = loader_log.opening(start, pid, graph_id, labels)
            if terminal:
                log += loader_log.ending(self._rng, start, end_time_ms / 1000, pid, graph_id, status)
        new_id = self._table.add(
            NewJob(
                status=status,
                start_time_ms=self._ms(start),
                end_time_ms=end_time_ms,
                log=log,
                graph_id=graph_id,
                process_id=pid,
                job_type=job_type,
                pid_fate=fate,
                extra=extra or {},
                job_id=job_id,
            )
        )
        if stale_pid and pid_fate is None:
            # Drawn once the id is known, so the same job gets the same fate on every run.
            self._table.update(new_id, pid_fate=self.pid_fate(new_id))
        return new_id

    def start_loading(self, graph_id: str, mapping: Mapping[str, object] | None = None) -> str:
        """What POST /v1/graph/{graph_id}/dataloading does: start a RUNNING loader job, return its id.

        Raises UnknownGraph for a graph outside `graphs`, GraphLocked for the graph being served or
        one that a RUNNING job loads, and ExistingKey when the id counter's file was lost."""
        if graph_id not in self.graphs:
            raise UnknownGraph(graph_id)
        if graph_id == self.serving or self._table.loading(graph_id):
            raise GraphLocked(graph_id)
        start = self.clock()
        pid = self._pid()
        labels = (
            loader_log.labels_from_mapping(mapping, self._rng)
            if mapping
            else loader_log.pick_labels(self._rng)
        )
        job_id = self._table.add(
            NewJob(
                status=RUNNING,
                start_time_ms=self._ms(start),
                end_time_ms=self._unwritten_end_time(start),
                log=loader_log.opening(start, pid, graph_id, labels),
                graph_id=graph_id,
                process_id=pid,
            )
        )
        listener = self.on_loading_started
        if listener is not None:
            listener(job_id, labels, start)
        return job_id

    def finish_job(
        self,
        job_id: str,
        status: str = "SUCCESS",
        *,
        log: str | None = None,
        end_time_ms: int | None = None,
        only_if_running: bool = False,
    ) -> bool:
        """End a job with `status`, appending `log`; False if `only_if_running` and it had already ended."""
        return self._table.update(
            job_id,
            only_if_status=RUNNING if only_if_running else None,
            status=self.readable(status),
            end_time_ms=end_time_ms if end_time_ms is not None else self._ms(self.clock()),
            append_log=log,
        )

    def set_status(self, job_id: str, status: str) -> None:
        """Store a status, leaving times alone: any text but the four real statuses reads back as
        UNKNOWN (an unreadable record), unless `Quirks.raw_status_text`."""
        self._table.update(job_id, status=self.readable(status))

    def readable(self, status: str) -> str:
        """The status the server reads back from a record holding `status`."""
        if self.quirks.raw_status_text or status in READABLE_STATUSES:
            return status
        return UNKNOWN

    def append_log(self, job_id: str, text: str, *, only_if_running: bool = False) -> bool:
        """Add text to a job's log, as its loader writes; False if `only_if_running` and it had ended."""
        return self._table.update(
            job_id, only_if_status=RUNNING if only_if_running else None, append_log=text
        )

    def mark_stale(self, job_id: str, fate: str | None = None) -> None:
        """Forget the job's process, as a server restart does: it stays RUNNING, and `fate` (None: a
        per-job draw, `pid_fate`) says who has its pid now, which decides what a cancel does."""
        if fate is not None and fate not in PID_FATES:
            raise ValueError(f"fate must be one of {PID_FATES}")
        self._table.update(job_id, pid_fate=fate or self.pid_fate(job_id))

    def pid_fate(self, job_id: str) -> str:
        """Who has a stale job's pid, decided by the seed and the job id: PID_GONE (a cancel fails
        with "No such process"), PID_OTHER_USER ("Operation not permitted") or PID_REUSED (the
        cancel succeeds and kills an unrelated process)."""
        roll = random.Random(f"{self.seed}:pid:{job_id}").random()
        for fate, weight in _PID_FATE_WEIGHTS.items():
            if roll < weight:
                return fate
            roll -= weight
        return PID_GONE

    def cancel_fate(self, job_id: str) -> str:
        """How a cancel that kills this job's loader ends, decided by the seed, the job id and the
        quirks: CANCEL_STAYS, CANCEL_FAILED_AT_ONCE (FAILED before the cancel's reply) or
        CANCEL_FAILED_LATER (FAILED a moment after it, `Quirks.cancel_overwrite_delay`).

        Numbered jobs take their turn in a fixed round of eight (the seed shifts where a job falls),
        so the share holds over any eight ids in a row and the race is met within a test's first few
        jobs (job 1 ends FAILED with seed 0); other ids draw from a hash of seed and id."""
        quirks = self.quirks
        if job_id.isascii() and job_id.isdigit():
            turn = (int(job_id) + self.seed - 1) % len(_CANCEL_ROUND)
            place, late = _CANCEL_ROUND[turn], turn // 2 % 2 == 1
        else:
            draw = random.Random(f"{self.seed}:cancel:{job_id}")
            place, late = draw.random(), draw.random() < 0.5
        if place >= quirks.cancel_ends_failed:
            return CANCEL_STAYS
        delay = quirks.cancel_overwrite_delay
        if delay is not None:
            late = delay > 0
        return CANCEL_FAILED_LATER if late else CANCEL_FAILED_AT_ONCE

    def cancel_job(self, job_id: str) -> None:
        """What DELETE /v1/job/{id} does; raises UnknownJob, InvalidProcessId, JobNotRunning or
        KillFailed. When the kill reached the loader, its thread records FAILED as `cancel_fate` says."""
        loader_killed = self._table.cancel(job_id, lambda: self._ms(self.clock()))
        if not loader_killed:
            # The pid was reused: the loader was long gone, and an unrelated process died instead.
            with self._changed:
                self.killed_strangers.append((job_id, self._table.get(job_id).process_id))
            return
        fate = self.cancel_fate(job_id)
        if fate == CANCEL_STAYS:
            return
        if fate == CANCEL_FAILED_AT_ONCE:
            self._overwrite_with_failed(job_id)
            return
        quirks = self.quirks
        delay = quirks.cancel_overwrite_delay
        timer = threading.Timer(
            LATE_OVERWRITE_DELAY if delay is None else delay, self._overwrite_with_failed, (job_id,)
        )
        timer.daemon = True
        with self._changed:
            self._timers.add(timer)
        timer.start()

    def _overwrite_with_failed(self, job_id: str) -> None:
        # The loader's own thread sees its process die and records FAILED over the cancel.
        self._table.update(
            job_id, only_if_status="CANCELLED", status="FAILED", end_time_ms=self._ms(self.clock())
        )
        with self._changed:
            current = threading.current_thread()
            self._timers = {timer for timer in self._timers if timer.is_alive() and timer is not current}

    def seed_history(
        self,
        count: int,
        *,
        log_bytes: int = 2048,
        graph_ids: tuple[str, ...] = ("1", "2", "3"),
        failed_share: float = 0.08,
        cancelled_share: float = 0.04,
    ) -> list[str]:
        """Add `count` finished jobs ending before now, oldest first, with varied logs of ~`log_bytes`."""
        rng = self._rng
        logs = loader_log.HistoryLogs(rng, log_bytes)
        # Jobs a few minutes apart on average, the newest ending about an hour ago.
        starts: list[float] = []
        moment = self.clock() - 3600.0
        for _ in range(count):
            moment -= 60.0 + 1140.0 * rng.random()
            starts.append(moment)
        starts.reverse()

        def jobs() -> Iterator[NewJob]:
            # A generator, so only one job's log text is alive at a time besides the stored JSON.
            random = rng.random
            for start in starts:
                roll = random()
                status = "SUCCESS"
                if roll < failed_share + cancelled_share:
                    status = "FAILED" if roll < failed_share else "CANCELLED"
                end = start + 5.0 + 895.0 * random()
                pid = 300 + int(random() * 4_194_000)
                graph_id = graph_ids[int(random() * len(graph_ids))]
                log = logs.log(start, end, pid, graph_id, status)
                yield NewJob(status, int(start * 1000), int(end * 1000), log, graph_id, pid)

        return self._table.add_many(jobs())

    def get(self, job_id: str) -> EmulatedJob:
        """A snapshot of one job; raises UnknownJob."""
        return self._table.get(job_id)

    @property
    def jobs(self) -> list[EmulatedJob]:
        """Snapshots of every job, sorted by id (the HTTP listing is deliberately not)."""
        return self._table.snapshot()

    @property
    def job_count(self) -> int:
        return len(self._table)

    def running_job_ids(self) -> list[str]:
        return self._table.ids_with_status(RUNNING)

    def job_json(self, job_id: str) -> bytes:
        """One job's JSON exactly as GET /v1/job/{id} sends it; raises UnknownJob."""
        return self._table.body(job_id)

    def listing(self) -> list[bytes]:
        """The body pieces of GET /v1/job between its brackets (cached until a job changes)."""
        return self._table.listing()

    # Requests, statistics, waiting.

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, raw path) of the most recent admin API requests, oldest first (control API excluded)."""
        with self._changed:
            return list(self._requests)

    def stats(self) -> dict[str, Any]:
        """Request and byte counts per route, plus the job count and current faults and quirks."""
        with self._changed:
            by_route = {route: {"requests": c[0], "bytes": c[1]} for route, c in sorted(self._routes.items())}
            total = self._request_total
        return {
            "requests": total,
            "bytes": sum(entry["bytes"] for entry in by_route.values()),
            "routes": by_route,
            "jobs": self.job_count,
            "faults": self.faults.describe(),
            "quirks": dataclasses.asdict(self.quirks),
        }

    def reset_stats(self) -> None:
        """Forget recorded requests and counters (jobs stay)."""
        with self._changed:
            self._requests.clear()
            self._request_total = 0
            self._routes.clear()

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until `predicate()` holds, re-checking after every job change or request; False on timeout."""
        return self._table.wait_until(predicate, timeout)

    def start_demo(
        self,
        *,
        history: bool = True,
        speed: float = 1.0,
        seed: int = 0,
        failure_rate: float = 0.2,
        tick: float | None = None,
    ) -> DemoRunner:
        """Run the demo loader in a background thread (after seeding a small history) and return it."""
        if self._demo is not None:
            raise RuntimeError("the demo is already running")
        runner = DemoRunner(self, speed=speed, seed=seed, failure_rate=failure_rate, tick=tick)
        if history:
            runner.seed_history()
        runner.start()
        self._demo = runner
        return runner

    # The HTTP side.

    def _serve(self, method: str, raw_path: str, body: bytes) -> Reply | None:
        if control.is_control_path(raw_path):
            return control.answer(self, method, raw_path, body)
        request = routes.resolve(method, raw_path)
        with self._changed:
            self._requests.append((method, raw_path))
            self._request_total += 1
            self._routes.setdefault(request.route, [0, 0])[0] += 1
            self._changed.notify_all()
        faults = self.faults
        if not faults.wait_before_answer(request.route) or faults.take_drop(request.route):
            return None
        failure = faults.take_failure(request.route)
        if failure is not None:
            reply = Reply(failure.status, [failure.body], request.route)
        else:
            try:
                reply = routes.answer(self, request, body)
            except Exception as exc:
                # The server's code 999: an exception in a handler still gets an answer.
                logger.exception("emulator failed to answer %s %s", method, raw_path)
                reply = routes.error(self.quirks, 500, 999, str(exc), request.route)
        trickle = faults.trickle_for(request.route)
        return reply if trickle is None else dataclasses.replace(reply, trickle=trickle)

    def _sent(self, reply: Reply, length: int) -> None:
        if reply.route is None:
            return
        with self._changed:
            self._routes.setdefault(reply.route, [0, 0])[1] += length

    # Helpers.

    def _pid(self) -> int:
        return self._rng.randint(300, 4_194_303)

    def _unwritten_end_time(self, start: float) -> int:
        """What the end_time of a job the server has not ended holds: never written, so anything."""
        if self.quirks.running_end_time_zero:
            return 0
        rng = self._end_time_rng
        kind = rng.random()
        if kind < 0.4:
            return 0
        if kind < 0.7:
            # A stale value from memory that held another job: some earlier moment.
            return self._ms(start) - rng.randint(1, 30 * 86_400_000)
        # Uninitialised bits: any 64-bit integer.
        return rng.randint(-(2**63), 2**63 - 1)

    @staticmethod
    def _ms(seconds: float) -> int:
        return int(seconds * 1000)
