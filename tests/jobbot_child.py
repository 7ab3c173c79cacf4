"""jobbot as a child process: its environment in HTTP mode, starting it, and the notices it posts."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from jobbot.emulator import Emulator
from tests.fakes import FakeSlack
from tests.support import start_jobbot

BOT_TOKEN = "xoxb-1111-secret-bot-token"
SIGNING_SECRET = "signing-secret-0123456789"


CHANNEL = "C0NOTICES"
OTHER = "C0OTHER"


class EmulatorChild:
    """`python -m jobbot.emulator` in a process of its own, driven through its control API."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jobbot.emulator", "--port", "0"], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().split()[-1]
        self.http = httpx.Client(base_url=self.url + "/_emulator/", timeout=10)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def add_job(self, **fields: Any) -> str:
        return str(self.control("POST", "jobs", fields)["job_id"])

    def answering(self) -> bool:
        try:
            self.control("GET", "stats")
        except httpx.HTTPError:
            return False
        return True

    def requests(self) -> int:
        return int(self.control("GET", "stats")["requests"])

    def close(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.wait(timeout=15)
        if self.process.stdout:
            self.process.stdout.close()


def http_mode_env(slack_api_url: str, endpoint: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of a jobbot process in HTTP mode at DEBUG, so that anything it would log shows."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        "INTERACTIVE_ADMIN_ENDPOINT": endpoint,
        "PORT": str(port),
        "JOBBOT_LOG_LEVEL": "DEBUG",
        **extra,
    }


def start_announcing(
    slack: FakeSlack,
    emulator: Emulator | EmulatorChild,
    workdir: Path,
    port: int,
    database_url: str = "sqlite:///jobbot.db",
    **extra: str,
) -> subprocess.Popen[bytes]:
    """jobbot in HTTP mode, polling fast and announcing to CHANNEL (with `extra` settings); its output
    goes to workdir/jobbot.log."""
    settings = {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": "signing-secret-for-tests",
        "SLACK_API_URL": slack.api_url,
        "INTERACTIVE_ADMIN_ENDPOINT": emulator.url,
        "PORT": str(port),
        "JOBBOT_NOTIFY_CHANNEL": CHANNEL,
        "JOBBOT_POLL_INTERVAL": "0.2",
        "JOBBOT_RECONCILE_INTERVAL": "10",
        "JOBBOT_DATABASE_URL": database_url,
        **extra,
    }
    with open(workdir / "jobbot.log", "ab") as log:  # the child keeps its own copy of the descriptor
        return start_jobbot(settings, workdir, stdout=log, stderr=log)


def announced(slack: FakeSlack, channel: str = CHANNEL) -> Counter[str]:
    """How many top-level notices (or digest entries) each job id got in the channel."""
    counts: Counter[str] = Counter()
    for message in slack.messages(channel):
        if message.metadata and not message.thread_ts:
            counts.update(message.metadata["event_payload"]["job_ids"])
    return counts


def wait_for_notices(slack: FakeSlack, jobs: list[str], timeout: float = 30.0) -> None:
    """Wait until every job is announced (or time is up: the assertions then say what is missing)."""
    deadline = time.monotonic() + timeout
    while set(announced(slack)) != set(jobs) and time.monotonic() < deadline:
        time.sleep(0.1)


def assert_one_notice_each(slack: FakeSlack, jobs: list[str], workdir: Path) -> str:
    """Every job announced exactly once; returns jobbot's log for further checks."""
    counts = announced(slack)
    log = (workdir / "jobbot.log").read_text(errors="replace")
    assert set(counts) == set(jobs), (
        f"missing notices for {sorted(set(jobs) - set(counts), key=int)}\n{log[-3000:]}"
    )
    assert [job for job, n in counts.items() if n != 1] == [], f"doubled notices: {counts}"
    return log
