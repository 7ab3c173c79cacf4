"""The notifier's world in one process: the emulator, a fake Slack, a SQLite store and simulated time."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from slack_sdk import WebClient

from jobbot.app import notice_client
from jobbot.config import load_settings
from jobbot.emulator import Emulator
from jobbot.jobs_api import JobClient
from jobbot.models import NOTICE_STATUSES, NoticeStyle, Subscription
from jobbot.notifier import Notifier, SlackPoster
from jobbot.render.kit import Message
from jobbot.servers import DEFAULT_SERVER
from jobbot.store import Store
from jobbot.store.sqlite import SqliteStore
from tests.fakes import FakeSlack, Posted
from tests.support import FakeClock

CHANNEL = "C0NOTICES"
OTHER = "C0OTHER"


class SimulatedTime(threading.Event):
    """The loop's stop event over the fake clock: a wait moves the clock on instead of sleeping, the
    world changes scheduled in the meantime happen, and the loop is stopped at `until` seconds."""

    def __init__(self, clock: FakeClock, until: float) -> None:
        super().__init__()
        self.clock = clock
        self.until = until
        self.waits = 0
        self._changes: list[tuple[float, Callable[[], object]]] = []

    def at(self, seconds: float, change: Callable[[], object]) -> None:
        self._changes.append((seconds, change))
        self._changes.sort(key=lambda c: c[0])

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None and timeout >= 0, "the loop must always wait a finite time"
        self.waits += 1
        assert self.waits < 10_000, "the loop spins without waiting"
        # The fake clock counts whole microseconds: round up, so that a wait always gets where it meant to.
        self.clock.advance(math.ceil(timeout * 1e6) / 1e6)
        while self._changes and self._changes[0][0] <= self.clock.monotonic():
            self._changes.pop(0)[1]()
        if self.clock.monotonic() >= self.until:
            self.set()
        return self.is_set()

    def run(self, notifier: Notifier) -> None:
        """Run the notifier's loop from the clock's current time to `until`; changes due now happen first."""
        self.wait(0)
        notifier.run(self)


class SlowSlackPoster(SlackPoster):
    """A poster whose every post takes `post_seconds` on the fake clock (a slow Slack); paced by it too."""

    def __init__(
        self, client: WebClient, *, post_seconds: float, clock: FakeClock, min_interval: float
    ) -> None:
        super().__init__(client, min_interval=min_interval, monotonic=clock.monotonic, sleep=clock.advance)
        self._post_seconds = post_seconds
        self._clock = clock

    def post(
        self,
        channel: str,
        message: Message,
        *,
        key: str,
        job_ids: Sequence[str] = (),
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> str:
        self._clock.advance(self._post_seconds)
        return super().post(
            channel, message, key=key, job_ids=job_ids, thread_ts=thread_ts, broadcast=broadcast
        )


@dataclass
class World:
    emulator: Emulator
    slack: FakeSlack
    store: Store
    clock: FakeClock
    db_path: Path
    clients: list[JobClient]

    def notifier(
        self,
        *,
        default_channel: str | None = CHANNEL,
        statuses: tuple[str, ...] = NOTICE_STATUSES,
        poll_interval: float = 10,
        paced: bool = False,
        jobs: JobClient | None = None,
        post_seconds: float = 0.0,
        style: NoticeStyle = NoticeStyle.FINAL,
        long_running_after: float = 0.0,
        replica_id: str | None = None,
        label: str | None = None,
        server: str = DEFAULT_SERVER,
    ) -> Notifier:
        """A notifier as a fresh process would build it, on the same store, its loop on the fake clock."""
        settings = load_settings(
            {
                "SLACK_BOT_TOKEN": "xoxb-test",
                "SLACK_SIGNING_SECRET": "test-secret",
                "SLACK_API_URL": self.slack.api_url,
            },
            env_file=None,
        )
        jobs = jobs or JobClient(self.emulator.url, backoff=0.01)
        self.clients.append(jobs)
        return Notifier(
            jobs,
            self.store,
            # Paced as in production (one post a second per channel), its waits on the fake clock; each
            # post takes `post_seconds` of it.
            SlowSlackPoster(
                notice_client(settings),
                post_seconds=post_seconds,
                clock=self.clock,
                min_interval=1 if paced else 0,
            ),
            clock=self.clock,
            default_channel=default_channel,
            default_statuses=statuses,
            poll_interval=poll_interval,
            reconcile_interval=600,
            monotonic=self.clock.monotonic,
            notify_style=style,
            long_running_after=long_running_after,
            replica_id=replica_id,
            label=label,
            server=server,
        )

    def simulate(self, until: float) -> SimulatedTime:
        """Simulated time for running the loop; Slack notes each call's time on the same clock."""
        self.slack.clock = self.clock.monotonic
        return SimulatedTime(self.clock, until)

    def notices(self, channel: str = CHANNEL) -> list[Posted]:
        """Top-level jobbot messages in a channel (notices and digests)."""
        return [m for m in self.slack.messages(channel) if m.metadata and not m.thread_ts]


@pytest.fixture
def world(tmp_path: Path, emulator: Emulator, fake_slack: FakeSlack) -> Iterator[World]:
    store = SqliteStore(str(tmp_path / "jobbot.db"))
    world = World(emulator, fake_slack, store, FakeClock(), tmp_path / "jobbot.db", [])
    yield world
    for client in world.clients:
        client.close()
    store.close()


def subscribe(world: World, channel: str) -> None:
    world.store.subscribe(Subscription(channel_id=channel, added_by="U0ALICE", added_at=world.clock()))
