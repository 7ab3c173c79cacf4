"""Live cards in one process (the emulator, a fake Slack over loopback, a SQLite store, simulated time): one
card per job and live channel, edited in place to each state, its thread, bursts as digest cards, and
long-running alerts, each posted once whatever fails on the way."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from jobbot import metrics
from jobbot.errors import InteractiveUnavailable
from jobbot.jobs_api import JobClient
from jobbot.models import FullLog, Job, NoticeStyle, Subscription
from jobbot.notifier import PollReport
from jobbot.notifier.live import LEARNED_MARGIN_SECONDS, LivePlanner, too_long
from jobbot.render.cards import FULL_LOG_MAX_BYTES
from jobbot.store import CardState, TrackedJob
from tests.fakes import Posted, Scripted
from tests.notice_world import CHANNEL, OTHER, World, world
from tests.server_json import JOB

__all__ = ["world"]

LIVE = NoticeStyle.LIVE


def cards(world: World, channel: str = CHANNEL) -> list[Posted]:
    """jobbot's top-level messages in the channel: with live style, its cards."""
    return [m for m in world.slack.messages(channel) if m.metadata and not m.thread_ts]


def thread(world: World, parent: Posted) -> list[Posted]:
    """jobbot's replies in a card's thread (an uploaded file's share is not one: see `uploads`)."""
    return [m for m in world.slack.messages(parent.channel) if m.thread_ts == parent.ts and not m.files]


def text_of(message: Posted) -> str:
    return message.text + json.dumps(message.blocks)


def start_and_poll(world: World, **settings: object) -> tuple[str, object]:
    """A running job, a notifier in live style that has taken its baseline, and the job's first poll."""
    notifier = world.notifier(style=LIVE, **settings)  # type: ignore[arg-type]
    notifier.poll_once()  # the first start: history recorded, nothing announced
    job_id = world.emulator.add_job(status="RUNNING", graph_id="modern")
    world.clock.advance(10)
    notifier.poll_once()
    return job_id, notifier


def test_a_running_job_gets_a_card_that_is_edited_in_place_to_its_end(world: World) -> None:
    job_id, notifier = start_and_poll(world)
    (card,) = cards(world)
    assert "is running" in card.text and "modern" in card.text
    assert card.metadata is not None and card.metadata["event_payload"]["job_ids"] == [job_id]

    world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier.poll_once()  # type: ignore[attr-defined]
    (edited,) = cards(world)
    assert edited.ts == card.ts, "the same message, edited"
    assert "succeeded" in edited.text and "took" in text_of(edited)
    assert [c.body["ts"] for c in world.slack.calls_to("chat.update")] == [card.ts]
    # The default filter broadcasts every ending from the card's thread; nothing else is posted.
    (ending,) = thread(world, card)
    assert ending.reply_broadcast and "succeeded" in text_of(ending)


def test_the_card_is_not_edited_while_nothing_changes(world: World) -> None:
    _, notifier = start_and_poll(world)
    for _ in range(3):
        world.clock.advance(10)
        notifier.poll_once()  # type: ignore[attr-defined]
    assert world.slack.calls_to("chat.update") == []
    assert len(cards(world)) == 1


def test_a_job_that_starts_and_ends_between_two_polls_gets_one_card_in_its_final_state(world: World) -> None:
    notifier = world.notifier(style=LIVE)
    notifier.poll_once()
    job_id = world.emulator.add_job(status="RUNNING")
    world.emulator.finish_job(job_id, "CANCELLED")
    world.clock.advance(10)
    notifier.poll_once()
    (card,) = cards(world)
    assert "cancelled" in card.text
    assert world.slack.calls_to("chat.update") == []


