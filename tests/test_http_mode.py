"""End to end in HTTP mode: signed requests to the real endpoint, the emulator over loopback, fake Slack."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jobbot import slack_ids
from jobbot.emulator import Emulator
from tests.fakes import UPLOAD_STEP, FakeSlack, Scripted, sign
from tests.http_bot import HttpBot, serve_http_bot
from tests.slack_requests import ALLOWED_USER, OTHER_USER, click_body, command_body
from tests.support import ENDED_BY_A_CANCEL, free_port, status_read_after_cancel


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for block in message.get("blocks", []):
        found += [e for e in block.get("elements", []) if e.get("type") == "button"]
        if block.get("accessory", {}).get("type") == "button":
            found.append(block["accessory"])
    return found


def button(message: dict[str, Any], prefix: str, value: str | None = None) -> dict[str, Any]:
    matches = [b for b in buttons(message) if slack_ids.matching(prefix).match(b["action_id"])]
    matches = [b for b in matches if value is None or b["value"] == value]
    assert matches, f"no {prefix} button in {json.dumps(message)[:2000]}"
    return matches[0]


def shown(message: dict[str, Any]) -> str:
    """Everything a person would read in a message: fallback text and every block, as one string."""
    return str(message["text"]) + json.dumps(message["blocks"], ensure_ascii=False)


def deletes(emulator: Emulator) -> list[tuple[str, str]]:
    return [r for r in emulator.requests if r[0] == "DELETE"]


def test_list_is_acknowledged_then_answered_newest_first(http_bot: HttpBot, emulator: Emulator) -> None:
    """`/jobs` gets an empty 200 ack and an ephemeral list, newest job first, on the response_url."""
    for status in ("SUCCESS", "FAILED", "RUNNING"):
        emulator.add_job(status=status, graph_id="modern_graph")
    response = http_bot.command("")
    assert response.status_code == 200 and response.text == ""
    [reply] = http_bot.slack.wait_for_responses(1)
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    text = shown(reply)
    assert text.index("#3") < text.index("#2") < text.index("#1")
    assert button(reply, slack_ids.JOB_CANCEL)["value"] == "3"
    assert {b["value"] for b in buttons(reply) if b["action_id"].startswith(slack_ids.JOB_DETAILS)} == {
        "1",
        "2",
        "3",
    }


def test_status_shows_a_card_with_the_log(http_bot: HttpBot, emulator: Emulator) -> None:
    """`/jobs status ID` answers with the job card, its status and the end of its log."""
    job_id = emulator.add_job(status="FAILED", log="reading edges\nERROR: bad row 17 <!channel>\n")
    http_bot.command(f"status {job_id}")
    [reply] = http_bot.slack.wait_for_responses(1)
    text = shown(reply)
    assert f"Job {job_id}" in text and "FAILED" in text and "bad row 17" in text
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


def test_bare_id_is_status(http_bot: HttpBot, emulator: Emulator) -> None:
    """`/jobs 1` is the same as `/jobs status 1`."""
    emulator.add_job(status="SUCCESS")
    http_bot.command("1")
    [reply] = http_bot.slack.wait_for_responses(1)
    assert "Job 1" in shown(reply)


def test_cancel_command_only_offers_a_confirmed_button(http_bot: HttpBot, emulator: Emulator) -> None:
    """`/jobs cancel ID` never cancels: it answers with a danger button that carries a confirmation dialog."""
    job_id = emulator.add_job(status="RUNNING")
    http_bot.command(f"cancel {job_id}")
    [reply] = http_bot.slack.wait_for_responses(1)
    cancel = button(reply, slack_ids.JOB_CANCEL, job_id)
    assert cancel["style"] == "danger" and cancel["confirm"]["style"] == "danger"
    assert deletes(emulator) == [] and emulator.get(job_id).status == "RUNNING"


def test_confirmed_click_cancels_once_and_says_who(http_bot: HttpBot, emulator: Emulator) -> None:
    """The confirmed click sends one DELETE and replaces the message with the outcome and the canceller."""
    job_id = emulator.add_job(status="RUNNING")
    response = http_bot.click(slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id)
    assert response.status_code == 200
    [reply] = http_bot.slack.wait_for_responses(1)
    assert deletes(emulator) == [("DELETE", f"/v1/job/{job_id}")]
    assert emulator.get(job_id).status in ENDED_BY_A_CANCEL
    assert reply["replace_original"] is True
    text = shown(reply)
    assert f"<@{ALLOWED_USER}> cancelled job {job_id}" in text
    assert status_read_after_cancel(emulator, job_id) in text


def test_double_click_sends_one_delete_and_tells_both(http_bot: HttpBot, emulator: Emulator) -> None:
    """Two confirmed clicks at once cancel the job once; the second clicker learns it already ended."""
    job_id = emulator.add_job(status="RUNNING")
    emulator.faults.set_delay(0.2)  # widen the window in which both clicks are in flight
    clicks = [
        threading.Thread(
            target=http_bot.click, args=(slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id)
        )
        for _ in range(2)
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    replies = http_bot.slack.wait_for_responses(2)
    assert len(deletes(emulator)) == 1
    texts = sorted(shown(r) for r in replies)
    assert any("cancelled job" in t for t in texts)
    assert any("Nothing to cancel" in t and f"cancelled by <@{ALLOWED_USER}>" in t for t in texts)


def test_click_by_a_user_not_allowed_is_refused_without_touching_the_server(
    http_bot: HttpBot, emulator: Emulator
) -> None:
    """A user outside JOBBOT_CANCEL_USERS is told why and how to get access; the server is not called."""
    job_id = emulator.add_job(status="RUNNING")
    before = len(emulator.requests)
    http_bot.click(slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id, user_id=OTHER_USER)
    [reply] = http_bot.slack.wait_for_responses(1)
    assert reply["replace_original"] is False
    text = shown(reply)
    assert "JOBBOT_CANCEL_USERS" in text and OTHER_USER in text
    assert len(emulator.requests) == before and emulator.get(job_id).status == "RUNNING"


def test_with_no_cancel_users_configured_nobody_may_cancel(fake_slack: FakeSlack, emulator: Emulator) -> None:
    """Cancel is denied by default: with JOBBOT_CANCEL_USERS empty even the command refuses."""
    job_id = emulator.add_job(status="RUNNING")
    for bot in serve_http_bot(fake_slack, emulator.url, JOBBOT_CANCEL_USERS=""):
        bot.command(f"cancel {job_id}")
        bot.click(slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id, reply_to="r2")
        assert "JOBBOT_CANCEL_USERS" in shown(fake_slack.wait_for_responses(1)[0])
        assert "JOBBOT_CANCEL_USERS" in shown(fake_slack.wait_for_responses(1, name="r2")[0])
    assert deletes(emulator) == []


def test_cancel_of_a_finished_job_says_so(http_bot: HttpBot, emulator: Emulator) -> None:
    """Clicking Cancel on a job that ended meanwhile reports its final status and sends no DELETE."""
    job_id = emulator.add_job(status="SUCCESS")
    http_bot.click(slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id)
    [reply] = http_bot.slack.wait_for_responses(1)
    assert "Nothing to cancel" in shown(reply) and "SUCCESS" in shown(reply)
    assert deletes(emulator) == []


def test_cancel_overwritten_by_the_loader_shows_the_final_status(fake_slack: FakeSlack) -> None:
    """When the loader records FAILED after a cancel, the outcome shows what the server finally says."""
    from jobbot.emulator import Quirks

    with Emulator(quirks=Quirks(cancel_ends_failed=1.0, cancel_overwrite_delay=0.0)).start() as emulator:
        job_id = emulator.add_job(status="RUNNING")
        for bot in serve_http_bot(fake_slack, emulator.url):
            bot.click(slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id)
            [reply] = fake_slack.wait_for_responses(1)
        assert len(deletes(emulator)) == 1
    text = shown(reply)
    assert "cancelled job" in text and "FAILED" in text


def test_next_page_edits_the_same_message(http_bot: HttpBot, emulator: Emulator) -> None:
    """Next on a list page replaces the message with the following page."""
    for _ in range(25):
        emulator.add_job(status="SUCCESS")
    http_bot.command("list")
    [first] = http_bot.slack.wait_for_responses(1)
    assert "#25" in shown(first) and "#15" not in shown(first)
    next_button = button(first, slack_ids.LIST_PAGE, None)
    nexts = [b for b in buttons(first) if b["action_id"].startswith(slack_ids.LIST_PAGE)]
    next_button = nexts[-1]
    http_bot.click(next_button["action_id"], next_button["value"])
    second = http_bot.slack.wait_for_responses(2)[1]
    assert second["replace_original"] is True
    assert "#15" in shown(second) and "#25" not in shown(second)


def test_status_filter_lists_only_matching_jobs(http_bot: HttpBot, emulator: Emulator) -> None:
    """`/jobs list failed` shows failed jobs only."""
    emulator.add_job(status="SUCCESS")
    emulator.add_job(status="FAILED")
    http_bot.command("list failed")
    [reply] = http_bot.slack.wait_for_responses(1)
    assert "#2" in shown(reply) and "#1 " not in shown(reply) and "*#1*" not in shown(reply)


def test_details_button_answers_with_a_new_card(http_bot: HttpBot, emulator: Emulator) -> None:
    """Details opens the job card as a new ephemeral message, keeping the list."""
    job_id = emulator.add_job(status="SUCCESS")
    http_bot.click(slack_ids.action_id(slack_ids.JOB_DETAILS, job_id), job_id)
    [reply] = http_bot.slack.wait_for_responses(1)
    assert reply["replace_original"] is False and f"Job {job_id}" in shown(reply)


@pytest.mark.parametrize("text", ["help", "frobnicate", "status ../graph/1", "cancel", "status 1?x=1"])
def test_help_and_mistakes_get_usage(http_bot: HttpBot, emulator: Emulator, text: str) -> None:
    """Help, unknown words and malformed ids get the usage message and never reach the server."""
    http_bot.command(text)
    [reply] = http_bot.slack.wait_for_responses(1)
    assert "/jobs status" in shown(reply)
    assert emulator.requests == []


def test_the_word_payload_in_a_command_works(http_bot: HttpBot, emulator: Emulator) -> None:
    """`/jobs status payload` is a command (bolt 1.30 would read it as an empty interactivity payload)."""
    response = http_bot.command("status payload")
    assert response.status_code == 200
    [reply] = http_bot.slack.wait_for_responses(1)
    assert "not a job id" in shown(reply) or "/jobs status" in shown(reply)


def test_unknown_job_is_reported(http_bot: HttpBot, emulator: Emulator) -> None:
    """A job id the server does not know is answered plainly."""
    http_bot.command("status 999")
    [reply] = http_bot.slack.wait_for_responses(1)
    assert "Job 999 does not exist" in shown(reply)


def test_a_hanging_server_does_not_delay_the_ack(http_bot: HttpBot, emulator: Emulator) -> None:
    """With the server hanging, many commands are still acknowledged and each gets a timeout explanation."""
    emulator.faults.hang()
    try:
        names = [f"h{i}" for i in range(12)]
        for name in names:
            assert http_bot.command("list", reply_to=name).status_code == 200
        for name in names:
            [reply] = http_bot.slack.wait_for_responses(1, name=name)
            assert emulator.url in shown(reply) and "did not answer in time" in shown(reply)
    finally:
        emulator.faults.release()


@pytest.fixture
def bot_without_server(fake_slack: FakeSlack) -> Iterator[HttpBot]:
    yield from serve_http_bot(fake_slack, f"http://127.0.0.1:{free_port()}")


def test_an_absent_server_is_named_with_the_reason(bot_without_server: HttpBot) -> None:
    """Connection refused: the reply names the endpoint and says the connection was refused."""
    bot_without_server.command("status 1")
    [reply] = bot_without_server.slack.wait_for_responses(1)
    assert bot_without_server.bot.clients["default"].endpoint in shown(reply) and "refused" in shown(reply)
    assert "Traceback" not in shown(reply)


@pytest.mark.parametrize("case", ["unsigned", "wrong secret", "stale timestamp", "altered body"])
def test_requests_not_signed_by_slack_are_rejected_and_do_nothing(
    http_bot: HttpBot, emulator: Emulator, case: str
) -> None:
    """Missing, wrong, stale or mismatched signatures get 401 and cause no server call and no message."""
    job_id = emulator.add_job(status="RUNNING")
    body = click_body(
        slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id, response_url=http_bot.slack.response_url()
    )
    headers = {
        "unsigned": {},
        "wrong secret": sign("not-the-secret", body),
        "stale timestamp": sign(http_bot.secret, body, timestamp=int(time.time()) - 301),
        "altered body": sign(http_bot.secret, body.replace("U0ALLOWED1", "U0ALLOWED2")),
    }[case]
    response = http_bot.post(body, headers=headers)
    assert response.status_code == 401
    assert emulator.requests == [] and http_bot.slack.responses() == []


def test_published_signing_example_is_accepted_by_our_signer() -> None:
    """The test signer matches Slack's published test vector, so signed-request tests sign as Slack does."""
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert sign("8f742231b10e8888abcd99yyyzzz85a5", body, 1531420618)["X-Slack-Signature"] == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


