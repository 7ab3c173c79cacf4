"""The playground: the real bot behind an in-memory Slack, driven through the JSON API the page uses."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from jobbot.__main__ import main
from jobbot.emulator import Emulator
from jobbot.playground import Playground, run_playground
from jobbot.playground.workspace import ALICE, BOB, JOBS_CHANNEL, NOTICE_CHANNEL
from jobbot.slack_ids import JOB_CANCEL, JOB_DETAILS, JOB_FULL_LOG
from tests.support import ENDED_BY_A_CANCEL, status_read_after_cancel

T = TypeVar("T")
Found = dict[str, Any]


class Page:
    """What the page does: read the state, type commands, click buttons, switch the person."""

    def __init__(self, playground: Playground) -> None:
        self.playground = playground
        self.url = playground.url

    def state(self, since: int | None = None) -> dict[str, Any]:
        query = "" if since is None else f"?since={since}"
        answer = httpx.get(f"{self.url}/play/state{query}", timeout=5)
        assert answer.status_code == 200
        state: dict[str, Any] = answer.json()
        return state

    def post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(f"{self.url}/play/{route}", json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def command(self, text: str, channel: str = JOBS_CHANNEL) -> None:
        assert self.post("command", {"channel": channel, "text": text}) == {"ok": True}

    def act_as(self, user: str) -> None:
        assert self.post("user", {"user": user}) == {"ok": True}

    def click(self, message: Found, action_id: str, value_contains: str = "") -> dict[str, Any]:
        """Click the message's button with this action id (whose value contains `value_contains`)."""
        for block in message["blocks"] or []:
            elements = block.get("elements") if block["type"] == "actions" else [block.get("accessory")]
            for element in elements or []:
                if (
                    element
                    and str(element.get("action_id", "")).startswith(action_id)
                    and value_contains in str(element.get("value", ""))
                ):
                    return self.post(
                        "action",
                        {
                            "message": message["id"],
                            "action_id": element["action_id"],
                            "block_id": block["block_id"],
                            "value": element.get("value", ""),
                        },
                    )
        raise AssertionError(f"no button {action_id} in {message}")

    def wait_for(self, find: Callable[[list[Found]], T | None], timeout: float = 20.0) -> T:
        """The first non-empty answer of `find` over the messages `me` sees, re-read at every change."""
        deadline = time.monotonic() + timeout
        workspace = self.playground.workspace
        while True:
            state = self.state()
            found = find(state["messages"])
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"not found within {timeout} s in {state['messages']}")
            version: int = state["version"]

            def changed(seen: int = version) -> bool:
                return workspace.version != seen

            workspace.wait_for(changed, remaining)


def has_button(message: Found, action_id: str) -> bool:
    """Whether the message has a button whose action id starts with `action_id` (jobbot adds `:job`)."""
    return f'"action_id": "{action_id}' in json.dumps(message["blocks"] or [])


def bot_message(
    *, channel: str, containing: str, button: str | None = None, ephemeral_to: str | None = None
) -> Callable[[list[Found]], Found | None]:
    """Finds the newest message from jobbot in `channel` whose text or blocks contain `containing`."""

    def find(messages: list[Found]) -> Found | None:
        for message in reversed(messages):
            shown = message["text"] + json.dumps(message["blocks"] or [])
            if (
                message["user"] == "U0JOBBOT"
                and message["channel"] == channel
                and message["ephemeral_to"] == ephemeral_to
                and containing in shown
                and (button is None or has_button(message, button))
            ):
                return message
        return None

    return find


@pytest.fixture
def playground(emulator: Emulator) -> Iterator[Playground]:
    with Playground(port=0, emulator=emulator, poll_interval=0.2) as started:
        yield started


@pytest.fixture
def page(playground: Playground) -> Page:
    return Page(playground)


