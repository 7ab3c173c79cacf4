"""Completion notices, one poll at a time: baseline, transitions, digests, ledger recovery, failures."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from jobbot import metrics
from jobbot.emulator import GET_JOB, LIST_JOBS, Emulator
from jobbot.errors import JobApiError, JobNotFound, StoreError
from jobbot.jobs_api import JobClient
from jobbot.models import FinishedJob, Job, JobWithLog, NoticeStyle, Subscription
from jobbot.notifier import Notifier, PollReport, observe
from jobbot.notifier.deliver import DIGEST_THRESHOLD, SlackHolds
from jobbot.notifier.loop import POLL_BACKOFF_EXTRA_SECONDS
from jobbot.notifier.observe import MAX_ANNOUNCED_AFTER_RESET
from jobbot.notifier.slack_poster import METADATA_EVENT
from jobbot.store import CardJob, DeliveryState, NoticeRow, Store, TrackedJob, open_store
from tests.fakes import FakeSlack, Posted, Scripted
from tests.notice_world import (
    CHANNEL,
    OTHER,
    World,
    subscribe,
    world,
)
from tests.server_json import JOB
from tests.support import FakeClock

__all__ = ["world"]  # the fixture, shared with the notifier's other tests


@pytest.fixture
def gapped(world: World) -> Iterator[World]:
    """The same world over a server whose first id is 5: ids 1-4 are a gap steady polls never see."""
    with Emulator(first_id=5).start() as emulator:
        yield World(emulator, world.slack, world.store, world.clock, world.db_path, world.clients)


def text_of(message: Posted) -> str:
    return message.text + str(message.blocks)


def test_first_start_records_history_and_announces_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Jobs that finished before jobbot ever ran are recorded, not announced; the first poll says so and
    counts as a reconcile (it read the whole list)."""
    for status in ("SUCCESS", "FAILED", "CANCELLED"):
        world.emulator.add_job(status=status)
    world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        assert notifier.poll_once().reconciled
    assert [r.getMessage() for r in caplog.records] == [
        "notifier: first start; 4 existing jobs recorded, none announced"
    ]
    notifier.poll_once()
    assert world.slack.messages() == []
    assert [j.id for j in world.store.active_jobs()] == ["4"]


def test_a_job_that_finishes_is_announced_once(world: World) -> None:
    """A running job that succeeds gets one notice with its metadata key, however often we poll."""
    job_id = world.emulator.add_job(status="RUNNING", graph_id="modern")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.finish_job(job_id, "SUCCESS")
    posted_before = notices_total("posted")
    for _ in range(3):
        world.clock.advance(10)
        notifier.poll_once()
    assert notices_total("posted") - posted_before == 1
    [notice] = world.notices()
    assert notice.text.startswith(f"Job {job_id} finished: SUCCESS"), "one job: a notice, not a digest of one"
    assert notice.metadata is not None and notice.metadata["event_type"] == METADATA_EVENT
    assert world.store.notice_count(job_id) == 1


def test_a_job_started_and_finished_between_polls_is_announced(world: World) -> None:
    """A new id that is already final when first seen is still announced (ids only grow)."""
    notifier = world.notifier()
    notifier.poll_once()
    job_id = world.emulator.add_job(status="FAILED", log="step 1\nERROR: disk full\n")
    world.clock.advance(10)
    notifier.poll_once()
    [notice] = world.notices()
    assert "FAILED" in text_of(notice)
    [reply] = [m for m in world.slack.messages(CHANNEL) if m.thread_ts == notice.ts]
    assert "disk full" in text_of(reply), "a failure's log tail goes in a thread reply"
    assert world.store.notice_count(job_id) == 1


def test_steady_polls_never_download_the_list(world: World) -> None:
    """Between reconciles a poll reads only active jobs and the next id, never `GET /v1/job`."""
    world.emulator.seed_history(50, log_bytes=256)
    running = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()  # baseline: one full list
    world.emulator.reset_stats()
    before = len(world.emulator.requests)
    world.clock.advance(10)
    notifier.poll_once()
    requests = world.emulator.requests[before:]
    assert ("GET", "/v1/job") not in requests
    assert sorted(requests) == sorted([("GET", f"/v1/job/{running}"), ("GET", f"/v1/job/{int(running) + 1}")])


def test_reconcile_runs_at_its_cadence_and_catches_a_gap_in_ids(gapped: World) -> None:
    """A job beyond a gap in ids is invisible to steady polls; the reconcile, at its cadence, finds it."""
    notifier = gapped.notifier()
    notifier.poll_once()  # baseline: no jobs yet, so the next id asked for is 1
    job_id = gapped.emulator.add_job(status="SUCCESS")
    assert job_id == "5"
    gapped.clock.advance(10)
    assert notifier.poll_once().finished == []
    gapped.clock.advance(600)
    report = notifier.poll_once()
    assert report.reconciled and report.finished == [job_id]
    assert len(gapped.notices()) == 1
    gapped.clock.advance(10)
    assert not notifier.poll_once().reconciled, "the next reconcile is due 600 s after this one"


def test_a_failure_found_by_a_reconcile_still_gets_its_log_tail(gapped: World) -> None:
    """The list carries no logs, so a failure only a reconcile sees is read on its own for its log."""
    notifier = gapped.notifier()
    notifier.poll_once()
    job_id = gapped.emulator.add_job(status="FAILED", log="step 1\nERROR: disk full\n")
    gapped.clock.advance(600)
    assert notifier.poll_once().finished == [job_id]
    [notice] = gapped.notices()
    [reply] = [m for m in gapped.slack.messages(CHANNEL) if m.thread_ts == notice.ts]
    assert "disk full" in text_of(reply)
    assert ("GET", f"/v1/job/{job_id}") in gapped.emulator.requests


def test_a_success_found_by_a_reconcile_is_not_read_again_for_a_log(gapped: World) -> None:
    """Only a failure's log is worth a request: a job that succeeded, seen only by a reconcile, is
    announced from the list alone, without reading the job on its own."""
    notifier = gapped.notifier()
    notifier.poll_once()
    job_id = gapped.emulator.add_job(status="SUCCESS", log="all done\n")
    gapped.clock.advance(600)
    assert notifier.poll_once().finished == [job_id]
    assert len(gapped.notices()) == 1
    assert ("GET", f"/v1/job/{job_id}") not in gapped.emulator.requests


def test_a_failure_gone_before_its_log_is_read_is_announced_without_it(gapped: World) -> None:
    """A failed job listed by a reconcile but gone when read alone still gets its notice, log-less."""
    notifier = gapped.notifier()
    notifier.poll_once()
    job_id = gapped.emulator.add_job(status="FAILED", log="ERROR: disk full\n")
    gapped.emulator.faults.fail_next(
        1, status=404, body=b'{"code": 4, "message": "key not found"}', route=GET_JOB
    )
    gapped.clock.advance(600)
    assert notifier.poll_once().finished == [job_id]
    [notice] = gapped.notices()
    assert "FAILED" in text_of(notice)
    [reply] = [m for m in gapped.slack.messages(CHANNEL) if m.thread_ts == notice.ts]
    assert "(log is empty)" in text_of(reply)
    assert gapped.store.notice_count(job_id) == 1


def test_burst_is_coalesced_into_a_digest(world: World) -> None:
    """Ten jobs finishing in the same poll become one digest, not ten messages."""
    ids = [world.emulator.add_job(status="RUNNING") for _ in range(10)]
    notifier = world.notifier()
    notifier.poll_once()
    for job_id in ids:
        world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier.poll_once()
    [digest] = world.notices()
    assert "10 jobs finished" in text_of(digest)
    assert all(world.store.notice_count(j) == 1 for j in ids)


def test_few_jobs_finished_while_offline_get_notices(world: World) -> None:
    """After a restart, up to a few jobs that finished while jobbot was down get ordinary notices."""
    ids = [world.emulator.add_job(status="RUNNING") for _ in range(DIGEST_THRESHOLD)]
    world.notifier().poll_once()
    for job_id in ids:
        world.emulator.finish_job(job_id, "SUCCESS")
    world.notifier().poll_once()  # a new process on the same store
    assert len(world.notices()) == DIGEST_THRESHOLD


def test_many_jobs_finished_while_offline_get_one_offline_digest(world: World) -> None:
    """More than a few jobs finished while jobbot was down: one 'while jobbot was offline' digest."""
    running = [world.emulator.add_job(status="RUNNING") for _ in range(3)]
    world.notifier().poll_once()
    for job_id in running:
        world.emulator.finish_job(job_id, "FAILED")
    new = [world.emulator.add_job(status="SUCCESS") for _ in range(4)]
    world.notifier().poll_once()
    [digest] = world.notices()
    assert "offline" in text_of(digest) and "7 jobs finished" in text_of(digest)
    assert all(world.store.notice_count(j) == 1 for j in running + new)


