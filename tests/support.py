"""What tests and benchmarks share: free ports, a fake clock, waiting on a condition, child processes."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from jobbot.emulator import CANCEL_FAILED_AT_ONCE, Emulator

# What a cancelled job ends as on a real server, and on the emulator by default: the killed loader's
# thread may record FAILED over the cancel's CANCELLED (Emulator.cancel_fate says which, per job).
ENDED_BY_A_CANCEL = ("CANCELLED", "FAILED")


def status_read_after_cancel(emulator: Emulator, job_id: str) -> str:
    """What a read right after a successful cancel's reply shows: FAILED when the job's loader won the
    race before the reply, else CANCELLED (a later FAILED lands after it)."""
    return "FAILED" if emulator.cancel_fate(job_id) == CANCEL_FAILED_AT_ONCE else "CANCELLED"


# Settings a child must not inherit from the developer's shell: each test and benchmark names its own.
OWN_SETTINGS = ("SLACK_", "JOBBOT_", "INTERACTIVE_")
JOBBOT = (sys.executable, "-m", "jobbot")


# Ports handed to children are drawn below Linux's ephemeral range (32768-60999), from which the kernel
# picks the ports of bind(0) and of outgoing connections: the kernel never hands one of these to another
# socket between the draw and the child's bind, as it could a port of bind(0)'s (a replica test once
# found its standby's port taken). Only another draw could take it: about 1 in 12,000.
_CHILD_PORTS = range(20_000, 32_000)


def free_port() -> int:
    """A port nothing listens on (a moment ago), on any interface: for a child to bind, or to be
    refused on."""
    for port in random.sample(_CHILD_PORTS, 200):
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {_CHILD_PORTS}")


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(
    condition: Callable[[], object],
    *,
    timeout: float,
    what: str = "the condition holds",
    process: subprocess.Popen[Any] | None = None,
    interval: float = 0.05,
) -> None:
    """Poll `condition` until it holds; fail if `timeout` passes, or `process` exits, first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            output = process.communicate()[0] if process.stdout else ""
            raise AssertionError(f"the process exited ({process.returncode}) before {what}: {output}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(interval)


def child_env(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any Slack, jobbot or Interactive setting, then `settings`."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(OWN_SETTINGS)}
    return {**inherited, **settings}


def start_jobbot(
    settings: Mapping[str, str],
    cwd: str | Path,
    *,
    stdout: IO[bytes] | int | None = None,
    stderr: IO[bytes] | int | None = None,
) -> subprocess.Popen[bytes]:
    """`python -m jobbot` in a process of its own, configured by `settings` alone."""
    return subprocess.Popen(JOBBOT, env=child_env(settings), cwd=cwd, stdout=stdout, stderr=stderr)


def start_jobbot_captured(settings: Mapping[str, str], cwd: str | Path) -> subprocess.Popen[str]:
    """Like start_jobbot, its output (stdout and stderr) kept as text for the assertions."""
    return subprocess.Popen(
        JOBBOT,
        env=child_env(settings),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until_listening(port: int, process: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    """Wait for a child to accept connections on `port`; fail with its output if it exits first."""
    wait_until(lambda: port_accepts(port), timeout=timeout, what="jobbot listens", process=process)


class FakeClock:
    """Time that moves only when a test says so, read the ways jobbot and the emulator read it: an aware
    datetime (`clock()`), epoch seconds (`clock.time()`), seconds since it was made (`clock.monotonic()`)."""

    START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        self._start = start
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def time(self) -> float:
        return self.now.timestamp()

    def monotonic(self) -> float:
        return (self.now - self._start).total_seconds()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        """A sleep that returns at once, having moved the clock on; each is noted in `slept`."""
        self.slept.append(seconds)
        self.advance(seconds)
