"""Helpers for benchmarks that run the real `jobbot` process (HTTP mode) on loopback, and read /proc."""

from __future__ import annotations

import os
import subprocess

import httpx

from tests.support import child_env

SIGNING_SECRET = "benchmark-signing-secret"
BOT_TOKEN = "xoxb-benchmark"


def bot_env(*, slack_api_url: str, endpoint: str, port: int, **settings: str) -> dict[str, str]:
    """The environment for `jobbot` in HTTP mode; `settings` adds JOBBOT_* variables."""
    return child_env(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_api_url,
            "INTERACTIVE_ADMIN_ENDPOINT": endpoint,
            "PORT": str(port),
            "JOBBOT_LOG_LEVEL": "WARNING",
            **settings,
        }
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not exited within 30 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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
