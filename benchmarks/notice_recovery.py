"""Notice recovery: how soon pending notices go out once Slack and GraphScope are well again.

    python -m benchmarks.notice_recovery [--jobs 24] [--interval 10] [--slack-fault 40]
        [--graphscope-down 6] [--retry-after 2]

The real `jobbot` process runs against the emulator (its own process) and a fake Slack Web API in this
process. For --slack-fault seconds Slack answers every chat.postMessage with, in turn, a 429 (with
Retry-After), a 500 and an `ok: false`; in the middle of that GraphScope answers 503 for
--graphscope-down seconds. --jobs running jobs end during the faults. For each job the figure is the time
from the last fault clearing to its notice arriving; the target is the poll interval + 5 s. Also counted:
notices that arrived more than 45 s after their job ended.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time

from benchmarks._bot_process import bot_env, stop
from benchmarks.common import EmulatorProcess, emulator_process, machine, percentile, table
from tests.fakes import FakeSlack, Scripted
from tests.support import free_port, start_jobbot

CHANNEL = "C0BENCH"
# Notices later than this after their job ended are counted (the figure faults used to reach).
LATE_SECONDS = 45.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--interval", type=float, default=10.0, help="JOBBOT_POLL_INTERVAL")
    parser.add_argument("--slack-fault", type=float, default=40.0, help="seconds Slack answers errors")
    parser.add_argument("--graphscope-down", type=float, default=6.0, help="seconds GraphScope answers 503")
    parser.add_argument("--retry-after", type=int, default=2, help="Retry-After of Slack's 429s")
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    slack = FakeSlack().start()
    with emulator_process() as emulator, tempfile.TemporaryDirectory() as workdir:
        ids = [
            str(emulator.control("POST", "jobs", {"status": "RUNNING"})["job_id"]) for _ in range(args.jobs)
        ]
        next_id = str(max(int(i) for i in ids) + 1)
        env = bot_env(
            slack_api_url=slack.api_url,
            endpoint=emulator.url,
            port=free_port(),
            JOBBOT_NOTIFY_CHANNEL=CHANNEL,
            JOBBOT_POLL_INTERVAL=str(args.interval),
        )
        bot = start_jobbot(env, workdir)
        try:
            # The first poll takes the baseline (every job RUNNING) before any fault or end.
            deadline = time.monotonic() + 60
            while polls(emulator, next_id) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            cleared = run_faults(args, rng, slack, emulator, ids)
            slack.wait_for(lambda: len(arrivals(slack)) >= len(ids), timeout=args.interval + 120)
        finally:
            stop(bot)
        ended = {job_id: emulator.control("GET", f"jobs/{job_id}")["end_time_ms"] / 1000 for job_id in ids}
    slack.stop()
    arrived = arrivals(slack)
    recovery = [arrived[job_id] - cleared for job_id in ids]
    late = sum(arrived[job_id] - ended[job_id] > LATE_SECONDS for job_id in ids)
    messages = len([m for m in slack.messages(CHANNEL) if m.metadata and not m.thread_ts])
    target = args.interval + 5
    print(
        f"Notice recovery ({machine()}; {args.jobs} jobs ending during {args.slack_fault:g} s of Slack "
        f"429 (Retry-After {args.retry_after} s) / 500 / ok:false, GraphScope down "
        f"{args.graphscope_down:g} s; poll interval {args.interval:g} s)\n"
    )
    print(
        table(
            [
                "jobs",
                "messages",
                "recovery p50 s",
                "recovery p99 s",
                "recovery max s",
                "target max s",
                "met",
                f"notices > {LATE_SECONDS:g} s after their job ended",
            ],
            [
                [
                    len(recovery),
                    messages,
                    f"{percentile(recovery, 50):.2f}",
                    f"{percentile(recovery, 99):.2f}",
                    f"{max(recovery):.2f}",
                    f"{target:g}",
                    "yes" if max(recovery) <= target else "no",
                    f"{late} of {len(ids)}",
                ]
            ],
        )
    )
    print("\nrecovery: seconds from the last fault clearing to each job's notice arriving")


def run_faults(
    args: argparse.Namespace,
    rng: random.Random,
    slack: FakeSlack,
    emulator: EmulatorProcess,
    ids: list[str],
) -> float:
    """Play the fault script; returns when (time.time()) the last fault cleared."""
    limited = Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(args.retry_after)})
    mix = [limited, Scripted(500), Scripted(200, {"ok": False, "error": "internal_error"})]
    graphscope_from = max(0.0, args.slack_fault / 2 - args.graphscope_down / 2)
    graphscope_until = graphscope_from + args.graphscope_down
    # Jobs end while Slack fails, leaving a little time before it recovers for them to be seen.
    ends = sorted((rng.uniform(0, max(0.1, args.slack_fault - 2)), job_id) for job_id in ids)
    steps: list[tuple[float, str, str]] = [(at, "end", job_id) for at, job_id in ends]
    steps += [(graphscope_from, "graphscope down", ""), (graphscope_until, "graphscope up", "")]
    steps.sort(key=lambda s: s[0])
    slack.outage("chat.postMessage", *mix)
    started = time.monotonic()

    def play() -> None:
        for at, what, job_id in steps:
            time.sleep(max(0.0, started + at - time.monotonic()))
            if what == "end":
                emulator.control(
                    "POST", f"jobs/{job_id}/finish", {"status": rng.choice(["SUCCESS", "FAILED"])}
                )
            elif what == "graphscope down":
                emulator.control("POST", "faults", {"fail_next": 1_000_000, "status": 503})
            else:
                emulator.control("POST", "faults", {"clear": True})

    player = threading.Thread(target=play)
    player.start()
    time.sleep(max(0.0, started + args.slack_fault - time.monotonic()))
    slack.end_outage()
    slack_cleared = time.time()
    player.join()
    # The last fault to clear is Slack's unless GraphScope's outage outlasts it.
    return float(max(slack_cleared, slack_cleared - args.slack_fault + graphscope_until))


def polls(emulator: EmulatorProcess, next_id: str) -> int:
    """Steady polls that reached GraphScope: each asks once for the id after the highest known."""
    return sum(1 for method, path in emulator.control("GET", "requests") if path == f"/v1/job/{next_id}")


def arrivals(slack: FakeSlack) -> dict[str, float]:
    """When each job was first announced in the channel."""
    first: dict[str, float] = {}
    for message in slack.messages(CHANNEL):
        if message.metadata and not message.thread_ts:
            for job_id in message.metadata["event_payload"]["job_ids"]:
                first.setdefault(job_id, message.received_at)
    return first


if __name__ == "__main__":
    main()