def test_a_live_channel_gets_no_separate_notice_and_a_watcher_still_gets_a_dm(world: World) -> None:
    job_id, notifier = start_and_poll(world)
    world.store.watch(job_id, "U0BOB", world.clock())
    world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier.poll_once()  # type: ignore[attr-defined]
    assert len(cards(world)) == 1
    dm = [m for m in world.slack.messages() if m.channel.startswith("D")]
    assert len(dm) == 1 and "Job 1 finished: SUCCESS" in dm[0].text


def test_a_failure_puts_its_log_tail_and_its_whole_log_as_a_file_in_the_cards_thread(world: World) -> None:
    long_log = "".join(f"line {n} of the loader\n" for n in range(20_000))  # ~480 KB: over any message
    job_id, notifier = start_and_poll(world)
    world.emulator.finish_job(job_id, "FAILED", log=long_log)
    world.clock.advance(10)
    notifier.poll_once()  # type: ignore[attr-defined]
    (card,) = cards(world)
    assert "failed" in card.text
    replies = thread(world, card)
    assert [r.reply_broadcast for r in replies] == [True, False]
    assert "line 19999 of the loader" in text_of(replies[1])
    (upload,) = world.slack.uploads(CHANNEL)
    assert upload.thread_ts == card.ts
    server_log = httpx.get(f"{world.emulator.url}/v1/job/{job_id}").json()["log"]
    assert long_log in server_log
    assert upload.content == server_log.encode(), "the full log arrives whole"
    assert upload.filename == f"job-{job_id}.log"


