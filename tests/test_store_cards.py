"""The store's live cards, on SQLite and on PostgreSQL: jobs grouped into cards once, versions that move on
with every change, the claim that posts a card once between replicas, and follow-ups recorded once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobbot.models import FinishedJob, NoticeStyle, Subscription
from jobbot.store import (
    CardJob,
    CardState,
    FollowUpKind,
    FollowUpRow,
    FollowUpState,
    Store,
    TrackedJob,
    open_store,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHANNEL = "C0LIVE"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/s.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    yield opened
    opened.close()


def running(job_id: str, graph: str = "g") -> FinishedJob:
    return FinishedJob(id=job_id, status="RUNNING", graph_id=graph, start_time_ms=1_000)


def ended(job_id: str, status: str = "SUCCESS") -> FinishedJob:
    return FinishedJob(id=job_id, status=status, graph_id="g", start_time_ms=1_000, end_time_ms=61_000)


def record(store: Store, *cards: CardJob, followups: tuple[FollowUpRow, ...] = ()) -> None:
    store.record_poll([], [], now=NOW, reconciled=False, cards=cards, followups=followups)


def test_a_new_job_waits_ungrouped_and_a_change_before_grouping_only_replaces_it(store: Store) -> None:
    record(store, CardJob(running("1"), CHANNEL))
    record(store, CardJob(ended("1"), CHANNEL))
    (waiting,) = store.ungrouped_card_jobs()
    assert (waiting.job, waiting.destination) == (ended("1"), CHANNEL)
    assert store.open_cards() == []


def test_grouped_jobs_make_one_pending_card_each_group_with_its_jobs(store: Store) -> None:
    record(store, *(CardJob(running(i), CHANNEL) for i in ("1", "2", "3")), CardJob(running("4"), "C0OTHER"))
    rows = store.ungrouped_card_jobs()
    by_channel = [r for r in rows if r.destination == CHANNEL]
    other = [r for r in rows if r.destination == "C0OTHER"]
    digest_id, single_id = store.group_card_jobs([by_channel, other], NOW)
    cards = {c.id: c for c in store.open_cards()}
    assert [j.id for j in cards[digest_id].jobs] == ["1", "2", "3"]
    assert [j.id for j in cards[single_id].jobs] == ["4"]
    digest = cards[digest_id]
    assert (digest.destination, digest.state, digest.version, digest.shown, digest.ts) == (
        CHANNEL,
        CardState.PENDING,
        1,
        0,
        None,
    )
    assert store.ungrouped_card_jobs() == []


def test_a_posted_card_leaves_the_open_list_until_one_of_its_jobs_changes(store: Store) -> None:
    record(store, CardJob(running("1"), CHANNEL))
    (card_id,) = store.group_card_jobs([store.ungrouped_card_jobs()], NOW)
    assert store.claim_card(card_id, attempts=0, channel=CHANNEL, now=NOW)
    store.set_card_state(card_id, CardState.POSTED, now=NOW, ts="111.1", shown=1)
    assert store.open_cards() == [], "Slack shows the newest version: nothing to do"

    record(store, CardJob(running("1"), CHANNEL))  # seen again, unchanged: no edit
    assert store.open_cards() == []

    record(store, CardJob(ended("1", "FAILED"), CHANNEL))
    (card,) = store.open_cards()
    assert (card.version, card.shown, card.ts, card.channel) == (2, 1, "111.1", CHANNEL)
    assert card.jobs == (ended("1", "FAILED"),)

    store.set_card_state(card_id, CardState.POSTED, now=NOW, shown=2)
    assert store.open_cards() == []


def test_a_card_shown_version_never_goes_back(store: Store) -> None:
    """An edit that lands after a newer one (two passes racing) cannot make the store think Slack shows
    the older version."""
    record(store, CardJob(running("1"), CHANNEL))
    (card_id,) = store.group_card_jobs([store.ungrouped_card_jobs()], NOW)
    store.set_card_state(card_id, CardState.POSTED, now=NOW, ts="1.1", shown=1)
    record(store, CardJob(ended("1"), CHANNEL))
    store.set_card_state(card_id, CardState.POSTED, now=NOW, shown=2)
    store.set_card_state(card_id, CardState.POSTED, now=NOW, shown=1)
    assert store.open_cards() == []


def test_only_one_of_two_replicas_claims_a_card(database_url: str) -> None:
    first, second = open_store(database_url), open_store(database_url)
    try:
        record(first, CardJob(running("1"), CHANNEL))
        (card_id,) = first.group_card_jobs([first.ungrouped_card_jobs()], NOW)
        (seen_by_first,), (seen_by_second,) = first.open_cards(), second.open_cards()
        assert first.claim_card(card_id, attempts=seen_by_first.attempts, channel=CHANNEL, now=NOW)
        assert not second.claim_card(card_id, attempts=seen_by_second.attempts, channel=CHANNEL, now=NOW)
        (card,) = second.open_cards()
        assert (card.state, card.attempts, card.channel) == (CardState.POSTING, 1, CHANNEL)
    finally:
        first.close()
        second.close()


def test_a_failed_card_is_no_longer_open(store: Store) -> None:
    record(store, CardJob(running("1"), CHANNEL))
    (card_id,) = store.group_card_jobs([store.ungrouped_card_jobs()], NOW)
    store.set_card_state(card_id, CardState.FAILED, now=NOW, error="is_archived")
    record(store, CardJob(ended("1"), CHANNEL))
    assert store.open_cards() == []


def test_follow_ups_are_recorded_once_and_come_with_their_card(store: Store) -> None:
    job = ended("1", "FAILED")
    record(store, CardJob(running("1"), CHANNEL))
    (card_id,) = store.group_card_jobs([store.ungrouped_card_jobs()], NOW)
    store.set_card_state(card_id, CardState.POSTED, now=NOW, ts="5.5", shown=1)
    rows = (FollowUpRow(FollowUpKind.LOG, job, CHANNEL), FollowUpRow(FollowUpKind.FILE, job, CHANNEL))
    record(store, followups=rows)
    record(store, followups=rows)  # a second replica, or the same poll again: nothing more
    followups = store.open_followups()
    assert [(f.kind, f.state, f.card_id, f.card_ts, f.card_channel) for f in followups] == [
        (FollowUpKind.FILE, FollowUpState.PENDING, card_id, "5.5", None),
        (FollowUpKind.LOG, FollowUpState.PENDING, card_id, "5.5", None),
    ]
    log = followups[1]
    assert log.job == job
    assert store.claim_followup(log, channel=CHANNEL, now=NOW)
    assert not store.claim_followup(log, channel=CHANNEL, now=NOW), "the read it was claimed from is stale"
    store.set_followup_state(log, FollowUpState.DONE, now=NOW, ts="6.6")
    assert [f.kind for f in store.open_followups()] == [FollowUpKind.FILE]


def test_a_follow_up_without_a_card_stands_alone(store: Store) -> None:
    alert = FollowUpRow(FollowUpKind.LONG_RUNNING, running("1"), "C0FINAL", detail='{"running_for": 9}')
    record(store, followups=(alert,))
    (followup,) = store.open_followups()
    assert (followup.card_id, followup.card_ts, followup.detail) == (None, None, '{"running_for": 9}')


def test_a_long_running_alert_marks_its_job_alerted(store: Store) -> None:
    store.record_poll([TrackedJob("1", "RUNNING", False, 1_000, "g")], [], now=NOW, reconciled=False)
    assert [j.alerted for j in store.active_jobs()] == [False]
    alert = FollowUpRow(FollowUpKind.LONG_RUNNING, running("1"), CHANNEL)
    record(store, followups=(alert,))
    (job,) = store.active_jobs()
    assert (job.alerted, job.graph_id, job.start_time_ms) == (True, "g", 1_000)


def test_usual_durations_are_the_graphs_latest_successes_in_seconds(store: Store) -> None:
    def job(job_id: str, graph: str, status: str, seconds: int) -> TrackedJob:
        return TrackedJob(job_id, status, True, 1_000, graph, 1_000 + seconds * 1000)

    store.record_poll(
        [
            job("1", "g", "SUCCESS", 60),
            job("2", "g", "FAILED", 5),
            job("3", "h", "SUCCESS", 7),
            job("4", "g", "SUCCESS", 90),
            job("5", "g", "SUCCESS", 30),
        ],
        [],
        now=NOW,
        reconciled=False,
    )
    assert store.usual_durations("g", 2) == [30.0, 90.0]
    assert store.usual_durations("g", 10) == [30.0, 90.0, 60.0]
    assert store.usual_durations("nope", 10) == []


def test_a_subscription_keeps_its_style(store: Store) -> None:
    store.subscribe(
        Subscription(
            channel_id=CHANNEL, statuses=("FAILED",), style=NoticeStyle.LIVE, added_by="U1", added_at=NOW
        )
    )
    store.subscribe(Subscription(channel_id="C0FINAL", added_by="U1", added_at=NOW))
    assert [(s.channel_id, s.style) for s in store.subscriptions()] == [
        ("C0FINAL", NoticeStyle.FINAL),
        (CHANNEL, NoticeStyle.LIVE),
    ]


def test_watching_or_unwatching_a_job_edits_its_cards_to_show_who_watches(store: Store) -> None:
    record(store, CardJob(running("1"), CHANNEL), CardJob(running("2"), CHANNEL))
    rows = store.ungrouped_card_jobs()
    first, second = store.group_card_jobs([[rows[0]], [rows[1]]], NOW)
    for card_id in (first, second):
        store.set_card_state(card_id, CardState.POSTED, now=NOW, ts="1.1", shown=1)
    store.watch("1", "U0BOB", NOW)
    store.watch("1", "U0BOB", NOW)  # already watching: nothing changes
    assert [(c.id, c.version) for c in store.open_cards()] == [(first, 2)]
    store.set_card_state(first, CardState.POSTED, now=NOW, shown=2)
    assert store.unwatch("1", "U0BOB")
    assert not store.unwatch("1", "U0BOB")
    assert [(c.id, c.version) for c in store.open_cards()] == [(first, 3)]
