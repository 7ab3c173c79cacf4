"""jobbot's Socket Mode connection under what Slack and networks do to it, as a process: a connection
dropped or silently dead is replaced within seconds, Slack's `disconnect` is crossed with no envelope
lost, and several replicas each hold a connection and act once per click.

The waits below are deadlines, not measurements: each is several times what jobbot needs and less than
what the mechanism it replaces needed (bolt's SocketModeHandler: 10 s after a drop, 40 s for a half-open
connection). `benchmarks/socket_reconnect.py` measures the times.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from jobbot import slack_ids
from jobbot.emulator import Emulator
from tests.fake_socket_mode import FakeSocketMode
from tests.fakes import FakeSlack, Scripted
from tests.slack_requests import ALLOWED_USER, click_payload, command_body
from tests.support import free_port, start_jobbot_captured, wait_until, wait_until_listening

pytestmark = pytest.mark.slow

APP_TOKEN = "xapp-1-secret-app-token"
BOT_TOKEN = "xoxb-1-secret-bot-token"


def socket_env(
    slack: FakeSlack, emulator: Emulator, health_port: int, database: str, **extra: str
) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "INTERACTIVE_ADMIN_ENDPOINT": emulator.url,
        "JOBBOT_CANCEL_USERS": ALLOWED_USER,
        "JOBBOT_HEALTH_PORT": str(health_port),
        "JOBBOT_DATABASE_URL": database,
        **extra,
    }


class Replica:
    """A jobbot process in Socket Mode, with its probes on `port`."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = int(env["JOBBOT_HEALTH_PORT"])
        self.process = start_jobbot_captured(env, cwd)
        self.output = ""

    def readiness(self) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=5).json()
        return answer

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.output, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.output, _ = self.process.communicate(timeout=10)
        return self.process.returncode


@contextmanager
def replicas(
    count: int, slack: FakeSlack, emulator: Emulator, workdir: Path, database: str, **extra: str
) -> Iterator[list[Replica]]:
    started = [
        Replica(socket_env(slack, emulator, free_port(), database, **extra), workdir) for _ in range(count)
    ]
    try:
        for replica in started:
            wait_until_listening(replica.port, replica.process)
        yield started
    finally:
        codes = [replica.stop() for replica in started]
        for replica, code in zip(started, codes, strict=True):
            assert code == 0, replica.output
            assert APP_TOKEN not in replica.output and BOT_TOKEN not in replica.output


def command(envelope_id: str, text: str, response_url: str, **extra: object) -> dict[str, object]:
    payload = dict(parse_qsl(command_body(text, response_url=response_url)))
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "payload": payload,
        "accepts_response_payload": True,
        **extra,
    }


def confirmed_cancel(envelope_id: str, job_id: str, response_url: str, **extra: object) -> dict[str, object]:
    payload = click_payload(
        slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id, response_url=response_url, confirm=True
    )
    return {"envelope_id": envelope_id, "type": "interactive", "payload": payload, **extra}


def test_back_within_seconds_after_the_connection_drops(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator, socket_mode: FakeSocketMode
) -> None:
    """The TCP stream ends with no WebSocket close (a proxy restart): jobbot opens a new connection at
    once, and a command sent on it is acknowledged and answered."""
    with replicas(1, fake_slack, emulator, tmp_path, "sqlite:///jobbot.db") as [replica]:
        socket_mode.wait_live(1)
        socket_mode.drop(1)
        socket_mode.wait_live(1, timeout=3)  # link 2
        socket_mode.send(command("after-drop", "help", fake_slack.response_url("r1")))
        socket_mode.wait_for_ack("after-drop", timeout=3)
        fake_slack.wait_for_responses(1, name="r1")
        assert len(fake_slack.calls_to("apps.connections.open")) >= 2
        wait_until(lambda: 'reason="dropped"' in replica.metrics(), timeout=5, what="the reconnect counted")
        assert 'jobbot_socket_mode_reconnects_total{reason="dropped"} 1.0' in replica.metrics()
    # One line each for the loss and the replacement; slack_sdk's own INFO lines are kept for DEBUG.
    assert "Socket Mode connection lost (dropped); reconnecting" in replica.output
    assert "Socket Mode connection replaced (dropped)" in replica.output
    assert "session has been established" not in replica.output


