"""Stale RUNNING jobs: judged against their graph's finished loads and a set limit, and said plainly in
the cancel prompt and in the Cancel button's confirmation dialog before anyone confirms."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobbot import stale
from jobbot.config import load_settings
from jobbot.emulator import Emulator
from jobbot.errors import ConfigError
from jobbot.models import Job, JobWithLog
from jobbot.render.jobs import cancel_prompt, job_card, job_list
from jobbot.render.kit import Message
from tests.fakes import FakeSlack
from tests.http_bot import serve_http_bot
from tests.slack_limits import limit_violations

NOW = datetime(2024, 6, 10, 7, 0, tzinfo=UTC)
DAY = 86_400.0
LIMIT = 24 * 3600.0


def job(job_id: int, status: str, graph: str, started_ago: float, took: float | None = None) -> JobWithLog:
    start = NOW - timedelta(seconds=started_ago)
    end = start + timedelta(seconds=took) if took is not None else None
    return JobWithLog.from_server(
        {
            "id": str(job_id),
            "status": status,
            "type": "BULK_LOADING",
            "start_time": int(start.timestamp() * 1000),
            "end_time": int(end.timestamp() * 1000) if end else 0,
            "detail": {"graph_id": graph, "process_id": 4242},
            "log": "loading\n",
        }
    )


def history(graph: str, *minutes: float) -> list[Job]:
    return [job(100 + n, "SUCCESS", graph, 30 * DAY, took=m * 60) for n, m in enumerate(minutes)]


def test_a_job_running_far_longer_than_its_graphs_loads_is_stale() -> None:
    """Nine days against loads of at most 12 minutes is stale, with the figures that say so."""
    running = job(3, "RUNNING", "payroll", 9 * DAY)
    found = stale.find_stale([running], history("payroll", 5, 12, 8), now=NOW, limit_seconds=30 * DAY)
    judged = found["3"]
    assert judged.longest_finished_seconds == 12 * 60 and judged.running_seconds == 9 * DAY
    assert judged.process_id == 4242 and judged.graph_id == "payroll"


@pytest.mark.parametrize(
    ("running_for", "loads", "is_stale"),
    [
        (3 * 12 * 60 + 60, (5, 12, 8), True),  # just over three times the longest
        (3 * 12 * 60 - 60, (5, 12, 8), False),  # under three times
        (9 * DAY, (5, 12), False),  # two finished loads are too few to judge by
        (10 * 60, (1, 1, 1), False),  # 10x a one-minute load, but minutes are not "far longer"
        (9 * DAY, (), False),  # no history, under the limit
    ],
)
def test_graph_history_judges_only_with_enough_loads_and_a_clear_margin(
    running_for: float, loads: tuple[float, ...], is_stale: bool
) -> None:
    """Three times the longest of at least three finished loads, and never within the first minutes."""
    running = job(3, "RUNNING", "g", running_for)
    found = stale.find_stale([running], history("g", *loads), now=NOW, limit_seconds=30 * DAY)
    assert ("3" in found) is is_stale


def test_other_graphs_do_not_count() -> None:
    """Only finished loads of the same graph are compared: another graph's short loads say nothing."""
    running = job(3, "RUNNING", "payroll", 2 * DAY)
    assert stale.find_stale([running], history("other", 1, 1, 1), now=NOW, limit_seconds=30 * DAY) == {}


def test_running_past_the_limit_is_stale_without_history() -> None:
    """Past JOBBOT_STALE_RUNNING_HOURS a job is stale even when its graph never finished a load."""
    running = job(3, "RUNNING", "new", 25 * 3600)
    judged = stale.find_stale([running], [], now=NOW, limit_seconds=LIMIT)["3"]
    assert judged.longest_finished_seconds is None and judged.limit_seconds == LIMIT


