"""Cost of one steady-state notifier poll against history size, beside naive full-list polling, and
against the number of servers one jobbot polls.

    python -m benchmarks.poll_cost [--sizes 100,10000,100000] [--rounds 40] [--polls 25] [--log-bytes 3000]
        [--servers 1,3,10] [--server-history 100,10000] [--server-rounds 60] [--server-polls 5]

One emulator process per history size, each with that many finished jobs (logs of --log-bytes) and
5 running ones. jobbot's notifier takes its baseline on each, then the sizes take turns: --rounds
rounds of --polls steady polls each, so that any drift of the machine falls on every size alike. A naive
poller downloads `GET /v1/job` twice per size. Reported per poll: bytes the server sent, CPU of the
polling process (jobbot's own cost) and CPU of the emulator. The last lines are jobbot's
largest/smallest ratios: flat means close to 1.00.

Then several servers: for each --server-history size, as many emulator processes as the largest
--servers count, each holding that history and 5 running jobs with the same ids (as real deployments
do). Each server count N uses the first N of them, with one shared database and one notifier per server,
built as jobbot's app builds them. The (history, N) setups take turns: --server-rounds rounds, in each of
which every setup polls every one of its servers --server-polls times. Reported per poll of every
server: the bytes all its servers sent and jobbot's CPU, in total and per server (total / N). The last
lines are ratios of the per-server CPU, each taken within a round: most servers vs fewest (close to 1.00
means the total grows linearly with the servers) and largest vs smallest history (flat is close to 1.00).
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
from jobbot.servers import DEFAULT_SERVER, Server, Servers
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


def unused_poster() -> SlackPoster:
    # No job finishes during the run, so nothing is posted: Slack is never called.
    return SlackPoster(WebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/"))


def notifier_for(
    jobs: JobClient,
    store: SqliteStore,
    poster: SlackPoster | None = None,
    *,
    server: str = DEFAULT_SERVER,
    label: str | None = None,
) -> Notifier:
    return Notifier(
        jobs,
        store,
        poster or unused_poster(),
        clock=lambda: datetime.now(UTC),
        default_channel="C0BENCH",
        default_statuses=NOTICE_STATUSES,
        poll_interval=10,
        reconcile_interval=86_400,
        server=server,
        label=label,
    )


@dataclass
class ServersSetup:
    """One jobbot polling `len(notifiers)` servers: one database, one notifier per server, as the app has."""

    emulators: list[EmulatorProcess]
    notifiers: list[Notifier]
    bytes: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)

    def turn(self, polls: int) -> None:
        """Poll every server `polls` times; record the figures of one poll of every server."""
        sent = sum(emulator.bytes_sent() for emulator in self.emulators)
        client = time.process_time()
        for _ in range(polls):
            for notifier in self.notifiers:
                notifier.poll_once()
        self.client_ms.append((time.process_time() - client) * 1000 / polls)
        self.bytes.append((sum(emulator.bytes_sent() for emulator in self.emulators) - sent) / polls)

    def per_server_ms(self) -> list[float]:
        return [ms / len(self.notifiers) for ms in self.client_ms]


def servers_setup(
    stack: ExitStack, emulators: list[EmulatorProcess], clients: list[JobClient], database: str
) -> ServersSetup:
    """Notifiers for the first servers, named s1, s2, ... (a single one is jobbot's unnamed default)."""
    if len(clients) == 1:
        servers = Servers.single(emulators[0].url)
    else:
        named = tuple(Server(f"s{i}", e.url) for i, e in enumerate(emulators[: len(clients)], start=1))
        servers = Servers(named, legacy=named[0].name)
    store = SqliteStore(database)
    stack.callback(store.close)
    store.serve(servers)
    poster = unused_poster()
    notifiers = [
        notifier_for(jobs, store.for_server(name), poster, server=name, label=servers.label(name))
        for jobs, name in zip(clients, servers.names, strict=True)
    ]
    for notifier in notifiers:
        notifier.poll_once()  # the baseline reads the whole list once
        notifier.poll_once()  # the first poll of a process reconciles; steady polls follow
    return ServersSetup(emulators[: len(clients)], notifiers)


def ratio_line(what: str, small: list[float], large: list[float]) -> str:
    """The median of per-round ratios (each round measured both back to back, cancelling drift)."""
    ratios = sorted(b / a for a, b in zip(small, large, strict=True))
    return (
        f"  {what}: x{median(ratios):.2f} (median of {len(ratios)} rounds; middle half "
        f"x{ratios[len(ratios) // 4]:.2f}-x{ratios[(3 * len(ratios)) // 4]:.2f})"
    )


def measure_servers(args: argparse.Namespace) -> None:
    counts = [int(s) for s in args.servers.split(",")]
    histories = [int(s) for s in args.server_history.split(",")]
    setups: dict[tuple[int, int], ServersSetup] = {}
    # The stores close before their directory goes.
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        for history in histories:
            # Each server count polls the first of these, so a size starts max(counts) emulators, not sum.
            emulators = []
            for _ in range(max(counts)):
                emulator = stack.enter_context(
                    emulator_process("--history", str(history), "--log-bytes", str(args.log_bytes))
                )
                for _ in range(RUNNING_JOBS):
                    emulator.control("POST", "jobs", {"status": "RUNNING"})
                emulators.append(emulator)
            for count in counts:
                clients = [stack.enter_context(JobClient(e.url, timeout=600)) for e in emulators[:count]]
                database = str(Path(tmp) / f"bench-{history}-{count}-servers.db")
                setups[history, count] = servers_setup(stack, emulators, clients, database)
        for _ in range(args.server_rounds):
            for setup in setups.values():
                setup.turn(args.server_polls)

    print(
        f"\nPoll cost per poll of every server ({RUNNING_JOBS} running jobs per server, logs of "
        f"{args.log_bytes} bytes; one database; {args.server_rounds} rounds of {args.server_polls} polls)\n"
    )
    rows = []
    for (history, count), setup in setups.items():
        total_bytes, total_ms = median(setup.bytes), median(setup.client_ms)
        rows.append(
            [
                f"{history:,}",
                f"{count}",
                f"{total_bytes:,.0f}",
                f"{total_ms:.2f}",
                f"{total_bytes / count:,.0f}",
                f"{median(setup.per_server_ms()):.2f}",
            ]
        )
    headers = [
        "history jobs",
        "servers",
        "jobbot bytes",
        "jobbot CPU ms",
        "bytes per server",
        "CPU ms per server",
    ]
    print(table(headers, rows))
    fewest, most = counts[0], counts[-1]
    print(
        f"\n{most} vs {fewest} servers, jobbot CPU per server "
        "(target: about x1.00, i.e. total linear in servers):"
    )
    for history in histories:
        small, large = setups[history, fewest], setups[history, most]
        print(ratio_line(f"{history:,} history jobs", small.per_server_ms(), large.per_server_ms()))
    smallest, largest = histories[0], histories[-1]
    print(
        f"{largest:,} vs {smallest:,} history jobs, jobbot CPU per server (target: within 10%, x0.90-x1.10):"
    )
    for count in counts:
        small, large = setups[smallest, count], setups[largest, count]
        noun = "server" if count == 1 else "servers"
        print(ratio_line(f"{count} {noun}", small.per_server_ms(), large.per_server_ms()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,10000,100000", help="history sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=40, help="turns each size takes")
    parser.add_argument("--polls", type=int, default=25, help="steady polls per turn")
    parser.add_argument("--naive-polls", type=int, default=2, help="full-list polls per size")
    parser.add_argument("--log-bytes", type=int, default=3000, help="log size of each history job")
    parser.add_argument("--servers", default="1,3,10", help="server counts, comma-separated, fewest first")
    parser.add_argument(
        "--server-history", default="100,10000", help="history sizes for the servers table, comma-separated"
    )
    parser.add_argument("--server-rounds", type=int, default=60, help="turns each servers setup takes")
    parser.add_argument("--server-polls", type=int, default=5, help="polls of every server per turn")
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
    measure_servers(args)


if __name__ == "__main__":
    main()