def open_card(page: Page, job_id: str, channel: str = JOBS_CHANNEL) -> Found:
    """Type `/jobs list`, click Details on the job, and return the card."""
    page.command("list", channel)
    me = page.state()["me"]
    listing = page.wait_for(
        bot_message(channel=channel, containing=job_id, button=JOB_DETAILS, ephemeral_to=me)
    )
    assert page.click(listing, JOB_DETAILS, job_id) == {"ok": True}
    return page.wait_for(
        lambda messages: next(
            (
                m
                for m in reversed(messages)
                if m["id"] != listing["id"]
                and m["ephemeral_to"] == me
                and has_button(m, JOB_FULL_LOG)
                and job_id in json.dumps(m["blocks"])
            ),
            None,
        )
    )


def test_jobs_list_answers_an_ephemeral_list_with_blocks(page: Page, emulator: Emulator) -> None:
    """`/jobs list` shows the typed command and jobbot's list of jobs, both only to the person."""
    job = emulator.add_job(status="RUNNING")
    page.command("list")
    listing = page.wait_for(bot_message(channel=JOBS_CHANNEL, containing=job, ephemeral_to=ALICE))
    assert listing["blocks"] and has_button(listing, JOB_DETAILS)
    typed = [m for m in page.state()["messages"] if m["user"] == ALICE]
    assert [(m["text"], m["ephemeral_to"]) for m in typed] == [("/jobs list", ALICE)]
    assert listing["ts"] > typed[0]["ts"]


def test_details_shows_the_card_and_a_confirmed_cancel_by_alice_replaces_it_with_the_outcome(
    page: Page, emulator: Emulator
) -> None:
    """Details opens the job's card; Cancel (sent as after the confirm dialog) cancels a RUNNING job and
    the outcome replaces the card in place."""
    job = emulator.add_job(status="RUNNING")
    card = open_card(page, job)
    assert has_button(card, JOB_CANCEL)
    assert page.click(card, JOB_CANCEL, job) == {"ok": True}
    replaced = page.wait_for(
        lambda messages: next((m for m in messages if m["id"] == card["id"] and m["replaced"]), None)
    )
    outcome = json.dumps(replaced["blocks"]) + replaced["text"]
    assert "cancelled job" in outcome and status_read_after_cancel(emulator, job) in outcome
    assert emulator.get(job).status in ENDED_BY_A_CANCEL


def test_bobs_cancel_is_refused_with_the_reason(page: Page, emulator: Emulator) -> None:
    """Acting as bob, who is not a canceller, a confirmed Cancel is refused and the job keeps running."""
    job = emulator.add_job(status="RUNNING")
    page.act_as(BOB)
    assert page.state()["me"] == BOB
    page.command(f"cancel {job}")
    refusal = page.wait_for(
        bot_message(channel=JOBS_CHANNEL, containing="JOBBOT_CANCEL_USERS", ephemeral_to=BOB)
    )
    assert BOB in refusal["text"] + json.dumps(refusal["blocks"])
    assert emulator.get(job).status == "RUNNING"


def test_ephemeral_messages_are_visible_only_to_their_person(page: Page, emulator: Emulator) -> None:
    """alice's command and its answer are not in bob's view."""
    job = emulator.add_job(status="RUNNING")
    page.command("list")
    page.wait_for(bot_message(channel=JOBS_CHANNEL, containing=job, ephemeral_to=ALICE))
    page.act_as(BOB)
    state = page.state()
    assert state["me"] == BOB
    assert [m for m in state["messages"] if m["ephemeral_to"] not in (None, BOB)] == []
    assert not any(job in json.dumps(m["blocks"]) for m in state["messages"])


def test_a_job_ending_posts_a_notice_whose_details_button_works(page: Page, emulator: Emulator) -> None:
    """When a job ends, a notice reaches #job-notices for everyone, and its Details opens the card."""
    job = emulator.add_job(status="RUNNING")
    # The notifier's first poll records the jobs there are as its baseline, announcing none: the job ends
    # after that poll has read the list.
    assert emulator.wait_until(lambda: ("GET", "/v1/job") in emulator.requests, timeout=20)
    emulator.finish_job(job, "SUCCESS")
    notice = page.wait_for(bot_message(channel=NOTICE_CHANNEL, containing=job, button=JOB_DETAILS))
    assert notice["ephemeral_to"] is None
    page.act_as(BOB)
    assert any(m["id"] == notice["id"] for m in page.state()["messages"])
    assert page.click(notice, JOB_DETAILS, job) == {"ok": True}
    card = page.wait_for(
        bot_message(channel=NOTICE_CHANNEL, containing=job, button=JOB_FULL_LOG, ephemeral_to=BOB)
    )
    assert "SUCCESS" in json.dumps(card["blocks"])


