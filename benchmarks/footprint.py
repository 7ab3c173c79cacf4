"""Footprint of jobbot: start-up time, and resident memory and CPU while idle.

    python -m benchmarks.footprint [--starts 5] [--idle 30] [--interval 10] [--history 1000]

The real `jobbot` process runs in HTTP mode with the notifier on (JOBBOT_POLL_INTERVAL=--interval)
against the emulator (its own process; --history finished jobs with logs of --log-bytes, and 5 running
jobs) and a fake Slack Web API in this process, all on loopback.

Start-up: from just before the process is spawned to its HTTP port accepting connections, and to
`GET /readyz` answering 200 (Slack token checked, store open, first poll done). The first start has a
new SQLite database (it reads the whole job list for its baseline); then --starts restarts reuse it.
Idle: after the last start is ready, RSS (VmRSS from /proc/PID/status) and CPU (utime + stime from
/proc/PID/stat) are sampled once a second for --idle seconds; polls are counted from /metrics.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from statistics import median

import httpx

from benchmarks._bot_process import (
    answers_200,
    bot_env,
    proc_cpu_seconds,
    proc_status_kib,
    proc_threads,
    stop,
)
from benchmarks.common import EmulatorProcess, emulator_process, machine, table
from tests.fakes import FakeSlack
from tests.support import free_port, port_accepts, start_jobbot, wait_until

RUNNING_JOBS = 5
POLLS = re.compile(r"^jobbot_poll_seconds_count(?:\{[^}]*\})? (\S+)$", re.MULTILINE)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=5, help="restarts after the first start")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle sampling")
    parser.add_argument("--interval", type=float, default=10.0, help="JOBBOT_POLL_INTERVAL")
    parser.add_argument("--history", type=int, default=1000, help="finished jobs on the server")
    parser.add_argument("--log-bytes", type=int, default=3000)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    slack = FakeSlack().start()
    try:
        with emulator_process() as emulator, tempfile.TemporaryDirectory() as workdir:
            emulator.control("POST", "history", {"count": args.history, "log_bytes": args.log_bytes})
            for _ in range(RUNNING_JOBS):
                emulator.control("POST", "jobs", {"status": "RUNNING"})
            port = free_port()
            env = bot_env(
                slack_api_url=slack.api_url,
                endpoint=emulator.url,
                port=port,
                JOBBOT_NOTIFIER="on",
                JOBBOT_NOTIFY_CHANNEL="C0BENCH",
                JOBBOT_POLL_INTERVAL=str(args.interval),
            )
            starts = []
            for number in range(args.starts + 1):
                last = number == args.starts
                starts.append(measure_start(env, workdir, port, emulator, keep=last))
            process = starts[-1].process
            assert process is not None
            try:
                idle = measure_idle(process.pid, port, args.idle)
            finally:
                stop(process)
    finally:
        slack.stop()

    print(
        f"jobbot footprint ({machine()}; load average {load:.1f} at start; HTTP mode, notifier on, poll "
        f"every {args.interval:g} s; {args.history:,} finished jobs with ~{args.log_bytes:,}-byte logs "
        f"and {RUNNING_JOBS} running)\n"
    )
    first, restarts = starts[0], starts[1:]
    rows = [["first start (new database)", f"{first.to_port:.2f}", f"{first.to_ready:.2f}"]]
    if restarts:
        port_times = [start.to_port for start in restarts]
        ready_times = [start.to_ready for start in restarts]
        rows.append(
            [
                f"restart (median of {len(restarts)})",
                f"{median(port_times):.2f} ({min(port_times):.2f}-{max(port_times):.2f})",
                f"{median(ready_times):.2f} ({min(ready_times):.2f}-{max(ready_times):.2f})",
            ]
        )
    print(table(["start", "to port accepting s", "to /readyz 200 s"], rows))
    print()
    rss = idle.rss_mib
    print(
        table(
            [
                "idle s",
                "RSS at ready MiB",
                "RSS idle MiB median (min-max)",
                "peak RSS (VmHWM) MiB",
                "CPU %",
                "polls",
                "idle CPU ms per poll",
                "threads",
            ],
            [
                [
                    f"{idle.seconds:.0f}",
                    f"{starts[-1].rss_at_ready_mib:.1f}",
                    f"{median(rss):.1f} ({min(rss):.1f}-{max(rss):.1f})",
                    f"{idle.peak_mib:.1f}",
                    f"{idle.cpu_seconds / idle.seconds * 100:.2f}",
                    idle.polls,
                    f"{idle.cpu_seconds * 1000 / idle.polls:.1f}" if idle.polls else "n/a",
                    idle.threads,
                ]
            ],
        )
    )


@dataclass
class Start:
    """One start: seconds to the port accepting and to /readyz 200; the process if kept running."""

    to_port: float
    to_ready: float
    rss_at_ready_mib: float
    process: subprocess.Popen[bytes] | None


def measure_start(
    env: dict[str, str], workdir: str, port: int, emulator: EmulatorProcess, *, keep: bool
) -> Start:
    started = time.perf_counter()
    process = start_jobbot(env, workdir)
    try:
        wait_until(
            lambda: port_accepts(port), timeout=60, interval=0.005, process=process, what="port accepting"
        )
        to_port = time.perf_counter() - started
        base = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: answers_200(base + "/readyz"), timeout=60, interval=0.01, process=process, what="readyz"
        )
        to_ready = time.perf_counter() - started
        rss = proc_status_kib(process.pid, "VmRSS") / 1024
    except BaseException:
        stop(process)
        raise
    if not keep:
        stop(process)
    return Start(to_port, to_ready, rss, process if keep else None)


@dataclass
class Idle:
    """What an idle process used over a window."""

    seconds: float = 0.0
    rss_mib: list[float] = field(default_factory=list)
    peak_mib: float = 0.0
    cpu_seconds: float = 0.0
    polls: int = 0
    threads: int = 0


def measure_idle(pid: int, port: int, seconds: float) -> Idle:
    """Sample RSS once a second for `seconds`; CPU and polls over the whole window."""
    idle = Idle()
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    polls_before = polls(metrics_url)
    cpu_before, started = proc_cpu_seconds(pid), time.monotonic()
    next_sample = started
    while (now := time.monotonic()) < started + seconds:
        if now >= next_sample:
            idle.rss_mib.append(proc_status_kib(pid, "VmRSS") / 1024)
            next_sample += 1.0
        time.sleep(max(0.0, min(next_sample, started + seconds) - time.monotonic()))
    idle.cpu_seconds = proc_cpu_seconds(pid) - cpu_before
    idle.seconds = time.monotonic() - started
    idle.rss_mib.append(proc_status_kib(pid, "VmRSS") / 1024)
    idle.peak_mib = proc_status_kib(pid, "VmHWM") / 1024
    idle.threads = proc_threads(pid)
    idle.polls = polls(metrics_url) - polls_before
    return idle


def polls(metrics_url: str) -> int:
    """Polls the notifier has made, from its jobbot_poll_seconds histogram."""
    found = POLLS.search(httpx.get(metrics_url, timeout=10).text)
    return int(float(found.group(1))) if found else 0


if __name__ == "__main__":
    main()
