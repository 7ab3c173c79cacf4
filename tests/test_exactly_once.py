"""Exactly-once notices at the notifier: claims lost to another replica, refusals for now, full re-reads
after a restart or a change of leader, standbys that stay quiet, and the server's CANCELLED-then-FAILED."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime

import pytest
from slack_sdk import WebClient

from jobbot import metrics
from jobbot.authz import Access
from jobbot.emulator import CANCEL_FAILED_AT_ONCE, CANCEL_FAILED_LATER, CANCEL_STAYS, Quirks
from jobbot.jobs_api import JobClient
from jobbot.notifier import LEASE_NAME, Notifier
from jobbot.store import DeliveryState
from jobbot.store.sqlite import SqliteStore
from tests.desk import CANCELLER, Desk
from tests.fakes import TEAM_ID, Scripted
from tests.notice_world import CHANNEL, OTHER, World, subscribe, world

__all__ = ["world"]  # the fixture, shared with the notifier's own tests

RATE_LIMITED = Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "5"})


def refused_total() -> float:
    """Deliveries Slack refused for now (to be tried again), as the metric counts them."""
    return (
        metrics.REGISTRY.get_sample_value("jobbot_notices_total", {"server": "default", "result": "refused"})
        or 0.0
    )


def posts_to(world: World, channel: str) -> int:
    """chat.postMessage calls that reached Slack for `channel`, whatever Slack answered."""
    return sum(1 for c in world.slack.calls_to("chat.postMessage") if c.body.get("channel") == channel)


def test_a_delivery_claimed_by_another_replica_meanwhile_is_not_posted(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """When another replica claims the delivery between this one reading it and claiming it, this one
    loses the claim, says so, and posts nothing: the other replica's post is the only one."""
    job_id = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    other = SqliteStore(str(world.db_path))
    claim = world.store.claim_delivery

    def claimed_first_by_the_other(delivery_id: int, *, attempts: int, channel: str, now: datetime) -> bool:
        assert other.claim_delivery(delivery_id, attempts=attempts, channel=channel, now=now)
        return claim(delivery_id, attempts=attempts, channel=channel, now=now)

    world.store.claim_delivery = claimed_first_by_the_other  # type: ignore[method-assign]
    try:
        world.emulator.finish_job(job_id, "SUCCESS")
        world.clock.advance(10)
        with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
            report = notifier.poll_once()
        assert report.finished == [job_id] and report.posted == 0
        assert world.slack.calls_to("chat.postMessage") == []
        [delivery] = other.open_deliveries()
        assert f"notifier: delivery {delivery.id} was taken by another replica" in caplog.messages
        assert delivery.state is DeliveryState.POSTING and delivery.attempts == 1
    finally:
        other.close()


