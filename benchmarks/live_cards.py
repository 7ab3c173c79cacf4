"""Live cards: Slack API calls per job, and how soon a job's card shows it started and ended, for bursts.

    python -m benchmarks.live_cards [--jobs 1,50,500] [--interval 2] [--failed 0.1]
        [--statuses SUCCESS,FAILED,CANCELLED]

For each burst size N: a fresh emulator (its own process), the real `jobbot` process with
JOBBOT_NOTIFY_STYLE=live on one channel, and a fake Slack Web API in this process. Once jobbot's first
poll has taken its baseline, N RUNNING jobs start at once; once every job shows on a card, all N end
(a --failed share of them FAILED with a short log, at least one, the rest SUCCESS); the run ends once
every card shows each job's final state and every follow-up is in its card's thread: for a FAILED job
its ending (broadcast to the channel), its last log lines and its full log as a file; for a job whose
status is in --statuses (JOBBOT_NOTIFY_STATUSES), its ending.

Measured against Slack's limits: about one post per second per channel (a file shared in a thread is a
post too) and chat.update at Tier 3, about 50 a minute. A burst must become digest cards of at most 25
jobs, edited as their jobs end, never one post per job. Card delay after start: a job's start_time ->
the first card naming it; after end: its end_time -> the first version of its card whose line for it
reads as the renderer writes the final status (e.g. ":x: FAILED  ·  Job *#42*"). Both include up to one
poll interval (the default 2 s keeps the run short; production polls less often). Follow-ups done
after end: a job's end_time -> the last of its follow-ups arriving (jobs that have any). Duplicates: a job on
two cards, or any message (card or follow-up) or file posted twice; there must be none.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks._bot_process import bot_env, stop
from benchmarks.common import EmulatorProcess, emulator_process, machine, percentile, table
from jobbot.render.cards import SEPARATOR
from jobbot.render.mrkdwn import status_label
from jobbot.render.notices import DIGEST_MAX_JOBS
from tests.fakes import FakeSlack, Posted
from tests.support import free_port, start_jobbot

CHANNEL = "C0BENCH"
# Slack's limits: about one message a second per channel, short bursts tolerated; chat.update is Tier 3,
# about 50 a minute per workspace.
POSTS_PER_MINUTE = 60
UPDATES_PER_MINUTE = 50
FAILED_LOG = "loader: reading edges of person_knows_person\nERROR: edge file not found: knows.csv\n"


@dataclass(frozen=True)
class Burst:
    """What one burst did: when it began (monotonic) and its jobs started (epoch), how long creating them
    took, each job's start, end (epoch s) and final status, and the statuses whose endings broadcast."""

    began: float
    since: float
    created_within: float
    started: dict[str, float]
    ended: dict[str, float]
    final: dict[str, str]
    broadcast: set[str]


