"""Helpers for benchmarks that run the real `jobbot` process (HTTP mode) on loopback, and read /proc."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx

SIGNING_SECRET = "benchmark-signing-secret"
BOT_TOKEN = "xoxb-benchmark"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bot_env(*, slack_api_url: str, endpoint: str, port: int, **settings: str) -> dict[str, str]:
    """The environment for `jobbot` in HTTP mode; `settings` adds JOBBOT_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "JOBBOT_", "INTERACTIVE_"))}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_api_url,
        INTERACTIVE_ADMIN_ENDPOINT=endpoint,
        PORT=str(port),
        JOBBOT_LOG_LEVEL="WARNING",
    )
    env.update(settings)
    return env


def start_jobbot(
    env: dict[str, str], workdir: str | Path, *, stderr: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "jobbot"], env=env, cwd=workdir, stderr=stderr)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not exited within 30 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.005,
    process: subprocess.Popen[bytes] | None = None,
    what: str = "condition",
) -> None:
    """Poll `predicate` until it holds; fail if `timeout` passes or `process` exits first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process exited ({process.returncode}) before: {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout:g} s: {what}")
        time.sleep(interval)


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def answers_200(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def proc_status_kib(pid: int, field: str) -> int:
    """A `kB` field of /proc/PID/status, e.g. VmRSS or VmHWM."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def proc_threads(pid: int) -> int:
    return proc_status_kib(pid, "Threads")


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
