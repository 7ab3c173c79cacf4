"""The real `jobbot` process under faults (SIGKILLs at random moments, Slack errors, GraphScope outages)
while jobs finish: exactly one notice per job in the end."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from jobbot.emulator import Emulator
from jobbot.models import Subscription
from jobbot.store.sqlite import SqliteStore
from tests.fakes import FakeSlack, Posted, Scripted
from tests.jobbot_child import (
    CHANNEL,
    OTHER,
    EmulatorChild,
    announced,
    assert_one_notice_each,
    start_announcing,
    wait_for_notices,
)
from tests.support import free_port, wait_until

# Every test here runs jobbot (and one the emulator too) as a child process.
pytestmark = pytest.mark.slow


def wait_until_polling(emulator: Emulator, timeout: float = 20.0) -> None:
    """Block until a (re)started jobbot has begun asking the emulator about jobs."""
    seen = len(emulator.requests)
    assert emulator.wait_until(lambda: len(emulator.requests) > seen + 1, timeout=timeout), (
        "jobbot never polled"
    )


def test_sigkill_at_random_moments_loses_and_doubles_no_notice(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator
) -> None:
    """Six SIGKILLs while 40 jobs finish, half of them while Slack holds an accepted post unanswered:
    after a restart, every job has exactly one notice."""
    rng = random.Random(20261128)
    jobs = [emulator.add_job(status="RUNNING", log="loading\n") for _ in range(40)]
    # Slack keeps each message, then answers slowly: a kill then lands between "posted" and "recorded".
    fake_slack.delays["chat.postMessage"] = 0.2
    port = free_port()
    process = start_announcing(fake_slack, emulator, tmp_path, port)
    pending = list(jobs)
    rng.shuffle(pending)
    try:
        for kill in range(6):
            wait_until_polling(emulator)
            for job_id in pending[:6]:
                emulator.finish_job(job_id, rng.choice(["SUCCESS", "FAILED", "CANCELLED"]))
            pending = pending[6:]
            if kill % 2 == 0:
                posts = len(fake_slack.calls_to("chat.postMessage"))

                def posted_more(seen: int = posts) -> bool:
                    return len(fake_slack.calls_to("chat.postMessage")) > seen

                fake_slack.wait_for(posted_more, timeout=20)
            else:
                time.sleep(rng.uniform(0.05, 0.8))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            process = start_announcing(fake_slack, emulator, tmp_path, port)
        for job_id in pending:
            emulator.finish_job(job_id, "SUCCESS")
        wait_for_notices(fake_slack, jobs)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    log = assert_one_notice_each(fake_slack, jobs, tmp_path)
    assert "found in history" in log, "no kill landed between an accepted post and its record"


def test_429_storm_and_graphscope_outage_lose_and_double_nothing(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator
) -> None:
    """Slack answers a storm of 429s while GraphScope fails for a while: every job still gets one notice."""
    jobs = [emulator.add_job(status="RUNNING") for _ in range(12)]
    process = start_announcing(fake_slack, emulator, tmp_path, free_port())
    try:
        wait_until_polling(emulator)
        limited = Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"})
        fake_slack.script("chat.postMessage", *[limited] * 8)
        for job_id in jobs[:6]:
            emulator.finish_job(job_id, "SUCCESS")
        fake_slack.wait_for(lambda: len(fake_slack.calls_to("chat.postMessage")) >= 8, timeout=30)
        emulator.faults.fail_next(6, status=500)
        for job_id in jobs[6:]:
            emulator.finish_job(job_id, "FAILED")
        wait_for_notices(fake_slack, jobs, timeout=40)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    log = assert_one_notice_each(fake_slack, jobs, tmp_path)
    assert "ratelimited" in log and "HTTP 500" in log


def test_a_rate_limited_channel_holds_back_neither_polls_nor_other_channels(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator
) -> None:
    """One channel told to wait 8 s by a 429 while another answers 500 and ok:false and GraphScope
    fails a while: the other channel's notices arrive before the waiting channel is tried again, and
    in the end every job has exactly one notice in each channel."""
    store = SqliteStore(str(tmp_path / "jobbot.db"))
    store.subscribe(Subscription(channel_id=OTHER, added_by="U0ALICE", added_at=datetime.now(UTC)))
    store.close()
    jobs = [emulator.add_job(status="RUNNING") for _ in range(4)]
    process = start_announcing(fake_slack, emulator, tmp_path, free_port())
    try:
        wait_until_polling(emulator)
        fake_slack.script(
            "chat.postMessage",
            Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "8"}, channel=CHANNEL),
            Scripted(500, channel=OTHER),
            Scripted(200, {"ok": False, "error": "internal_error"}, channel=OTHER),
        )
        emulator.faults.fail_next(4, status=503)
        for job_id in jobs:
            emulator.finish_job(job_id, "SUCCESS")
        fake_slack.wait_for(lambda: set(announced(fake_slack, OTHER)) == set(jobs), timeout=30)
        to_channel = [c for c in fake_slack.calls_to("chat.postMessage") if c.body.get("channel") == CHANNEL]
        assert len(to_channel) == 1, "the rate-limited channel was tried again before its Retry-After"
        fake_slack.wait_for(lambda: set(announced(fake_slack)) == set(jobs), timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert_one_notice_each(fake_slack, jobs, tmp_path)
    assert [job for job, n in announced(fake_slack, OTHER).items() if n != 1] == []


def notices_since(slack: FakeSlack, count: int) -> list[Posted]:
    """Top-level notices and digests in the channel after the first `count` of them."""
    return [m for m in slack.messages(CHANNEL) if m.metadata and not m.thread_ts][count:]


def test_a_redeployed_server_gets_its_own_notices_once_and_no_old_one_repeats(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """A real jobbot and a real emulator process: the server is redeployed without its metadata (down
    for a second, back with ids from 1). The new server's jobs, under the old ids, are announced once
    each; none of the old server's notices is posted again; the log says what happened, once."""
    emulator = EmulatorChild()
    process = None
    try:
        old = [emulator.add_job(status="RUNNING", graph_id="before") for _ in range(3)]
        process = start_announcing(fake_slack, emulator, tmp_path, free_port())
        wait_until(lambda: emulator.requests() > 2, timeout=20, what="jobbot polls")
        for job_id in old[:2]:
            emulator.control("POST", f"jobs/{job_id}/finish", {"status": "SUCCESS"})
        wait_for_notices(fake_slack, old[:2])
        assert set(announced(fake_slack)) == set(old[:2])
        before_reset = len(notices_since(fake_slack, 0))

        emulator.control("POST", "redeploy", {"downtime": 1.0})
        wait_until(lambda: not emulator.answering(), timeout=5, what="the server goes down")
        wait_until(emulator.answering, timeout=10, what="the server is back")
        new = [
            emulator.add_job(status=status, graph_id="after")
            for status in ("SUCCESS", "RUNNING", "FAILED", "RUNNING")
        ]
        assert new[:3] == old, "the new server hands out the old ids again"
        for job_id in (new[1], new[3]):
            emulator.control("POST", f"jobs/{job_id}/finish", {"status": "SUCCESS"})

        def new_ids() -> Counter[str]:
            counts: Counter[str] = Counter()
            for message in notices_since(fake_slack, before_reset):
                assert message.metadata is not None
                counts.update(message.metadata["event_payload"]["job_ids"])
            return counts

        wait_until(lambda: set(new_ids()) == set(new), timeout=30, what="the new server's jobs are announced")
        time.sleep(1.0)  # several more polls, to catch a repeat
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
        emulator.close()
    log = (tmp_path / "jobbot.log").read_text(errors="replace")
    assert new_ids() == Counter({job_id: 1 for job_id in new}), log[-3000:]
    later = notices_since(fake_slack, before_reset)
    assert all("after" in m.text + str(m.blocks) and "before" not in m.text + str(m.blocks) for m in later)
    assert len(notices_since(fake_slack, 0)) - before_reset == len(later)
    assert log.count("job ids started again at 1") == 1, log[-3000:]


def test_an_odd_id_on_first_start_leaves_jobbot_ready_and_announcing(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator
) -> None:
    """A server listing "job-3" when jobbot first starts: /readyz turns 200, a real job still gets its
    notice, and the odd entry is warned about once."""
    emulator.add_job(status="SUCCESS", job_id="job-3")
    running = emulator.add_job(status="RUNNING")
    port = free_port()
    process = start_announcing(fake_slack, emulator, tmp_path, port)

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout=20, what="/readyz answers 200")
        emulator.finish_job(running, "SUCCESS")
        wait_for_notices(fake_slack, [running])
        wait_until(lambda: len(emulator.requests) > 50, timeout=20, what="many more polls")
        wait_until(ready, timeout=20, what="/readyz answers 200 after many polls and reconciles")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    log = assert_one_notice_each(fake_slack, [running], tmp_path)
    assert len([line for line in log.splitlines() if "'job-3'" in line]) == 1, log[-3000:]