def test_a_silent_half_open_connection_is_noticed(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator, socket_mode: FakeSocketMode
) -> None:
    """Nothing crosses the connection any more, pongs included: jobbot's pings go unanswered, it opens a
    new connection within seconds, and commands are acknowledged on it."""
    with replicas(1, fake_slack, emulator, tmp_path, "sqlite:///jobbot.db") as [replica]:
        socket_mode.wait_live(1)
        socket_mode.blackhole(1)
        socket_mode.wait_live(1, timeout=10)
        socket_mode.send(command("after-silence", "help", fake_slack.response_url("r1")))
        socket_mode.wait_for_ack("after-silence", timeout=3)
        try:
            wait_until(lambda: 'reason="unanswered_ping"' in replica.metrics(), timeout=5, what="counted")
        except AssertionError:
            counted = [line for line in replica.metrics().splitlines() if "reconnects_total{" in line]
            replica.stop()
            raise AssertionError(f"not counted as unanswered_ping: {counted}\n{replica.output}") from None


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
def test_disconnect_is_crossed_with_no_command_lost(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator, socket_mode: FakeSocketMode, reason: str
) -> None:
    """Slack says `disconnect` and closes the old connection 3 s later; commands arrive every 200 ms
    throughout, on whichever connection Slack picks. Every one is acknowledged on its own connection
    within Slack's 3 s and answered once, and the new connection said hello before the old one closed."""
    with replicas(1, fake_slack, emulator, tmp_path, "sqlite:///jobbot.db") as [replica]:
        socket_mode.wait_live(1)
        sent = []
        for number in range(30):
            if number == 5:
                socket_mode.refresh(1, reason=reason, close_after=3.0)
            envelope_id = f"cmd{number}-"  # a response_url name no other is a prefix of
            sent.append(
                (
                    envelope_id,
                    socket_mode.send(command(envelope_id, "help", fake_slack.response_url(envelope_id))),
                )
            )
            time.sleep(0.2)
        for envelope_id, _ in sent:
            socket_mode.wait_for_ack(envelope_id, timeout=5)
        for envelope_id, _ in sent:
            assert len(fake_slack.wait_for_responses(1, name=envelope_id)) == 1
        assert {link for _, link in sent} == {1, 2}, "the swap happened while commands were arriving"
        old, new = socket_mode.links[0], socket_mode.links[1]
        assert old.closed_at is not None and new.hello_at is not None and new.hello_at < old.closed_at
        assert len(socket_mode.links) == 2, "one new connection per disconnect"
        assert replica.readiness()["checks"]["socket_mode"] == "ok (connected)"


def test_reconnects_back_off_while_slack_refuses_and_readyz_says_so(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator, socket_mode: FakeSocketMode
) -> None:
    """With apps.connections.open failing, jobbot keeps trying with growing pauses, never in a tight
    loop; /readyz says since when it has been reconnecting, and recovers once Slack answers again."""
    with replicas(1, fake_slack, emulator, tmp_path, "sqlite:///jobbot.db") as [replica]:
        socket_mode.wait_live(1)
        refusals = [Scripted(500, {"ok": False, "error": "internal_error"}) for _ in range(4)]
        fake_slack.script("apps.connections.open", *refusals)
        socket_mode.drop(1)
        wait_until(
            lambda: str(replica.readiness()["checks"]).find("reconnecting") >= 0,
            timeout=5,
            what="/readyz reports the reconnect",
        )
        state = replica.readiness()
        assert state["ready"] is False
        assert re.fullmatch(r"reconnecting for \d+ s", str(state["checks"]["socket_mode"]))
        socket_mode.wait_live(1, timeout=30)
        # After start-up's two (the token check, the first connection): four refused, then the fifth.
        opens = [call.received_at for call in fake_slack.calls_to("apps.connections.open")][2:]
        assert len(opens) == 5, "four refused, the fifth connected"
        pauses = [later - earlier for earlier, later in pairwise(opens)]
        assert all(pause >= 0.2 for pause in pauses), pauses  # never a tight loop
        assert pauses[-1] > pauses[0], pauses  # and the pauses grow
        wait_until(lambda: replica.readiness()["ready"] is True, timeout=10, what="ready again")


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_two_replicas_each_hold_a_connection_and_act_once(
    tmp_path: Path,
    fake_slack: FakeSlack,
    emulator: Emulator,
    request: pytest.FixtureRequest,
    database: str,
) -> None:
    """Two replicas on one store, each with its own connection; Slack spreads envelopes across both.
    Every command is acknowledged and answered once; a confirmed cancel delivered to both (Slack's
    redelivery with retry_attempt 1 on the other connection) sends one DELETE; one notifier leads."""
    url = "sqlite:///jobbot.db" if database == "sqlite" else str(request.getfixturevalue("postgres_url"))
    socket_mode = FakeSocketMode(spread=True).start()
    fake_slack.socket_url = socket_mode.url
    job_id = emulator.add_job(status="RUNNING")
    notices = {"JOBBOT_NOTIFY_CHANNEL": "C0NOTICES", "JOBBOT_POLL_INTERVAL": "1"}
    try:
        with replicas(2, fake_slack, emulator, tmp_path, url, **notices) as pair:
            links = socket_mode.wait_live(2)
            sent = [
                socket_mode.send(command(f"c{n}", f"status {job_id}", fake_slack.response_url(f"c{n}")))
                for n in range(10)
            ]
            assert set(sent) == set(links), "Slack spread the commands across both connections"
            for n in range(10):
                socket_mode.wait_for_ack(f"c{n}")
                assert len(fake_slack.wait_for_responses(1, name=f"c{n}")) == 1
            for attempt, link in enumerate(links):
                envelope = confirmed_cancel(
                    f"cancel-{attempt}",
                    job_id,
                    fake_slack.response_url(f"cancel-{attempt}"),
                    retry_attempt=attempt,
                )
                socket_mode.send(envelope, link=link)
            for attempt in range(2):
                socket_mode.wait_for_ack(f"cancel-{attempt}")
                fake_slack.wait_for_responses(1, name=f"cancel-{attempt}")
            time.sleep(0.5)  # room for a second DELETE, were one coming
            assert [r for r in emulator.requests if r[0] == "DELETE"] == [("DELETE", f"/v1/job/{job_id}")]
            roles = sorted(str(r.readiness()["checks"]["notifier"]) for r in pair)
            wait_until(
                lambda: (
                    sorted(str(r.readiness()["checks"]["notifier"]) for r in pair)
                    == ["ok (leader)", "ok (standby)"]
                ),
                timeout=20,
                what=f"one leader, one standby (now {roles})",
            )
    finally:
        socket_mode.stop()