def test_healthz_answers(http_bot: HttpBot) -> None:
    """The liveness probe answers 200 without a signature."""
    import httpx

    assert httpx.get(http_bot.url + "/healthz").status_code == 200


def test_command_body_for_other_users_is_well_formed() -> None:
    """The command builder sets the user that tests pass (guards the helpers themselves)."""
    assert "user_id=U0OTHER01" in command_body("x", response_url="http://r", user_id=OTHER_USER)


def test_watch_records_the_watcher_and_unwatch_removes_it(http_bot: HttpBot, emulator: Emulator) -> None:
    """`/jobs watch ID` on a running job is remembered for that user; `/jobs unwatch ID` forgets it."""
    job_id = emulator.add_job(status="RUNNING")
    http_bot.command(f"watch {job_id}")
    [reply] = http_bot.slack.wait_for_responses(1)
    assert "direct message" in shown(reply)
    assert http_bot.bot.store.watchers(job_id) == [ALLOWED_USER]
    http_bot.command(f"unwatch {job_id}", reply_to="r2")
    http_bot.slack.wait_for_responses(1, name="r2")
    assert http_bot.bot.store.watchers(job_id) == []


def test_watching_a_finished_job_answers_its_outcome_at_once(http_bot: HttpBot, emulator: Emulator) -> None:
    """Watching a job that already ended shows its outcome now and records no watch."""
    job_id = emulator.add_job(status="FAILED")
    http_bot.command(f"watch {job_id}")
    [reply] = http_bot.slack.wait_for_responses(1)
    assert "FAILED" in shown(reply) and "already" in shown(reply)
    assert http_bot.bot.store.watchers(job_id) == []