@dataclass(frozen=True)
class Figures:
    """One burst's results."""

    jobs: int
    failed: int
    created_within: float
    cards: int
    card_posts: int
    thread_posts: int
    updates: int
    uploads: int
    api_calls: int
    posts_per_60s: int
    posts_per_s_10s: float
    updates_per_60s: int
    after_start: list[float]
    after_end: list[float]
    followups_after_end: list[float]
    duplicates: int
    seconds: float


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", default="1,50,500", help="comma-separated burst sizes")
    parser.add_argument("--interval", type=float, default=2.0, help="JOBBOT_POLL_INTERVAL")
    parser.add_argument("--failed", type=float, default=0.1, help="share of the jobs that end FAILED")
    parser.add_argument(
        "--statuses",
        default="SUCCESS,FAILED,CANCELLED",
        help="JOBBOT_NOTIFY_STATUSES: the endings broadcast from a card (default: jobbot's, all of them)",
    )
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    sizes = [int(size) for size in args.jobs.split(",")]
    rng = random.Random(args.seed)
    results = [run_burst(size, args, rng) for size in sizes]
    print(
        f"Live cards ({machine()}; N RUNNING jobs start at once, then all end, "
        f"{args.failed:.0%} FAILED (at least 1); poll interval {args.interval:g} s; "
        f"endings broadcast for {args.statuses})\n"
    )
    print(
        table(
            [
                "jobs",
                "failed",
                "cards",
                "posts: cards",
                "posts: threads",
                "updates",
                "uploads",
                "API calls / job",
                "max posts / 60 s",
                "max posts / s (10 s)",
                "max updates / 60 s",
                "after start p50/p95/max s",
                "after end p50/p95/max s",
                "follow-ups done after end p50/p95/max s",
                "duplicates",
            ],
            [row(f) for f in results],
        )
    )
    posts_ok = all(f.posts_per_60s <= POSTS_PER_MINUTE for f in results)
    updates_ok = all(f.updates_per_60s <= UPDATES_PER_MINUTE for f in results)
    digests_ok = all(f.cards <= max(1, math.ceil(f.jobs / DIGEST_MAX_JOBS)) or f.jobs <= 3 for f in results)
    duplicates = sum(f.duplicates for f in results)
    print(
        f"\nLimits: posts per channel <= {POSTS_PER_MINUTE} in any 60 s: "
        f"{'held' if posts_ok else 'BROKEN'}; chat.update <= {UPDATES_PER_MINUTE} in any 60 s: "
        f"{'held' if updates_ok else 'BROKEN'}; bursts as digest cards of <= {DIGEST_MAX_JOBS} jobs: "
        f"{'held' if digests_ok else 'BROKEN'}; duplicates: {duplicates}"
    )
    print(
        "posts: chat.postMessage calls (cards, and replies in their threads); uploads: files shared "
        "(each also a post in the thread, counted in the posts per window); API calls: every Web API "
        "call after the jobs started (an upload is two: files.getUploadURLExternal and "
        "files.completeUploadExternal; its bytes go to the upload URL, not counted); creating the "
        f"jobs took at most {max(f.created_within for f in results):.2f} s; "
        f"runs took {', '.join(f'{f.seconds:.0f}' for f in results)} s"
    )


def row(f: Figures) -> list[object]:
    return [
        f.jobs,
        f.failed,
        f.cards,
        f.card_posts,
        f.thread_posts,
        f.updates,
        f.uploads,
        f"{f.api_calls / f.jobs:.2f}",
        f.posts_per_60s,
        f"{f.posts_per_s_10s:.1f}",
        f.updates_per_60s,
        spread(f.after_start),
        spread(f.after_end),
        spread(f.followups_after_end),
        f.duplicates,
    ]


def spread(values: Sequence[float]) -> str:
    return f"{percentile(values, 50):.1f} / {percentile(values, 95):.1f} / {max(values):.1f}"


def run_burst(size: int, args: argparse.Namespace, rng: random.Random) -> Figures:
    """Start `size` jobs at once against a fresh jobbot, end them all, and measure what Slack got."""
    began = time.monotonic()
    slack = FakeSlack().start()
    with emulator_process() as emulator, tempfile.TemporaryDirectory() as workdir:
        # One job ended before jobbot starts: its baseline records it, and each steady poll then asks
        # for the id after it, which tells when jobbot is polling.
        next_id = str(int(emulator.control("POST", "jobs", {"status": "SUCCESS"})["job_id"]) + 1)
        env = bot_env(
            slack_api_url=slack.api_url,
            endpoint=emulator.url,
            port=free_port(),
            JOBBOT_NOTIFY_CHANNEL=CHANNEL,
            JOBBOT_NOTIFY_STYLE="live",
            JOBBOT_NOTIFY_STATUSES=args.statuses,
            JOBBOT_POLL_INTERVAL=str(args.interval),
        )
        bot = start_jobbot(env, workdir)
        try:
            wait_until(lambda: polls(emulator, next_id) >= 1, 60, "jobbot's first steady poll")
            since = time.time()
            ids = [
                str(emulator.control("POST", "jobs", {"status": "RUNNING"})["job_id"]) for _ in range(size)
            ]
            created_within = time.time() - since
            slack.wait_for(lambda: set(ids) <= on_cards(slack), timeout=60 + size * 2)
            failed = set(rng.sample(ids, max(1, math.ceil(size * args.failed))))
            for job_id in ids:
                ending = (
                    {"status": "FAILED", "log": FAILED_LOG} if job_id in failed else {"status": "SUCCESS"}
                )
                emulator.control("POST", f"jobs/{job_id}/finish", ending)
            jobs = {j["id"]: j for j in emulator.control("GET", "jobs") if j["id"] in set(ids)}
            final = {job_id: str(job["status"]) for job_id, job in jobs.items()}
            broadcast = set(args.statuses.split(","))
            slack.wait_for(
                lambda: all_shown(slack, final) and followups_done(slack, final, broadcast),
                timeout=120 + size * 2,
            )
            # A little longer, so that a stray edit or a post made twice is seen too.
            time.sleep(args.interval * 2)
        finally:
            stop(bot)
    slack.stop()
    started = {job_id: job["start_time_ms"] / 1000 for job_id, job in jobs.items()}
    ended = {job_id: job["end_time_ms"] / 1000 for job_id, job in jobs.items()}
    burst = Burst(began, since, created_within, started, ended, final, broadcast)
    return measure(slack, burst)


