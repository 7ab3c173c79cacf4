"""Socket Mode when the connection drops, goes silent, or Slack refreshes it: jobbot beside a textbook bot.

    python -m benchmarks.socket_reconnect [--rounds 3] [--modes drop,silence,refresh] [--interval 0.2]

Each bot is a fresh process against a fake Slack and the Slack-like Socket Mode endpoint of
`tests/fake_socket_mode.py`, both in this process, on loopback. The baseline, `textbook`, is
`benchmarks/_textbook_socket_bot.py`: bolt's `SocketModeHandler(app, app_token)` with every setting at its
default, as in bolt's examples. Throughout, a `/jobs help` command goes out every --interval seconds, as
people typing would, on the connection Slack would pick (the newest live one); it counts as failed
("dispatch_failed" in Slack) when no connection is live to take it, or when its ack does not come on
that connection within Slack's 3 s.

- drop: the live connection's TCP stream ends (FIN) with no WebSocket close (a proxy restarting).
  Recovery is the time from the cut to the first command acknowledged after it.
- reset: the same with an RST (a killed proxy, a NAT that forgot the connection).
- silence: the connection stays open but nothing crosses it any more (half-open). Recovery as above.
- refresh: Slack sends `disconnect` (refresh_requested) and closes the old connection 3 s later, while
  commands keep coming for 6 s around it. The figure is commands failed per refresh.

Figures are medians (and the worst) of --rounds rounds per mode, each on a fresh connection of one
process per bot. The textbook bot needs about 45 s to notice a silent connection, so the silence rounds
take minutes; `--modes drop,refresh` leaves them out.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from urllib.parse import parse_qsl

from benchmarks._bot_process import BOT_TOKEN, stop
from benchmarks.common import machine, table
from jobbot.emulator import Emulator
from tests.fake_socket_mode import FakeSocketMode
from tests.fakes import FakeSlack
from tests.slack_requests import command_body
from tests.support import child_env, free_port, start_jobbot, wait_until

APP_TOKEN = "xapp-1-benchmark"
OUTAGES = ("drop", "reset", "silence")
# The longest a round waits for a bot to come back before it counts the round as never recovered.
GIVE_UP_SECONDS = 90.0
REFRESH_WINDOW_SECONDS = 6.0
REFRESH_AT_SECONDS = 1.5
REFRESH_CLOSE_AFTER = 3.0


@dataclass
class Results:
    recovery: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in OUTAGES})
    failed_while_down: dict[str, list[int]] = field(default_factory=lambda: {m: [] for m in OUTAGES})
    refresh_failed: list[int] = field(default_factory=list)
    refresh_sent: list[int] = field(default_factory=list)


class Commands:
    """Commands sent as people type them, and which of them Slack would count as acknowledged."""

    def __init__(self, endpoint: FakeSocketMode, slack: FakeSlack, tag: str) -> None:
        self.endpoint = endpoint
        self.slack = slack
        self.tag = tag
        self.sent: list[tuple[str, float]] = []  # envelope id, when
        self.undeliverable: list[float] = []  # when no connection was live to take one: dispatch_failed

    def send_one(self) -> None:
        envelope_id = f"{self.tag}-{len(self.sent) + len(self.undeliverable)}"
        payload = dict(
            parse_qsl(command_body("help", response_url=self.slack.response_url(envelope_id + "-")))
        )
        envelope = {"envelope_id": envelope_id, "type": "slash_commands", "payload": payload}
        try:
            self.endpoint.send(envelope)
        except AssertionError:  # no live connection to send it on
            self.undeliverable.append(time.monotonic())
            return
        self.sent.append((envelope_id, time.monotonic()))

    def first_ack_after(self, moment: float) -> float | None:
        times = [
            ack.received_at
            for envelope_id, at in self.sent
            if at >= moment and (ack := self.endpoint.acked(envelope_id)) is not None
        ]
        return min(times) if times else None

    def count(self, since: float) -> int:
        return sum(at >= since for _, at in self.sent) + sum(at >= since for at in self.undeliverable)

    def failed(self, since: float) -> int:
        sent = [eid for eid, at in self.sent if at >= since]
        unacked = sum(self.endpoint.acked(eid) is None for eid in sent)
        return unacked + sum(at >= since for at in self.undeliverable)


def textbook_args(slack: FakeSlack) -> list[str]:
    return ["--slack-api-url", slack.api_url, "--app-token", APP_TOKEN]


def start_bot(bot: str, slack: FakeSlack, emulator: Emulator, workdir: Path) -> subprocess.Popen[bytes]:
    if bot == "textbook":
        return subprocess.Popen(
            [sys.executable, "-m", "benchmarks._textbook_socket_bot", *textbook_args(slack)],
            env=child_env({}),
            stdout=subprocess.DEVNULL,
        )
    settings = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "INTERACTIVE_ADMIN_ENDPOINT": emulator.url,
        "JOBBOT_HEALTH_PORT": str(free_port()),
        "JOBBOT_LOG_LEVEL": "ERROR",
    }
    return start_jobbot(settings, workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def outage_round(
    endpoint: FakeSocketMode, commands: Commands, mode: str, interval: float
) -> tuple[float, int]:
    """Cut or silence the live connection; returns the recovery time and the commands failed meanwhile."""
    [link] = endpoint.wait_live(1, timeout=GIVE_UP_SECONDS)
    time.sleep(0.5)  # a settled connection, pinged at least once
    cut_at = time.monotonic()
    if mode == "silence":
        endpoint.blackhole(link)
    else:
        endpoint.drop(link, reset=mode == "reset")
    while time.monotonic() - cut_at < GIVE_UP_SECONDS:
        commands.send_one()
        time.sleep(interval)
        back = commands.first_ack_after(cut_at)
        if back is not None:
            time.sleep(3.0)  # let the acks of commands still in flight come, or not
            return back - cut_at, commands.failed(cut_at)
    return float("inf"), commands.failed(cut_at)


def refresh_round(endpoint: FakeSocketMode, commands: Commands, interval: float) -> tuple[int, int]:
    """Commands every `interval` s for REFRESH_WINDOW_SECONDS with a refresh in the middle; returns the
    commands failed and sent."""
    [link] = endpoint.wait_live(1, timeout=GIVE_UP_SECONDS)
    started = time.monotonic()
    refreshed = False
    while time.monotonic() - started < REFRESH_WINDOW_SECONDS:
        if not refreshed and time.monotonic() - started >= REFRESH_AT_SECONDS:
            endpoint.refresh(link, close_after=REFRESH_CLOSE_AFTER)
            refreshed = True
        commands.send_one()
        time.sleep(interval)
    time.sleep(3.5)  # Slack's window for the last acks
    endpoint.wait_live(1, timeout=GIVE_UP_SECONDS)
    return commands.failed(started), commands.count(started)


def measure(bot: str, modes: list[str], rounds: int, interval: float) -> Results:
    results = Results()
    slack, endpoint, emulator = FakeSlack().start(), FakeSocketMode().start(), Emulator().start()
    slack.socket_url = endpoint.url
    with tempfile.TemporaryDirectory() as workdir:
        process = start_bot(bot, slack, emulator, Path(workdir))
        try:
            wait_until(lambda: bool(endpoint.live_links()), timeout=30, what=f"{bot} connects")
            commands = Commands(endpoint, slack, bot)
            for mode in modes:
                for turn in range(rounds):
                    if mode == "refresh":
                        failed, sent = refresh_round(endpoint, commands, interval)
                        results.refresh_failed.append(failed)
                        results.refresh_sent.append(sent)
                        print(f"{bot} refresh {turn + 1}: {failed} of {sent} failed", file=sys.stderr)
                    else:
                        took, failed = outage_round(endpoint, commands, mode, interval)
                        results.recovery[mode].append(took)
                        results.failed_while_down[mode].append(failed)
                        print(f"{bot} {mode} {turn + 1}: back after {took:.2f} s", file=sys.stderr)
        finally:
            stop(process)
            endpoint.stop()
            slack.stop()
            emulator.stop()
    return results


def seconds(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{median(values):.2f} (worst {max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode and bot (default 3)")
    parser.add_argument(
        "--modes", default="drop,reset,silence,refresh", help="any of drop, reset, silence, refresh"
    )
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between commands (0.2)")
    args = parser.parse_args()
    modes = [mode for mode in args.modes.split(",") if mode]
    unknown = set(modes) - {*OUTAGES, "refresh"}
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    measured = {bot: measure(bot, modes, args.rounds, args.interval) for bot in ("jobbot", "textbook")}
    rows = []
    for bot, results in measured.items():
        row: list[object] = [bot]
        for mode in OUTAGES:
            took, failed = results.recovery[mode], results.failed_while_down[mode]
            row += [seconds(took), sum(failed)] if mode in modes else ["-", "-"]
        refreshes = f"{sum(results.refresh_failed)} of {sum(results.refresh_sent)}"
        rows.append([*row, refreshes if "refresh" in modes else "-"])
    every = f"a command each {args.interval:g} s"
    print(f"Socket Mode recovery ({machine()}; {args.rounds} rounds per mode; {every})")
    headers = ["bot"]
    for mode in OUTAGES:
        headers += [f"{mode}: back after s, median", f"failed in {mode}s"]
    print(table([*headers, "refresh: commands failed"], rows))
    for mode in OUTAGES:
        ours, theirs = measured["jobbot"].recovery[mode], measured["textbook"].recovery[mode]
        if ours and theirs:
            print(f"{mode}: textbook / jobbot time to recover = x{median(theirs) / median(ours):.1f}")


if __name__ == "__main__":
    main()