def test_subscribe_lists_and_unsubscribe_in_a_channel(http_bot: HttpBot) -> None:
    """`/jobs subscribe failed` adds the channel with its filter and who added it; unsubscribe removes it."""
    http_bot.command("subscribe failed")
    http_bot.slack.wait_for_responses(1)
    [sub] = http_bot.bot.store.subscriptions()
    assert (sub.channel_id, sub.statuses, sub.added_by) == ("C0CHAN01", ("FAILED",), ALLOWED_USER)
    http_bot.command("subscriptions", reply_to="r2")
    [listing] = http_bot.slack.wait_for_responses(1, name="r2")
    assert "<#C0CHAN01>" in shown(listing) and f"<@{ALLOWED_USER}>" in shown(listing)
    http_bot.command("unsubscribe", reply_to="r3")
    http_bot.slack.wait_for_responses(1, name="r3")
    assert http_bot.bot.store.subscriptions() == []


def test_subscribe_in_a_direct_message_points_to_watch(http_bot: HttpBot) -> None:
    """A DM is not a channel: subscribing there explains `/jobs watch` instead of failing later."""
    http_bot.post(
        command_body("subscribe", response_url=http_bot.slack.response_url(), channel_id="D0DIRECT")
    )
    [reply] = http_bot.slack.wait_for_responses(1)
    assert "/jobs watch" in shown(reply) and http_bot.bot.store.subscriptions() == []


