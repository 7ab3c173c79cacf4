"""SlackPoster against the fake Slack over loopback: edits, broadcast replies, uploads, and their pacing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient

from jobbot.errors import PostRefused, PostUncertain
from jobbot.notifier.slack_poster import (
    METADATA_EVENT,
    UPDATE_BURST,
    UPDATE_INTERVAL_SECONDS,
    SlackPoster,
)
from jobbot.render.cards import LogFile
from jobbot.render.kit import Message
from tests.fakes import UPLOAD_STEP, FakeSlack, Scripted
from tests.support import FakeClock

CHANNEL = "C0001"
OTHER = "C0002"
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
LOG = LogFile(
    filename="job-42.log", title="Full log of job #42", content=b"one\ntwo\n", comment="Full log of job #42"
)


def message(text: str) -> Message:
    return Message(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def poster(fake_slack: FakeSlack, clock: FakeClock) -> SlackPoster:
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url, retry_handlers=[])
    return SlackPoster(client, monotonic=clock.monotonic, sleep=clock.sleep)


def test_an_update_edits_the_card_and_keeps_its_key(fake_slack: FakeSlack, poster: SlackPoster) -> None:
    """The edited message carries the same metadata shape as a post, so a search still finds it."""
    ts = poster.post(CHANNEL, message("running"), key="card:42", job_ids=["42"])

    poster.update(CHANNEL, ts, message("finished"), key="card:42", job_ids=["42"])

    (card,) = fake_slack.messages(CHANNEL)
    assert [v.text for v in card.versions] == ["running", "finished"]
    assert card.blocks == message("finished").blocks
    assert card.metadata == {
        "event_type": METADATA_EVENT,
        "event_payload": {"key": "card:42", "job_ids": ["42"]},
    }
    assert poster.find(CHANNEL, "card:42", oldest=LONG_AGO) == ts


@pytest.mark.parametrize("error", ["message_not_found", "cant_update_message", "edit_window_closed"])
def test_an_update_slack_cannot_make_is_refused_for_good(
    fake_slack: FakeSlack, poster: SlackPoster, error: str
) -> None:
    """A card that is gone or can no longer be edited is a permanent refusal: retrying will not help."""
    ts = poster.post(CHANNEL, message("running"), key="card:42")
    fake_slack.script("chat.update", Scripted(body={"ok": False, "error": error}))

    with pytest.raises(PostRefused) as raised:
        poster.update(CHANNEL, ts, message("finished"), key="card:42")

    assert (raised.value.error, raised.value.permanent) == (error, True)


def test_an_update_of_a_message_never_posted_is_message_not_found(poster: SlackPoster) -> None:
    """The fake's own answer for an unknown ts comes back as a permanent refusal."""
    with pytest.raises(PostRefused) as raised:
        poster.update(CHANNEL, "1.000001", message("finished"), key="card:42")
    assert (raised.value.error, raised.value.permanent) == ("message_not_found", True)


def test_a_rate_limited_update_holds_the_whole_workspace(fake_slack: FakeSlack, poster: SlackPoster) -> None:
    """chat.update is limited per method, not per channel: its 429 is workspace-wide, with its wait."""
    ts = poster.post(CHANNEL, message("running"), key="card:42")
    fake_slack.script(
        "chat.update",
        Scripted(status=429, body={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "12"}),
    )

    with pytest.raises(PostRefused) as raised:
        poster.update(CHANNEL, ts, message("finished"), key="card:42")

    assert (raised.value.permanent, raised.value.workspace_wide, raised.value.retry_after) == (
        False,
        True,
        12.0,
    )


def test_an_update_that_gets_a_500_is_uncertain(fake_slack: FakeSlack, poster: SlackPoster) -> None:
    """Slack may have made the edit before failing."""
    ts = poster.post(CHANNEL, message("running"), key="card:42")
    fake_slack.script("chat.update", Scripted(status=500))
    with pytest.raises(PostUncertain):
        poster.update(CHANNEL, ts, message("finished"), key="card:42")


def test_updates_share_one_workspace_allowance_apart_from_posts(
    fake_slack: FakeSlack, poster: SlackPoster, clock: FakeClock
) -> None:
    """A burst of updates, across channels, then one every 1.2 s (50 a minute); posts keep their own."""
    cards = [
        (channel, poster.post(channel, message("running"), key=f"card:{channel}"))
        for channel in (CHANNEL, OTHER)
    ]
    assert poster.updates_available() == UPDATE_BURST
    posts_before = poster.posts_available(CHANNEL)

    for turn in range(UPDATE_BURST + 2):
        channel, ts = cards[turn % 2]
        poster.update(channel, ts, message(f"edit {turn}"), key=f"card:{channel}")

    # 50 a minute: one edit every 1.2 s once the burst is spent.
    assert clock.slept == pytest.approx([1.2, 1.2])
    assert poster.updates_available() == pytest.approx(0)
    assert poster.posts_available(CHANNEL) == pytest.approx(
        min(posts_before + 2 * UPDATE_INTERVAL_SECONDS, 3)
    )
    clock.advance(UPDATE_INTERVAL_SECONDS * 2)
    assert poster.updates_available() == pytest.approx(2)


