"""Watches and channel subscriptions, without Slack: what each subcommand stores, audits and refuses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobbot.models import Actor, JobStatus, JobWithLog
from jobbot.store import Store, open_store
from jobbot.subscriptions import NoticeSettings, Subscriptions
from tests.server_json import JOB

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
IN_A_CHANNEL = Actor(user_id="U0ALICE01", team_id="T0TEAM001", channel_id="C0CHAN001")
NOTICES_ON = NoticeSettings(enabled=True, default_channel=None, default_statuses=())


class Jobs:
    """The Interactive server as a watch sees it: jobs by id."""

    def __init__(self, statuses: dict[str, str] | None = None) -> None:
        self.jobs = {
            job_id: JobWithLog.model_validate(JOB | {"id": job_id, "status": status})
            for job_id, status in (statuses or {}).items()
        }

    def get_job(self, job_id: str) -> JobWithLog:
        return self.jobs[job_id]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store for the test."""
    opened = open_store(f"sqlite:///{tmp_path}/jobbot.db")
    yield opened
    opened.close()


def subscriptions(
    store: Store, jobs: Jobs | None = None, notices: NoticeSettings = NOTICES_ON
) -> Subscriptions:
    return Subscriptions(jobs or Jobs(), store, notices, clock=lambda: NOW)


def test_subscribing_outside_a_channel_is_refused_and_stores_nothing(store: Store) -> None:
    """`/jobs subscribe` in a direct message points to watch, and neither subscribes nor audits."""
    in_a_dm = Actor(user_id="U0ALICE01", team_id="T0TEAM001", channel_id="D0DIRECT1")
    reply = subscriptions(store).subscribe(in_a_dm, (JobStatus.FAILED,))
    assert "works in a channel" in reply.text
    assert store.subscriptions() == [] and store.subscription_changes(10) == []


def test_unsubscribing_is_audited_only_when_there_was_a_subscription(store: Store) -> None:
    """An unsubscribe that removes nothing leaves no audit entry; one that removes a subscription does."""
    desk = subscriptions(store)
    desk.unsubscribe(IN_A_CHANNEL)
    assert store.subscription_changes(10) == []
    desk.subscribe(IN_A_CHANNEL, (JobStatus.FAILED,))
    desk.unsubscribe(IN_A_CHANNEL)
    assert [change.action for change in store.subscription_changes(10)] == ["unsubscribed", "subscribed"]
    assert store.subscriptions() == []


def test_a_finished_job_is_not_watched(store: Store) -> None:
    """Watching a job that has already ended says so and stores no watch; a running one is watched."""
    desk = subscriptions(store, Jobs({"7": "SUCCESS", "8": "RUNNING"}))
    desk.watch("7", "U0ALICE01")
    desk.watch("8", "U0ALICE01")
    assert store.watchers("7") == [] and store.watchers("8") == ["U0ALICE01"]


def test_with_notices_off_nothing_is_watched_or_subscribed(store: Store) -> None:
    """JOBBOT_NOTIFIER=off: watch and subscribe both answer that notices are off, and store nothing."""
    off = NoticeSettings(enabled=False, default_channel=None, default_statuses=())
    desk = subscriptions(store, Jobs({"8": "RUNNING"}), off)
    for reply in (desk.watch("8", "U0ALICE01"), desk.subscribe(IN_A_CHANNEL, ())):
        assert "switched off" in reply.text
    assert store.watchers("8") == [] and store.subscriptions() == []
