"""Demo mode: a loader that starts jobs now and then, writes their logs as they run, and ends them."""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from jobbot.emulator import loader_log
from jobbot.emulator.jobs import RUNNING, EmulatedJob, GraphLocked, UnknownGraph, UnknownJob

logger = logging.getLogger(__name__)

LoadingStarted = Callable[[str, loader_log.Labels, float], None]


class Workspace(Protocol):
    """What the demo drives like a busy workspace (the Emulator is one)."""

    clock: Callable[[], float]
    on_loading_started: LoadingStarted | None
    graphs: frozenset[str]
    serving: str | None

    def add_job(
        self,
        *,
        status: str = ...,
        graph_id: str = ...,
        log: str | None = ...,
        start_time_ms: int | None = ...,
        end_time_ms: int | None = ...,
        process_id: int | None = ...,
    ) -> str: ...

    def start_loading(self, graph_id: str) -> str: ...

    def append_log(self, job_id: str, text: str, *, only_if_running: bool = ...) -> bool: ...

    def finish_job(
        self,
        job_id: str,
        status: str = ...,
        *,
        log: str | None = ...,
        end_time_ms: int | None = ...,
        only_if_running: bool = ...,
    ) -> bool: ...

    def running_job_ids(self) -> list[str]: ...

    def get(self, job_id: str) -> EmulatedJob: ...


@dataclass
class _Run:
    """One running job's future: when it ends, how, and the log lines still to write."""

    end: float
    outcome: str
    lines: list[tuple[float, str]]
    written: int = 0
    graph_id: str = "1"
    start: float = 0.0
    pid: int = 0


