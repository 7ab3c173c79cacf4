"""Ack latency of `/jobs list` under load while the Interactive server is slow, beside bolt baselines.

    python -m benchmarks.ack_latency [--full] [--requests N] [--concurrency 20,50] [--delay 2] [--rounds N]

By default it takes about a minute and a half on 2 cores: 60 requests per round, 3 rounds, and the
textbook baseline (which answers about 3 requests a second) sent two requests per client, at most
--requests. --full is the README's run (200 requests per round, 5 rounds, textbook sent all 200: about
7 minutes). A line of progress goes to stderr as each step ends; the figures go to stdout.

The emulator (its own process) delays every admin API answer by --delay seconds. For each concurrency,
a fresh `jobbot` process in HTTP mode (JOBBOT_NOTIFIER=off) gets --requests signed `/jobs list` slash
commands over loopback HTTP from that many client threads (each on its own keep-alive connection,
opened beforehand), each request with its own response_url on a fake Slack in this process. Ack latency
is the client's time from sending a request to its HTTP answer (200 means acknowledged; Slack gives up
after 3 s). Results are the messages that reached their response_url within --wait seconds after the
last ack. This repeats --rounds times per process, each round after the previous one's results; p99 is
the median of the rounds' p99s, so one noisy moment on a shared machine does not decide it. Bot CPU is
the bot process's CPU while a round was being sent, per request; "waitress max queue" is the deepest
queue of requests waiting for one of waitress's threads, as waitress logs it.

Two baselines, from benchmarks/_textbook_bot.py on the same waitress server (8 threads): `floor`, a
bolt app whose listener only acks (the least any bolt app can do), and `textbook`, whose listener
calls the API first and acks after (one round: it needs minutes). Twice as many requests as clients are
enough to measure it: from its second request on, each client waits behind a full queue.
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import IO
from urllib.parse import urlsplit

from benchmarks._bot_process import (
    SIGNING_SECRET,
    answers_200,
    bot_env,
    proc_cpu_seconds,
    stop,
)
from benchmarks.common import EmulatorProcess, emulator_process, machine, percentile, table
from tests.fakes import FakeSlack, sign
from tests.slack_requests import command_body
from tests.support import free_port, start_jobbot, wait_until

ROOT = Path(__file__).resolve().parent.parent
SLACK_ACK_LIMIT = 3.0
TARGET_P99_MS = 100.0
HISTORY_JOBS = 30
# waitress logs this when a request waits for a free thread.
QUEUE_DEPTH = re.compile(r"Task queue depth is (\d+)")
BOTS = ("jobbot", "floor", "textbook")
# (requests per round, rounds) by default and with --full.
QUICK = (60, 3)
FULL = (200, 5)
STARTED = time.monotonic()


def progress(line: str) -> None:
    """One line on stderr as each step ends, so a long run shows where it is."""
    print(f"[{time.monotonic() - STARTED:5.0f} s] {line}", file=sys.stderr, flush=True)


@dataclass
class Level:
    """What one bot did at one concurrency, over its rounds."""

    bot: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    round_p99s: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    delivered: int | None = 0
    queue_depth: int = 0

    @property
    def acked(self) -> int:
        return sum(
            1
            for status, latency in zip(self.statuses, self.latencies, strict=True)
            if status == "200" and latency < SLACK_ACK_LIMIT
        )

    @property
    def p99_ms(self) -> float:
        return median(self.round_p99s) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--full", action="store_true", help="the long run: 200 requests per round, 5 rounds, textbook all 200"
    )
    parser.add_argument("--requests", type=int, help="slash commands per round (default 60; --full 200)")
    parser.add_argument("--concurrency", default="20,50", help="comma-separated client thread counts")
    parser.add_argument("--delay", type=float, default=2.0, help="seconds the emulator waits per answer")
    parser.add_argument(
        "--rounds", type=int, help="rounds per level, textbook always 1 (default 3; --full 5)"
    )
    parser.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait for a round's results after its last ack"
    )
    parser.add_argument("--bots", default=",".join(BOTS), help=f"which of {', '.join(BOTS)} to measure")
    args = parser.parse_args()
    requests, rounds = FULL if args.full else QUICK
    args.requests = args.requests or requests
    args.rounds = args.rounds or rounds
    levels = [int(c) for c in args.concurrency.split(",")]
    bots = [bot for bot in args.bots.split(",") if bot]
    if unknown := set(bots) - set(BOTS):
        parser.error(f"unknown bots: {', '.join(sorted(unknown))}")
    load = os.getloadavg()[0]
    slack = FakeSlack().start()
    results: list[Level] = []
    try:
        with emulator_process("--delay", str(args.delay)) as emulator:
            # The control API is never delayed; the jobs give `/jobs list` a real page to render.
            emulator.control("POST", "history", {"count": HISTORY_JOBS, "log_bytes": 3000})
            progress(
                f"emulator up, every answer delayed {args.delay:g} s, {HISTORY_JOBS} jobs in its history"
            )
            for bot in bots:
                for concurrency in levels:
                    results.append(run_level(bot, concurrency, args, slack, emulator))
    finally:
        slack.stop()
    progress("done")
    print_report(results, args, load)


def requests_per_round(bot: str, concurrency: int, *, requests: int, full: bool) -> int:
    """The textbook bot answers about 3 requests a second whatever the load, so by default it is sent
    two requests per client (the second waits behind a full queue), not minutes of them."""
    if bot == "textbook" and not full:
        return min(requests, 2 * concurrency)
    return requests


def run_level(
    bot: str, concurrency: int, args: argparse.Namespace, slack: FakeSlack, emulator: EmulatorProcess
) -> Level:
    """Start a fresh `bot` process, send the load round after round, collect acks and results, stop it."""
    level = Level(bot, concurrency, delivered=None if bot == "floor" else 0)
    rounds = 1 if bot == "textbook" else args.rounds
    requests = requests_per_round(bot, concurrency, requests=args.requests, full=args.full)
    name = f"{bot} at concurrency {concurrency}"
    with tempfile.TemporaryDirectory() as workdir:
        errors = Path(workdir, "stderr.txt")
        with errors.open("wb") as stderr:
            process, url = start_bot(bot, slack, emulator, workdir, stderr)
            progress(f"{name}: started")
            try:
                # One request first, so that lazy imports are not measured.
                warmup = f"{bot}-c{concurrency}-warmup"
                send_all(url, [slack.response_url(warmup)], 1, timeout=args.delay + 30)
                if level.delivered is not None:
                    slack.wait_for(lambda: bool(slack.responses(warmup)), timeout=args.delay * 3 + 10)
                for round_number in range(rounds):
                    prefix = f"{bot}-c{concurrency}-{round_number}-r"
                    response_urls = [slack.response_url(f"{prefix}{i}") for i in range(requests)]
                    cpu = proc_cpu_seconds(process.pid)
                    outcomes, elapsed = send_all(
                        url, response_urls, concurrency, timeout=requests * (args.delay + 3) + 30
                    )
                    level.cpu_seconds += proc_cpu_seconds(process.pid) - cpu
                    latencies = [latency for latency, _ in outcomes]
                    level.latencies += latencies
                    level.statuses += [status for _, status in outcomes]
                    level.round_p99s.append(percentile(latencies, 99))
                    level.rates.append(requests / elapsed)
                    step = (
                        f"{name}: round {round_number + 1}/{rounds}, {requests} requests answered in "
                        f"{elapsed:.1f} s, ack p99 {level.round_p99s[-1] * 1000:,.1f} ms"
                    )
                    if level.delivered is not None:
                        waited = time.monotonic()
                        delivered = wait_for_results(slack, "/response_url/" + prefix, requests, args.wait)
                        level.delivered += delivered
                        step += f", {delivered}/{requests} results {time.monotonic() - waited:.1f} s later"
                    progress(step)
            except BaseException:
                stop(process)
                tail = errors.read_text(errors="replace")[-3000:]
                print(f"{bot} stderr, last lines:\n{tail}", file=sys.stderr)
                raise
            stop(process)
        depths = [int(depth) for depth in QUEUE_DEPTH.findall(errors.read_text(errors="replace"))]
        level.queue_depth = max(depths, default=0)
    return level


def send_all(
    url: str, response_urls: list[str], concurrency: int, *, timeout: float
) -> tuple[list[tuple[float, str]], float]:
    """Send one signed `/jobs list` per response_url from `concurrency` threads, each on its own
    keep-alive connection opened beforehand; returns (seconds to answer, status) per request and the
    wall time of the whole load."""
    address = urlsplit(url)
    host, port = address.hostname, address.port
    assert host is not None, url
    bodies = [command_body("list", response_url=response_url) for response_url in response_urls]
    outcomes: list[tuple[float, str]] = [(float("nan"), "not sent")] * len(bodies)
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(bodies)):
        todo.put(index)
    start = threading.Barrier(concurrency + 1)

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.connect()
            start.wait()
            while True:
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                outcomes[index] = send(connection, address.path, bodies[index])
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return outcomes, time.perf_counter() - started


def send(connection: http.client.HTTPConnection, path: str, body: str) -> tuple[float, str]:
    """One signed slash command; (seconds to the HTTP answer, status code or error name)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(SIGNING_SECRET, body)}
    started = time.perf_counter()
    try:
        connection.request("POST", path, body=body.encode(), headers=headers)
        response = connection.getresponse()
        response.read()
        status = str(response.status)
    except (OSError, http.client.HTTPException) as exc:
        status = type(exc).__name__
        connection.close()
    return time.perf_counter() - started, status