def measure(slack: FakeSlack, burst: Burst) -> Figures:
    """The figures of one burst, from what the fake Slack received."""
    since, final, started, ended = burst.since, burst.final, burst.started, burst.ended
    calls = [c for c in slack.calls if c.received_at >= since and c.path.startswith("/api/")]
    posts = [c for c in calls if c.method == "chat.postMessage"]
    updates = [c.received_at for c in calls if c.method == "chat.update"]
    channel_posts = [m.received_at for m in slack.messages(CHANNEL)]
    shown_at = first_shown(slack, final)
    return Figures(
        jobs=len(final),
        failed=sum(1 for status in final.values() if status == "FAILED"),
        created_within=burst.created_within,
        cards=len(cards(slack)),
        card_posts=sum(1 for c in posts if not c.body.get("thread_ts")),
        thread_posts=sum(1 for c in posts if c.body.get("thread_ts")),
        updates=len(updates),
        uploads=len(slack.uploads(CHANNEL)),
        api_calls=len(calls),
        posts_per_60s=most_within(channel_posts, 60),
        posts_per_s_10s=most_within(channel_posts, 10) / 10,
        updates_per_60s=most_within(updates, 60),
        after_start=[first_card(slack)[job_id] - started[job_id] for job_id in final],
        after_end=[shown_at[job_id] - ended[job_id] for job_id in final],
        followups_after_end=[
            at - ended[job_id]
            for job_id, at in followups_at(slack, final, burst.broadcast).items()
            if at is not None
        ],
        duplicates=duplicates(slack),
        seconds=time.monotonic() - burst.began,
    )


# --- what the fake Slack holds ----------------------------------------------------------------


def cards(slack: FakeSlack) -> list[Posted]:
    """The cards: jobbot's top-level messages in the channel whose key names a card."""
    return [
        m
        for m in slack.messages(CHANNEL)
        if not m.thread_ts and m.metadata and ":card:" in m.metadata["event_payload"]["key"]
    ]


def card_jobs(version_metadata: dict[str, Any] | None) -> list[str]:
    return list((version_metadata or {}).get("event_payload", {}).get("job_ids", []))


def on_cards(slack: FakeSlack) -> set[str]:
    return {job_id for card in cards(slack) for job_id in card_jobs(card.metadata)}


def first_card(slack: FakeSlack) -> dict[str, float]:
    """When each job first showed on a card (any version of any card naming it)."""
    first: dict[str, float] = {}
    for card in cards(slack):
        for version in card.versions:
            for job_id in card_jobs(version.metadata):
                first[job_id] = min(first.get(job_id, math.inf), version.received_at)
    return first


