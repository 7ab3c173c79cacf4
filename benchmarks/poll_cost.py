"""Cost of one steady-state notifier poll against history size, beside naive full-list polling.

    python -m benchmarks.poll_cost [--sizes 100,10000,100000] [--rounds 40] [--polls 25] [--log-bytes 3000]

One emulator process per history size, each with that many finished jobs (logs of --log-bytes) and
5 running ones. jobbot's notifier takes its baseline on each, then the sizes take turns: --rounds
rounds of --polls steady polls each, so that any drift of the machine falls on every size alike. A naive
poller downloads `GET /v1/job` twice per size. Reported per poll: bytes the server sent, CPU of the
polling process (jobbot's own cost) and CPU of the emulator. The last lines are jobbot's
largest/smallest ratios: flat means close to 1.00.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from slack_sdk import WebClient

from benchmarks.common import EmulatorProcess, emulator_process, machine, table
from jobbot.jobs_api import JobClient
from jobbot.models import NOTICE_STATUSES
from jobbot.notifier import Notifier, SlackPoster
from jobbot.store.sqlite import SqliteStore

RUNNING_JOBS = 5


@dataclass
class Tally:
    """Per-turn figures of measured calls; medians over turns keep one noisy moment from deciding."""

    bytes: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)

    def add(self, emulator: EmulatorProcess, calls: int, poll: Callable[[], object]) -> None:
        sent, server, client = emulator.bytes_sent(), emulator.cpu_seconds(), time.process_time()
        for _ in range(calls):
            poll()
        self.client_ms.append((time.process_time() - client) * 1000 / calls)
        self.server_ms.append((emulator.cpu_seconds() - server) * 1000 / calls)
        self.bytes.append((emulator.bytes_sent() - sent) / calls)

    def per_call(self) -> tuple[float, float, float]:
        return median(self.bytes), median(self.client_ms), median(self.server_ms)


def notifier_for(jobs: JobClient, store: SqliteStore) -> Notifier:
    # No job finishes during the run, so nothing is posted: Slack is never called.
    poster = SlackPoster(WebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/"))
    return Notifier(
        jobs,
        store,
        poster,
        clock=lambda: datetime.now(UTC),
        default_channel="C0BENCH",
        default_statuses=NOTICE_STATUSES,
        poll_interval=10,
        reconcile_interval=86_400,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,10000,100000", help="history sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=40, help="turns each size takes")
    parser.add_argument("--polls", type=int, default=25, help="steady polls per turn")
    parser.add_argument("--naive-polls", type=int, default=2, help="full-list polls per size")
    parser.add_argument("--log-bytes", type=int, default=3000, help="log size of each history job")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        setups = {}
        for size in sizes:
            emulator = stack.enter_context(
                emulator_process("--history", str(size), "--log-bytes", str(args.log_bytes))
            )
            for _ in range(RUNNING_JOBS):
                emulator.control("POST", "jobs", {"status": "RUNNING"})
            jobs = stack.enter_context(JobClient(emulator.url, timeout=600))
            store = SqliteStore(str(Path(tmp) / f"bench-{size}.db"))
            stack.callback(store.close)
            notifier = notifier_for(jobs, store)
            notifier.poll_once()  # the baseline reads the whole list once
            notifier.poll_once()  # the first poll of a process reconciles; steady polls follow
            setups[size] = (emulator, jobs, notifier)
        steady = {size: Tally() for size in sizes}
        for _ in range(args.rounds):
            for size, (emulator, _, notifier) in setups.items():
                steady[size].add(emulator, args.polls, notifier.poll_once)
        naive = {size: Tally() for size in sizes}
        for size, (emulator, jobs, _) in setups.items():
            naive[size].add(emulator, args.naive_polls, jobs.list_jobs)

    print(f"Poll cost per poll ({machine()}; {RUNNING_JOBS} running jobs, logs of {args.log_bytes} bytes)\n")
    rows = []
    for size in sizes:
        b, c, s = steady[size].per_call()
        nb, nc, ns = naive[size].per_call()
        rows.append(
            [
                f"{size:,}",
                f"{b:,.0f}",
                f"{c:.2f}",
                f"{s:.2f}",
                f"{nb:,.0f}",
                f"{nc:,.1f}",
                f"{ns:,.1f}",
                f"{nb / b:,.0f}x",
            ]
        )
    headers = [
        "history jobs",
        "jobbot bytes",
        "jobbot CPU ms",
        "emulator CPU ms",
        "naive bytes",
        "naive CPU ms",
        "emulator CPU ms (naive)",
        "naive/jobbot bytes",
    ]
    print(table(headers, rows))
    small, large = steady[sizes[0]], steady[sizes[-1]]
    # Each turn measured every size back to back: the ratio within a turn cancels drift of the machine.
    cpu_ratios = sorted(b / a for a, b in zip(small.client_ms, large.client_ms, strict=True))
    naive_small, naive_large = naive[sizes[0]].per_call(), naive[sizes[-1]].per_call()
    print(
        f"\n{sizes[-1]:,} vs {sizes[0]:,} history jobs (target for jobbot: within 10%, x0.90-x1.10):\n"
        f"  jobbot: bytes x{median(large.bytes) / median(small.bytes):.2f}, CPU x{median(cpu_ratios):.2f} "
        f"(median of {len(cpu_ratios)} turns; middle half x{cpu_ratios[len(cpu_ratios) // 4]:.2f}"
        f"-x{cpu_ratios[(3 * len(cpu_ratios)) // 4]:.2f}; "
        f"emulator CPU x{median(large.server_ms) / max(median(small.server_ms), 1e-9):.2f})\n"
        f"  naive:  bytes x{naive_large[0] / naive_small[0]:,.0f}, "
        f"CPU x{naive_large[1] / max(naive_small[1], 1e-9):,.0f}"
    )


if __name__ == "__main__":
    main()
