"""The fake Slack's own behaviour where it is not obvious: edits in place, broadcast replies, uploads."""

from __future__ import annotations

import urllib.error

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes import UPLOAD_STEP, FakeSlack, Scripted

CHANNEL = "C0001"


def client_for(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake_slack.api_url, retry_handlers=[])


def test_an_update_edits_the_message_in_place_and_keeps_each_state(fake_slack: FakeSlack) -> None:
    """chat.update changes what history shows, keeps fields it leaves out, and records every state."""
    client = client_for(fake_slack)
    metadata = {"event_type": "jobbot_notice", "event_payload": {"key": "k1"}}
    ts = str(client.chat_postMessage(channel=CHANNEL, text="running", metadata=metadata)["ts"])
    client.chat_postMessage(channel=CHANNEL, text="a reply", thread_ts=ts)

    client.chat_update(channel=CHANNEL, ts=ts, text="finished", blocks=[{"type": "divider"}])

    (message,) = [m for m in fake_slack.messages(CHANNEL) if m.ts == ts]
    assert [v.text for v in message.versions] == ["running", "finished"]
    assert [v.text for v in message.edits] == ["finished"]
    assert message.metadata == metadata
    replies = client.conversations_replies(channel=CHANNEL, ts=ts, include_all_metadata=True)["messages"]
    assert replies[0]["text"] == "finished"
    assert replies[0]["blocks"] == [{"type": "divider"}]
    assert replies[0]["metadata"] == metadata
    (top,) = client.conversations_history(channel=CHANNEL)["messages"]
    assert top["text"] == "finished"


def test_an_update_of_a_message_slack_does_not_hold_is_message_not_found(fake_slack: FakeSlack) -> None:
    """An unknown ts, or a known one in another channel, is refused as Slack refuses it."""
    client = client_for(fake_slack)
    ts = str(client.chat_postMessage(channel=CHANNEL, text="card")["ts"])
    for channel, target in ((CHANNEL, "1.000000"), ("C0002", ts)):
        with pytest.raises(SlackApiError) as raised:
            client.chat_update(channel=channel, ts=target, text="edited")
        assert raised.value.response["error"] == "message_not_found"
    assert fake_slack.messages(CHANNEL)[0].edits == []


def test_a_broadcast_reply_is_kept_as_such_and_shows_in_the_channels_history(fake_slack: FakeSlack) -> None:
    """reply_broadcast is stored on the message, which history then lists beside top-level ones."""
    client = client_for(fake_slack)
    ts = str(client.chat_postMessage(channel=CHANNEL, text="card")["ts"])
    client.chat_postMessage(channel=CHANNEL, text="quiet", thread_ts=ts)
    client.chat_postMessage(channel=CHANNEL, text="ended", thread_ts=ts, reply_broadcast=True)

    assert [m.reply_broadcast for m in fake_slack.messages(CHANNEL)] == [False, False, True]
    history = client.conversations_history(channel=CHANNEL)["messages"]
    assert [m["text"] for m in history] == ["ended", "card"]
    assert history[0]["subtype"] == "thread_broadcast"


def test_files_upload_v2_runs_the_three_steps_and_shares_the_file_in_the_thread(
    fake_slack: FakeSlack,
) -> None:
    """The bytes arrive raw at the fake's upload URL; completing shares them as a message in the thread."""
    client = client_for(fake_slack)
    ts = str(client.chat_postMessage(channel=CHANNEL, text="card")["ts"])
    content = "line 1\nlíne 2\n".encode() + bytes(range(256))

    client.files_upload_v2(
        channel=CHANNEL,
        thread_ts=ts,
        content=content,
        filename="job-42.log",
        title="Full log of job #42",
        initial_comment="Full log of job #42",
    )

    (uploaded,) = fake_slack.uploads(CHANNEL)
    assert (uploaded.filename, uploaded.title, uploaded.content) == (
        "job-42.log",
        "Full log of job #42",
        content,
    )
    assert (uploaded.thread_ts, uploaded.comment) == (ts, "Full log of job #42")
    assert fake_slack.uploads("C0002") == []
    replies = client.conversations_replies(channel=CHANNEL, ts=ts)["messages"]
    assert replies[1]["files"] == [
        {"id": uploaded.file_id, "name": "job-42.log", "title": "Full log of job #42"}
    ]
    assert fake_slack.calls_to(UPLOAD_STEP)[0].body == {"length": len(content)}