def test_a_log_over_the_cap_is_sent_as_its_last_part_with_a_line_saying_so(world: World) -> None:
    line = "x" * 99 + "\n"
    huge = line * (FULL_LOG_MAX_BYTES // len(line) + 500)
    job_id, notifier = start_and_poll(world)
    world.emulator.finish_job(job_id, "FAILED", log=huge)
    world.clock.advance(10)
    notifier.poll_once()  # type: ignore[attr-defined]
    (upload,) = world.slack.uploads(CHANNEL)
    assert len(upload.content) <= FULL_LOG_MAX_BYTES
    first, _, rest = upload.content.partition(b"\n")
    assert b"last part" in first
    assert huge.encode().endswith(rest)


def test_the_status_filter_chooses_the_endings_broadcast_from_the_thread(world: World) -> None:
    world.store.subscribe(
        Subscription(
            channel_id=OTHER, statuses=("FAILED",), style=LIVE, added_by="U0ALICE", added_at=world.clock()
        )
    )
    notifier = world.notifier(default_channel=None)
    notifier.poll_once()
    ok, bad = world.emulator.add_job(status="RUNNING"), world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    notifier.poll_once()
    world.emulator.finish_job(ok, "SUCCESS")
    world.emulator.finish_job(bad, "FAILED", log="boom\n")
    world.clock.advance(10)
    notifier.poll_once()
    by_job = {m.metadata["event_payload"]["job_ids"][0]: m for m in cards(world, OTHER) if m.metadata}
    assert set(by_job) == {ok, bad}, "a live channel gets every job's card"
    assert thread(world, by_job[ok]) == []
    assert [r.reply_broadcast for r in thread(world, by_job[bad])] == [True, False]


def test_a_burst_becomes_a_digest_card_edited_as_its_jobs_end(world: World) -> None:
    notifier = world.notifier(style=LIVE)
    notifier.poll_once()
    started = [world.emulator.add_job(status="RUNNING") for _ in range(30)]
    world.clock.advance(10)
    notifier.poll_once()
    digests = cards(world)
    assert len(digests) == 2, "30 jobs: digest cards of at most 25"
    assert sorted(j for d in digests for j in d.metadata["event_payload"]["job_ids"]) == sorted(started)  # type: ignore[index]
    for job_id in started:
        world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier.poll_once()
    assert len(cards(world)) == 2
    assert {c.body["ts"] for c in world.slack.calls_to("chat.update")} == {d.ts for d in digests}
    assert all("running" not in text_of(d) for d in cards(world))


def test_an_answer_lost_after_slack_posted_the_card_does_not_post_it_twice(world: World) -> None:
    notifier = world.notifier(style=LIVE)
    notifier.poll_once()
    world.slack.script("chat.postMessage", Scripted(hang_up_after_success=True))
    world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    lost = notifier.poll_once()
    assert lost.slack_error is not None and lost.slack_error.startswith("no answer from Slack")
    assert world.store.open_cards()[0].state is CardState.POSTING
    for _ in range(3):
        world.clock.advance(10)
        notifier.poll_once()
    assert len(cards(world)) == 1
    assert world.store.open_cards() == []
    assert world.slack.calls_to("chat.update") == [], "the card found is the one Slack shows: no edit"


def test_another_replica_finishes_the_card_the_first_posted(world: World) -> None:
    first = world.notifier(style=LIVE, replica_id="first")
    first.poll_once()
    job_id = world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    first.poll_once()
    (card,) = cards(world)
    world.store.release_lease("notifier", "first")
    second = world.notifier(style=LIVE, replica_id="second")
    world.emulator.finish_job(job_id, "FAILED", log="it broke\n")
    world.clock.advance(10)
    second.turn()
    assert second.is_leader
    (edited,) = cards(world)
    assert edited.ts == card.ts and "failed" in edited.text
    assert len(world.slack.uploads(CHANNEL)) == 1


def test_slack_refusing_the_edit_for_good_fails_the_card_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    job_id, notifier = start_and_poll(world)
    world.slack.outage("chat.update", Scripted(body={"ok": False, "error": "message_not_found"}))
    world.emulator.finish_job(job_id, "SUCCESS")
    with caplog.at_level(logging.ERROR, logger="jobbot.notifier"):
        for _ in range(3):
            world.clock.advance(10)
            notifier.poll_once()  # type: ignore[attr-defined]
    assert len(world.slack.calls_to("chat.update")) == 1
    assert [r.getMessage() for r in caplog.records if "message_not_found" in r.getMessage()] != []


def test_a_long_running_job_is_alerted_about_once_in_its_cards_thread(world: World) -> None:
    notifier = world.notifier(style=LIVE, long_running_after=3600)
    notifier.poll_once()
    started = int((world.clock().timestamp() - 3 * 3600 - 180) * 1000)
    job_id = world.emulator.add_job(status="RUNNING", start_time_ms=started)
    for _ in range(3):
        world.clock.advance(10)
        notifier.poll_once()
    # A restart, and another replica: the alert is not repeated.
    again = world.notifier(style=LIVE, long_running_after=3600)
    world.clock.advance(10)
    again.poll_once()
    (card,) = cards(world)
    (alert,) = thread(world, card)
    assert f"Job #{job_id} has been running for 3h 03m" in text_of(alert)


def test_a_final_style_channel_gets_the_alert_as_a_message_of_its_own(world: World) -> None:
    notifier = world.notifier(long_running_after=60)
    notifier.poll_once()
    started = int((world.clock().timestamp() - 120) * 1000)
    world.emulator.add_job(status="RUNNING", start_time_ms=started)
    world.clock.advance(10)
    notifier.poll_once()  # the job is recorded
    world.clock.advance(10)
    notifier.poll_once()  # and alerted about
    (alert,) = cards(world)
    assert "has been running for" in alert.text and not alert.thread_ts


def test_alerts_are_off_at_zero(world: World) -> None:
    notifier = world.notifier(long_running_after=0)
    notifier.poll_once()
    world.emulator.add_job(status="RUNNING", start_time_ms=0)
    for _ in range(2):
        world.clock.advance(10)
        notifier.poll_once()
    assert world.slack.messages() == []


@pytest.mark.parametrize(
    ("running_for", "limit", "usual", "alerted"),
    [
        (7199, 7200, None, False),
        (7200, 7200, None, True),
        # A graph whose loads take 10 minutes: alerted at 30 (three times), before the fixed limit.
        (1799, 7200, 600, False),
        (1800, 7200, 600, True),
        # A graph of one-minute loads: three minutes is no alarm; ten minutes past the usual is.
        (180, 7200, 60, False),
        (60 + LEARNED_MARGIN_SECONDS, 7200, 60, True),
        # A graph whose loads take hours: the fixed limit still applies.
        (7200, 7200, 5 * 3600, True),
    ],
)
def test_the_long_running_rule(running_for: float, limit: float, usual: float | None, alerted: bool) -> None:
    assert too_long(running_for, limit, usual) is alerted


def test_a_job_running_well_past_its_graphs_usual_is_alerted_before_the_fixed_limit(world: World) -> None:
    now_ms = int(world.clock().timestamp() * 1000)
    notifier = world.notifier(long_running_after=7200)
    for _ in range(5):  # five loads of the graph that took two minutes each
        world.emulator.add_job(
            status="SUCCESS", graph_id="g", start_time_ms=now_ms - 600_000, end_time_ms=now_ms - 480_000
        )
    notifier.poll_once()
    world.emulator.add_job(status="RUNNING", graph_id="g", start_time_ms=now_ms - 12 * 60_000)
    world.clock.advance(10)
    notifier.poll_once()
    world.clock.advance(10)
    notifier.poll_once()
    (alert,) = cards(world)
    assert "usually take 2m" in text_of(alert)


def test_an_edit_carrying_a_final_state_is_never_dropped_by_rate_limits(world: World) -> None:
    """chat.update answers 429 for a while: the card waits, then shows the job's end, edited once more."""
    job_id, notifier = start_and_poll(world)
    limited = Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    world.slack.outage("chat.update", limited)
    world.emulator.finish_job(job_id, "FAILED", log="boom\n")
    for _ in range(3):
        world.clock.advance(10)
        notifier.poll_once()  # type: ignore[attr-defined]
    assert "failed" not in cards(world)[0].text
    world.slack.end_outage()
    world.clock.advance(10)
    notifier.poll_once()  # type: ignore[attr-defined]
    (card,) = cards(world)
    assert "failed" in card.text and len(card.edits) == 1
    assert world.store.open_cards() == []


def test_a_digest_cards_jobs_ending_together_get_one_ending_and_one_log_reply(world: World) -> None:
    """Twelve jobs of one digest card end in one poll, four of them failing: its thread gets one ending
    broadcast for all and one reply with the failures' logs (and a file for each failure), not one
    post per job; an answer lost after Slack took the broadcast does not post it twice."""
    notifier = world.notifier(style=LIVE)
    notifier.poll_once()
    started = [world.emulator.add_job(status="RUNNING") for _ in range(12)]
    world.clock.advance(10)
    notifier.poll_once()
    (digest,) = cards(world)
    for n, job_id in enumerate(started):
        world.emulator.finish_job(job_id, "FAILED" if n % 3 == 0 else "SUCCESS", log=f"job {job_id} broke\n")
    world.slack.script("chat.postMessage", Scripted(hang_up_after_success=True))
    for _ in range(3):
        world.clock.advance(10)
        notifier.poll_once()
    ending, logs = thread(world, digest)
    assert ending.reply_broadcast and ending.text.startswith("12 jobs finished")
    assert not logs.reply_broadcast and all(f"job {j} broke" in text_of(logs) for j in started[::3])
    assert len(world.slack.uploads(CHANNEL)) == 4
    assert world.store.open_followups() == []


def cards_total(result: str) -> float:
    return (
        metrics.REGISTRY.get_sample_value("jobbot_live_cards_total", {"server": "default", "result": result})
        or 0.0
    )


def test_each_poll_reports_and_counts_the_cards_posted_and_edited_and_the_follow_ups(world: World) -> None:
    notifier = world.notifier(style=LIVE)
    notifier.poll_once()
    before = {r: cards_total(r) for r in ("posted", "edited", "ending", "log", "file")}
    jobs = [world.emulator.add_job(status="RUNNING") for _ in range(2)]
    world.clock.advance(10)
    posted = notifier.poll_once()
    assert (posted.cards_posted, posted.cards_edited, posted.followups_posted) == (2, 0, 0)
    for job_id in jobs:
        world.emulator.finish_job(job_id, "FAILED", log="boom\n")
    world.clock.advance(10)
    ended = notifier.poll_once()
    # Two edits, then each job's ending, log lines and file: six follow-ups.
    assert (ended.cards_posted, ended.cards_edited, ended.followups_posted) == (0, 2, 6)
    counted = {r: cards_total(r) - before[r] for r in before}
    assert counted == {"posted": 2, "edited": 2, "ending": 2, "log": 2, "file": 2}


def test_a_channel_that_refuses_for_good_fails_its_card_and_its_follow_ups_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = world.notifier(style=LIVE)
    notifier.poll_once()
    world.slack.outage("chat.postMessage", Scripted(body={"ok": False, "error": "is_archived"}))
    failed_before = cards_total("failed")
    for _ in range(2):
        world.emulator.finish_job(world.emulator.add_job(status="RUNNING"), "FAILED", log="boom\n")
    with caplog.at_level(logging.ERROR, logger="jobbot.notifier"):
        world.clock.advance(10)
        first = notifier.poll_once()
        for _ in range(2):
            world.clock.advance(10)
            report = notifier.poll_once()
    assert len(world.slack.calls_to("chat.postMessage")) == 2, "refused for good: never tried again"
    assert first.failed == 2 and cards_total("failed") - failed_before == 2
    assert report.failed == 0 and world.store.open_cards() == [] and world.store.open_followups() == []
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"in {CHANNEL} for good (is_archived)" in error
    assert world.slack.uploads() == []


class FlakyLogs(JobClient):
    """The job client, whose first full-log reads meet a GraphScope that does not answer."""

    def __init__(self, url: str, failures: int) -> None:
        super().__init__(url, backoff=0.01)
        self.failures = failures

    def full_log(self, job_id: str, max_bytes: int = FULL_LOG_MAX_BYTES) -> FullLog:
        if self.failures:
            self.failures -= 1
            raise InteractiveUnavailable(self.shown_endpoint, "connection refused")
        return super().full_log(job_id, max_bytes)


def test_a_full_log_graphscope_cannot_give_now_is_sent_at_a_later_pass(world: World) -> None:
    jobs = FlakyLogs(world.emulator.url, failures=2)
    job_id, notifier = start_and_poll(world, jobs=jobs)
    world.emulator.finish_job(job_id, "FAILED", log="boom\n")
    world.clock.advance(10)
    notifier.poll_once()  # type: ignore[attr-defined]
    assert world.slack.uploads(CHANNEL) == [] and jobs.failures == 1
    world.clock.advance(10)
    notifier.poll_once()  # type: ignore[attr-defined]
    assert world.slack.uploads(CHANNEL) == []
    world.clock.advance(10)
    notifier.poll_once()  # type: ignore[attr-defined]
    (upload,) = world.slack.uploads(CHANNEL)
    assert upload.filename == f"job-{job_id}.log" and b"boom" in upload.content
    assert world.store.open_followups() == []


# Each test below was written against a mutant of the live cards' code that the tests above let live.


def live_subscription(world: World, channel: str, statuses: tuple[str, ...] = ("SUCCESS", "FAILED")) -> None:
    world.store.subscribe(
        Subscription(
            channel_id=channel, statuses=statuses, style=LIVE, added_by="U0ALICE", added_at=world.clock()
        )
    )


def test_a_running_card_shows_its_start_and_its_watchers_and_a_single_ending_is_its_own_line(
    world: World,
) -> None:
    job_id, notifier = start_and_poll(world)
    world.store.watch(job_id, "U0BOB", world.clock())
    world.clock.advance(10)
    notifier.poll_once()  # type: ignore[attr-defined]
    (card,) = cards(world)
    assert "Started <!date^" in text_of(card) and "Watched by <@U0BOB>" in text_of(card)
    world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier.poll_once()  # type: ignore[attr-defined]
    (ending,) = thread(world, card)
    assert ending.text.startswith(f"Job {job_id} succeeded") or f"Job *#{job_id}* succeeded" in text_of(
        ending
    )
    assert "finished" not in ending.text, "one job's ending is its own line, not a digest of one"
    assert ending.metadata is not None and ending.metadata["event_payload"]["job_ids"] == [job_id]
    # A first attempt looks nowhere before posting: history is read only after an answer was lost.
    assert world.slack.calls_to("conversations.history") == []
    assert world.slack.calls_to("conversations.replies") == []


def test_a_card_due_for_an_edit_never_holds_back_a_new_card_in_its_channel(world: World) -> None:
    job_id, notifier = start_and_poll(world)
    world.emulator.finish_job(job_id, "SUCCESS")
    world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    notifier.poll_once()  # type: ignore[attr-defined]
    assert len(cards(world)) == 2 and len(world.slack.calls_to("chat.update")) == 1


def test_a_channel_told_to_wait_holds_back_only_itself(world: World) -> None:
    live_subscription(world, OTHER)
    notifier = world.notifier(style=LIVE)
    notifier.poll_once()
    limited = Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}, channel=CHANNEL)
    world.slack.outage("chat.postMessage", limited)
    world.emulator.add_job(status="RUNNING")
    world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    first = notifier.poll_once()
    assert (first.slack_error, first.waiting) == ("ratelimited", 1)
    assert len(cards(world, OTHER)) == 2 and cards(world) == []
    world.clock.advance(10)
    second = notifier.poll_once()
    assert second.waiting == 2, "both of the waiting channel's cards wait"
    world.slack.end_outage()
    world.clock.advance(30)
    notifier.poll_once()
    assert len(cards(world)) == 2


