"""Notice latency: from a job's end_time to its notice arriving at (a fake) Slack.

    python -m benchmarks.notice_latency [--jobs 200] [--spread 30] [--interval 1]

The real `jobbot` process runs against the emulator (its own process) and a fake Slack Web API in this
process. --jobs running jobs end at random moments over --spread seconds; each notice or digest names
its jobs in its metadata, so every job's latency is the arrival time minus the job's end_time.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time

from benchmarks._bot_process import bot_env
from benchmarks.common import emulator_process, machine, percentile, table
from tests.fakes import FakeSlack
from tests.support import free_port, start_jobbot

CHANNEL = "C0BENCH"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--spread", type=float, default=30.0, help="seconds over which the jobs end")
    parser.add_argument("--interval", type=float, default=1.0, help="JOBBOT_POLL_INTERVAL")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    slack = FakeSlack().start()
    with emulator_process() as emulator, tempfile.TemporaryDirectory() as workdir:
        ids = [
            str(emulator.control("POST", "jobs", {"status": "RUNNING"})["job_id"]) for _ in range(args.jobs)
        ]
        env = bot_env(
            slack_api_url=slack.api_url,
            endpoint=emulator.url,
            port=free_port(),
            JOBBOT_NOTIFY_CHANNEL=CHANNEL,
            JOBBOT_POLL_INTERVAL=str(args.interval),
        )
        bot = start_jobbot(env, workdir)
        try:
            # Let the first poll take its baseline before any job ends.
            slack.wait_for(lambda: bool(slack.calls_to("auth.test")), timeout=30)
            time.sleep(args.interval * 2 + 1)
            ends = sorted((rng.uniform(0, args.spread), job_id) for job_id in ids)
            started = time.monotonic()

            def finish_on_schedule() -> None:
                for at, job_id in ends:
                    time.sleep(max(0.0, started + at - time.monotonic()))
                    emulator.control(
                        "POST", f"jobs/{job_id}/finish", {"status": rng.choice(["SUCCESS", "FAILED"])}
                    )

            finisher = threading.Thread(target=finish_on_schedule)
            finisher.start()
            finisher.join()
            slack.wait_for(lambda: len(arrivals(slack)) >= len(ids), timeout=args.interval * 5 + 30)
        finally:
            bot.terminate()
            bot.wait(timeout=30)
        arrived = arrivals(slack)
        ended = {job_id: emulator.control("GET", f"jobs/{job_id}")["end_time_ms"] / 1000 for job_id in ids}
    slack.stop()
    latencies = [arrived[job_id] - ended[job_id] for job_id in ids]
    messages = len([m for m in slack.messages(CHANNEL) if m.metadata and not m.thread_ts])
    print(
        f"Notice latency ({machine()}; {args.jobs} jobs ending over {args.spread:g} s; poll interval "
        f"{args.interval:g} s)\n"
    )
    print(
        table(
            ["jobs", "messages (notices + digests)", "p50 s", "p99 s", "max s", "target p99 s"],
            [
                [
                    len(latencies),
                    messages,
                    f"{percentile(latencies, 50):.2f}",
                    f"{percentile(latencies, 99):.2f}",
                    f"{max(latencies):.2f}",
                    f"< {args.interval + 0.5:g}",
                ]
            ],
        )
    )


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