def test_a_broadcast_reply_asks_slack_to_show_it_in_the_channel(
    fake_slack: FakeSlack, poster: SlackPoster
) -> None:
    """broadcast=True sends reply_broadcast with the thread; plain replies stay in the thread."""
    ts = poster.post(CHANNEL, message("card"), key="card:42")
    poster.post(CHANNEL, message("ended"), key="end:42", thread_ts=ts, broadcast=True)
    poster.post(CHANNEL, message("log"), key="log:42", thread_ts=ts)

    assert [(m.thread_ts, m.reply_broadcast) for m in fake_slack.messages(CHANNEL)] == [
        (None, False),
        (ts, True),
        (ts, False),
    ]


def test_an_upload_shares_the_log_file_in_the_thread(fake_slack: FakeSlack, poster: SlackPoster) -> None:
    """The file's name, title, bytes and comment reach Slack; find_file then sees it in the thread."""
    ts = poster.post(CHANNEL, message("card"), key="card:42")
    assert not poster.find_file(CHANNEL, ts, LOG.filename, oldest=LONG_AGO)

    poster.upload(CHANNEL, LOG, thread_ts=ts)

    (uploaded,) = fake_slack.uploads(CHANNEL)
    assert (uploaded.filename, uploaded.title, uploaded.content, uploaded.comment, uploaded.thread_ts) == (
        LOG.filename,
        LOG.title,
        LOG.content,
        LOG.comment,
        ts,
    )
    assert poster.find_file(CHANNEL, ts, LOG.filename, oldest=LONG_AGO)
    assert not poster.find_file(CHANNEL, ts, "job-43.log", oldest=LONG_AGO)


def test_an_upload_takes_a_post_from_its_channels_allowance(poster: SlackPoster, clock: FakeClock) -> None:
    """Its completion posts a message, so it waits like a post would."""
    for n in range(3):
        poster.post(CHANNEL, message(f"notice {n}"), key=f"n{n}")
    assert clock.slept == []

    poster.upload(CHANNEL, LOG, thread_ts=None)

    assert clock.slept == pytest.approx([1.0])


@pytest.mark.parametrize("method", ["files.getUploadURLExternal", "files.completeUploadExternal"])
def test_an_upload_refused_at_any_step_is_refused(
    fake_slack: FakeSlack, poster: SlackPoster, method: str
) -> None:
    """A destination error from either Web API step is permanent, as it is for a post."""
    fake_slack.script(method, Scripted(body={"ok": False, "error": "not_in_channel"}))
    with pytest.raises(PostRefused) as raised:
        poster.upload(CHANNEL, LOG, thread_ts=None)
    assert (raised.value.error, raised.value.permanent) == ("not_in_channel", True)
    assert fake_slack.uploads() == []


def test_a_rate_limited_upload_is_refused_with_its_wait(fake_slack: FakeSlack, poster: SlackPoster) -> None:
    """A 429 on an upload step says how long to wait; the upload methods are limited workspace-wide."""
    fake_slack.script(
        "files.completeUploadExternal",
        Scripted(status=429, body={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "3"}),
    )
    with pytest.raises(PostRefused) as raised:
        poster.upload(CHANNEL, LOG, thread_ts=None)
    assert (raised.value.permanent, raised.value.retry_after, raised.value.workspace_wide) == (
        False,
        3.0,
        True,
    )


@pytest.mark.parametrize(
    "method, failure",
    [
        (UPLOAD_STEP, Scripted(status=500, body="down")),
        ("files.completeUploadExternal", Scripted(status=503)),
        ("files.completeUploadExternal", Scripted(hang_up_after_success=True)),
    ],
)
def test_an_upload_whose_outcome_is_unknown_is_uncertain(
    fake_slack: FakeSlack, poster: SlackPoster, method: str, failure: Scripted
) -> None:
    """A lost answer or a server error may hide a shared file: only the thread can tell."""
    fake_slack.script(method, failure)
    with pytest.raises(PostUncertain):
        poster.upload(CHANNEL, LOG, thread_ts=None)


def test_an_upload_host_that_answers_oddly_is_a_refusal_to_retry(
    fake_slack: FakeSlack, poster: SlackPoster
) -> None:
    """A 2xx other than 200 from the upload URL stops slack_sdk before completion: nothing was shared."""
    fake_slack.script(UPLOAD_STEP, Scripted(status=202, body="later"))
    with pytest.raises(PostRefused) as raised:
        poster.upload(CHANNEL, LOG, thread_ts=None)
    assert (raised.value.error, raised.value.permanent) == ("upload_failed", False)
    assert fake_slack.uploads() == []


def test_find_file_reads_the_thread_from_a_minute_before_oldest(
    fake_slack: FakeSlack, poster: SlackPoster
) -> None:
    """It asks conversations.replies from a minute before `oldest`, and reads the files' names."""
    ts = poster.post(CHANNEL, message("card"), key="card:42")
    poster.upload(CHANNEL, LOG, thread_ts=ts)
    since = datetime.now(UTC) - timedelta(minutes=5)

    assert poster.find_file(CHANNEL, ts, LOG.filename, oldest=since)

    (call,) = fake_slack.calls_to("conversations.replies")
    assert float(call.body["oldest"]) == pytest.approx(since.timestamp() - 60, abs=1e-5)
    assert call.body["ts"] == ts