def test_a_refusal_for_now_puts_the_delivery_back_to_pending(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack's 429 posted nothing: the delivery goes back to pending (not left "posting", which would
    make the next attempt search the channel's history first), is counted as refused and logged with
    its wait, and is posted once later."""
    job_id = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.finish_job(job_id, "SUCCESS")
    world.slack.script("chat.postMessage", RATE_LIMITED)
    world.clock.advance(10)
    refused_before = refused_total()
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        report = notifier.poll_once()
    assert report.slack_error == "ratelimited" and report.posted == 0
    assert refused_total() - refused_before == 1
    [delivery] = world.store.open_deliveries()
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"notifier: Slack refused delivery {delivery.id} to {CHANNEL} for now (ratelimited); "
        "trying it again in 5 s"
    ]
    assert delivery.state is DeliveryState.PENDING and delivery.attempts == 1
    world.clock.advance(10)
    assert notifier.poll_once().posted == 1
    assert len(world.notices()) == 1 and world.slack.calls_to("conversations.history") == []


def test_a_destination_that_refuses_for_now_is_not_tried_again_in_the_pass_while_another_is_posted(
    world: World,
) -> None:
    """Two notices each for two channels; Slack refuses the first post to one channel for now: that
    channel's second notice waits (not posted in the same pass), the other channel gets both."""
    subscribe(world, OTHER)
    jobs = [world.emulator.add_job(status="RUNNING") for _ in range(2)]
    notifier = world.notifier()
    notifier.poll_once()
    for job_id in jobs:
        world.emulator.finish_job(job_id, "SUCCESS")
    world.slack.script("chat.postMessage", replace(RATE_LIMITED, channel=CHANNEL))
    world.clock.advance(10)
    report = notifier.poll_once()
    assert posts_to(world, CHANNEL) == 1, "the waiting channel was posted to again in the same pass"
    assert len(world.notices(OTHER)) == 2 and report.posted == 2 and report.waiting == 1
    world.clock.advance(10)
    notifier.poll_once()
    assert len(world.notices(CHANNEL)) == 2 and posts_to(world, CHANNEL) == 3


def hidden_job(world: World) -> str:
    """A job whose id is below the highest id jobbot knows but that steady polls never saw: the
    highest known job is 10, and the server then makes job 1."""
    world.emulator.add_job(status="RUNNING", job_id="10")
    return "1"


def test_a_restart_reads_the_whole_list_and_finds_a_job_below_the_highest_id(world: World) -> None:
    """A steady poll never asks for ids below the highest known one; the first poll after a restart
    reads the whole list, so such a job that finished meanwhile is announced."""
    hidden = hidden_job(world)
    notifier = world.notifier()
    notifier.poll_once()  # the baseline
    assert world.emulator.add_job(status="SUCCESS") == hidden
    world.clock.advance(10)
    assert notifier.poll_once().finished == []  # the steady poll cannot see it
    world.clock.advance(10)
    report = world.notifier().poll_once()  # a restart, well before the reconcile is due
    assert report.reconciled and report.finished == [hidden]
    assert len(world.notices()) == 1


def test_regaining_leadership_reads_the_whole_list(world: World) -> None:
    """A replica that stood by while another led re-reads the whole list when it leads again: jobs the
    other leader did not get to are found, even below the highest known id."""
    hidden = hidden_job(world)
    notifier = world.notifier()
    notifier.turn()  # leads; the baseline
    assert notifier.is_leader
    world.store.release_lease(LEASE_NAME, notifier.replica_id)
    assert world.store.acquire_lease(LEASE_NAME, "another-replica", 30)
    world.clock.advance(10)
    notifier.turn()
    assert not notifier.is_leader
    assert world.emulator.add_job(status="SUCCESS") == hidden
    world.store.release_lease(LEASE_NAME, "another-replica")
    world.clock.advance(10)
    notifier.turn()
    assert notifier.is_leader
    assert [m.metadata["event_payload"]["job_ids"] for m in world.notices() if m.metadata] == [[hidden]]


def test_several_new_ids_are_read_in_one_poll(world: World) -> None:
    """Jobs started and finished between two polls are all read by the next poll, not one a poll."""
    notifier = world.notifier()
    notifier.poll_once()
    jobs = [world.emulator.add_job(status="SUCCESS") for _ in range(3)]
    world.clock.advance(10)
    report = notifier.poll_once()
    assert not report.reconciled and report.finished == jobs


def test_a_standby_replica_does_not_poll_graphscope(world: World) -> None:
    """While another replica holds the lease, a replica's turns send no request to the server."""
    world.emulator.add_job(status="RUNNING")
    leader, standby = world.notifier(), world.notifier()
    leader.turn()
    assert leader.is_leader
    before = len(world.emulator.requests)
    for _ in range(3):
        world.clock.advance(10)
        standby.turn()
    assert not standby.is_leader
    assert len(world.emulator.requests) == before


def test_the_lease_is_released_on_exit_so_a_standby_leads_at_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A leader whose loop ends gives the lease up, and says so: with a 90 s lease (30 s polls), a standby
    leads on its next turn instead of after the lease would have run out."""
    leader, standby = world.notifier(poll_interval=30), world.notifier(poll_interval=30)
    assert leader.lease_seconds == 90
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.simulate(until=1).run(leader)  # one poll, then the loop is stopped
    assert caplog.records[-1].getMessage() == "notifier: lease released"
    assert not leader.is_leader
    standby.turn()
    assert standby.is_leader


def reconcile_then_restart(world: World, notifier: Notifier) -> None:
    """A reconcile by `notifier`, then one by a new notifier, as after a restart: both read the whole list."""
    world.clock.advance(600)
    assert notifier.poll_once().reconciled
    world.clock.advance(10)
    assert world.notifier().poll_once().reconciled


def test_a_cancel_the_server_then_records_as_failed_is_announced_once(world: World) -> None:
    """The server's race: a cancelled job's loader later overwrites CANCELLED with FAILED. The job is
    announced once, as cancelled, by steady polls, by a reconcile and after a restart alike."""
    # The overwrite is played by hand below, after a poll has seen CANCELLED, so the emulator's own
    # race is off here; the default race is met in test_jobbot_cancels_against_the_real_race_....
    world.emulator.quirks = Quirks(cancel_ends_failed=0.0)
    job_id = world.emulator.add_job(status="RUNNING")
    notifier = world.notifier()
    notifier.poll_once()
    world.emulator.cancel_job(job_id)
    world.clock.advance(10)
    assert notifier.poll_once().finished == [job_id]
    world.emulator.finish_job(job_id, "FAILED")
    world.clock.advance(10)
    notifier.poll_once()
    reconcile_then_restart(world, notifier)
    [notice] = world.notices()
    assert "CANCELLED" in notice.text + str(notice.blocks) and world.store.notice_count(job_id) == 1


def leader_gauge() -> float | None:
    return metrics.REGISTRY.get_sample_value("jobbot_leader", {"server": "default"})


def test_a_change_of_leadership_is_logged_once_and_shown_by_the_leader_gauge(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Taking the lease logs one line and sets jobbot_leader to 1; losing it to another replica logs one
    line and sets it to 0; turns that change nothing log nothing."""
    notifier = world.notifier()
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        for _ in range(3):
            notifier.turn()
            assert leader_gauge() == 1
            world.clock.advance(10)
        world.store.release_lease(LEASE_NAME, notifier.replica_id)
        assert world.store.acquire_lease(LEASE_NAME, "another-replica", 30)
        for _ in range(3):
            notifier.turn()
            assert leader_gauge() == 0
            world.clock.advance(10)
    lines = [r.getMessage() for r in caplog.records]
    changes = [line for line in lines if "leading" in line or "standing" in line]
    assert changes == ["notifier: leading: this replica polls and posts", "notifier: standing by"]


def test_only_a_poll_that_reached_graphscope_counts_as_a_success(world: World) -> None:
    """The readiness probe's "last successful poll" is not set by a poll that GraphScope failed, and is
    set by the next one that went through."""
    notifier = world.notifier()
    world.emulator.faults.fail_next(20, status=500)
    notifier.turn()
    assert notifier.is_leader and notifier.last_success is None
    world.emulator.faults.clear()
    world.clock.advance(20)
    notifier.turn()
    assert notifier.last_success is not None


def test_jobbot_cancels_against_the_real_race_say_cancelled_and_announce_each_job_once(
    world: World,
) -> None:
    """Against the default emulator, where a cancelled job's loader records FAILED before the cancel's
    reply, a moment after it, or not at all: each confirmed cancel's outcome says who cancelled it,
    and each job is announced once, as cancelled by that person, through polls, a reconcile and a
    restart alike. The job whose FAILED came before the first poll after the cancel is announced as
    CANCELLED too (so channels that hear of cancels hear of it, and those that hear of failures do not),
    with the server's record named."""
    emulator = world.emulator
    jobs: dict[str, str] = {}
    while set(jobs.values()) != {CANCEL_STAYS, CANCEL_FAILED_AT_ONCE, CANCEL_FAILED_LATER}:
        job_id = emulator.add_job(status="RUNNING")
        jobs.setdefault(job_id, emulator.cancel_fate(job_id))
    slack = WebClient(token="xoxb-test", base_url=world.slack.api_url, retry_handlers=[])
    access = Access(
        cancel_users=(CANCELLER,),
        cancel_usergroups=(),
        allowed_channels=(),
        client=slack,
        workspace_team=lambda: TEAM_ID,
    )
    client = JobClient(emulator.url, retries=0)
    world.clients.append(client)
    desk = Desk(client, world.store, access=access)
    notifier = world.notifier()
    notifier.poll_once()
    ending = {CANCEL_STAYS: "CANCELLED", CANCEL_FAILED_AT_ONCE: "FAILED", CANCEL_FAILED_LATER: "FAILED"}
    for job_id, fate in jobs.items():
        reply = desk.click_cancel(job_id)
        assert f"<@{CANCELLER}> cancelled job {job_id}" in reply["text"] + json.dumps(reply["blocks"])
        world.clock.advance(10)
        notifier.poll_once()
        final = ending[fate]
        assert emulator.wait_until(lambda: emulator.get(job_id).status == final)  # noqa: B023 (waited here)
        world.clock.advance(10)
        notifier.poll_once()
    reconcile_then_restart(world, notifier)
    notices = world.notices()
    for job_id in jobs:
        assert world.store.notice_count(job_id) == 1
        [notice] = [n for n in notices if n.metadata and job_id in n.metadata["event_payload"]["job_ids"]]
        shown = notice.text + json.dumps(notice.blocks)
        assert f"Cancelled by <@{CANCELLER}>" in shown, shown
        # Announced as what jobbot did, whatever the loader wrote after the kill; the server's record
        # is named beside it.
        assert notice.text.startswith(f"Job {job_id} finished: CANCELLED"), notice.text
        assert ("GraphScope recorded FAILED" in shown) == (jobs[job_id] == CANCEL_FAILED_AT_ONCE), shown
    assert len(notices) == len(jobs)