def start_bot(
    bot: str, slack: FakeSlack, emulator: EmulatorProcess, workdir: str, stderr: IO[bytes]
) -> tuple[subprocess.Popen[bytes], str]:
    """The bot's process, once it answers, and its Slack request URL."""
    if bot == "jobbot":
        port = free_port()
        env = bot_env(slack_api_url=slack.api_url, endpoint=emulator.url, port=port, JOBBOT_NOTIFIER="off")
        process = start_jobbot(env, workdir, stderr=stderr)
        base = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: answers_200(base + "/healthz"), timeout=60, interval=0.05, process=process, what="healthz"
        )
        return process, base + "/slack/events"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks._textbook_bot",
            "--endpoint",
            emulator.url,
            "--slack-api-url",
            slack.api_url,
            "--signing-secret",
            SIGNING_SECRET,
            *(["--ack-only"] if bot == "floor" else []),
        ],
        stdout=subprocess.PIPE,
        stderr=stderr,
        cwd=ROOT,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    if not line.startswith("listening on "):
        stop(process)
        raise RuntimeError(f"the {bot} bot did not start")
    return process, f"http://127.0.0.1:{int(line.split()[-1])}/slack/events"


def wait_for_results(slack: FakeSlack, path_prefix: str, expected: int, timeout: float) -> int:
    """How many of the level's response_urls got a message, waiting up to `timeout` for all of them."""

    def count() -> int:
        return len({call.path for call in slack.calls_to(path_prefix)})

    deadline = time.monotonic() + timeout
    while count() < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return count()