def test_a_cancel_through_jobbot_is_remembered_for_the_notice(http_bot: HttpBot, emulator: Emulator) -> None:
    """The store records who cancelled, so the completion notice can name them."""
    job_id = emulator.add_job(status="RUNNING")
    http_bot.click(slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id)
    http_bot.slack.wait_for_responses(1)
    assert http_bot.bot.store.cancelled_by(job_id) == ALLOWED_USER


def test_with_notices_off_watch_and_subscribe_say_so(fake_slack: FakeSlack, emulator: Emulator) -> None:
    """JOBBOT_NOTIFIER=off: watch and subscribe explain that notices are switched off, and record nothing."""
    job_id = emulator.add_job(status="RUNNING")
    for bot in serve_http_bot(fake_slack, emulator.url, JOBBOT_NOTIFIER="off"):
        assert bot.bot.notifiers == {}
        bot.command(f"watch {job_id}")
        bot.command("subscribe", reply_to="r2")
        for name in ("r1", "r2"):
            assert "JOBBOT_NOTIFIER=off" in shown(fake_slack.wait_for_responses(1, name=name)[0])
        assert bot.bot.store.watchers(job_id) == [] and bot.bot.store.subscriptions() == []


# The Full log button: the job's whole log, uploaded to the clicker's direct message.


def click_full_log(bot: HttpBot, job_id: str, *, reply_to: str = "r1") -> dict[str, Any]:
    response = bot.click(slack_ids.action_id(slack_ids.JOB_FULL_LOG, job_id), job_id, reply_to=reply_to)
    assert response.status_code == 200
    [reply] = bot.slack.wait_for_responses(1, name=reply_to)
    return reply


