"""Listing every job: jobbot's JobClient beside the official SDK (gs-interactive 0.3), and how each fails.

    python -m benchmarks.client_vs_sdk [--jobs 10000] [--log-bytes 3000] [--repeats 5] [--sdk-python PATH]

The emulator (its own process) holds --jobs finished jobs with loader logs of about --log-bytes each.
Each measurement is a fresh process (benchmarks/_list_worker.py), the two clients taking turns,
--repeats times: wall and CPU time of its first `list_jobs()`; peak RSS during that call (VmHWM from
/proc/self/status, reset through /proc/self/clear_refs just before it) and its rise over the RSS before
it; the wall time of a second call (a running bot's steady state); and, in separate runs, tracemalloc's
peak and what stays allocated after the call.
Figures are medians. A second table shows what each client returns or raises for a job whose status is
UNKNOWN and for HTTP 500 answers.

gs-interactive 0.3 pins pydantic<=2.8.2 and urllib3<2.1, so keep it out of jobbot's venv: give it one
of its own, outside the work tree, and pass its Python:

    python3 -m venv ../sdk-venv && ../sdk-venv/bin/pip install -q '.[bench]'
    .venv/bin/python -m benchmarks.client_vs_sdk --sdk-python ../sdk-venv/bin/python

Without it only jobbot is measured, and the SDK's column is left out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

import httpx

from benchmarks.common import EmulatorProcess, emulator_process, machine, table

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = {"jobbot": "jobbot JobClient.list_jobs()", "sdk": "SDK Session.list_jobs()"}
WORKER_TIMEOUT = 600


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--log-bytes", type=int, default=3000, help="approximate log size of each job")
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per client and measurement")
    parser.add_argument(
        "--sdk-python",
        default=sys.executable,
        help="a Python whose environment has gs-interactive (default: this one)",
    )
    args = parser.parse_args()
    sdk_version = installed_sdk(args.sdk_python)
    clients = ["jobbot"] + (["sdk"] if sdk_version else [])
    pythons = {"jobbot": sys.executable, "sdk": args.sdk_python}

    samples: dict[str, list[dict[str, Any]]] = {client: [] for client in clients}
    with emulator_process() as emulator:
        emulator.control("POST", "history", {"count": args.jobs, "log_bytes": args.log_bytes})
        # The emulator builds its listing once; do that before anything is timed.
        body_bytes = len(httpx.get(emulator.url + "/v1/job", timeout=WORKER_TIMEOUT).content)
        for _ in range(args.repeats):
            for client in clients:
                timed = run_worker(pythons[client], client, emulator.url, "time")
                traced = run_worker(pythons[client], client, emulator.url, "trace")
                samples[client].append(timed | traced)

    with emulator_process() as emulator:
        outcomes = failure_outcomes(emulator, clients, pythons)

    print(
        f"Listing {args.jobs:,} jobs ({machine()}; logs of ~{args.log_bytes:,} bytes, GET /v1/job body "
        f"{body_bytes / 2**20:,.1f} MiB; medians of {args.repeats} fresh processes; "
        f"SDK: {f'gs-interactive {sdk_version}' if sdk_version else 'not installed'})\n"
    )
    print(memory_and_time_table(clients, samples))
    print()
    if sdk_version:
        jobbot, sdk = (summary(samples[client]) for client in ("jobbot", "sdk"))
        speed = sdk["wall_s"] / jobbot["wall_s"]
        memory = sdk["rise_mib"] / jobbot["rise_mib"]
        print(
            f"SDK/jobbot: wall time x{speed:.2f} "
            f"(2nd call x{sdk['second_wall_s'] / jobbot['second_wall_s']:.2f}), "
            f"CPU x{sdk['cpu_s'] / jobbot['cpu_s']:.2f}, "
            f"peak RSS rise x{memory:.2f}, peak RSS x{sdk['peak_rss_mib'] / jobbot['peak_rss_mib']:.2f}, "
            f"tracemalloc peak x{sdk['traced_peak_mib'] / jobbot['traced_peak_mib']:.2f}"
        )
        print(
            f"targets: jobbot at least x2 faster ({'met' if speed >= 2 else 'MISSED'}), at most half the "
            f"memory by peak RSS rise ({'met' if memory >= 2 else 'MISSED'})"
        )
    else:
        print(
            f"gs-interactive is not importable by {args.sdk_python}: only jobbot was measured "
            "(see --help to install the SDK)."
        )
    print()
    print(
        table(
            ["server does", *(CLIENTS[client] for client in clients)],
            [[case, *(outcome[client] for client in clients)] for case, outcome in outcomes],
        )
    )


def installed_sdk(python: str) -> str | None:
    """The gs-interactive version importable by `python`, or None."""
    probe = subprocess.run(
        [
            python,
            "-c",
            "import gs_interactive, importlib.metadata as m; print(m.version('gs-interactive'))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def run_worker(python: str, client: str, endpoint: str, mode: str) -> dict[str, Any]:
    done = subprocess.run(
        [python, "-m", "benchmarks._list_worker", client, endpoint, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{client} {mode} worker failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = [
        "wall_s",
        "second_wall_s",
        "cpu_s",
        "rss_before_mib",
        "peak_rss_mib",
        "traced_peak_mib",
        "traced_retained_mib",
    ]
    medians = {key: median(run[key] for run in runs) for key in keys}
    medians["rise_mib"] = median(run["peak_rss_mib"] - run["rss_before_mib"] for run in runs)
    return medians


def memory_and_time_table(clients: list[str], samples: dict[str, list[dict[str, Any]]]) -> str:
    rows = []
    for client in clients:
        runs = samples[client]
        listed = {run["jobs"] for run in runs}
        figures = summary(runs)
        rows.append(
            [
                CLIENTS[client],
                ", ".join(f"{n:,}" if n is not None else "error" for n in sorted(listed, key=str)),
                f"{figures['wall_s']:.3f}",
                f"{figures['second_wall_s']:.3f}",
                f"{figures['cpu_s']:.3f}",
                f"{figures['rss_before_mib']:.1f}",
                f"{figures['peak_rss_mib']:.1f}",
                f"{figures['rise_mib']:.1f}",
                f"{figures['traced_peak_mib']:.1f}",
                f"{figures['traced_retained_mib']:.1f}",
            ]
        )
    return table(
        [
            "client",
            "jobs listed",
            "wall s",
            "2nd call wall s",
            "CPU s",
            "RSS before MiB",
            "peak RSS MiB",
            "peak RSS rise MiB",
            "tracemalloc peak MiB",
            "kept after call MiB",
        ],
        rows,
    )


def failure_outcomes(
    emulator: EmulatorProcess, clients: list[str], pythons: dict[str, str]
) -> list[tuple[str, dict[str, str]]]:
    """(case, {client: what list_jobs() gave}) on a small emulator, each case set up afresh per client."""
    emulator.control("POST", "history", {"count": 3, "log_bytes": 500})

    def fail(times: int) -> Callable[[], None]:
        return lambda: emulator.control("POST", "faults", {"clear": True, "fail_next": times, "status": 500})

    def unknown() -> None:
        emulator.control("POST", "faults", {"clear": True})
        emulator.control("POST", "jobs/3/status", {"status": "UNKNOWN"})

    cases: list[tuple[str, Callable[[], None]]] = [
        ("HTTP 500 once (`fail_next: 1`)", fail(1)),
        ("HTTP 500 three times running (`fail_next: 3`)", fail(3)),
        ("job #3 has status `UNKNOWN`", unknown),
    ]
    outcomes = []
    for case, set_up in cases:
        outcome = {}
        for client in clients:
            set_up()
            before = emulator.control("GET", "stats")["requests"]
            said = run_worker(pythons[client], client, emulator.url, "outcome")["outcome"]
            requests = emulator.control("GET", "stats")["requests"] - before
            outcome[client] = f"{said} [{requests} request{'s' if requests != 1 else ''}]"
        emulator.control("POST", "faults", {"clear": True})
        outcomes.append((case, outcome))
    return outcomes


if __name__ == "__main__":
    main()
