"""The job-list reader on its own: the fast path beside the json module, for logs that try to fool it.

    python -m benchmarks.listing_reader [--jobs 10000] [--log-bytes 3000] [--repeats 5]

No network: each body is built in memory and fed to `JobListing` in 64 KiB chunks, as a socket gives
it. "json" is what the reader falls back to for bodies it cannot vouch for: `json.loads` of the
whole body, then each entry validated as a `Job`. Log styles:
- plain: loader lines, as the server's logs are;
- braces: every line holds `[{\"a\": 1},{\"b\": 2}]` and a Windows path, so `},{` and backslashes
  before quotes are everywhere inside strings;
- ends-in-braces: every log ends in `},{`, so the quick cut lands inside a string once per run.
Each style is run compact (how servers send JSON) and with Python's default spacing. Figures are the
best of --repeats; peak is tracemalloc's, in a separate pass.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks.common import machine, table
from jobbot.job_listing import JobListing
from jobbot.models import Job

CHUNK = 64 * 1024
LINES = {
    "plain": "I1017 22:45:14.004163 1036746 bulk_loader.cc:109] Loading graph 1, parallelism: 4\n",
    "braces": 'I1017 22:45:14 config: [{"label": "person"},{"label": "knows"}] from C:\\data\\\n',
    "ends-in-braces": 'I1017 22:45:14 config: [{"label": "person"},{',
}
SPACINGS = {"compact": (",", ":"), "spaced": (", ", ": ")}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--log-bytes", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rows = []
    for style, line in LINES.items():
        for spacing, separators in SPACINGS.items():
            body = listing_body(args.jobs, line, args.log_bytes, separators)
            reader = measure(partial(read, body), args.repeats)
            exact = measure(partial(by_json, body), args.repeats)
            assert reader["result"] == exact["result"], f"{style}/{spacing}: the two paths disagree"
            rows.append(
                [
                    style,
                    spacing,
                    f"{len(body) / 2**20:,.1f}",
                    f"{reader['seconds'] * 1000:,.0f}",
                    f"{reader['peak'] / 2**20:,.1f}",
                    f"{exact['seconds'] * 1000:,.0f}",
                    f"{exact['peak'] / 2**20:,.1f}",
                    f"x{exact['seconds'] / reader['seconds']:.1f}",
                    f"x{exact['peak'] / reader['peak']:.1f}",
                ]
            )
    print(
        f"Reading a job list of {args.jobs:,} jobs ({machine()}; logs of ~{args.log_bytes:,} bytes; "
        f"best of {args.repeats})\n"
    )
    print(
        table(
            [
                "logs",
                "JSON",
                "body MiB",
                "reader ms",
                "reader peak MiB",
                "json ms",
                "json peak MiB",
                "json/reader time",
                "json/reader peak",
            ],
            rows,
        )
    )


def listing_body(jobs: int, line: str, log_bytes: int, separators: tuple[str, str]) -> bytes:
    log = line * max(1, log_bytes // len(line))
    entries = [
        {
            "id": str(n),
            "status": "SUCCESS",
            "start_time": 1_718_000_000_123 + n,
            "end_time": 1_718_000_065_432 + n,
            "log": log,
            "detail": {"graph_id": "2", "process_id": 4242},
            "type": "BULK_LOADING",
        }
        for n in range(1, jobs + 1)
    ]
    return json.dumps(entries, separators=separators).encode()


def read(body: bytes) -> list[Job]:
    listing = JobListing()
    for start in range(0, len(body), CHUNK):
        listing.feed(body[start : start + CHUNK])
    return listing.finish()


def by_json(body: bytes) -> list[Job]:
    return [Job.model_validate(entry) for entry in json.loads(body)]


def measure(call: Callable[[], list[Job]], repeats: int) -> dict[str, Any]:
    best = float("inf")
    result: list[Job] = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    del result
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"seconds": best, "peak": peak, "result": result}


if __name__ == "__main__":
    main()
