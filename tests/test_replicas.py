"""Several replicas on one store: one notifier leads, a killed leader is replaced, cancels happen once."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from jobbot import slack_ids
from jobbot.emulator import Emulator
from tests.fakes import FakeSlack
from tests.http_bot import serve_http_bot
from tests.jobbot_child import (
    announced,
    assert_one_notice_each,
    start_announcing,
    wait_for_notices,
)
from tests.slack_requests import OTHER_USER
from tests.support import free_port


def notifier_role(port: int) -> str:
    """What a replica's /readyz says of its notifier ('ok (leader)', 'ok (standby)', ...)."""
    try:
        return str(httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()["checks"]["notifier"])
    except (httpx.HTTPError, ValueError):
        return "unreachable"
    except (KeyError, TypeError):
        # Not jobbot's answer: something else took the port between free_port() and the child's bind.
        return "another server answers on this port"


def wait_for_leader(ports: list[int], timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leaders = [port for port in ports if notifier_role(port) == "ok (leader)"]
        if len(leaders) == 1:
            return leaders[0]
        time.sleep(0.05)
    raise AssertionError(f"no single leader among {ports}: {[notifier_role(p) for p in ports]}")


@pytest.fixture(params=["sqlite", "postgres"])
def shared_database(request: pytest.FixtureRequest) -> str:
    """The database the replicas share: one SQLite file on this host, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return "sqlite:///jobbot.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.mark.slow
def test_leader_killed_midway_exactly_one_notice_per_job(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator, shared_database: str
) -> None:
    """Two replicas, 100 jobs finishing, the leader SIGKILLed midway: exactly 100 notices, and the
    standby takes over."""
    jobs = [emulator.add_job(status="RUNNING") for _ in range(100)]
    fake_slack.delays["chat.postMessage"] = 0.05
    ports = [free_port(), free_port()]
    processes = {
        port: start_announcing(fake_slack, emulator, tmp_path, port, shared_database) for port in ports
    }
    try:
        leader = wait_for_leader(ports)
        for job_id in jobs[:50]:
            emulator.finish_job(job_id, "SUCCESS")
            time.sleep(0.01)
        fake_slack.wait_for(lambda: bool(announced(fake_slack)), timeout=20)
        processes[leader].send_signal(signal.SIGKILL)
        processes[leader].wait(timeout=10)
        killed_at = time.monotonic()
        [survivor] = [port for port in ports if port != leader]
        assert wait_for_leader([survivor]) == survivor
        takeover = time.monotonic() - killed_at
        for job_id in jobs[50:]:
            emulator.finish_job(job_id, "FAILED")
        wait_for_notices(fake_slack, jobs)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=15)
    assert_one_notice_each(fake_slack, jobs, tmp_path)
    # The lease is 1 s here (3 x 0.2 s polls, floor 1 s): generous bound, only to catch "never".
    assert takeover < 10, f"takeover took {takeover:.1f} s"


@pytest.mark.slow
def test_sigterm_releases_the_lease_and_exits_cleanly(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator, shared_database: str
) -> None:
    """SIGTERM: the leader exits 0 within 10 s, says it released the lease, and the standby leads."""
    ports = [free_port(), free_port()]
    processes = {
        port: start_announcing(fake_slack, emulator, tmp_path, port, shared_database) for port in ports
    }
    try:
        leader = wait_for_leader(ports)
        processes[leader].send_signal(signal.SIGTERM)
        assert processes[leader].wait(timeout=10) == 0
        [standby] = [port for port in ports if port != leader]
        wait_for_leader([standby])
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=15)
    assert "lease released" in (tmp_path / "jobbot.log").read_text()


def test_same_cancel_click_on_two_replicas_sends_one_delete(
    fake_slack: FakeSlack, emulator: Emulator, tmp_path: Path
) -> None:
    """One confirmed click delivered to two replicas (and a second user's click) cancels once; all hear."""
    job_id = emulator.add_job(status="RUNNING")
    emulator.faults.set_delay(0.2)  # both clicks are in flight together
    action = slack_ids.action_id(slack_ids.JOB_CANCEL, job_id)
    replicas = [
        serve_http_bot(
            fake_slack,
            emulator.url,
            JOBBOT_CANCEL_USERS=f"U0ALLOWED1,{OTHER_USER}",
            JOBBOT_DATABASE_URL=f"sqlite:///{tmp_path}/shared.db",  # replicas share one store
        )
        for _ in range(2)
    ]
    first, second = (next(replica) for replica in replicas)
    try:
        clicks = [
            threading.Thread(target=first.click, args=(action, job_id), kwargs={"reply_to": "a"}),
            threading.Thread(target=second.click, args=(action, job_id), kwargs={"reply_to": "b"}),
            threading.Thread(
                target=second.click, args=(action, job_id), kwargs={"reply_to": "c", "user_id": OTHER_USER}
            ),
        ]
        for click in clicks:
            click.start()
        for click in clicks:
            click.join()
        replies = [fake_slack.wait_for_responses(1, name=name, timeout=20)[0] for name in "abc"]
    finally:
        for replica in replicas:
            for _ in replica:
                pass
    assert len([r for r in emulator.requests if r[0] == "DELETE"]) == 1
    texts = [r["text"] + str(r["blocks"]) for r in replies]
    assert sum("cancelled job" in t for t in texts) == 1
    assert sum("Nothing to cancel" in t for t in texts) == 2