def test_a_retry_after_on_an_edit_is_honoured_and_holds_every_channel(world: World) -> None:
    live_subscription(world, OTHER)
    notifier = world.notifier(style=LIVE)
    notifier.poll_once()
    job_id = world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    notifier.poll_once()
    limited = Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "25"})
    world.slack.script("chat.update", limited)
    world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    report = notifier.poll_once()
    # chat.update is limited for the workspace: the other channel's edit waits too.
    assert report.slack_error == "ratelimited" and len(world.slack.calls_to("chat.update")) == 1
    assert report.waiting == 3, "the other card's edit, and both cards' endings"
    world.clock.advance(10)
    notifier.poll_once()
    assert len(world.slack.calls_to("chat.update")) == 1, "Retry-After 25 s: not yet"
    world.clock.advance(20)
    notifier.poll_once()
    assert len(world.slack.calls_to("chat.update")) == 3


def test_edits_beyond_the_allowance_wait_for_it_and_the_cards_after_them_still_go(world: World) -> None:
    for n in range(6):
        live_subscription(world, f"C0LIVE{n}")
    notifier = world.notifier(default_channel=None)
    notifier.poll_once()
    job_id = world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    notifier.poll_once()
    world.emulator.finish_job(job_id, "CANCELLED")
    world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    notifier.poll_once()
    # Six cards to edit and six new ones: five edits (the allowance's burst), every new card.
    assert len(world.slack.calls_to("chat.update")) == 5
    assert sum(len(cards(world, f"C0LIVE{n}")) for n in range(6)) == 12
    world.clock.advance(10)
    notifier.poll_once()
    assert len(world.slack.calls_to("chat.update")) == 6