def test_post_whose_answer_was_lost_is_found_in_history_not_posted_again(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack accepted the notice but the answer never came: the next poll finds it, says so, and does not
    repost."""
    job_id = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.finish_job(job_id, "SUCCESS")
    world.slack.script("chat.postMessage", Scripted(hang_up_after_success=True))
    world.clock.advance(10)
    report = notifier.poll_once()
    assert report.slack_error is not None
    [delivery] = world.store.open_deliveries()
    assert delivery.state is DeliveryState.POSTING
    world.clock.advance(10)
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.notifier().poll_once()  # as after a restart
    assert len(world.notices()) == 1
    assert world.store.open_deliveries() == []
    found = [r.getMessage() for r in caplog.records if "history" in r.getMessage()]
    assert found == [
        f"notifier: delivery {delivery.id} was already posted (found in history); not posting again"
    ]


def test_rate_limited_post_is_retried_after_retry_after_and_posted_once(world: World) -> None:
    """A 429 storm: honoured, then retried on later polls; exactly one notice in the end."""
    job_id = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.finish_job(job_id, "CANCELLED")
    limited = Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"})
    world.slack.script("chat.postMessage", *[limited] * 5)
    polls = 0
    while not world.notices() and polls < 10:
        world.clock.advance(10)
        notifier.poll_once()
        polls += 1
    assert len(world.notices()) == 1 and polls > 1


def test_destination_that_refuses_is_reported_once_and_not_retried(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """not_in_channel marks the notice failed, logs one error naming the fix, and is not retried."""
    ids = [world.emulator.add_job(status="RUNNING") for _ in range(2)]
    notifier = world.notifier()
    notifier.poll_once()
    refused = Scripted(200, {"ok": False, "error": "not_in_channel"})
    world.slack.script("chat.postMessage", refused, refused)
    with caplog.at_level(logging.DEBUG, logger="jobbot.notifier"):
        for job_id in ids:
            world.emulator.finish_job(job_id, "SUCCESS")
            world.clock.advance(10)
            notifier.poll_once()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert (
        len(errors) == 1
        and "not_in_channel" in errors[0].getMessage()
        and "/invite" in errors[0].getMessage()
    )
    assert world.store.open_deliveries() == []
    assert len(world.slack.calls_to("chat.postMessage")) == 2


def test_graphscope_outage_announces_nothing_and_resumes(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """While the server errors, no notice is invented and each poll reports and logs the error; when it
    is back, the real outcome is announced."""
    job_id = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.faults.fail_next(20, status=500)
    world.clock.advance(10)
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        report = notifier.poll_once()
    assert report.interactive_error and "500" in report.interactive_error and world.slack.messages() == []
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"notifier: could not read jobs: {report.interactive_error}"
    ]
    world.emulator.faults.clear()
    world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier.poll_once()
    [notice] = world.notices()
    assert "SUCCESS" in text_of(notice)


def test_subscriptions_have_their_own_filters(world: World) -> None:
    """A channel subscribed to FAILED hears only failures; the default channel, what its own filter allows."""
    world.store.subscribe(
        Subscription(channel_id="C0FAILS", statuses=("FAILED",), added_by="U0ALICE", added_at=world.clock())
    )
    ok, bad = world.emulator.add_job(status="RUNNING"), world.emulator.add_job(status="RUNNING")
    notifier = world.notifier(statuses=("SUCCESS",))
    notifier.poll_once()
    world.emulator.finish_job(ok, "SUCCESS")
    world.emulator.finish_job(bad, "FAILED")
    world.clock.advance(10)
    notifier.poll_once()
    assert ["SUCCESS" in text_of(m) for m in world.notices(CHANNEL)] == [True]
    assert ["FAILED" in text_of(m) for m in world.notices("C0FAILS")] == [True]


def test_watcher_gets_a_direct_message(world: World) -> None:
    """`/jobs watch` recorded in the store leads to a DM to that user when the job ends, and only once."""
    job_id = world.emulator.add_job(status="RUNNING")
    world.store.watch(job_id, "U0WATCHER", world.clock())
    notifier = world.notifier(default_channel=None)
    notifier.poll_once()
    world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier.poll_once()
    notifier.poll_once()
    [dm] = world.notices("D0WATCHER")
    assert "SUCCESS" in text_of(dm)
    assert world.store.watchers(job_id) == []


def test_notice_says_who_cancelled_through_jobbot(world: World) -> None:
    """A job cancelled through jobbot is announced with the user who cancelled it."""
    job_id = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    world.store.claim_cancel(job_id, "U0CANCELS", world.clock(), stale_after=60)
    world.emulator.cancel_job(job_id)
    world.clock.advance(10)
    notifier.poll_once()
    [notice] = world.notices()
    assert "<@U0CANCELS>" in text_of(notice)


def post_times(world: World, channel: str) -> list[float]:
    """When (on the fake clock) each chat.postMessage call for `channel` reached Slack."""
    return [
        c.received_at for c in world.slack.calls_to("chat.postMessage") if c.body.get("channel") == channel
    ]


def first_notice_times(world: World, channel: str = CHANNEL) -> dict[str, float]:
    """When (on the fake clock) each job was first announced in `channel`."""
    first: dict[str, float] = {}
    for message in world.notices(channel):
        assert message.metadata is not None
        for job_id in message.metadata["event_payload"]["job_ids"]:
            first.setdefault(job_id, message.received_at)
    return first


def steady_polls(world: World, next_id: int) -> int:
    """Polls made so far: each steady poll asks for the next id once."""
    return world.emulator.requests.count(("GET", f"/v1/job/{next_id}"))


def test_a_500_on_one_channel_does_not_delay_another_channels_notice(world: World) -> None:
    """Slack failing a post to one channel leaves that delivery for later; the other channel is posted
    in the same poll."""
    subscribe(world, OTHER)
    job_id = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.finish_job(job_id, "SUCCESS")
    world.slack.script("chat.postMessage", Scripted(500, channel=CHANNEL))
    world.clock.advance(10)
    report = notifier.poll_once()
    assert report.slack_error is not None
    assert len(world.notices(OTHER)) == 1
    assert world.notices(CHANNEL) == []


def test_slack_errors_do_not_slow_polling(world: World) -> None:
    """While every post fails, GraphScope is still polled once per poll interval."""
    job_id = world.emulator.add_job(status="RUNNING")
    world.slack.outage(
        "chat.postMessage",
        Scripted(500),
        Scripted(200, {"ok": False, "error": "internal_error"}),
        Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}),
    )
    notifier = world.notifier()
    time = world.simulate(until=125)
    time.at(5, lambda: world.emulator.finish_job(job_id, "FAILED"))
    time.run(notifier)
    # Polls at 0 (the baseline), 10, 20, ... 120: the steady ones ask for the next id each time.
    assert steady_polls(world, int(job_id) + 1) == 12
    assert world.notices() == [] and len(post_times(world, CHANNEL)) > 12


def test_retry_after_is_waited_for_that_destination_only(world: World) -> None:
    """A 429 with Retry-After: 2 on one channel delays that channel's next attempt by 2 s, in a wake-up
    of its own before the next poll; the other channel is posted at once."""
    subscribe(world, OTHER)
    job_id = world.emulator.add_job(status="RUNNING")
    world.slack.script(
        "chat.postMessage",
        Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "2"}, channel=CHANNEL),
    )
    notifier = world.notifier()
    time = world.simulate(until=30)
    time.at(3, lambda: world.emulator.finish_job(job_id, "SUCCESS"))
    time.run(notifier)
    assert post_times(world, OTHER) == [10.0]
    first, retry = post_times(world, CHANNEL)
    assert first == 10.0 and 12.0 <= retry < 13.0
    assert len(world.notices(CHANNEL)) == 1 and world.store.notice_count(job_id) == 2


def test_pending_notices_are_posted_within_interval_plus_5_s_after_faults_clear(world: World) -> None:
    """Slack answers a mix of 429, 500 and ok:false for 30 s while GraphScope is down for 6 s: once
    both are well, every pending notice is out within the poll interval + 5 s, each exactly once."""
    subscribe(world, OTHER)
    jobs = [world.emulator.add_job(status="RUNNING") for _ in range(6)]
    notifier = world.notifier()
    time = world.simulate(until=90)

    def finish(*job_ids: str) -> Callable[[], object]:
        return lambda: [world.emulator.finish_job(j, "SUCCESS") for j in job_ids] and None

    time.at(
        5,
        lambda: world.slack.outage(
            "chat.postMessage",
            Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}),
            Scripted(500),
            Scripted(200, {"ok": False, "error": "internal_error"}),
        ),
    )
    time.at(8, finish(*jobs[:2]))
    time.at(15, lambda: world.emulator.faults.fail_next(1_000_000, status=503))
    time.at(21, world.emulator.faults.clear)
    time.at(25, finish(*jobs[2:4]))
    time.at(28, finish(*jobs[4:]))
    cleared = 35.0
    time.at(cleared, world.slack.end_outage)
    time.run(notifier)
    for channel in (CHANNEL, OTHER):
        arrived = first_notice_times(world, channel)
        assert sorted(arrived) == sorted(jobs)
        assert max(arrived.values()) <= cleared + notifier.poll_interval + 5, arrived
    assert all(world.store.notice_count(j) == 2 for j in jobs)
    announced = [
        j
        for c in (CHANNEL, OTHER)
        for m in world.notices(c)  # notices all carry metadata
        for j in (m.metadata or {})["event_payload"]["job_ids"]
    ]
    assert sorted(announced) == sorted(jobs * 2), "a job announced twice in one channel"


def test_a_workspace_wide_rate_limit_makes_every_destination_wait(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A 429 from a method limited across the workspace (the history lookup before a re-post) holds
    every destination for its Retry-After, as a warning says; then the unsure notice is found, not
    posted twice."""
    subscribe(world, OTHER)
    first, second = world.emulator.add_job(status="RUNNING"), world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.finish_job(first, "SUCCESS")
    world.slack.script("chat.postMessage", Scripted(hang_up_after_success=True, channel=CHANNEL))
    world.clock.advance(10)
    notifier.poll_once()  # the post to CHANNEL went through, its answer was lost: unsure
    [unsure] = [d for d in world.store.open_deliveries() if d.destination == CHANNEL]
    world.emulator.finish_job(second, "SUCCESS")
    limited = Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "5"})
    world.slack.script("conversations.history", limited)
    world.clock.advance(10)
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        report = notifier.poll_once()
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == [
        f"notifier: Slack refused delivery {unsure.id} to {CHANNEL} for now (ratelimited); "
        "trying every destination again in 5 s"
    ]
    assert report.slack_error == "ratelimited" and report.waiting >= 1
    assert len(world.notices(OTHER)) == 1, "another destination posted during a workspace-wide wait"
    world.clock.advance(5)
    notifier.poll_once()
    assert sorted(first_notice_times(world, CHANNEL)) == sorted([first, second])
    assert sorted(first_notice_times(world, OTHER)) == sorted([first, second])
    assert len(world.notices(CHANNEL)) == 2 and len(world.notices(OTHER)) == 2


