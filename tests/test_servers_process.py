"""The real `jobbot` process serving two Interactive servers that hold the same job ids: each command,
button, cancel and notice reaches or names the right server, and one server down leaves the other alone."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobbot import slack_ids
from jobbot.emulator import Emulator
from tests.fakes import FakeSlack, Posted, sign
from tests.jobbot_child import CHANNEL, SIGNING_SECRET, http_mode_env
from tests.slack_requests import ALLOWED_USER, click_body, command_body
from tests.support import ENDED_BY_A_CANCEL, free_port, start_jobbot, wait_until, wait_until_listening

pytestmark = pytest.mark.slow


class TwoServerBot:
    """jobbot as a child process in HTTP mode (serving what `settings` name), and Slack's side of it."""

    def __init__(self, slack: FakeSlack, workdir: Path, **settings: str) -> None:
        self.slack = slack
        self.workdir = workdir
        self.port = free_port()
        self.replies = 0
        env = http_mode_env(slack.api_url, "http://127.0.0.1:1", self.port, **settings)
        with open(workdir / "jobbot.log", "ab") as log:
            self.process = start_jobbot(env, workdir, stdout=log, stderr=log)
        wait_until_listening(self.port, self.process)

    def post(self, body: str) -> None:
        response = httpx.post(
            f"http://127.0.0.1:{self.port}/slack/events",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **sign(SIGNING_SECRET, body)},
            timeout=3,
        )
        assert response.status_code == 200, response.text

    def command(self, text: str, user_id: str = ALLOWED_USER) -> dict[str, Any]:
        """`/jobs <text>`, acknowledged within Slack's 3 s; returns the reply sent to its response_url."""
        self.replies += 1
        name = f"r{self.replies}"
        self.post(command_body(text, response_url=self.slack.response_url(name), user_id=user_id))
        [reply] = self.slack.wait_for_responses(1, name=name, timeout=15)
        return reply

    def click(self, action_id: str, value: str, user_id: str = ALLOWED_USER) -> dict[str, Any]:
        self.replies += 1
        name = f"r{self.replies}"
        body = click_body(action_id, value, response_url=self.slack.response_url(name), user_id=user_id)
        self.post(body)
        [reply] = self.slack.wait_for_responses(1, name=name, timeout=15)
        return reply

    def log(self) -> str:
        return (self.workdir / "jobbot.log").read_text(errors="replace")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def prod() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def staging() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def servers_setting(prod: Emulator, staging: Emulator) -> str:
    return f"prod={prod.url},staging={staging.url}"


@pytest.fixture
def bot(tmp_path: Path, fake_slack: FakeSlack, prod: Emulator, staging: Emulator) -> Iterator[TwoServerBot]:
    """jobbot serving both, with notices to CHANNEL."""
    running = TwoServerBot(
        fake_slack,
        tmp_path,
        JOBBOT_SERVERS=servers_setting(prod, staging),
        JOBBOT_CANCEL_USERS=ALLOWED_USER,
        JOBBOT_NOTIFY_CHANNEL=CHANNEL,
        JOBBOT_POLL_INTERVAL="0.2",
        JOBBOT_DATABASE_URL=f"sqlite:///{tmp_path}/jobbot.db",
    )
    yield running
    running.stop()


@pytest.fixture
def quiet_bot(
    tmp_path: Path, fake_slack: FakeSlack, prod: Emulator, staging: Emulator
) -> Iterator[TwoServerBot]:
    """jobbot serving both with notices off: every request a server gets comes from a command or click."""
    running = TwoServerBot(
        fake_slack,
        tmp_path,
        JOBBOT_SERVERS=servers_setting(prod, staging),
        JOBBOT_CANCEL_USERS=ALLOWED_USER,
        JOBBOT_NOTIFIER="off",
        JOBBOT_DATABASE_URL=f"sqlite:///{tmp_path}/jobbot.db",
    )
    yield running
    running.stop()


def text_of(reply: dict[str, Any]) -> str:
    return str(reply.get("text")) + str(reply.get("blocks"))


def job_requests(emulator: Emulator) -> list[tuple[str, str]]:
    return [(method, path) for method, path in emulator.requests if path.startswith("/v1/job")]