def test_finished_jobs_are_never_stale() -> None:
    """A job that has ended is not judged, however long it ran."""
    done = job(3, "SUCCESS", "g", 30 * DAY, took=20 * DAY)
    assert stale.find_stale([done], history("g", 1, 1, 1), now=NOW, limit_seconds=LIMIT) == {}


def confirm_texts(message: Message) -> list[str]:
    return [
        element["confirm"]["text"]["text"]
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if "confirm" in element
    ]


def shown(message: Message | dict[str, Any]) -> str:
    if isinstance(message, dict):
        return str(message["text"]) + json.dumps(message["blocks"], ensure_ascii=False)
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def test_cancel_prompt_and_dialog_say_plainly_why_a_job_looks_stale() -> None:
    """The prompt and the Cancel dialog name the running time, the graph's longest load and the pid."""
    running = job(3, "RUNNING", "payroll", 9 * DAY)
    judged = stale.find_stale([running], history("payroll", 5, 12, 8), now=NOW, limit_seconds=LIMIT)["3"]
    prompt = cancel_prompt(running, now=NOW, risk=judged)
    [dialog] = confirm_texts(prompt)
    for text in (shown(prompt), dialog):
        assert "RUNNING for 9d 0h" in text and "graph" in text and "payroll" in text
        assert "longest 12m 00s" in text and "process 4242" in text and "GraphScope restart" in text
    assert limit_violations(prompt) == []


def test_the_dialog_names_the_limit_when_history_is_silent() -> None:
    """Judged by the limit alone, the dialog says how long the job ran and which setting set the limit."""
    running = job(3, "RUNNING", "new", 30 * 3600)
    judged = stale.find_stale([running], [], now=NOW, limit_seconds=LIMIT)["3"]
    [dialog] = confirm_texts(job_card(running, now=NOW, risk=judged, may_cancel=True))
    assert "RUNNING for 1d 6h" in dialog and "24 h" in dialog and "process 4242" in dialog


def test_the_dialog_of_the_most_hostile_stale_job_fits_slack() -> None:
    """A 19-digit id, a huge pid and a long graph id full of overrides still give a dialog within 300."""
    raw = {
        "id": str(2**63 - 1),  # the longest id every store can hold
        "status": "RUNNING",
        "type": "BULK_LOADING",
        "start_time": 1,
        "end_time": 0,
        "detail": {"graph_id": "\u202e<!channel>&" * 500, "process_id": 2**62},
        "log": "",
    }
    hostile = JobWithLog.from_server(raw)
    judged = stale.find_stale([hostile], [], now=NOW, limit_seconds=LIMIT)[hostile.id]
    for message in (
        cancel_prompt(hostile, now=NOW, risk=judged),
        job_card(hostile, now=NOW, risk=judged, may_cancel=True),
    ):
        assert limit_violations(message) == []
        [dialog] = confirm_texts(message)
        assert len(dialog) <= 300 and "\u202e" not in dialog and "GraphScope restart" in dialog


def test_the_list_warns_in_the_dialog_of_a_stale_job_only() -> None:
    """In the list, the stale job's Cancel dialog warns and a fresh job's dialog does not."""
    jobs = [
        job(3, "RUNNING", "payroll", 9 * DAY),
        job(4, "RUNNING", "payroll", 60),
        *history("payroll", 5, 12, 8),
    ]
    dialogs = confirm_texts(job_list(jobs, now=NOW, may_cancel=True))
    assert len(dialogs) == 2
    assert sum("GraphScope restart" in text for text in dialogs) == 1


def test_the_limit_is_a_validated_setting() -> None:
    """JOBBOT_STALE_RUNNING_HOURS defaults to 24 and a bad value stops start-up naming the variable."""
    base = {"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_APP_TOKEN": "xapp-1-abc"}
    assert load_settings(base, env_file=None).jobbot_stale_running_hours == 24
    assert (
        load_settings({**base, "JOBBOT_STALE_RUNNING_HOURS": "2.5"}, env_file=None).jobbot_stale_running_hours
        == 2.5
    )
    for bad in ("0", "-1", "soon", "100000"):
        with pytest.raises(ConfigError, match=r"^JOBBOT_STALE_RUNNING_HOURS is invalid"):
            load_settings({**base, "JOBBOT_STALE_RUNNING_HOURS": bad}, env_file=None)


