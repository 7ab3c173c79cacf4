"""The playground's Slack workspace: what its Web API and response_urls do with messages, as Slack does."""

from __future__ import annotations

import json

import pytest

from jobbot.errors import WebApiRefusal
from jobbot.playground import workspace as ws
from jobbot.playground.workspace import ALICE, BOB, JOBS_CHANNEL, NOTICE_CHANNEL, Workspace

SECTION = [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]


def test_a_response_url_answers_ephemerally_by_default_and_replaces_the_clicked_message() -> None:
    """A reply goes to the requester only; replace_original edits the clicked message in place."""
    slack = Workspace()
    command = slack.new_response_url(JOBS_CHANNEL, ALICE, None)
    slack.respond(command, {"text": "the list", "blocks": SECTION})
    (listing,) = [m for m in slack.messages() if m.text == "the list"]
    assert listing.ephemeral_to == ALICE and listing.blocks and listing.blocks[0]["block_id"]
    click = slack.new_response_url(JOBS_CHANNEL, ALICE, listing.id)
    slack.respond(click, {"text": "page 2", "replace_original": True})
    assert [(m.id, m.text, m.replaced) for m in slack.messages()] == [(listing.id, "page 2", 1)]
    for_all = {"text": "all", "response_type": "in_channel"}
    slack.respond(slack.new_response_url(JOBS_CHANNEL, BOB, None), for_all)
    assert slack.messages()[-1].ephemeral_to is None
    slack.respond(slack.new_response_url(JOBS_CHANNEL, ALICE, listing.id), {"delete_original": True})
    assert listing.id not in [m.id for m in slack.messages()]


def test_a_response_url_refuses_unknown_ids_and_too_many_posts() -> None:
    """An id never handed out is expired_url; a response_url takes only a few posts."""
    slack = Workspace()
    with pytest.raises(WebApiRefusal, match="expired_url"):
        slack.respond("nope", {"text": "x"})
    url = slack.new_response_url(JOBS_CHANNEL, ALICE, None)
    for _ in range(ws.RESPONSE_URL_USES):
        slack.respond(url, {"text": "x"})
    with pytest.raises(WebApiRefusal, match="used_url"):
        slack.respond(url, {"text": "x"})


def test_the_web_api_refuses_what_slack_refuses() -> None:
    """Unknown channels, empty or oversized messages, bad blocks and edits of others' messages fail."""
    slack = Workspace()
    assert slack.call("chat.postMessage", {"channel": "C0NOPE", "text": "x"})["error"] == "channel_not_found"
    assert slack.call("chat.postMessage", {"channel": JOBS_CHANNEL})["error"] == "no_text"
    too_long = {"channel": JOBS_CHANNEL, "text": "x" * (ws.MAX_TEXT + 1)}
    assert slack.call("chat.postMessage", too_long)["error"] == "msg_too_long"
    many = {"channel": JOBS_CHANNEL, "text": "x", "blocks": json.dumps(SECTION * (ws.MAX_BLOCKS + 1))}
    assert slack.call("chat.postMessage", many)["error"] == "invalid_blocks"
    typed = slack.post_typed(JOBS_CHANNEL, ALICE, "/jobs list")
    assert slack.call("chat.update", {"channel": JOBS_CHANNEL, "ts": typed.ts, "text": "y"})["error"] in (
        "message_not_found",
        "cant_update_message",
    )
    assert slack.call("files.info", {})["error"] == "unknown_method"


def test_history_lists_channel_messages_newest_first_and_replies_their_thread() -> None:
    """conversations.history skips ephemeral messages and thread replies; .replies lists the thread."""
    slack = Workspace()
    parent = slack.call("chat.postMessage", {"channel": NOTICE_CHANNEL, "text": "notice"})
    later = slack.call("chat.postMessage", {"channel": NOTICE_CHANNEL, "text": "another"})
    slack.call("chat.postMessage", {"channel": NOTICE_CHANNEL, "text": "log", "thread_ts": parent["ts"]})
    slack.call("chat.postEphemeral", {"channel": NOTICE_CHANNEL, "user": ALICE, "text": "psst"})
    history = slack.call("conversations.history", {"channel": NOTICE_CHANNEL})
    assert [m["ts"] for m in history["messages"]] == [later["ts"], parent["ts"]]
    replies = slack.call("conversations.replies", {"channel": NOTICE_CHANNEL, "ts": parent["ts"]})
    assert [m["text"] for m in replies["messages"]] == ["notice", "log"]
    edited = slack.call("chat.update", {"channel": NOTICE_CHANNEL, "ts": parent["ts"], "text": "edited"})
    assert edited["ok"] and slack.messages()[0].edited


def test_the_workspace_keeps_a_bounded_number_of_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """The oldest messages go once MAX_MESSAGES are held."""
    monkeypatch.setattr(ws, "MAX_MESSAGES", 3)
    slack = Workspace()
    for n in range(5):
        slack.call("chat.postMessage", {"channel": JOBS_CHANNEL, "text": str(n)})
    assert [m.text for m in slack.messages()] == ["2", "3", "4"]


def test_state_shows_ephemeral_messages_only_to_their_person_and_counts_versions() -> None:
    """Each change moves the version; state for another person leaves out what was shown only to one."""
    slack = Workspace()
    before = slack.version
    slack.call("chat.postEphemeral", {"channel": JOBS_CHANNEL, "user": ALICE, "text": "for alice"})
    assert slack.version > before
    assert [m["text"] for m in slack.state()["messages"]] == ["for alice"]
    slack.set_me(BOB)
    assert slack.state()["messages"] == []
    assert slack.state(since=slack.version)["messages"] is None
    with pytest.raises(ValueError):
        slack.set_me("U0MALLORY")


def test_an_upload_is_shared_only_once_its_bytes_arrived() -> None:
    """Asking for an upload URL, sending the bytes, then completing shares the file in a message."""
    slack = Workspace()
    slack.public_url = "http://127.0.0.1:1"
    too_big = slack.call("files.getUploadURLExternal", {"filename": "x", "length": ws.MAX_FILE_BYTES + 1})
    assert too_big["error"] == "file_too_large"
    started = slack.call("files.getUploadURLExternal", {"filename": "job-3.log", "length": "5"})
    assert started["upload_url"] == f"http://127.0.0.1:1/play/upload/{started['file_id']}"
    files = json.dumps([{"id": started["file_id"], "title": "Job 3's log"}])
    complete = {"files": files, "channel_id": "D0ALICE", "initial_comment": "the log"}
    assert slack.call("files.completeUploadExternal", complete)["error"] == "file_not_found"
    assert slack.receive_upload(started["file_id"], b"hello")
    assert not slack.receive_upload(started["file_id"], b"again")
    assert slack.call("files.completeUploadExternal", complete)["ok"]
    (shared,) = slack.messages()
    assert (shared.channel, shared.text) == ("D0ALICE", "the log")
    expected = {"name": "job-3.log", "title": "Job 3's log", "text": "hello"}
    assert [f.as_state() for f in shared.files] == [expected]
    assert slack.call("files.completeUploadExternal", complete)["error"] == "file_not_found"