def test_full_log_uploads_the_log_as_a_file_in_the_direct_message(page: Page, emulator: Emulator) -> None:
    """Full log shares the job's log as a file in jobbot's direct message with the clicker."""
    job = emulator.add_job(status="FAILED", log="loading vertices\nsomething broke: disk full\n")
    card = open_card(page, job)
    assert page.click(card, JOB_FULL_LOG, job) == {"ok": True}
    shared = page.wait_for(
        lambda messages: next((m for m in messages if m["channel"] == "D0ALICE" and m["files"]), None)
    )
    assert "something broke: disk full" in shared["files"][0]["text"]
    assert {"id": "D0ALICE", "name": "jobbot", "im": True} in page.state()["channels"]
    page.act_as(BOB)
    assert not any(m["channel"] == "D0ALICE" for m in page.state()["messages"])


def test_state_since_the_current_version_says_unchanged(page: Page) -> None:
    """A poll at the current version answers at once with messages null; the people and channels are fixed."""
    state = page.state()
    assert page.state(since=state["version"])["messages"] is None
    assert [u["id"] for u in state["users"]] == [ALICE, BOB]
    assert [c["id"] for c in state["channels"]] == [JOBS_CHANNEL, NOTICE_CHANNEL]


@pytest.mark.parametrize(
    ("route", "body", "error"),
    [
        ("command", b"not json", "the body is not JSON"),
        ("command", b"[1]", "the body is not a JSON object"),
        ("command", b'{"channel": "C0PLAYJOBS"}', "'text' is missing"),
        ("action", b'{"message": 7, "action_id": "a", "block_id": "b"}', "'message' must be a string"),
        ("user", b"{}", "'user' is missing"),
    ],
)
def test_a_malformed_request_gets_a_400_naming_the_problem(
    page: Page, route: str, body: bytes, error: str
) -> None:
    """What the page would never send is refused with a JSON error saying what is wrong."""
    json_type = {"Content-Type": "application/json"}
    answer = httpx.post(f"{page.url}/play/{route}", content=body, headers=json_type, timeout=5)
    assert answer.status_code == 400
    assert answer.json() == {"ok": False, "error": error}


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"Content-Type": "text/plain"}, "send the body as JSON"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "send the body as JSON"),
        ({"Content-Type": "application/json", "Host": "evil.example:8080"}, "the Host header must name"),
    ],
)
def test_what_another_site_could_make_a_browser_send_is_refused(
    page: Page, emulator: Emulator, headers: dict[str, str], error: str
) -> None:
    """A cross-site form or simple fetch (no JSON content type), or a rebound host name, acts on nothing."""
    body = json.dumps({"channel": JOBS_CHANNEL, "text": "list"})
    answer = httpx.post(f"{page.url}/play/command", content=body, headers=headers, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(error)
    assert page.state()["messages"] == []


def test_unknown_messages_and_people_are_refused(page: Page) -> None:
    """A click on a message that does not exist, or a person who does not, is answered ok: false."""
    missing = page.post("action", {"message": "m999", "action_id": JOB_DETAILS, "block_id": "", "value": ""})
    assert missing["ok"] is False and "m999" in missing["error"]
    assert page.post("user", {"user": "U0MALLORY"})["ok"] is False
    assert page.post("command", {"channel": "C0ELSEWHERE", "text": "list"})["ok"] is False


def test_the_web_api_checks_the_bot_token(page: Page) -> None:
    """jobbot's Web API answers invalid_auth for a wrong token and not_authed for none, as Slack does."""
    wrong = httpx.post(f"{page.url}/api/auth.test", headers={"Authorization": "Bearer xoxb-wrong"})
    assert wrong.json() == {"ok": False, "error": "invalid_auth"}
    assert httpx.post(f"{page.url}/api/auth.test").json() == {"ok": False, "error": "not_authed"}
    right = httpx.post(f"{page.url}/api/auth.test", headers={"Authorization": "Bearer xoxb-playground"})
    assert right.json()["team_id"] == "T0PLAY"
    assert "chat:write" in right.headers["x-oauth-scopes"]


@pytest.mark.parametrize(
    "path", ["/static/../pyproject.toml", "/static/..%2fpyproject.toml", "/static/.hidden", "/static/x.py"]
)
def test_static_files_outside_the_folder_or_of_unknown_kinds_are_refused(page: Page, path: str) -> None:
    """Only plainly named files of the page's kinds in static/ are served; the raw path is sent as is."""
    host, port = page.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("GET", path)
    response = connection.getresponse()
    assert response.status == 404
    assert b"[tool" not in response.read()
    connection.close()


def test_the_page_is_served_at_the_root(page: Page) -> None:
    """GET / is static/index.html, as HTML."""
    answer = httpx.get(page.url + "/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "<html" in answer.text.lower()


@pytest.mark.slow
def test_the_command_serves_the_page_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """`python -m jobbot playground --port 0` needs no settings, serves / and /play/state, and on SIGTERM
    exits 0 having removed its temporary directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "JOBBOT_", "INTERACTIVE_"))}
    env["TMPDIR"] = str(tmp_path)
    stderr = tmp_path / "stderr.log"
    with (
        stderr.open("w") as errors,
        subprocess.Popen(
            [sys.executable, "-m", "jobbot", "playground", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env,
            cwd=tmp_path,
        ) as child,
    ):
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            assert found, stderr.read_text()
            url = found.group(1)
            assert [p for p in tmp_path.iterdir() if p.name.startswith("jobbot-playground-")]
            assert httpx.get(url + "/").status_code == 200
            assert httpx.get(url + "/play/state").json()["me"] == ALICE
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=20) == 0, stderr.read_text()
        finally:
            if child.poll() is None:
                child.kill()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("jobbot-playground-")]


def test_the_servers_named_in_the_environment_are_used_instead_of_a_demo(emulator: Emulator) -> None:
    """With INTERACTIVE_ADMIN_ENDPOINT set, the playground's bot lists that server's jobs."""
    job = emulator.add_job(status="RUNNING", graph_id="from-the-environment")
    environ = {"INTERACTIVE_ADMIN_ENDPOINT": emulator.url, "SLACK_BOT_TOKEN": "xoxb-not-read"}
    with Playground(port=0, environ=environ, poll_interval=0.2) as playground:
        page = Page(playground)
        page.command("list")
        listing = page.wait_for(bot_message(channel=JOBS_CHANNEL, containing=job, ephemeral_to=ALICE))
        assert "from-the-environment" in json.dumps(listing["blocks"])


def test_port_and_host_belong_to_the_playground_only() -> None:
    """`jobbot run --port 1` is a usage error: jobbot run listens on PORT."""
    with pytest.raises(SystemExit) as exited:
        main(["run", "--port", "1"])
    assert exited.value.code == 2


def test_without_a_server_configured_the_demo_emulator_serves_jobs() -> None:
    """With nothing set, the playground starts the emulator in demo mode: its jobs are listed at once."""
    with Playground(port=0, environ={}, poll_interval=0.2) as playground:
        page = Page(playground)
        page.command("list")
        listing = page.wait_for(
            bot_message(channel=JOBS_CHANNEL, containing="GraphScope jobs", ephemeral_to=ALICE)
        )
        assert has_button(listing, JOB_DETAILS)
        assert playground.directory is not None and playground.directory.is_dir()
        directory = playground.directory
    assert not directory.exists()


def test_a_port_in_use_stops_the_playground_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """run_playground on a taken port exits 2 naming the address and the option that fixes it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run_playground(port=port) == 2
    error = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in error and "--port" in error


def test_a_rebound_host_name_reads_no_state(page: Page, emulator: Emulator) -> None:
    """A site that rebinds its own name to this address cannot read the jobs either: the state answers
    only to a Host naming the playground."""
    emulator.add_job(status="RUNNING")
    page.command("list")
    answer = httpx.get(f"{page.url}/play/state", headers={"Host": "evil.example"}, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("the Host header must name this server")