class DemoRunner:
    """Drives an Emulator like a busy workspace; `step()` does one tick, `start()` ticks in a thread.

    Times are in the emulator's clock seconds divided by `speed`: at speed 10 a "60 s" job takes 6 s.
    Jobs started by POST .../dataloading, and RUNNING jobs added otherwise, are run too (stale ones are not).
    Like a real server, it loads only graphs that are not served and not loading already (`graph_ids`,
    by default the emulator's graphs but the served one), so no graph ever has two RUNNING loads.
    """

    def __init__(
        self,
        emulator: Workspace,
        *,
        speed: float = 1.0,
        seed: int = 0,
        duration: tuple[float, float] = (20.0, 90.0),
        interval: tuple[float, float] = (15.0, 45.0),
        failure_rate: float = 0.2,
        graph_ids: tuple[str, ...] | None = None,
        tick: float | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._emulator = emulator
        self._speed = speed
        self._rng = random.Random(seed)
        self._duration = duration
        self._interval = interval
        self._failure_rate = failure_rate
        if graph_ids is None:
            graph_ids = tuple(sorted(emulator.graphs - {emulator.serving}))
        if not graph_ids:
            raise ValueError("the demo needs a graph that is not being served")
        self._graph_ids = graph_ids
        # Real seconds between ticks: often enough that log lines appear close to their timestamps.
        self._tick = tick if tick is not None else min(0.5, max(0.005, 0.5 / speed))
        self._runs: dict[str, _Run] = {}
        self._next_start: float | None = None
        # Re-entrant: step() starts jobs, and starting a job calls back into _loading_started.
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        emulator.on_loading_started = self._loading_started

    def seed_history(self) -> list[str]:
        """A small past: several SUCCESS, one FAILED, one CANCELLED, and a job RUNNING now on each of
        up to two graphs (one load per graph, as on a real server)."""
        emulator, rng = self._emulator, self._rng
        now = emulator.clock()
        ids: list[str] = []
        past = ("SUCCESS", "SUCCESS", "FAILED", "SUCCESS", "CANCELLED", "SUCCESS", "SUCCESS")
        moment = now - 3600.0 * len(past)
        for status in past:
            moment += rng.uniform(1800.0, 3600.0)
            duration = rng.uniform(*self._duration)
            ids.append(self._add_finished(moment, moment + duration, status))
        agos = (rng.uniform(2.0, 10.0), rng.uniform(0.5, 2.0))
        free = [graph_id for graph_id in self._graph_ids if not self._loading(graph_id)]
        for ago, graph_id in zip(agos, rng.sample(free, min(len(agos), len(free))), strict=False):
            start = now - ago / self._speed
            pid = rng.randint(300, 4_194_303)
            log = loader_log.opening(start, pid, graph_id, loader_log.pick_labels(rng))
            ids.append(
                emulator.add_job(graph_id=graph_id, log=log, start_time_ms=int(start * 1000), process_id=pid)
            )
        return ids

    def _add_finished(self, start: float, end: float, status: str) -> str:
        rng = self._rng
        graph_id = rng.choice(self._graph_ids)
        pid = rng.randint(300, 4_194_303)
        labels = loader_log.pick_labels(rng)
        # A cancelled loader was killed part-way: its log stops mid-run.
        cut = end if status != "CANCELLED" else start + (end - start) * 0.4
        lines = [text for at, text in loader_log.progress(rng, start, end, pid, labels) if at <= cut]
        log = (
            loader_log.opening(start, pid, graph_id, labels)
            + "".join(lines)
            + loader_log.ending(rng, start, end, pid, graph_id, status)
        )
        return self._emulator.add_job(
            status=status,
            graph_id=graph_id,
            log=log,
            start_time_ms=int(start * 1000),
            end_time_ms=int(cut * 1000),
            process_id=pid,
        )

    def start(self) -> None:
        """Tick in a daemon thread until `stop()`."""
        if self._thread is not None:
            raise RuntimeError("the demo is already running")
        self._stopped.clear()
        self._thread = threading.Thread(target=self._loop, name="interactive-emulator-demo", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        if self._emulator.on_loading_started == self._loading_started:
            self._emulator.on_loading_started = None

    def _loop(self) -> None:
        while not self._stopped.wait(self._tick):
            try:
                self.step()
            except Exception:
                # One bad tick must not end the demo.
                logger.exception("demo tick failed")

    def step(self) -> None:
        """Start a job if one is due, write due log lines, and end jobs whose time has come."""
        emulator = self._emulator
        with self._lock:
            now = emulator.clock()
            if self._next_start is None:
                self._next_start = now + self._scaled(self._interval) / 2
            elif now >= self._next_start:
                self._next_start = now + self._scaled(self._interval)
                self._start_a_load()
            self._adopt_running()
            for job_id, run in list(self._runs.items()):
                if not self._advance(job_id, run, now):
                    del self._runs[job_id]

    def _start_a_load(self) -> None:
        """Load a graph that is free, if any is: a real server refuses a second load of one graph."""
        free = [graph_id for graph_id in self._graph_ids if not self._loading(graph_id)]
        if not free:
            return
        # Someone else may have started a load on it meanwhile (or the graphs changed): next turn, then.
        with contextlib.suppress(GraphLocked, UnknownGraph):
            self._emulator.start_loading(self._rng.choice(free))

    def _loading(self, graph_id: str) -> bool:
        emulator = self._emulator
        for job_id in emulator.running_job_ids():
            try:
                if emulator.get(job_id).graph_id == graph_id:
                    return True
            except UnknownJob:
                continue
        return False

    def _advance(self, job_id: str, run: _Run, now: float) -> bool:
        """Write what is due; False once the job is over (ended here, or cancelled meanwhile)."""
        emulator = self._emulator
        due = run.written
        while due < len(run.lines) and run.lines[due][0] <= now:
            due += 1
        try:
            if due > run.written:
                text = "".join(line for _, line in run.lines[run.written : due])
                run.written = due
                if not emulator.append_log(job_id, text, only_if_running=True):
                    return False
            if now < run.end:
                return True
            ending = loader_log.ending(self._rng, run.start, run.end, run.pid, run.graph_id, run.outcome)
            emulator.finish_job(
                job_id, run.outcome, log=ending, end_time_ms=int(run.end * 1000), only_if_running=True
            )
        except UnknownJob:
            pass
        return False

    def _adopt_running(self) -> None:
        emulator = self._emulator
        for job_id in emulator.running_job_ids():
            if job_id in self._runs:
                continue
            try:
                job = emulator.get(job_id)
            except UnknownJob:
                continue
            if job.status == RUNNING and not job.stale_pid:
                self._plan(job, loader_log.pick_labels(self._rng), job.start_time_ms / 1000)

    def _loading_started(self, job_id: str, labels: loader_log.Labels, start: float) -> None:
        with self._lock:
            self._plan(self._emulator.get(job_id), labels, start)

    def _plan(self, job: EmulatedJob, labels: loader_log.Labels, start: float) -> None:
        rng = self._rng
        end = start + self._scaled(self._duration)
        failing = rng.random() < self._failure_rate
        # A failing job dies part-way, so its log stops before all labels are loaded.
        stop = start + (end - start) * rng.uniform(0.3, 0.9) if failing else end
        pid = job.process_id
        lines = [(at, text) for at, text in loader_log.progress(rng, start, end, pid, labels) if at <= stop]
        outcome = "FAILED" if failing else "SUCCESS"
        self._runs[job.id] = _Run(stop, outcome, lines, graph_id=job.graph_id, start=start, pid=pid)

    def _scaled(self, bounds: tuple[float, float]) -> float:
        return self._rng.uniform(*bounds) / self._speed