def test_full_log_uploads_the_log_to_the_clickers_direct_message(
    http_bot: HttpBot, emulator: Emulator
) -> None:
    """The click opens a DM with the person who clicked, uploads the log there, and says so in place."""
    log = "loading person\nloading knows\nERROR: bad edge at line 12\n"
    job_id = emulator.add_job(status="FAILED", log=log)

    reply = click_full_log(http_bot, job_id)

    (opened,) = http_bot.slack.calls_to("conversations.open")
    assert opened.body["users"] == ALLOWED_USER
    dm = "D" + ALLOWED_USER[1:]
    (uploaded,) = http_bot.slack.uploads()
    assert (uploaded.channel, uploaded.thread_ts, uploaded.filename) == (dm, None, f"job-{job_id}.log")
    assert uploaded.content == log.encode() and uploaded.title == f"Full log of job #{job_id}"
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    assert f"I sent you the full log of job #{job_id}" in shown(reply) and "direct message" in shown(reply)


def test_full_log_of_a_log_longer_than_the_file_says_it_sent_its_end(
    http_bot: HttpBot, emulator: Emulator
) -> None:
    """A log past the cap is sent as its last part, and the reply says so."""
    job_id = emulator.add_job(status="FAILED", log="x" * 99 + "\n")
    emulator.append_log(job_id, ("y" * 1023 + "\n") * 1100)

    reply = click_full_log(http_bot, job_id)

    (uploaded,) = http_bot.slack.uploads()
    assert uploaded.content.startswith(b"[jobbot: this log was longer than 1 MiB")
    assert b"x" not in uploaded.content
    assert "last 1 MiB" in shown(reply)


def test_full_log_of_an_unknown_job_says_so_and_uploads_nothing(
    http_bot: HttpBot, emulator: Emulator
) -> None:
    """The server's 404 is worded as for any other request; no DM is opened."""
    reply = click_full_log(http_bot, "999")
    assert "Job 999 does not exist" in shown(reply)
    assert http_bot.slack.uploads() == [] and http_bot.slack.calls_to("conversations.open") == []


def test_full_log_with_a_forged_job_id_never_reaches_the_server(
    http_bot: HttpBot, emulator: Emulator
) -> None:
    """A button value that is not a job id is refused with the usage hint before any request."""
    reply = click_full_log(http_bot, "../graph/1")
    assert "That is not a job id" in shown(reply)
    assert emulator.requests == [] and http_bot.slack.uploads() == []


@pytest.mark.parametrize("method", ["conversations.open", "files.completeUploadExternal"])
def test_full_log_that_slack_will_not_take_says_so_plainly(
    http_bot: HttpBot, emulator: Emulator, method: str
) -> None:
    """A Slack error opening the DM or uploading is one clear line naming Slack's error, no traceback."""
    job_id = emulator.add_job(status="FAILED", log="boom\n")
    http_bot.slack.script(method, Scripted(body={"ok": False, "error": "not_allowed_token_type"}))

    reply = click_full_log(http_bot, job_id)

    assert f"could not send you the full log of job #{job_id}" in shown(reply)
    assert "not_allowed_token_type" in shown(reply) and "Traceback" not in shown(reply)
    assert http_bot.slack.uploads() == []


@pytest.mark.parametrize(
    ("status", "said"),
    [(202, "Slack's file host did not take the file"), (500, "Slack could not be reached or failed")],
)
def test_full_log_whose_bytes_the_file_host_refuses_says_so(
    http_bot: HttpBot, emulator: Emulator, status: int, said: str
) -> None:
    """An odd answer or an error from the upload URL (no Web API error code) still gets a clear line."""
    job_id = emulator.add_job(status="FAILED", log="boom\n")
    http_bot.slack.script(UPLOAD_STEP, Scripted(status=status, body="no"))

    reply = click_full_log(http_bot, job_id)

    assert f"could not send you the full log of job #{job_id}" in shown(reply) and said in shown(reply)
    assert http_bot.slack.uploads() == []


def test_full_log_from_a_channel_not_allowed_is_refused_without_a_request(
    fake_slack: FakeSlack, emulator: Emulator
) -> None:
    """The guard refuses the click before the listener runs: no GraphScope request, no upload, no DM."""
    job_id = emulator.add_job(status="FAILED", log="secret log\n")
    for bot in serve_http_bot(fake_slack, emulator.url, JOBBOT_ALLOWED_CHANNELS="C0OPS0001"):
        reply = click_full_log(bot, job_id)
    assert ":lock:" in shown(reply) and "secret log" not in shown(reply)
    assert emulator.requests == []
    assert fake_slack.uploads() == [] and fake_slack.calls_to("conversations.open") == []
