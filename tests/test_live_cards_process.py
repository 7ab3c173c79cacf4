"""Live cards from the real `jobbot` process against the fake Slack: one card per job edited in place to
its final state across SIGKILLs and a leader change, the full log as a file in the card's thread, and a
long-running alert that fires once across restarts."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from functools import partial
from pathlib import Path

import httpx
import pytest

from jobbot.emulator import Emulator
from tests.fakes import FakeSlack, Posted
from tests.jobbot_child import CHANNEL, start_announcing
from tests.support import free_port

# Every test here runs jobbot as a child process.
pytestmark = pytest.mark.slow

LIVE = {"JOBBOT_NOTIFY_STYLE": "live"}
ENDED_WORDS = {"SUCCESS": "succeeded", "FAILED": "failed", "CANCELLED": "cancelled"}


def cards(slack: FakeSlack) -> list[Posted]:
    """jobbot's top-level messages in the live channel: its cards."""
    return [m for m in slack.messages(CHANNEL) if m.metadata and not m.thread_ts]


def jobs_on_cards(slack: FakeSlack) -> Counter[str]:
    counts: Counter[str] = Counter()
    for card in cards(slack):
        assert card.metadata is not None
        counts.update(card.metadata["event_payload"]["job_ids"])
    return counts


def shows_end(card: Posted, job_id: str, status: str) -> bool:
    """Whether the card, as Slack shows it now, gives the job its final status."""
    assert card.metadata is not None
    if card.metadata["event_payload"]["job_ids"] == [job_id]:
        return ENDED_WORDS[status] in card.text
    return f"{status}  ·  Job *#{job_id}*" in str(card.blocks)  # a digest card's line for the job


def all_shown(slack: FakeSlack, ended: dict[str, str]) -> bool:
    by_job = {job: card for card in cards(slack) for job in (card.metadata or {})["event_payload"]["job_ids"]}
    return all(job in by_job and shows_end(by_job[job], job, status) for job, status in ended.items())


def posted_more_than(slack: FakeSlack, seen: int) -> bool:
    return len(slack.calls_to("chat.postMessage")) > seen


def wait_until_polling(emulator: Emulator, timeout: float = 20.0) -> None:
    seen = len(emulator.requests)
    assert emulator.wait_until(lambda: len(emulator.requests) > seen + 1, timeout=timeout), (
        "jobbot never polled"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)


def test_sigkills_between_post_and_record_leave_one_card_per_job_edited_to_its_end(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator
) -> None:
    """Jobs start in waves; after each, jobbot is SIGKILLed while Slack holds an accepted card post
    unanswered. After restarts and the jobs' ends, each job is on exactly one card, which shows its end."""
    fake_slack.delays["chat.postMessage"] = 0.3
    port = free_port()
    process = start_announcing(fake_slack, emulator, tmp_path, port, **LIVE)
    jobs: list[str] = []
    try:
        wait_until_polling(emulator)
        for _ in range(3):
            posts = len(fake_slack.calls_to("chat.postMessage"))
            jobs += [emulator.add_job(status="RUNNING") for _ in range(2)]
            fake_slack.wait_for(partial(posted_more_than, fake_slack, posts), 20)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            process = start_announcing(fake_slack, emulator, tmp_path, port, **LIVE)
            wait_until_polling(emulator)
        fake_slack.wait_for(lambda: set(jobs_on_cards(fake_slack)) == set(jobs), 30)
        ended = dict(zip(jobs, ["SUCCESS", "FAILED", "CANCELLED"] * 2, strict=True))
        for job_id, status in ended.items():
            emulator.finish_job(job_id, status, log="loading\n")
        fake_slack.wait_for(lambda: all_shown(fake_slack, ended), 30)
    finally:
        stop(process)
    log = (tmp_path / "jobbot.log").read_text(errors="replace")
    assert jobs_on_cards(fake_slack) == Counter({job: 1 for job in jobs}), log[-3000:]
    assert "found in history" in log, "no kill landed between an accepted card post and its record"
    edited = [card for card in cards(fake_slack) if card.edits]
    assert edited, "the cards were edited in place, not posted again"


def test_the_replica_that_takes_over_finishes_the_card_the_leader_posted(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator, postgres_url: str
) -> None:
    """Two replicas on one PostgreSQL store: the leader posts a job's card and is SIGKILLed; the other
    takes the lease and edits that same card to the job's end, with its log file in the card's thread."""
    ports = [free_port(), free_port()]
    replicas = [
        start_announcing(fake_slack, emulator, tmp_path, port, database_url=postgres_url, **LIVE)
        for port in ports
    ]
    try:
        wait_until_polling(emulator)
        job_id = emulator.add_job(status="RUNNING")
        fake_slack.wait_for(lambda: job_id in jobs_on_cards(fake_slack), 20)
        leader = next(i for i, port in enumerate(ports) if "leader" in _role(port))
        replicas[leader].send_signal(signal.SIGKILL)
        replicas[leader].wait(timeout=10)
        emulator.finish_job(job_id, "FAILED", log="the loader broke\n")
        fake_slack.wait_for(lambda: all_shown(fake_slack, {job_id: "FAILED"}), 30)
        fake_slack.wait_for(lambda: len(fake_slack.uploads(CHANNEL)) == 1, 20)
    finally:
        for process in replicas:
            if process.poll() is None:
                stop(process)
    (card,) = cards(fake_slack)
    (upload,) = fake_slack.uploads(CHANNEL)
    assert upload.thread_ts == card.ts and b"the loader broke" in upload.content


def test_a_long_running_alert_fires_once_and_a_failures_full_log_arrives_whole(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator
) -> None:
    """A job past JOBBOT_LONG_RUNNING_AFTER gets one alert in its card's thread, not another after a
    restart; when it fails, its whole log (larger than any message) is a file in the same thread."""
    settings = {**LIVE, "JOBBOT_LONG_RUNNING_AFTER": "60"}
    port = free_port()
    process = start_announcing(fake_slack, emulator, tmp_path, port, **settings)
    try:
        wait_until_polling(emulator)
        job_id = emulator.add_job(status="RUNNING", start_time_ms=int((time.time() - 3600) * 1000))

        def alerts() -> list[Posted]:
            return [m for m in fake_slack.messages(CHANNEL) if m.thread_ts and "has been running" in m.text]

        fake_slack.wait_for(lambda: len(alerts()) == 1, 20)
        stop(process)
        process = start_announcing(fake_slack, emulator, tmp_path, port, **settings)
        wait_until_polling(emulator)
        wait_until_polling(emulator)  # a few polls after the restart: no second alert
        log = "".join(f"{n:06d} loading a vertex batch\n" for n in range(30_000))  # 900 KB, under the cap
        emulator.finish_job(job_id, "FAILED", log=log)
        fake_slack.wait_for(lambda: len(fake_slack.uploads(CHANNEL)) == 1, 30)
    finally:
        stop(process)
    (card,) = cards(fake_slack)
    assert len(alerts()) == 1 and alerts()[0].thread_ts == card.ts
    (upload,) = fake_slack.uploads(CHANNEL)
    server_log = httpx.get(f"{emulator.url}/v1/job/{job_id}").json()["log"]
    assert upload.thread_ts == card.ts and upload.content == server_log.encode()


def _role(port: int) -> str:
    try:
        return str(httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()["checks"]["notifier"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return "unreachable"