def test_follow_ups_keep_one_post_of_the_allowance_for_the_next_card(world: World) -> None:
    job_id, notifier = start_and_poll(world, paced=True)
    world.emulator.finish_job(job_id, "FAILED", log="boom\n")
    world.clock.advance(10)
    notifier.poll_once()  # type: ignore[attr-defined]
    (card,) = cards(world)
    # Three posts in the burst allowance: the ending and the log lines take two, the file waits.
    assert len(thread(world, card)) == 2 and world.slack.uploads() == []
    world.clock.advance(10)
    notifier.poll_once()  # type: ignore[attr-defined]
    assert len(world.slack.uploads(CHANNEL)) == 1


def test_a_follow_up_slack_refuses_for_good_is_not_tried_again(world: World) -> None:
    job_id, notifier = start_and_poll(world)
    world.slack.script("chat.postMessage", Scripted(body={"ok": False, "error": "invalid_blocks"}))
    world.emulator.finish_job(job_id, "SUCCESS")
    for _ in range(3):
        world.clock.advance(10)
        notifier.poll_once()  # type: ignore[attr-defined]
    assert len(world.slack.calls_to("chat.postMessage")) == 2, "the card, and the ending once"
    assert world.store.open_followups() == []


def test_two_cards_refused_for_good_are_reported_once_at_error(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = world.notifier(style=LIVE)
    notifier.poll_once()
    world.slack.outage("chat.postMessage", Scripted(body={"ok": False, "error": "not_in_channel"}))
    world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    with caplog.at_level(logging.DEBUG, logger="jobbot.notifier"):
        first = notifier.poll_once()
        world.emulator.add_job(status="RUNNING")
        world.clock.advance(10)
        notifier.poll_once()
    assert first.failed == 1
    refusals = [r for r in caplog.records if "for good (not_in_channel)" in r.getMessage()]
    assert [r.levelno for r in refusals] == [logging.ERROR, logging.DEBUG]


def test_a_log_reply_whose_answer_was_lost_is_found_in_the_thread_not_posted_again(world: World) -> None:
    live_subscription(world, OTHER, statuses=("SUCCESS",))  # no ending for a failure: the log is first
    notifier = world.notifier(default_channel=None)
    notifier.poll_once()
    job_id = world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    notifier.poll_once()
    world.slack.script("chat.postMessage", Scripted(hang_up_after_success=True))
    world.emulator.finish_job(job_id, "FAILED", log="boom\n")
    for _ in range(3):
        world.clock.advance(10)
        notifier.poll_once()
    (card,) = cards(world, OTHER)
    assert len(thread(world, card)) == 1


def test_an_upload_whose_answer_was_lost_is_found_in_the_thread_not_uploaded_again(world: World) -> None:
    job_id, notifier = start_and_poll(world)
    world.slack.script("files.completeUploadExternal", Scripted(hang_up_after_success=True))
    world.emulator.finish_job(job_id, "FAILED", log="boom\n")
    for _ in range(3):
        world.clock.advance(10)
        notifier.poll_once()  # type: ignore[attr-defined]
    assert len(world.slack.uploads(CHANNEL)) == 1
    assert world.store.open_followups() == []


def test_a_card_found_in_history_is_edited_when_its_job_changed_meanwhile(world: World) -> None:
    notifier = world.notifier(style=LIVE)
    notifier.poll_once()
    world.slack.script("chat.postMessage", Scripted(hang_up_after_success=True))
    job_id = world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    notifier.poll_once()
    world.emulator.finish_job(job_id, "FAILED", log="boom\n")
    for _ in range(2):  # the card is found, then edited
        world.clock.advance(10)
        notifier.poll_once()
    (card,) = cards(world)
    assert "failed" in card.text and len(card.edits) == 1


def test_a_batch_claimed_but_never_posted_is_posted_under_its_own_key(world: World) -> None:
    """A crash between claiming a digest card's second batch of endings and posting it: the batch is
    looked for under its own key (the jobs it names), not found, and posted."""
    notifier = world.notifier(style=LIVE)
    notifier.poll_once()
    jobs = [world.emulator.add_job(status="RUNNING") for _ in range(6)]
    world.clock.advance(10)
    notifier.poll_once()
    (digest,) = cards(world)
    for job_id in jobs[:3]:
        world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier.poll_once()
    for job_id in jobs[3:]:
        world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier._tracker.observe(PollReport())  # recorded, not yet posted
    for followup in world.store.open_followups():
        assert world.store.claim_followup(followup, channel=CHANNEL, now=world.clock())
    world.clock.advance(10)
    notifier.poll_once()
    first, second = thread(world, digest)
    assert first.metadata is not None and second.metadata is not None
    assert first.metadata["event_payload"]["job_ids"] == jobs[:3]
    assert second.metadata["event_payload"]["job_ids"] == jobs[3:]


def planner(world: World, limit: float) -> LivePlanner:
    return LivePlanner(
        world.store,
        default_channel=CHANNEL,
        default_statuses=("FAILED",),
        default_style=LIVE,
        long_running_after=limit,
    )


def test_the_planner_gives_a_card_to_every_running_job_past_one_that_waits(world: World) -> None:
    waiting = Job.model_validate({**JOB, "id": "1", "status": "WAITING"})
    running_job = Job.model_validate({**JOB, "id": "2", "status": "RUNNING"})
    rows = planner(world, limit=0).cards([waiting, running_job], {}, {CHANNEL: ()})
    assert [(r.job.id, r.job.start_time_ms, r.job.graph_id) for r in rows] == [
        ("2", running_job.start_time_ms, running_job.graph_id)
    ]


def test_every_job_past_the_limit_is_alerted_about_even_after_one_that_is_not(world: World) -> None:
    now_s = world.clock().timestamp()
    world.store.record_poll(
        [
            TrackedJob("0", "WAITING", False, int((now_s - 9) * 1000), "g0"),  # waiting: not running long
            TrackedJob("1", "RUNNING", False, int((now_s - 5) * 1000), "g1"),
            TrackedJob("2", "RUNNING", False, int((now_s - 1) * 1000), "g2"),  # not yet
            TrackedJob("3", "RUNNING", False, int((now_s - 9) * 1000), "g3"),
        ],
        [],
        now=world.clock(),
        reconciled=False,
    )
    rows = planner(world, limit=2).alerts(world.clock(), {CHANNEL: ()}, lambda job_id: ["U0BOB"])
    assert [(r.job.id, r.job.graph_id, r.destination) for r in rows] == [
        ("1", "g1", CHANNEL),
        ("1", "g1", "U0BOB"),
        ("3", "g3", CHANNEL),
        ("3", "g3", "U0BOB"),
    ]
    assert planner(world, limit=1).alerts(world.clock(), {CHANNEL: ()}, lambda job_id: []) != []
    assert planner(world, limit=0).alerts(world.clock(), {CHANNEL: ()}, lambda job_id: []) == []


def test_a_card_found_in_history_or_taken_by_another_replica_is_said_so_and_not_posted(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = world.notifier(style=LIVE)
    notifier.poll_once()
    world.slack.script("chat.postMessage", Scripted(hang_up_after_success=True))
    world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    notifier.poll_once()
    (card,) = world.store.open_cards()
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        notifier.poll_once()
    assert f"notifier: card {card.id} was already posted (found in history); not posting again" in [
        r.getMessage() for r in caplog.records
    ]
    # Another replica claims the next card between this one's read and its claim.
    monkeypatch.setattr(world.store, "claim_card", lambda *args, **kwargs: False)
    world.emulator.add_job(status="RUNNING")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jobbot.notifier"):
        world.clock.advance(10)
        notifier.poll_once()
    (taken,) = world.store.open_cards()
    assert f"notifier: card {taken.id} was taken by another replica" in [
        r.getMessage() for r in caplog.records
    ]
    assert len(cards(world)) == 1, "the taken card is the other replica's to post"