def ms_ago(seconds: float) -> int:
    return int((time.time() - seconds) * 1000)


def test_cancel_prompt_over_http_warns_about_a_stale_job(fake_slack: FakeSlack, emulator: Emulator) -> None:
    """`/jobs cancel N` and `/jobs status N` for a job left RUNNING for 9 days warn before any confirm:
    in the prompt, and in the Cancel dialog of both replies."""
    for minutes in (5, 12, 8):
        start = ms_ago(30 * DAY)
        emulator.add_job(
            status="SUCCESS", graph_id="payroll", start_time_ms=start, end_time_ms=start + minutes * 60_000
        )
    job_id = emulator.add_job(
        status="RUNNING", graph_id="payroll", start_time_ms=ms_ago(9 * DAY), process_id=4242
    )
    fresh = emulator.add_job(status="RUNNING", graph_id="payroll")
    for bot in serve_http_bot(fake_slack, emulator.url):
        bot.command(f"cancel {job_id}", reply_to="prompt")
        [prompt] = fake_slack.wait_for_responses(1, name="prompt")
        bot.command(f"status {job_id}", reply_to="card")
        [card] = fake_slack.wait_for_responses(1, name="card")
        bot.command(f"cancel {fresh}", reply_to="fresh")
        [fresh_prompt] = fake_slack.wait_for_responses(1, name="fresh")
    for reply in (prompt, card):
        [dialog] = confirm_texts(Message(reply["text"], reply["blocks"]))
        assert "RUNNING for 9d 0h" in dialog and "longest 12m 00s" in dialog and "process 4242" in dialog
    assert "GraphScope restart" in shown(prompt) and "RUNNING for 9d 0h" in shown(prompt)
    assert "GraphScope restart" not in shown(fresh_prompt)
    assert [r for r in emulator.requests if r[0] == "DELETE"] == []


def test_the_limit_setting_reaches_the_prompt(fake_slack: FakeSlack, emulator: Emulator) -> None:
    """With JOBBOT_STALE_RUNNING_HOURS=1, a job of a new graph running for 2 hours is called stale."""
    job_id = emulator.add_job(status="RUNNING", graph_id="fresh-graph", start_time_ms=ms_ago(2 * 3600 + 60))
    for bot in serve_http_bot(fake_slack, emulator.url, JOBBOT_STALE_RUNNING_HOURS="1"):
        bot.command(f"cancel {job_id}")
        [prompt] = fake_slack.wait_for_responses(1)
    assert "RUNNING for 2h 01m" in shown(prompt) and "JOBBOT_STALE_RUNNING_HOURS" in shown(prompt)


def test_an_unknown_job_is_a_kill_risk_whatever_its_age_and_a_finished_one_never() -> None:
    """UNKNOWN (or any word the server does not count as running or finished) is a risk at once, naming
    its process id; finished and fresh running jobs are none, and a stale one is judged as before."""
    jobs = [
        job(1, "UNKNOWN", "g", 60),
        job(2, "PAUSED", "g", 60),
        job(3, "FAILED", "g", 9 * DAY, took=60),
        job(4, "RUNNING", "g", 60),
        job(5, "RUNNING", "g", 2 * DAY),
    ]
    risks = stale.kill_risks(jobs, [], now=NOW, limit_seconds=LIMIT)
    assert sorted(risks) == ["1", "2", "5"]
    assert risks["1"] == stale.UnknownStatus(job_id="1", status="UNKNOWN", process_id=4242)
    assert risks["2"] == stale.UnknownStatus(job_id="2", status="PAUSED", process_id=4242)
    assert isinstance(risks["5"], stale.Stale) and risks["5"].limit_seconds == LIMIT
