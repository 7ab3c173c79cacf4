"""Helpers shared by the benchmark scripts: an emulator in its own process, CPU readings, tables."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx


class EmulatorProcess:
    """`python -m jobbot.emulator` in a child process, so its CPU is not counted as the client's."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jobbot.emulator", "--port", "0", *args],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert self.process.stdout is not None
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the emulator did not start")
            self.url = line.split()[-1]
        except BaseException:
            # An emulator left running would hold the caller's stderr open after this script exits.
            self._stop()
            raise
        self._http = httpx.Client(base_url=self.url, timeout=600)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, "/_emulator/" + path, json=body)
        response.raise_for_status()
        return response.json()

    def bytes_sent(self) -> int:
        return int(self.control("GET", "stats")["bytes"])

    def cpu_seconds(self) -> float:
        """User + system CPU the emulator process has used so far (from /proc)."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self._http.close()
        self._stop()

    def _stop(self) -> None:
        """Terminate the emulator, killing it if it lingers: it must never outlive the script."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


@contextmanager
def emulator_process(*args: str) -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess(*args)
    try:
        yield emulator
    finally:
        emulator.close()


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, so figures can be pasted into the README as printed."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]
