"""Each benchmark script still runs end to end (on tiny sizes) and prints its table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Every test here runs a benchmark script, which starts jobbot or the emulator as a child process.
pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        (
            "poll_cost",
            [
                *("--sizes", "5,20", "--rounds", "2", "--polls", "2", "--naive-polls", "1"),
                *("--servers", "1,2", "--server-history", "5,20"),
                *("--server-rounds", "2", "--server-polls", "1"),
            ],
            "20 vs 5 history jobs, jobbot CPU per server",
        ),
        ("notice_latency", ["--jobs", "6", "--spread", "1", "--interval", "0.2"], "| 6    |"),
        (
            "notice_recovery",
            ["--jobs", "4", "--interval", "0.5", "--slack-fault", "3", "--graphscope-down", "1"],
            "| 4    |",
        ),
        ("live_cards", ["--jobs", "1,5", "--interval", "0.5"], "duplicates: 0"),
        # A refresh only: the textbook bot needs 10-60 s to come back from a drop.
        ("socket_reconnect", ["--rounds", "1", "--modes", "refresh"], "refresh: commands failed"),
        (
            "ack_latency",
            ["--requests", "6", "--concurrency", "3", "--delay", "0.2", "--rounds", "1", "--wait", "10"],
            "| jobbot   | 3           |",
        ),
        # The SDK is not in the test venv: this runs the jobbot side and the failure table.
        ("client_vs_sdk", ["--jobs", "50", "--repeats", "1"], "| jobbot JobClient.list_jobs() | 50 "),
        (
            "listing_reader",
            ["--jobs", "30", "--log-bytes", "300", "--repeats", "1"],
            "| ends-in-braces | spaced ",
        ),
        ("log_memory", ["--sizes", "1,3"], "JobClient.get_job(): peak RSS at 3 MB / at 1 MB = x"),
        (
            "footprint",
            ["--starts", "1", "--idle", "1", "--interval", "0.5", "--history", "20"],
            "| first start (new database) |",
        ),
    ],
)
def test_benchmark_runs_on_tiny_sizes(script: str, args: list[str], expected: str) -> None:
    """The script exits 0 and prints its figures, so the README's benchmark commands keep working."""
    # Its own process group, so a hang (a child of the script holding the pipes open) is cleaned up
    # whole and reported with what the script printed, not as a bare timeout.
    script_process = subprocess.Popen(
        [sys.executable, "-m", f"benchmarks.{script}", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = script_process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(script_process.pid, signal.SIGKILL)
        stdout, stderr = script_process.communicate()
        pytest.fail(f"benchmarks.{script} did not finish in 120 s; it printed:\n{stdout}\n{stderr[-3000:]}")
    assert script_process.returncode == 0, stderr[-3000:]
    assert expected in stdout