def print_report(results: list[Level], args: argparse.Namespace, load: float) -> None:
    print(
        f"Ack latency of `/jobs list` ({machine()}; load average {load:.1f} at start; {args.requests} "
        f"requests per round, {args.rounds} rounds (textbook: 1 round"
        f"{'' if args.full else ', at most 2 requests per client'}); every Interactive answer "
        f"delayed {args.delay:g} s)\n"
    )
    rows = []
    for level in results:
        sent = len(level.latencies)
        rows.append(
            [
                level.bot,
                level.concurrency,
                f"{percentile(level.latencies, 50) * 1000:,.1f}",
                f"{level.p99_ms:,.1f}",
                f"{max(level.latencies) * 1000:,.1f}",
                f"{median(level.rates):,.0f}",
                f"{level.cpu_seconds / sent * 1000:.1f}",
                level.queue_depth,
                f"{level.acked}/{sent}",
                "n/a" if level.delivered is None else f"{level.delivered}/{sent}",
            ]
        )
    print(
        table(
            [
                "bot",
                "concurrency",
                "ack p50 ms",
                "ack p99 ms",
                "ack max ms",
                "requests/s",
                "bot CPU ms/request",
                "waitress max queue",
                "HTTP 200 within 3 s",
                "results via response_url",
            ],
            rows,
        )
    )
    by_bot: dict[str, dict[int, Level]] = {}
    for level in results:
        by_bot.setdefault(level.bot, {})[level.concurrency] = level
    print()
    for concurrency, level in by_bot.get("jobbot", {}).items():
        delivered = level.delivered == len(level.latencies)
        verdict = "met" if level.p99_ms < TARGET_P99_MS and delivered else "MISSED"
        line = (
            f"concurrency {concurrency}: jobbot p99 {level.p99_ms:,.1f} ms (rounds "
            f"{min(level.round_p99s) * 1000:,.0f}-{max(level.round_p99s) * 1000:,.0f}); target p99 < "
            f"{TARGET_P99_MS:g} ms with every result delivered: {verdict}"
        )
        for baseline in ("floor", "textbook"):
            other = by_bot.get(baseline, {}).get(concurrency)
            if other is not None:
                line += f"; {baseline}/jobbot p99 x{other.p99_ms / level.p99_ms:,.2f}"
        print(line)


if __name__ == "__main__":
    main()