def button_values(reply: dict[str, Any], action_prefix: str) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("action_id", "")).startswith(action_prefix):
                found.append(str(node["value"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(reply.get("blocks"))
    return found


def test_commands_and_buttons_reach_the_named_server_only(
    quiet_bot: TwoServerBot, prod: Emulator, staging: Emulator
) -> None:
    """`/jobs staging 1` reads staging's job 1 and names staging; the card's buttons carry staging, so
    its Refresh reads staging again; with no name, the first server (then the channel's choice) answers."""
    prod.add_job(status="SUCCESS", graph_id="prod-graph")
    staging.add_job(status="FAILED", graph_id="staging-graph")
    prod.reset_stats()
    staging.reset_stats()

    card = quiet_bot.command("staging 1")
    assert "staging-graph" in text_of(card) and "staging" in str(card.get("blocks"))
    assert job_requests(prod) == [] and ("GET", "/v1/job/1") in job_requests(staging)
    [refresh] = button_values(card, slack_ids.JOB_REFRESH)
    assert slack_ids.decode_job_ref(refresh) == ("staging", "1")
    staging.reset_stats()
    assert "staging-graph" in text_of(
        quiet_bot.click(slack_ids.action_id(slack_ids.JOB_REFRESH, "1"), refresh)
    )
    assert job_requests(prod) == [] and job_requests(staging) != []

    assert "prod-graph" in text_of(quiet_bot.command("status 1")), "no name: the first server listed"
    assert "staging" in text_of(quiet_bot.command("use staging"))
    staging.reset_stats()
    assert "staging-graph" in text_of(quiet_bot.command("1")), "the channel's default server now"
    assert "prod-graph" in text_of(quiet_bot.command("prod 1"))

    unknown = text_of(quiet_bot.command("qa list"))
    assert "`qa`" in unknown and "`prod`" in unknown and "`staging`" in unknown


def test_a_cancel_sends_one_delete_to_the_server_whose_button_it_is(
    quiet_bot: TwoServerBot, prod: Emulator, staging: Emulator
) -> None:
    """Job 1 runs on both; the confirmed Cancel from `/jobs staging cancel 1` stops staging's alone."""
    prod.add_job(status="RUNNING")
    staging.add_job(status="RUNNING")
    prompt = quiet_bot.command("staging cancel 1")
    [value] = button_values(prompt, slack_ids.JOB_CANCEL)
    assert "staging" in text_of(prompt)
    outcome = quiet_bot.click(slack_ids.action_id(slack_ids.JOB_CANCEL, "1"), value)
    assert "staging" in text_of(outcome)
    assert [r for r in staging.requests if r[0] == "DELETE"] == [("DELETE", "/v1/job/1")]
    assert [r for r in prod.requests if r[0] == "DELETE"] == []
    assert prod.get("1").status == "RUNNING" and staging.get("1").status in ENDED_BY_A_CANCEL


def test_cancel_permissions_can_differ_per_server(
    tmp_path: Path, fake_slack: FakeSlack, prod: Emulator, staging: Emulator
) -> None:
    """JOBBOT_SERVER_PROD_CANCEL_USERS= (empty) takes prod's cancels away; staging keeps the global list."""
    prod.add_job(status="RUNNING")
    staging.add_job(status="RUNNING")
    bot = TwoServerBot(
        fake_slack,
        tmp_path,
        JOBBOT_SERVERS=servers_setting(prod, staging),
        JOBBOT_CANCEL_USERS=ALLOWED_USER,
        JOBBOT_SERVER_PROD_CANCEL_USERS="",
        JOBBOT_NOTIFIER="off",
        JOBBOT_DATABASE_URL=f"sqlite:///{tmp_path}/jobbot.db",
    )
    try:
        refused = bot.click(slack_ids.action_id(slack_ids.JOB_CANCEL, "1"), "prod:1")
        done = bot.click(slack_ids.action_id(slack_ids.JOB_CANCEL, "1"), "staging:1")
    finally:
        bot.stop()
    assert "cancel" in text_of(refused).lower() and prod.get("1").status == "RUNNING"
    assert [r for r in prod.requests if r[0] == "DELETE"] == []
    assert staging.get("1").status in ENDED_BY_A_CANCEL and "staging" in text_of(done)


def notices(slack: FakeSlack) -> list[Posted]:
    return [m for m in slack.messages(CHANNEL) if m.metadata and not m.thread_ts]


def test_a_job_ending_on_each_server_gets_one_notice_each_naming_its_server(
    bot: TwoServerBot, fake_slack: FakeSlack, prod: Emulator, staging: Emulator
) -> None:
    """Job 1 ends on both servers: two notices, one naming prod and one naming staging, never more."""
    prod.add_job(status="RUNNING")
    staging.add_job(status="RUNNING")
    wait_until(
        lambda: len(job_requests(prod)) > 2 and len(job_requests(staging)) > 2, timeout=20, what="both polled"
    )
    prod.finish_job("1", "SUCCESS")
    staging.finish_job("1", "FAILED")
    wait_until(lambda: len(notices(fake_slack)) >= 2, timeout=20, what="two notices")
    time.sleep(1.0)  # a doubled notice would come within a few polls
    posted = notices(fake_slack)
    assert len(posted) == 2, [m.text for m in posted]
    by_server = {("staging" if "staging" in m.text else "prod"): m for m in posted}
    assert set(by_server) == {"prod", "staging"}
    assert "SUCCESS" in by_server["prod"].text.upper() and "FAIL" in by_server["staging"].text.upper()


def test_one_server_down_leaves_the_others_commands_and_notices_alone(
    bot: TwoServerBot, fake_slack: FakeSlack, prod: Emulator, staging: Emulator
) -> None:
    """prod stops answering; staging's commands answer and its notice is posted, while prod's command
    says prod cannot be reached."""
    staging.add_job(status="RUNNING")
    wait_until(lambda: len(job_requests(staging)) > 2, timeout=20, what="staging polled")
    prod.stop()
    staging.finish_job("1", "SUCCESS")
    started = time.monotonic()
    wait_until(lambda: len(notices(fake_slack)) == 1, timeout=20, what="staging's notice")
    assert time.monotonic() - started < 10, "prod's outage did not hold staging's notice"
    assert "staging" in notices(fake_slack)[0].text
    assert "#1" in text_of(bot.command("staging list"))
    down = text_of(bot.command("prod list"))
    assert "Interactive server `prod`" in down and "prod's URL in JOBBOT_SERVERS" in down


def test_a_single_server_store_upgraded_in_place_announces_nothing_again(
    tmp_path: Path, fake_slack: FakeSlack, prod: Emulator, staging: Emulator
) -> None:
    """A jobbot that served prod alone announced job 1; restarted with JOBBOT_SERVERS naming prod (the
    old INTERACTIVE_ADMIN_ENDPOINT) and staging, it does not announce job 1 again, nor staging's old
    jobs, and announces what ends afterwards once."""
    database = f"sqlite:///{tmp_path}/jobbot.db"
    common = {
        "JOBBOT_NOTIFY_CHANNEL": CHANNEL,
        "JOBBOT_POLL_INTERVAL": "0.2",
        "JOBBOT_DATABASE_URL": database,
    }
    prod.add_job(status="RUNNING")
    staging.add_job(status="SUCCESS")
    single = TwoServerBot(fake_slack, tmp_path, INTERACTIVE_ADMIN_ENDPOINT=prod.url, **common)
    try:
        wait_until(lambda: len(job_requests(prod)) > 2, timeout=20, what="prod polled")
        prod.finish_job("1", "SUCCESS")
        wait_until(lambda: len(notices(fake_slack)) == 1, timeout=20, what="job 1's notice")
    finally:
        single.stop()

    prod.add_job(status="RUNNING")
    several = TwoServerBot(
        fake_slack,
        tmp_path,
        INTERACTIVE_ADMIN_ENDPOINT=prod.url,
        JOBBOT_SERVERS=servers_setting(prod, staging),
        **common,
    )
    try:
        wait_until(lambda: len(job_requests(staging)) > 2, timeout=20, what="staging polled")
        prod.finish_job("2", "FAILED")
        wait_until(lambda: len(notices(fake_slack)) == 2, timeout=20, what="job 2's notice")
        time.sleep(1.0)
        log = several.log()
    finally:
        several.stop()
    posted = notices(fake_slack)
    assert len(posted) == 2, [m.text for m in posted]
    assert "prod" in posted[1].text and "staging" not in posted[1].text
    assert "now belong to server prod" in log
