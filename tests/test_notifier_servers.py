"""What one of several servers' notifier posts names its server: notices, digests, log replies, live
cards, digest cards, endings, alerts and log files (one process, simulated time)."""

from __future__ import annotations

import json
import threading

from jobbot import metrics
from jobbot.models import NoticeStyle
from tests.fakes import Posted, Scripted
from tests.notice_world import CHANNEL, World, world

__all__ = ["world"]

NAMED = "staging · "


def text_of(message: Posted) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def top_level(world: World) -> list[Posted]:
    return [m for m in world.slack.messages(CHANNEL) if m.metadata and not m.thread_ts]


def replies(world: World, parent: Posted) -> list[Posted]:
    return [m for m in world.slack.messages(CHANNEL) if m.thread_ts == parent.ts and not m.files]


def test_notices_digests_and_log_replies_name_their_server(world: World) -> None:
    """A failure's notice and its log reply, then a digest of several endings: each says `staging`."""
    notifier = world.notifier(label="staging")
    notifier.poll_once()
    world.emulator.add_job(status="FAILED", log="ERROR: disk full\n")
    world.clock.advance(10)
    notifier.poll_once()
    [notice] = top_level(world)
    [log_reply] = replies(world, notice)
    assert NAMED in text_of(notice) and "staging" in text_of(log_reply)
    for _ in range(5):
        world.emulator.add_job(status="SUCCESS")
    world.clock.advance(10)
    notifier.poll_once()
    [_, digest] = top_level(world)
    assert len(digest.metadata["event_payload"]["job_ids"]) == 5  # type: ignore[index]
    assert NAMED in text_of(digest)


def test_live_cards_their_thread_and_alerts_name_their_server(world: World) -> None:
    """A live card, its ending and log replies, its log file and a long-running alert say `staging`;
    so does a digest card."""
    notifier = world.notifier(label="staging", style=NoticeStyle.LIVE, long_running_after=60)
    notifier.poll_once()
    started = int((world.clock().timestamp() - 120) * 1000)
    job_id = world.emulator.add_job(status="RUNNING", start_time_ms=started)
    for _ in range(2):
        world.clock.advance(10)
        notifier.poll_once()
    world.emulator.finish_job(job_id, "FAILED", log="ERROR: disk full\n")
    world.clock.advance(10)
    notifier.poll_once()
    [card] = top_level(world)
    assert NAMED in text_of(card)
    thread = replies(world, card)
    assert len(thread) == 3 and all("staging" in text_of(reply) for reply in thread), [
        text_of(r) for r in thread
    ]
    [upload] = world.slack.uploads(CHANNEL)
    assert upload.filename == f"staging-job-{job_id}.log"
    for _ in range(5):
        world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    notifier.poll_once()
    [_, digest_card] = top_level(world)
    assert NAMED in text_of(digest_card)


def test_a_named_servers_log_file_whose_answer_was_lost_is_found_not_uploaded_again(world: World) -> None:
    """The search after a lost upload answer looks for the file by the name it was given
    (`staging-job-N.log`), so it finds it and does not upload it twice."""
    notifier = world.notifier(label="staging", style=NoticeStyle.LIVE)
    notifier.poll_once()
    job_id = world.emulator.add_job(status="RUNNING")
    world.clock.advance(10)
    notifier.poll_once()
    world.slack.script("files.completeUploadExternal", Scripted(hang_up_after_success=True))
    world.emulator.finish_job(job_id, "FAILED", log="boom\n")
    for _ in range(3):
        world.clock.advance(10)
        notifier.poll_once()
    [upload] = world.slack.uploads(CHANNEL)
    assert upload.filename == f"staging-job-{job_id}.log"
    assert world.store.open_followups() == []


def test_endings_due_together_on_a_digest_card_are_one_reply_naming_the_server(world: World) -> None:
    """Five jobs of one digest card end in one poll: their endings are one reply, and it names staging."""
    notifier = world.notifier(label="staging", style=NoticeStyle.LIVE)
    notifier.poll_once()
    started = [world.emulator.add_job(status="RUNNING") for _ in range(5)]
    world.clock.advance(10)
    notifier.poll_once()
    for job_id in started:
        world.emulator.finish_job(job_id, "SUCCESS")
    world.clock.advance(10)
    notifier.poll_once()
    [digest_card] = top_level(world)
    [ending] = replies(world, digest_card)
    assert NAMED in text_of(ending) and "5 jobs" in text_of(ending)


def test_a_servers_notifier_loop_counts_its_polls_under_its_name(world: World) -> None:
    """The loop runs in its server's context: its poll metric (and log lines) carry the server."""
    labels = {"server": "staging"}
    before = metrics.REGISTRY.get_sample_value("jobbot_poll_seconds_count", labels) or 0
    notifier = world.notifier(label="staging", server="staging")
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    notifier.run(stop)
    assert (metrics.REGISTRY.get_sample_value("jobbot_poll_seconds_count", labels) or 0) > before