def test_each_step_of_an_upload_can_be_scripted_to_fail(fake_slack: FakeSlack) -> None:
    """A scripted failure of any step stops the upload there: nothing is shared."""
    client = client_for(fake_slack)
    fake_slack.script("files.getUploadURLExternal", Scripted(body={"ok": False, "error": "not_authed"}))
    fake_slack.script(UPLOAD_STEP, Scripted(status=500, body="down"))
    fake_slack.script("files.completeUploadExternal", Scripted(status=429, headers={"Retry-After": "7"}))

    with pytest.raises(SlackApiError):
        client.files_upload_v2(channel=CHANNEL, content=b"log", filename="job-1.log")
    with pytest.raises(urllib.error.HTTPError):
        client.files_upload_v2(channel=CHANNEL, content=b"log", filename="job-1.log")
    with pytest.raises(SlackApiError) as raised:
        client.files_upload_v2(channel=CHANNEL, content=b"log", filename="job-1.log")
    assert raised.value.response.status_code == 429

    assert fake_slack.uploads() == []
    assert fake_slack.messages(CHANNEL) == []
    client.files_upload_v2(channel=CHANNEL, content=b"log", filename="job-1.log")
    assert [u.content for u in fake_slack.uploads()] == [b"log"]


def test_channel_reads_are_refused_as_slack_refuses_the_bot(fake_slack: FakeSlack) -> None:
    """With `channels` set, history and info answer for those channels alone, with Slack's errors."""
    client = client_for(fake_slack)
    fake_slack.channels = {
        CHANNEL: {"name": "jobs", "is_member": True},
        "C0OUTSIDE": {"name": "town", "is_member": False},
        "C0SECRET": {"name": "ops", "is_member": False, "is_private": True},
    }
    fake_slack.scopes = ("channels:history", "groups:history")
    client.chat_postMessage(channel=CHANNEL, text="hello")
    assert [m["text"] for m in client.conversations_history(channel=CHANNEL, limit=1)["messages"]] == [
        "hello"
    ]
    refusals = [
        ("conversations_history", "C0OUTSIDE", "not_in_channel"),
        ("conversations_history", "C0SECRET", "channel_not_found"),
        ("conversations_history", "C0UNKNOWN", "channel_not_found"),
        ("conversations_info", CHANNEL, "missing_scope"),
    ]
    for method, channel, error in refusals:
        with pytest.raises(SlackApiError) as raised:
            getattr(client, method)(channel=channel)
        assert raised.value.response["error"] == error, (method, channel)
    with pytest.raises(SlackApiError) as raised:
        client.conversations_info(channel=CHANNEL)
    assert raised.value.response["needed"] == "channels:read"
    fake_slack.scopes = ("channels:history", "channels:read")
    assert client.conversations_info(channel="C0OUTSIDE")["channel"]["is_member"] is False
    with pytest.raises(SlackApiError) as raised:
        client.conversations_history(channel="C0SECRET")
    assert raised.value.response["needed"] == "groups:history"


def test_without_channels_every_channel_is_readable(fake_slack: FakeSlack) -> None:
    """By default (`channels` None) any channel's history answers, as the notifier's tests assume."""
    client = client_for(fake_slack)
    assert client.conversations_history(channel="C0ANY")["messages"] == []
    assert client.conversations_replies(channel="G0PRIVATE", ts="1.0")["messages"] == []