def shows(blocks: list[dict[str, Any]], job_id: str, status: str) -> bool:
    """Whether a card's blocks give the job the line the renderer writes for it in `status`: its status
    label, then `Job *#ID*` (a card's headline, or a digest's line for the job)."""
    text = "\n".join(
        str(block.get("text", {}).get("text", "")) for block in blocks if block.get("type") == "section"
    )
    return f"{status_label(status)}{SEPARATOR}Job *#{job_id}*" in text


def first_shown(slack: FakeSlack, final: dict[str, str]) -> dict[str, float]:
    """When each job's card first showed its final status."""
    shown: dict[str, float] = {}
    for card in cards(slack):
        for version in card.versions:
            for job_id in card_jobs(version.metadata):
                if job_id in final and job_id not in shown and shows(version.blocks, job_id, final[job_id]):
                    shown[job_id] = version.received_at
    return shown


def all_shown(slack: FakeSlack, final: dict[str, str]) -> bool:
    """Whether the newest version of every card shows each of its jobs' final status."""
    newest = {job_id: card for card in cards(slack) for job_id in card_jobs(card.metadata)}
    return all(job_id in newest and shows(newest[job_id].blocks, job_id, s) for job_id, s in final.items())


def followups_done(slack: FakeSlack, final: dict[str, str], broadcast: set[str]) -> bool:
    return None not in followups_at(slack, final, broadcast).values()


def followups_at(slack: FakeSlack, final: dict[str, str], broadcast: set[str]) -> dict[str, float | None]:
    """For each job with follow-ups, when the last of them arrived in its card's thread (None while one is
    missing): the ending (broadcast) when its status is in `broadcast`, and for a failure its log lines
    and its full log as a file."""
    thread_of = {job_id: card.ts for card in cards(slack) for job_id in card_jobs(card.metadata)}
    arrived: dict[tuple[str | None, str, str], float] = {}
    for m in slack.messages(CHANNEL):
        if not m.thread_ts:
            continue
        # A shared file is a message in the thread, naming the file; the other follow-ups carry keys.
        posts = [(f"file:{f['name']}", "") for f in m.files]
        if m.metadata:
            kind = m.metadata["event_payload"]["key"].split(":")[-3]
            # An ending counts only as a reply broadcast to the channel.
            if kind != "ending" or m.reply_broadcast:
                posts += [(kind, job_id) for job_id in card_jobs(m.metadata)]
        for kind, job_id in posts:
            arrived.setdefault((m.thread_ts, kind, job_id), m.received_at)
    done: dict[str, float | None] = {}
    for job_id, status in final.items():
        thread = thread_of.get(job_id)
        expected = [("ending", job_id)] if status in broadcast else []
        if status == "FAILED":
            expected += [("log", job_id), (f"file:job-{job_id}.log", "")]
        if expected:
            times = [arrived.get((thread, kind, name)) for kind, name in expected]
            done[job_id] = None if None in times else max(t for t in times if t is not None)
    return done


def duplicates(slack: FakeSlack) -> int:
    """Posts made twice: a job on more than one card, a message key (card, ending, log) on more than one
    message, a file shared more than once in one thread."""
    per_job = Counter(job_id for card in cards(slack) for job_id in set(card_jobs(card.metadata)))
    keys = Counter(m.metadata["event_payload"]["key"] for m in slack.messages(CHANNEL) if m.metadata)
    files = Counter((u.thread_ts, u.filename) for u in slack.uploads(CHANNEL))
    return sum(n - 1 for counter in (per_job, keys, files) for n in counter.values() if n > 1)


def most_within(times: Sequence[float], window: float) -> int:
    """The most events in any `window` seconds (a half-open window starting at an event)."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(ordered):
        while at - ordered[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


# --- the emulator -----------------------------------------------------------------------------


def polls(emulator: EmulatorProcess, next_id: str) -> int:
    """Steady polls that reached GraphScope: each asks once for the id after the highest known."""
    return sum(1 for method, path in emulator.control("GET", "requests") if path == f"/v1/job/{next_id}")


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


if __name__ == "__main__":
    main()