def test_notices_gathered_during_a_slack_outage_go_out_as_a_digest_within_interval_plus_5_s(
    world: World,
) -> None:
    """With one post a second per channel, twelve jobs ending one by one while Slack fails do not queue
    twelve messages: what gathered goes out in a couple of messages within the poll interval + 5 s."""
    jobs = [world.emulator.add_job(status="RUNNING") for _ in range(12)]
    notifier = world.notifier(poll_interval=1, paced=True)
    time = world.simulate(until=40)
    time.at(
        2,
        lambda: world.slack.outage(
            "chat.postMessage",
            Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "2"}),
            Scripted(500),
            Scripted(200, {"ok": False, "error": "internal_error"}),
        ),
    )
    for n, job_id in enumerate(jobs):
        time.at(3 + 1.5 * n, partial(world.emulator.finish_job, job_id, "SUCCESS"))
    cleared = 22.0
    time.at(cleared, world.slack.end_outage)
    time.run(notifier)
    arrived = first_notice_times(world)
    assert sorted(arrived) == sorted(jobs)
    assert max(arrived.values()) <= cleared + notifier.poll_interval + 5, arrived
    assert len(world.notices()) <= 3
    assert all(world.store.notice_count(j) == 1 for j in jobs)


def test_a_destinations_wait_doubles_to_its_cap_and_retry_after_overrides_it() -> None:
    """Errors make a destination wait 1, 2, 4, 4 s; a Retry-After sets the wait (up to 300 s); a
    workspace-wide one holds every destination; an answer clears the streak."""
    holds = SlackHolds()
    assert [holds.failed("C1", 0.0) for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    assert holds.held("C1", 3.9) and not holds.held("C1", 4.0) and not holds.held("C2", 0.0)
    assert holds.failed("C1", 10.0, retry_after=30) == 30 and holds.next_end(10.0) == 40.0
    assert holds.failed("C1", 10.0, retry_after=86_400) == 300
    holds.cleared("C1")
    assert holds.failed("C1", 20.0) == 1.0
    holds.failed("C3", 20.0, retry_after=5, workspace_wide=True)
    assert holds.held("C2", 24.0) and not holds.held("C2", 25.0)


def test_a_retry_after_of_0_lets_the_destination_try_again_at_once() -> None:
    """Retry-After: 0 (or a negative one) means no wait: the destination is not held."""
    holds = SlackHolds()
    assert holds.failed("C1", 5.0, retry_after=0) == 0.0 and not holds.held("C1", 5.0)
    assert holds.failed("C2", 5.0, retry_after=-3) == 0.0 and not holds.held("C2", 5.0)


def test_a_wait_that_has_ended_is_no_reason_to_wake() -> None:
    """The next end of a wait is one still to come: at the moment a destination's own wait, or a
    workspace-wide one, ends, there is none left."""
    holds = SlackHolds()
    holds.failed("C1", 0.0)
    assert holds.next_end(0.5) == 1.0 and holds.next_end(1.0) is None
    holds.failed("C2", 10.0, retry_after=5, workspace_wide=True)
    assert holds.next_end(12.0) == 15.0 and holds.next_end(15.0) is None


def test_an_error_streak_is_forgotten_only_after_more_than_a_minute_of_quiet() -> None:
    """A destination that errs again 60 s after its wait ended still doubles its wait; once it has been
    quiet for longer, it starts again from the first wait."""
    holds = SlackHolds()
    assert holds.failed("C1", 0.0) == 1.0  # waits until 1
    assert holds.next_end(61.0) is None
    assert holds.failed("C1", 61.0) == 2.0  # waits until 63
    assert holds.next_end(123.5) is None
    assert holds.failed("C1", 123.5) == 1.0


class SlowJobClient(JobClient):
    """A job client whose every read takes `seconds` on the fake clock: a GraphScope slower than the
    poll interval."""

    def __init__(self, url: str, clock: FakeClock, seconds: float) -> None:
        super().__init__(url, backoff=0.01)
        self._fake_clock = clock
        self._seconds = seconds

    def get_job(self, job_id: str) -> JobWithLog:
        self._fake_clock.advance(self._seconds)
        return super().get_job(job_id)

    def probe_job(self, job_id: str) -> JobWithLog | None:
        self._fake_clock.advance(self._seconds)
        return super().probe_job(job_id)


def test_a_graphscope_slower_than_the_interval_still_leaves_time_to_post(world: World) -> None:
    """Polls that take longer than the poll interval still post their notices: the delivery pass that
    follows a poll is never left without time."""
    job_id = world.emulator.add_job(status="RUNNING")
    world.emulator.add_job(status="RUNNING")  # still running: every poll reads it and the next id, 12 s
    notifier = world.notifier(jobs=SlowJobClient(world.emulator.url, world.clock, seconds=6))
    time = world.simulate(until=60)
    time.at(1, lambda: world.emulator.finish_job(job_id, "SUCCESS"))
    time.run(notifier)
    assert len(world.notices()) == 1


def test_a_turn_returns_the_seconds_until_the_next_poll(world: World) -> None:
    """Polls start every interval: a turn says how long to wait for the next one, to the microsecond."""
    notifier = world.notifier()
    assert notifier.turn() == 10.0
    world.clock.advance(9.5)
    assert notifier.turn() == 0.5  # only delivers: the poll is not due yet
    world.clock.advance(0.5)
    assert notifier.turn() == 10.0


def test_the_delivery_pass_after_a_poll_runs_until_the_next_poll_is_due_and_no_longer(world: World) -> None:
    """A Slack that takes 2 s a post gets the whole interval after a poll for its notices, and not a
    moment more: of seven destinations, five are posted in the poll's own turn (at 0, 2, 4, 6 and 8 s
    after it), the other two after the next poll, which starts on time."""
    for n in range(6):
        subscribe(world, f"C0SUB{n}")
    job_id = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier(post_seconds=2)
    notifier.turn()
    world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    assert notifier.turn() == 0.0
    assert len(world.slack.calls_to("chat.postMessage")) == 5
    notifier.turn()
    assert len(world.slack.calls_to("chat.postMessage")) == 7 and world.store.open_deliveries() == []


class DownJobClient(JobClient):
    """A job client that notes when (on the fake clock) each read starts, and fails while `down`."""

    def __init__(self, url: str, clock: FakeClock) -> None:
        super().__init__(url, backoff=0.01)
        self._fake_clock = clock
        self.down = False
        self.reads: list[float] = []

    def _read(self) -> None:
        self.reads.append(self._fake_clock.monotonic())
        if self.down:
            raise JobApiError("the Interactive server is down")

    def list_jobs(self) -> list[Job]:
        self._read()
        return super().list_jobs()

    def get_job(self, job_id: str) -> JobWithLog:
        self._read()
        return super().get_job(job_id)

    def probe_job(self, job_id: str) -> JobWithLog | None:
        self._read()
        return super().probe_job(job_id)


def test_polls_back_off_while_graphscope_errors_and_resume_their_interval_after(world: World) -> None:
    """With 1 s polls, a GraphScope that errors is asked again after 2, 4, then at most 1 + 4 = 5 s; once
    it answers, polls are 1 s apart again."""
    jobs = DownJobClient(world.emulator.url, world.clock)
    notifier = world.notifier(poll_interval=1, jobs=jobs)
    time = world.simulate(until=25.5)

    def down(value: bool) -> Callable[[], None]:
        return lambda: setattr(jobs, "down", value)

    time.at(0.5, down(True))
    time.at(18, down(False))
    time.run(notifier)
    # One read a poll (the empty server's list at 0, then the next id): failed at 1, 3, 7, 12 and 17.
    assert jobs.reads == [0, 1, 3, 7, 12, 17, 22, 23, 24, 25]


def test_a_store_that_fails_is_logged_and_backs_polls_off(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A store error is one error line naming it, and the next poll waits longer, as for GraphScope."""
    notifier = world.notifier()

    def locked(name: str, holder: str, ttl: float) -> bool:
        raise StoreError("database is locked")

    world.store.acquire_lease = locked  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        assert notifier.turn() == 10 + POLL_BACKOFF_EXTRA_SECONDS
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "notifier: the store failed: database is locked")
    ]


def test_an_unexpected_error_is_logged_with_its_traceback_and_backs_polls_off(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug's exception does not end the loop: one error line with the traceback, and a longer wait."""
    notifier = world.notifier()

    def broken(name: str, holder: str, ttl: float) -> bool:
        raise RuntimeError("a bug")

    world.store.acquire_lease = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        assert notifier.turn() == 10 + POLL_BACKOFF_EXTRA_SECONDS
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage() == "notifier: unexpected error; will try again"


# Odd server data: ids that are not job ids never stop the notifier.

MAX_JOB_ID = 2**63 - 1


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on each backend: SQLite in a file, PostgreSQL in a database of its own."""
    url = f"sqlite:///{tmp_path}/jobbot.db"
    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
    store = open_store(url)
    yield store
    store.close()


@pytest.fixture
def either(world: World, any_store: Store) -> World:
    """The world of these tests, on the SQLite store and on the PostgreSQL one."""
    return World(world.emulator, world.slack, any_store, world.clock, world.db_path, world.clients)


def odd_warnings(caplog: pytest.LogCaptureFixture, job_id: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and "skipped" in r.getMessage() and repr(job_id) in r.getMessage()
    ]


def skipped_count(reason: str) -> float:
    return (
        metrics.REGISTRY.get_sample_value(
            "jobbot_odd_jobs_skipped_total", {"server": "default", "reason": reason}
        )
        or 0.0
    )


def test_an_odd_id_on_first_start_is_skipped_once_and_every_other_job_is_announced(
    either: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A "job-3" entry at the baseline and at every later reconcile is skipped with one warning per process
    and one count; the polls succeed and the real jobs are tracked and announced."""
    world = either
    running = world.emulator.add_job(status="RUNNING")
    world.emulator.add_job(status="SUCCESS", job_id="job-3")
    before = skipped_count("not_a_number")
    notifier = world.notifier()
    with caplog.at_level(logging.DEBUG, logger="jobbot.notifier"):
        for _ in range(3):
            report = notifier.poll_once()
            assert report.interactive_error is None and report.slack_error is None
            world.clock.advance(600)  # every poll a reconcile: the list with the odd entry, each time
        world.emulator.finish_job(running, "SUCCESS")
        report = notifier.poll_once()
    assert report.finished == [running] and report.interactive_error is None
    assert [m.metadata["event_payload"]["job_ids"] for m in world.notices() if m.metadata] == [[running]]
    assert len(odd_warnings(caplog, "job-3")) == 1
    assert skipped_count("not_a_number") - before == 1
    assert "job-3" not in world.store.job_statuses()


def test_odd_ids_that_appear_later_are_skipped_and_never_taken_for_real_jobs(
    either: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Non-ASCII digits (which int() reads as 12), leading zeros and letters seen by a reconcile are
    skipped with a warning each; none is recorded or announced as job 12 or 7; a real job is."""
    world = either
    notifier = world.notifier()
    notifier.poll_once()  # baseline: an empty server
    odd = ["\u0661\u0662", "007", "job-9"]
    for job_id in odd:
        world.emulator.add_job(status="SUCCESS", job_id=job_id)
    real = world.emulator.add_job(status="FAILED")
    with caplog.at_level(logging.DEBUG, logger="jobbot.notifier"):
        world.clock.advance(600)
        report = notifier.poll_once()
        world.clock.advance(600)
        notifier.poll_once()
    assert report.reconciled and report.finished == [real] and report.interactive_error is None
    assert set(world.store.job_statuses()) == {real}
    assert all(world.store.notice_count(j) == 0 for j in ("12", "7"))
    for job_id in odd:
        assert len(odd_warnings(caplog, job_id)) == 1, job_id


def test_ids_up_to_2_63_minus_1_work_and_the_next_is_skipped_with_a_warning(
    either: World, caplog: pytest.LogCaptureFixture
) -> None:
    """On a server whose counter nears 2**63: ids ...806 and ...807 are tracked and announced, ...808
    (past BIGINT) is skipped with one warning, and polls go on without error."""
    world = either
    with Emulator(first_id=MAX_JOB_ID - 1).start() as emulator:
        edge = World(emulator, world.slack, world.store, world.clock, world.db_path, world.clients)
        first = emulator.add_job(status="RUNNING")
        assert first == str(MAX_JOB_ID - 1)
        notifier = edge.notifier()
        notifier.poll_once()
        last = emulator.add_job(status="SUCCESS")
        beyond = emulator.add_job(status="SUCCESS")
        assert (last, beyond) == (str(MAX_JOB_ID), str(MAX_JOB_ID + 1))
        too_large_before = skipped_count("too_large")
        emulator.finish_job(first, "SUCCESS")
        with caplog.at_level(logging.DEBUG, logger="jobbot.notifier"):
            edge.clock.advance(10)
            steady = notifier.poll_once()
            edge.clock.advance(10)
            quiet = notifier.poll_once()
            edge.clock.advance(600)
            reconciled = notifier.poll_once()
            edge.clock.advance(600)
            notifier.poll_once()
    assert sorted(steady.finished) == sorted([first, last]) and steady.interactive_error is None
    assert quiet.interactive_error is None and reconciled.interactive_error is None
    assert reconciled.reconciled and reconciled.finished == []
    assert edge.store.high_water() == MAX_JOB_ID
    assert edge.store.notice_count(last) == 1
    [warning] = odd_warnings(caplog, beyond)
    assert "(too large)" in warning.getMessage()
    assert skipped_count("too_large") - too_large_before == 1


# A redeployed server: ids start again at 1.

RESET_LINE = "the Interactive server's job ids started again at 1 (its metadata was reset)"


def reset_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    return [message for message in warnings if RESET_LINE in message]


def announced_ids(world: World) -> list[str]:
    """The job ids of every notice and digest entry in the channel, sorted by id."""
    ids = [j for m in world.notices() if m.metadata for j in m.metadata["event_payload"]["job_ids"]]
    return sorted(ids, key=int)


def test_a_redeploy_seen_as_an_outage_is_noticed_on_the_first_poll_back(
    either: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The server goes away and comes back with ids from 1: the first poll that reaches it starts a new
    generation, says so once, and announces the new server's finished jobs once each; the old server's
    watch and cancel claim on the same ids are not carried over."""
    world = either
    old = [world.emulator.add_job(status=s, graph_id="before") for s in ("SUCCESS", "RUNNING", "RUNNING")]
    notifier = world.notifier()
    notifier.poll_once()
    world.store.watch(old[1], "U0OLDWATCHER", world.clock())
    world.store.claim_cancel(old[2], "U0OLDCANCEL", world.clock(), stale_after=3600)
    port = world.emulator.port
    world.emulator.stop()
    world.clock.advance(10)
    assert notifier.poll_once().interactive_error, "the outage is a failed poll"
    world.emulator.forget_jobs()
    world.emulator.start("127.0.0.1", port)
    new = [
        world.emulator.add_job(status=s, graph_id="after", start_time_ms=1_900_000_000_000 + n)
        for n, s in enumerate(("SUCCESS", "RUNNING", "CANCELLED"))
    ]
    assert new == old, "the same ids, now naming other jobs"
    resets = (
        metrics.REGISTRY.get_sample_value("jobbot_interactive_resets_total", {"server": "default"}) or 0.0
    )
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        back = notifier.poll_once()
        world.clock.advance(10)
        again = notifier.poll_once()
        world.emulator.finish_job(new[1], "SUCCESS")
        world.clock.advance(10)
        later = notifier.poll_once()
    assert back.interactive_error is None and sorted(back.finished) == [new[0], new[2]]
    assert again.finished == [] and later.finished == [new[1]]
    [line] = reset_warnings(caplog)
    assert "3 jobs of the previous generation kept in history" in line
    assert (
        metrics.REGISTRY.get_sample_value("jobbot_interactive_resets_total", {"server": "default"})
        == resets + 1
    )
    notices = world.notices()
    assert len(notices) == 3 and all("after" in text_of(m) and "before" not in text_of(m) for m in notices)
    assert announced_ids(world) == new
    assert world.notices("D0OLDWATCHER") == [], "the old job's watcher is not told about the new job 2"
    assert "U0OLDCANCEL" not in "".join(text_of(m) for m in notices)
    assert all(world.store.notice_count(j) == 1 for j in new)


def test_a_redeploy_between_two_polls_is_noticed_when_a_running_job_vanishes(
    either: World, caplog: pytest.LogCaptureFixture
) -> None:
    """No poll saw the outage, but a running job the server no longer has (404) shows the reset: the
    same poll starts a new generation and announces the new server's finished job."""
    world = either
    world.emulator.add_job(status="SUCCESS", graph_id="before")
    world.emulator.add_job(status="SUCCESS", graph_id="before")
    world.emulator.add_job(status="RUNNING", graph_id="before")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.forget_jobs()
    fresh = world.emulator.add_job(status="FAILED", graph_id="after", log="ERROR: fresh failure\n")
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        report = notifier.poll_once()
        world.clock.advance(10)
        notifier.poll_once()
    assert report.finished == [fresh] and report.interactive_error is None
    assert len(reset_warnings(caplog)) == 1
    [notice] = world.notices()
    assert "after" in text_of(notice)
    assert world.store.notice_count(fresh) == 1 and set(world.store.job_statuses()) == {fresh}


def test_a_redeploy_that_already_passed_the_old_ids_is_noticed_by_start_times(
    either: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing running and no outage seen, and the new server already has more jobs than the old one
    had: the first new id is not taken for the old server's next job, because the highest known job
    now started at another time. Its jobs are announced once each, as one digest."""
    world = either
    old = [world.emulator.add_job(status="SUCCESS", graph_id="before") for _ in range(2)]
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.forget_jobs()
    new = [
        world.emulator.add_job(status="SUCCESS", graph_id="after", start_time_ms=1_900_000_000_000 + n)
        for n in range(5)
    ]
    assert new[:2] == old
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        report = notifier.poll_once()
        world.clock.advance(10)
        notifier.poll_once()
    assert sorted(report.finished, key=int) == new
    assert len(reset_warnings(caplog)) == 1
    [digest] = world.notices()
    assert "5 jobs finished" in text_of(digest) and "before" not in text_of(digest)
    assert all(world.store.notice_count(j) == 1 for j in new)


def test_a_new_server_with_a_long_finished_history_is_recorded_not_announced(
    either: World, caplog: pytest.LogCaptureFixture
) -> None:
    """After a reset, more finished jobs than one digest holds look like another server's history, not
    news: like a first start, they are recorded and not announced, and the warning says so."""
    world = either
    world.emulator.add_job(status="RUNNING", graph_id="before")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.forget_jobs()
    world.emulator.seed_history(40)
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        report = notifier.poll_once()
    assert report.interactive_error is None and report.finished == []
    [line] = reset_warnings(caplog)
    assert line == (
        f"notifier: {RESET_LINE}; treating its jobs as new; 1 jobs of the previous generation kept in "
        "history; its 40 finished jobs are recorded, not announced (more than one digest: another "
        "server's history rather than news)"
    )
    assert world.notices() == [] and len(world.store.job_statuses()) == 40


def test_a_redeploy_while_jobbot_was_down_is_noticed_by_its_first_reconcile(
    either: World, caplog: pytest.LogCaptureFixture
) -> None:
    """jobbot restarts after the server was redeployed: its first poll reads the list, finds the jobs it
    knew gone, begins a new generation and announces the new server's finished jobs once each."""
    world = either
    for _ in range(3):
        world.emulator.add_job(status="SUCCESS", graph_id="before")
    world.notifier().poll_once()
    world.emulator.forget_jobs()
    new = [world.emulator.add_job(status="SUCCESS", graph_id="after") for _ in range(2)]
    restarted = world.notifier()  # a new process on the same store
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        report = restarted.poll_once()
        world.clock.advance(10)
        restarted.poll_once()
    assert report.reconciled and sorted(report.finished, key=int) == new
    [line] = reset_warnings(caplog)
    assert "3 jobs of the previous generation kept in history" in line
    assert announced_ids(world) == new
    assert all("after" in text_of(m) for m in world.notices())


def test_a_list_that_lost_entries_is_not_taken_for_a_reset(
    either: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A reconcile whose list comes back empty while the newest known job is still there (asked for by
    itself) begins no generation and announces nothing again."""
    world = either
    for _ in range(3):
        world.emulator.add_job(status="SUCCESS")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.faults.fail_next(1, status=200, body=b"[]", route=LIST_JOBS)
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(600)
        report = notifier.poll_once()
        world.clock.advance(600)
        notifier.poll_once()
    assert report.reconciled and report.interactive_error is None and report.finished == []
    assert reset_warnings(caplog) == [] and world.notices() == []
    assert set(world.store.job_statuses()) == {"1", "2", "3"}


def test_a_new_server_with_exactly_one_digest_of_finished_jobs_is_announced(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """After a reset, as many finished jobs as one digest holds are still news: announced in one digest,
    and the warning says they are announced."""
    world.emulator.add_job(status="RUNNING", graph_id="before")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.forget_jobs()
    new = world.emulator.seed_history(MAX_ANNOUNCED_AFTER_RESET)
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        report = notifier.poll_once()
    assert sorted(report.finished, key=int) == new
    [line] = reset_warnings(caplog)
    assert line == (
        f"notifier: {RESET_LINE}; treating its jobs as new; 1 jobs of the previous generation kept in "
        f"history; its {MAX_ANNOUNCED_AFTER_RESET} finished job(s) are announced"
    )
    [digest] = world.notices()
    assert announced_ids(world) == new and "before" not in text_of(digest)


def test_a_reset_is_confirmed_on_the_highest_job_that_shows_it(world: World) -> None:
    """A store from before start times were kept has none for its newest job, which therefore cannot
    show a reset; the highest job that does (another start time) confirms it on its own, and the new
    server's jobs are announced."""
    old_start = 1_700_000_000_000
    world.store.take_baseline(
        [
            TrackedJob("1", "SUCCESS", True, old_start),
            TrackedJob("2", "SUCCESS", True, old_start + 1),
            TrackedJob("3", "SUCCESS", True, None),
        ],
        world.clock(),
    )
    new = [
        world.emulator.add_job(status="SUCCESS", graph_id="after", start_time_ms=1_900_000_000_000 + n)
        for n in range(3)
    ]
    assert new == ["1", "2", "3"]
    report = world.notifier().poll_once()  # a restart: the first poll reads the whole list
    assert report.reconciled and sorted(report.finished, key=int) == new
    assert announced_ids(world) == new


def test_a_reconcile_that_finds_every_known_job_reads_only_the_list(world: World) -> None:
    """When the list shows every known job as it was, the reconcile asks the server for no job by itself."""
    for _ in range(3):
        world.emulator.add_job(status="SUCCESS")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.reset_stats()
    world.clock.advance(600)
    assert notifier.poll_once().reconciled
    assert world.emulator.requests == [("GET", "/v1/job")]


def test_an_outage_of_a_server_with_no_jobs_is_not_taken_for_a_reset(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """With no job known, nothing can show a reset: the first poll after an outage begins no generation."""
    notifier = world.notifier()
    notifier.poll_once()  # the baseline of an empty server
    resets = (
        metrics.REGISTRY.get_sample_value("jobbot_interactive_resets_total", {"server": "default"}) or 0.0
    )
    world.emulator.faults.fail_next(20, status=500)
    world.clock.advance(10)
    assert notifier.poll_once().interactive_error
    world.emulator.faults.clear()
    job_id = world.emulator.add_job(status="SUCCESS")
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        report = notifier.poll_once()
    assert report.finished == [job_id] and not report.reconciled
    assert reset_warnings(caplog) == []
    assert (
        metrics.REGISTRY.get_sample_value("jobbot_interactive_resets_total", {"server": "default"}) or 0.0
    ) == resets


# What a poll writes to the store.


def recorded_polls(world: World) -> list[list[TrackedJob]]:
    """From now on, the jobs each poll hands to `record_poll` as seen."""
    polls: list[list[TrackedJob]] = []
    record = world.store.record_poll

    def recording(
        seen: Sequence[TrackedJob],
        notices: Sequence[NoticeRow],
        *,
        now: datetime,
        reconciled: bool,
        **live: Any,
    ) -> int:
        polls.append(list(seen))
        return record(seen, notices, now=now, reconciled=reconciled, **live)

    world.store.record_poll = recording  # type: ignore[method-assign]
    return polls


def test_a_poll_records_only_the_jobs_that_changed(world: World) -> None:
    """A running job read again unchanged is not written back, by a steady poll or by a reconcile; a job
    whose status changed is, and a reconcile that finds it finished leaves it no longer active."""
    quiet, changing = world.emulator.add_job(status="RUNNING"), world.emulator.add_job(status="RUNNING")
    world.notifier().poll_once()
    seen = recorded_polls(world)
    notifier = world.notifier()  # a restart: its first poll is a reconcile
    notifier.poll_once()
    world.clock.advance(10)
    notifier.poll_once()
    world.emulator.finish_job(changing, "SUCCESS")
    world.clock.advance(600)
    assert notifier.poll_once().reconciled
    assert [[job.id for job in jobs] for jobs in seen] == [[], [], [changing]]
    assert world.store.job_statuses()[changing].status == "SUCCESS"
    assert [job.id for job in world.store.active_jobs()] == [quiet]


def test_a_job_recorded_without_a_start_time_learns_it_when_read_again(world: World) -> None:
    """Jobs a store kept before start times were recorded get theirs when read again, by a reconcile or
    a steady poll, even though their status did not change: a reset can then be seen on them."""
    first, second = world.emulator.add_job(status="RUNNING"), world.emulator.add_job(status="RUNNING")
    world.store.take_baseline([TrackedJob(first, "RUNNING", False, None)], world.clock())
    notifier = world.notifier()
    notifier.poll_once()  # the first poll of a process reads the whole list
    world.store.record_poll(
        [TrackedJob(second, "RUNNING", False, None)], [], now=world.clock(), reconciled=False
    )
    world.clock.advance(10)
    assert not notifier.poll_once().reconciled
    statuses = world.store.job_statuses()
    assert statuses[first].start_time_ms is not None and statuses[second].start_time_ms is not None


# A failure's log reply.


def failure_notice_and_replies(world: World) -> tuple[Posted, list[Posted]]:
    [notice] = world.notices()
    return notice, [m for m in world.slack.messages(CHANNEL) if m.thread_ts == notice.ts]


def test_a_failures_log_reply_names_its_ledger_key_and_job_in_its_metadata(world: World) -> None:
    """The thread reply under a failure carries the notice's key plus ":log" and the failed job's id,
    and is posted without first searching the thread (nothing can be there yet)."""
    notifier = world.notifier()
    notifier.poll_once()
    job_id = world.emulator.add_job(status="FAILED", log="ERROR: disk full\n")
    world.clock.advance(10)
    notifier.poll_once()
    notice, [reply] = failure_notice_and_replies(world)
    assert notice.metadata is not None and reply.metadata is not None
    key = notice.metadata["event_payload"]["key"]
    assert reply.metadata["event_payload"] == {"key": f"{key}:log", "job_ids": [job_id]}
    assert world.slack.calls_to("conversations.replies") == []


def test_a_log_reply_whose_answer_was_lost_is_found_in_the_thread_not_posted_twice(world: World) -> None:
    """Slack took the reply but its answer never came: the next attempt finds the reply in the notice's
    thread and does not post it again."""
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.add_job(status="FAILED", log="ERROR: disk full\n")
    lost = Scripted(hang_up_after_success=True)
    world.slack.script("chat.postMessage", lost, lost)  # the notice's answer, then the reply's
    for _ in range(3):
        world.clock.advance(10)
        notifier.poll_once()
    _, [reply] = failure_notice_and_replies(world)
    assert "disk full" in text_of(reply)
    assert world.store.open_deliveries() == []
    assert len(world.slack.calls_to("chat.postMessage")) == 2


def test_a_failures_reply_shows_the_last_lines_of_its_log_as_logged(world: World) -> None:
    """The reply shows the last 40 lines of the log, each as logged, not counting blank lines at its end."""
    lines = [f"step {n}: loading edges" for n in range(1, 45)] + ["ERROR: no such vertex label: TAX"]
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.add_job(status="FAILED", log="\n".join(lines) + "\n\n\n")
    world.clock.advance(10)
    notifier.poll_once()
    _, [reply] = failure_notice_and_replies(world)
    [section] = reply.blocks
    tail = "\n".join(lines[-40:])
    assert section["text"]["text"].endswith(f"last lines of the log:\n```\n{tail}\n```")


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        ("not_in_channel", "Invite the bot to the channel (/invite @jobbot) for future notices."),
        ("is_archived", "The channel is archived; /jobs unsubscribe there or change JOBBOT_NOTIFY_CHANNEL."),
        (
            "channel_is_archived",
            "The channel is archived; /jobs unsubscribe there or change JOBBOT_NOTIFY_CHANNEL.",
        ),
        (
            "channel_not_found",
            "Check the channel ID (JOBBOT_NOTIFY_CHANNEL or the subscription) and that the bot can see it.",
        ),
        ("invalid_blocks", ""),
    ],
)
def test_a_refused_notice_is_logged_with_the_fix_for_its_error(
    world: World, caplog: pytest.LogCaptureFixture, error: str, advice: str
) -> None:
    """The error line for a notice Slack will never take names the destination, the error, the jobs,
    and what to do about that error (nothing to add for an error jobbot has no advice for)."""
    notifier = world.notifier()
    notifier.poll_once()
    job_id = world.emulator.add_job(status="SUCCESS")
    world.slack.script("chat.postMessage", Scripted(200, {"ok": False, "error": error}))
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        assert notifier.poll_once().failed == 1
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert line == (
        f"notifier: cannot post to {CHANNEL} ({error}); 1 notice(s) for job(s) {job_id} not delivered. "
        + advice
    )


# What a steady poll reads.


def test_a_running_job_gone_from_a_server_that_was_not_reset_is_dropped_with_a_warning(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A running job the server no longer has, while the newest job is still there, is no reset: one
    warning, the job is no longer watched, and the poll goes on to the other running jobs."""
    gone, finishing = world.emulator.add_job(status="RUNNING"), world.emulator.add_job(status="RUNNING")
    world.emulator.add_job(status="SUCCESS")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.finish_job(finishing, "SUCCESS")
    world.emulator.faults.fail_next(
        1, status=404, body=b'{"code": 4, "message": "key not found"}', route=GET_JOB
    )
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        report = notifier.poll_once()
    assert report.finished == [finishing] and report.interactive_error is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"notifier: job {gone} is no longer on the server; no longer watching it"]
    assert world.store.active_jobs() == []
    world.emulator.reset_stats()
    world.clock.advance(10)
    notifier.poll_once()
    assert ("GET", f"/v1/job/{gone}") not in world.emulator.requests


def test_a_reset_server_one_job_ahead_is_noticed_at_the_first_new_id(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A new server that has made one job more than the old one had: the first new id asked for is not
    taken for the old server's next job, since the newest job we know started at another time."""
    old = [world.emulator.add_job(status="SUCCESS", graph_id="before") for _ in range(2)]
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.forget_jobs()
    new = [
        world.emulator.add_job(status="SUCCESS", graph_id="after", start_time_ms=1_900_000_000_000 + n)
        for n in range(3)
    ]
    assert new[:2] == old
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        report = notifier.poll_once()
    assert sorted(report.finished, key=int) == new
    assert len(reset_warnings(caplog)) == 1
    assert announced_ids(world) == new


def test_a_new_job_is_recorded_under_the_id_asked_for(world: World) -> None:
    """The server's answer for the next id names another id: the job is recorded and announced under the
    id asked for, and the highest known id does not jump to the one in the answer."""
    notifier = world.notifier()
    notifier.poll_once()  # an empty server: the next id is 1
    world.emulator.faults.fail_next(1, status=200, body=json.dumps(JOB).encode(), route=GET_JOB)
    assert JOB["id"] == "7"
    world.clock.advance(10)
    report = notifier.poll_once()
    assert report.finished == ["1"]
    assert set(world.store.job_statuses()) == {"1"} and world.store.high_water() == 1
    [notice] = world.notices()
    assert notice.text.startswith("Job 1 finished")


# What a notice says.


def test_a_notice_shows_when_the_job_started_and_how_long_it_took(world: World) -> None:
    """The notice gives the job's start (a Slack date token) and its duration, from the server's times."""
    start_ms = 1_767_268_800_000
    job_id = world.emulator.add_job(status="RUNNING", graph_id="modern", start_time_ms=start_ms)
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.finish_job(job_id, "SUCCESS", end_time_ms=start_ms + 185_000)
    world.clock.advance(10)
    notifier.poll_once()
    [notice] = world.notices()
    assert notice.text == f"Job {job_id} finished: SUCCESS (graph modern, took 3m 05s)"
    assert f"started <!date^{start_ms // 1000}^" in text_of(notice)


def test_a_cancel_through_jobbot_is_named_on_a_failure_and_never_on_a_success(world: World) -> None:
    """A job cancelled through jobbot that the server records as FAILED (the loader killed) still says
    who cancelled it; a job that succeeded although someone asked to cancel it does not."""
    failed, succeeded = world.emulator.add_job(status="RUNNING"), world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    for job_id in (failed, succeeded):
        world.store.claim_cancel(job_id, "U0CANCELS", world.clock(), stale_after=60)
    world.emulator.finish_job(failed, "FAILED")
    world.emulator.finish_job(succeeded, "SUCCESS")
    world.clock.advance(10)
    notifier.poll_once()
    by_job = {m.metadata["event_payload"]["job_ids"][0]: text_of(m) for m in world.notices() if m.metadata}
    assert "Cancelled by <@U0CANCELS>" in by_job[failed]
    assert "U0CANCELS" not in by_job[succeeded]


# What Slack's errors do.


def notices_total(result: str) -> float:
    return (
        metrics.REGISTRY.get_sample_value("jobbot_notices_total", {"server": "default", "result": result})
        or 0.0
    )


def test_a_500_from_slack_is_reported_and_logged_with_the_wait_before_the_next_try(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack answering 500 may have posted: the poll reports the error and one warning says when the
    delivery is tried again."""
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.add_job(status="SUCCESS")
    world.slack.script("chat.postMessage", Scripted(500))
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        report = notifier.poll_once()
    assert report.slack_error == "Slack answered HTTP 500"
    [delivery] = world.store.open_deliveries()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"notifier: delivery {delivery.id} to {CHANNEL}: Slack answered HTTP 500; trying it again in 1 s"
    ]


@pytest.mark.parametrize("finished", [1, DIGEST_THRESHOLD + 1], ids=["notices", "digests"])
def test_every_delivery_slack_refuses_for_good_is_counted_recorded_with_its_error_and_logged(
    world: World, caplog: pytest.LogCaptureFixture, finished: int
) -> None:
    """Two deliveries (a notice or a digest for each of two channels) refused for good in one poll: the
    poll counts two failures, the metric too, each delivery is recorded as failed with Slack's error,
    and each error line lists its jobs."""
    subscribe(world, OTHER)
    notifier = world.notifier()
    notifier.poll_once()
    jobs = [world.emulator.add_job(status="SUCCESS") for _ in range(finished)]
    refused = Scripted(200, {"ok": False, "error": "channel_not_found"})
    world.slack.script("chat.postMessage", refused, refused)
    states: list[tuple[DeliveryState, str | None]] = []
    set_state = world.store.set_delivery_state

    def recording(
        delivery_id: int,
        state: DeliveryState,
        *,
        now: datetime,
        channel: str | None = None,
        ts: str | None = None,
        error: str | None = None,
    ) -> None:
        states.append((state, error))
        set_state(delivery_id, state, now=now, channel=channel, ts=ts, error=error)

    world.store.set_delivery_state = recording  # type: ignore[method-assign]
    failed_before = notices_total("failed")
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        report = notifier.poll_once()
    assert report.failed == 2 and notices_total("failed") - failed_before == 2
    failures = [(state, error) for state, error in states if state is DeliveryState.FAILED]
    assert failures == [(DeliveryState.FAILED, "channel_not_found")] * 2
    listed = ", ".join(jobs)
    errors = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert [e.split(" not delivered.")[0] for e in errors] == [
        f"notifier: cannot post to {channel} (channel_not_found); {len(jobs)} notice(s) for job(s) {listed}"
        for channel in sorted([CHANNEL, OTHER])
    ]


def test_a_redeploy_seen_as_an_outage_is_noticed_even_with_no_job_running(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing running, and the new server has fewer jobs than the old one: only the check after the
    outage can see the reset, on the first poll back, which announces the new server's job."""
    for _ in range(3):
        world.emulator.add_job(status="SUCCESS", graph_id="before")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.faults.fail_next(20, status=500)
    world.clock.advance(10)
    assert notifier.poll_once().interactive_error
    world.emulator.faults.clear()
    world.emulator.forget_jobs()
    fresh = world.emulator.add_job(status="SUCCESS", graph_id="after")
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        report = notifier.poll_once()
    assert report.finished == [fresh] and len(reset_warnings(caplog)) == 1
    assert announced_ids(world) == [fresh]


def test_a_poll_logs_how_many_jobs_finished_and_the_first_20_ids(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """One info line per poll that saw jobs finish: their number, and the ids of the first 20."""
    jobs = [world.emulator.add_job(status="RUNNING") for _ in range(21)]
    notifier = world.notifier()
    notifier.poll_once()
    for job_id in jobs:
        world.emulator.finish_job(job_id, "SUCCESS")
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        notifier.poll_once()
    lines = [r.getMessage() for r in caplog.records if "finished" in r.getMessage()]
    assert lines == [f"notifier: 21 job(s) finished: {', '.join(jobs[:20])}"]


def test_a_burst_bigger_than_one_digest_puts_the_newest_jobs_in_the_first(world: World) -> None:
    """Jobs beyond what one digest lists go in the next one: the first digest posted has the newest."""
    jobs = [world.emulator.add_job(status="RUNNING") for _ in range(MAX_ANNOUNCED_AFTER_RESET + 1)]
    notifier = world.notifier()
    notifier.poll_once()
    for job_id in jobs:
        world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier.poll_once()
    digests = [m.metadata["event_payload"]["job_ids"] for m in world.notices() if m.metadata]
    assert [sorted(ids, key=int) for ids in digests] == [jobs[1:], jobs[:1]]


def test_the_channels_allowance_decides_between_notices_and_a_digest(world: World) -> None:
    """With one post a second and a burst of three: three jobs finishing together get three notices (the
    allowance takes them now); two more right after, with no allowance left, get one digest."""
    jobs = [world.emulator.add_job(status="RUNNING") for _ in range(5)]
    notifier = world.notifier(paced=True)
    notifier.poll_once()
    for job_id in jobs[:3]:
        world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier.poll_once()
    for job_id in jobs[3:]:
        world.emulator.finish_job(job_id, "SUCCESS")
    notifier.poll_once()
    sizes = [len(m.metadata["event_payload"]["job_ids"]) for m in world.notices() if m.metadata]
    assert sizes == [1, 1, 1, 2]


def test_notice_latency_is_measured_from_the_jobs_end_to_its_post(world: World) -> None:
    """The latency histogram gets the time from the job's end_time to the post: here a quarter second."""
    job_id = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    world.clock.advance(10)
    ended = world.clock() - timedelta(seconds=0.25)
    world.emulator.finish_job(job_id, "SUCCESS", end_time_ms=int(ended.timestamp() * 1000))
    before = (
        metrics.REGISTRY.get_sample_value("jobbot_notice_latency_seconds_sum", {"server": "default"}) or 0.0
    )
    notifier.poll_once()
    after = (
        metrics.REGISTRY.get_sample_value("jobbot_notice_latency_seconds_sum", {"server": "default"}) or 0.0
    )
    assert after - before == pytest.approx(0.25)


def test_each_skipped_id_is_warned_about_with_its_reason_clipped_and_counted(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Each odd id gets one warning naming why it is skipped (too large, not canonical, not a number),
    with its first 80 characters, and one count under that reason."""
    notifier = world.notifier()
    notifier.poll_once()
    odd = {"9" * 20: "too large", "007": "not canonical", "job-9": "not a number", "x" * 100: "not a number"}
    for job_id in odd:
        world.emulator.add_job(status="SUCCESS", job_id=job_id)
    before = {reason: skipped_count(reason) for reason in ("too_large", "not_canonical", "not_a_number")}
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(600)
        assert notifier.poll_once().reconciled
    warnings = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert warnings == sorted(
        f"notifier: skipped a job listed with id {job_id[:80]!r} ({reason}); "
        "it is neither tracked nor announced"
        for job_id, reason in odd.items()
    )
    counted = {reason: skipped_count(reason) - before[reason] for reason in before}
    assert counted == {"too_large": 1, "not_canonical": 1, "not_a_number": 2}


def test_odd_ids_past_the_memory_bound_are_skipped_without_a_word(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once as many odd ids as the bound have been warned about, further ones are skipped silently."""
    monkeypatch.setattr(observe, "MAX_ODD_IDS_REMEMBERED", 2)
    for job_id in ("job-1", "job-2", "job-3"):
        world.emulator.add_job(status="SUCCESS", job_id=job_id)
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.notifier().poll_once()
    assert len([r for r in caplog.records if "skipped" in r.getMessage()]) == 2


# What a delivery pass posts.


def test_a_poll_slower_than_the_interval_still_leaves_half_an_interval_to_post(world: World) -> None:
    """A poll that ends past the next poll's start still gets half an interval (5 s) to post: three
    destinations, posts of 2 s each, all three in the poll's own turn."""
    subscribe(world, "C0SUB1")
    subscribe(world, "C0SUB2")
    job_id = world.emulator.add_job(status="RUNNING")
    world.emulator.add_job(status="RUNNING")  # read by every poll, like the job and the next id: 18 s
    notifier = world.notifier(jobs=SlowJobClient(world.emulator.url, world.clock, seconds=6), post_seconds=2)
    notifier.turn()
    world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier.turn()
    assert len(world.slack.calls_to("chat.postMessage")) == 3


def replies_in(world: World, channel: str) -> list[Posted]:
    """Thread replies jobbot posted in `channel`."""
    return [m for m in world.slack.messages(channel) if m.thread_ts and m.metadata]


def test_log_replies_wait_for_their_channels_allowance_and_not_for_anothers(world: World) -> None:
    """A reply needs two posts of a channel's allowance (one stays for the next notice): after two
    failure notices a channel waits for its replies, and a direct message's reply, behind it in the
    queue, goes out in the same pass; the waiting replies follow once the allowance refills."""
    failures = [world.emulator.add_job(status="RUNNING") for _ in range(2)]
    world.store.watch(failures[0], "U0WATCHER", world.clock())
    notifier = world.notifier(paced=True)
    notifier.poll_once()
    for job_id in failures:
        world.emulator.finish_job(job_id, "FAILED", log="ERROR: disk full\n")
    world.clock.advance(10)
    notifier.poll_once()
    assert len(world.notices()) == 2 and replies_in(world, CHANNEL) == []
    assert len(world.notices("D0WATCHER")) == 1 and len(replies_in(world, "D0WATCHER")) == 1
    world.clock.advance(10)
    notifier.poll_once()
    assert len(replies_in(world, CHANNEL)) == 2


def test_a_destination_waiting_out_a_refusal_does_not_hold_back_anothers_log_reply(world: World) -> None:
    """A failure's notice to one channel is refused for now; the other channel's notice and its log reply
    go out in the same pass."""
    subscribe(world, OTHER)
    job_id = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.finish_job(job_id, "FAILED", log="ERROR: disk full\n")
    world.slack.script(
        "chat.postMessage",
        Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "5"}, channel=CHANNEL),
    )
    world.clock.advance(10)
    report = notifier.poll_once()
    assert report.waiting == 0 and world.notices(CHANNEL) == []
    assert len(world.notices(OTHER)) == 1 and len(replies_in(world, OTHER)) == 1


def test_notices_a_waiting_channel_gathered_go_out_with_their_log_replies_in_the_same_pass(
    world: World,
) -> None:
    """A channel waits out a refusal while a failure's notice gathers behind its waiting one: when the
    waiting notice goes out, the gathered one follows in the same pass, its log reply too."""
    first, second = world.emulator.add_job(status="RUNNING"), world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.finish_job(first, "SUCCESS")
    world.slack.script(
        "chat.postMessage", Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "5"})
    )
    world.clock.advance(10)
    notifier.poll_once()
    world.emulator.finish_job(second, "FAILED", log="ERROR: disk full\n")
    world.clock.advance(10)
    report = notifier.poll_once()
    assert report.posted == 2 and len(world.notices()) == 2
    [reply] = replies_in(world, CHANNEL)
    assert "disk full" in text_of(reply)


def test_every_notice_left_waiting_in_a_pass_is_counted(world: World) -> None:
    """Two notices for a channel waiting out a Retry-After: a pass leaves both and counts both."""
    jobs = [world.emulator.add_job(status="RUNNING") for _ in range(2)]
    notifier = world.notifier()
    notifier.poll_once()
    for job_id in jobs:
        world.emulator.finish_job(job_id, "SUCCESS")
    limited = Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"})
    world.slack.script("chat.postMessage", limited)
    world.clock.advance(10)
    assert notifier.poll_once().waiting == 1  # the first refused, the second behind it
    world.clock.advance(10)
    assert notifier.poll_once().waiting == 2


def test_every_log_reply_left_waiting_in_a_pass_is_counted(world: World) -> None:
    """Two failures' log replies for a channel waiting out a Retry-After: a pass leaves both and counts
    both (the replies wait for the channel's allowance first, then Slack refuses the first for 30 s)."""
    jobs = [world.emulator.add_job(status="RUNNING") for _ in range(2)]
    notifier = world.notifier(paced=True)
    notifier.poll_once()
    for job_id in jobs:
        world.emulator.finish_job(job_id, "FAILED", log="ERROR: disk full\n")
    world.clock.advance(10)
    notifier.poll_once()  # two notices; the replies wait for the allowance
    limited = Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"})
    world.slack.script("chat.postMessage", limited)
    world.clock.advance(10)
    assert notifier.poll_once().waiting == 1  # the first reply refused, the second behind it
    world.clock.advance(10)
    assert notifier.poll_once().waiting == 2
    assert replies_in(world, CHANNEL) == []


def test_posting_what_a_waiting_channel_gathered_leaves_other_channels_replies_to_the_reply_step(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """When a channel's waiting notice goes out and what it gathered follows in the same pass, only those
    new notices are posted as notices: another channel's notices, posted earlier and waiting for their
    log replies, are not taken for unposted ones (nor their claims for another replica's)."""
    world.store.subscribe(
        Subscription(channel_id=OTHER, statuses=("SUCCESS",), added_by="U0ALICE", added_at=world.clock())
    )
    failures = [world.emulator.add_job(status="RUNNING") for _ in range(2)]
    successes = [world.emulator.add_job(status="RUNNING") for _ in range(2)]
    notifier = world.notifier(statuses=("FAILED",), paced=True)
    notifier.poll_once()
    for job_id in failures:
        world.emulator.finish_job(job_id, "FAILED", log="ERROR: disk full\n")
    world.emulator.finish_job(successes[0], "SUCCESS")
    limited = Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "5"}, channel=OTHER)
    world.slack.script("chat.postMessage", limited)
    world.clock.advance(10)
    notifier.poll_once()  # two failure notices (their replies wait for the allowance); OTHER refused
    assert len(world.notices(CHANNEL)) == 2 and replies_in(world, CHANNEL) == []
    world.emulator.finish_job(successes[1], "SUCCESS")
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        report = notifier.poll_once()
    assert report.posted == 2 and len(world.notices(OTHER)) == 2
    assert len(replies_in(world, CHANNEL)) == 2
    assert not [m for m in caplog.messages if "another replica" in m]


class StopOncePosted(threading.Event):
    """A stop event that is set as soon as Slack holds a message: the process stops mid-pass."""

    def __init__(self, slack: FakeSlack) -> None:
        super().__init__()
        self._slack = slack

    def is_set(self) -> bool:
        return bool(self._slack.messages())

    def wait(self, timeout: float | None = None) -> bool:
        return self.is_set()


def test_a_stop_during_a_delivery_pass_ends_it_and_leaves_the_rest_in_the_ledger(world: World) -> None:
    """The loop's stop event reaches the delivery pass: after the notice being posted, no other goes
    out, and the one left behind is posted by the next pass."""
    subscribe(world, OTHER)
    job_id = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier.run(StopOncePosted(world.slack))
    assert len(world.slack.messages()) == 1 and world.store.notice_count(job_id) == 2
    world.clock.advance(10)
    assert notifier.poll_once().posted == 1
    assert len(world.notices(CHANNEL)) == 1 and len(world.notices(OTHER)) == 1


def test_a_failed_poll_names_what_failed_and_never_blames_graphscope_for_the_store(world: World) -> None:
    """A store error is reported as the store's and a bug as unexpected, not as GraphScope's; each one
    fails the poll, and a Slack error alone does not."""
    notifier = world.notifier()

    def locked(name: str, holder: str, ttl: float) -> bool:
        raise StoreError("database is locked")

    world.store.acquire_lease = locked  # type: ignore[method-assign]
    report = notifier._tick()
    assert (report.store_error, report.interactive_error, report.unexpected_error) == (
        "database is locked",
        None,
        None,
    )

    def broken(name: str, holder: str, ttl: float) -> bool:
        raise RuntimeError("a bug")

    world.store.acquire_lease = broken  # type: ignore[method-assign]
    report = notifier._tick()
    assert (report.unexpected_error, report.interactive_error, report.store_error) == (
        "unexpected error",
        None,
        None,
    )
    assert PollReport(interactive_error="x").poll_failed
    assert PollReport(store_error="x").poll_failed
    assert PollReport(unexpected_error="x").poll_failed
    assert not PollReport(slack_error="ratelimited", failed=1).poll_failed


def recorded_not_posted(world: World, destinations: int) -> Notifier:
    """A notifier past its first poll, with one finished job's notices for `destinations` channels in
    the ledger and none posted yet (it was stopping); Slack takes 2 s a post."""
    for n in range(destinations - 1):
        subscribe(world, f"C0SUB{n}")
    job_id = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier(post_seconds=2)
    notifier.turn()
    world.emulator.finish_job(job_id, "SUCCESS")
    stopping = threading.Event()
    stopping.set()
    notifier.poll_once(stop=stopping)
    assert (
        world.slack.calls_to("chat.postMessage") == [] and len(world.store.open_deliveries()) == destinations
    )
    world.clock.advance(1)
    return notifier


def test_a_turn_between_polls_delivers_until_the_next_poll_is_due_and_no_longer(world: World) -> None:
    """A turn that only delivers (1 s after a poll, the next due at 10 s) posts at 1, 3, 5, 7 and 9 s
    and leaves the other two notices for after the poll: it never delays the poll."""
    notifier = recorded_not_posted(world, destinations=7)
    notifier.turn()
    assert len(world.slack.calls_to("chat.postMessage")) == 5


def test_a_stop_during_a_turn_between_polls_ends_its_delivery_pass(world: World) -> None:
    """The loop's stop event reaches a delivery-only turn too: once one notice is out, no other goes."""
    notifier = recorded_not_posted(world, destinations=7)
    notifier.turn(StopOncePosted(world.slack))
    assert len(world.slack.calls_to("chat.postMessage")) == 1


def test_a_delivery_only_tick_ends_at_the_time_it_is_given_and_on_stop(world: World) -> None:
    """_tick(poll=False) hands both bounds to the delivery pass: `until` ends it (posts at 1, 3, 5 and
    7 s for an end at 8 s), and so does `stop` (set before anything more is posted)."""
    notifier = recorded_not_posted(world, destinations=7)
    notifier._tick(poll=False, until=world.clock.monotonic() + 7)
    assert len(world.slack.calls_to("chat.postMessage")) == 4
    notifier._tick(poll=False, stop=StopOncePosted(world.slack))
    assert len(world.slack.calls_to("chat.postMessage")) == 4


def test_a_stop_reaches_the_live_cards_pass_of_a_delivery_only_tick(world: World) -> None:
    """_tick(poll=False) hands `stop` to the live cards' pass too: once one card is out, no other goes."""
    notifier = world.notifier(style=NoticeStyle.LIVE)
    notifier.poll_once()  # the baseline
    cards = [CardJob(FinishedJob(id=str(n), status="RUNNING"), f"C0LIVE{n}") for n in range(1, 6)]
    world.store.record_poll([], [], now=world.clock(), reconciled=False, cards=cards)
    notifier._tick(poll=False, stop=StopOncePosted(world.slack))
    assert len(world.slack.calls_to("chat.postMessage")) == 1


def interactive_sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"server": "quiet", **labels}) or 0.0


def test_quiet_polls_probe_for_the_next_job_without_counting_errors(world: World) -> None:
    """Each steady poll asks for the next job id and is told "no such job" by design: counted as a probe
    (operation `probe`), never in jobbot_interactive_errors_total; a person's read of a job that does
    not exist still counts there as JobNotFound."""
    world.emulator.add_job(status="RUNNING")
    notifier = world.notifier(jobs=JobClient(world.emulator.url, backoff=0.01, server="quiet"))
    errors = "jobbot_interactive_errors_total"
    not_found = interactive_sample(errors, operation="get", error="JobNotFound")
    probes = interactive_sample("jobbot_interactive_request_seconds_count", operation="probe")
    notifier.poll_once()  # the first poll reads the whole list
    for _ in range(3):
        world.clock.advance(10)
        notifier.poll_once()
    assert interactive_sample("jobbot_interactive_request_seconds_count", operation="probe") == probes + 3
    assert interactive_sample(errors, operation="get", error="JobNotFound") == not_found
    assert interactive_sample(errors, operation="probe", error="JobNotFound") == 0
    with pytest.raises(JobNotFound):
        world.clients[-1].get_job("999")
    assert interactive_sample(errors, operation="get", error="JobNotFound") == not_found + 1
