"""The Block Kit renderers: golden messages, Slack's limits under hostile data, and safe escaping.

Regenerate the golden files with `JOBBOT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_blocks.py`
and review the diff before committing it.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobbot import slack_ids, stale
from jobbot.models import (
    KNOWN_STATUSES,
    LOG_TAIL_CHARS,
    NOTICE_STATUSES,
    FinishedJob,
    JobWithLog,
    Subscription,
)
from jobbot.render.jobs import MAX_PAGE_SIZE, cancel_button, cancel_prompt, job_card, job_list
from jobbot.render.kit import MAX_BLOCKS_JSON_CHARS, Message
from jobbot.render.notices import DIGEST_MAX_JOBS, completion_digest, completion_notice, failure_log_reply
from jobbot.render.problems import problem, refusal
from jobbot.render.replies import (
    AUDIT_MAX_ENTRIES,
    AUDIT_MAX_REFUSALS,
    AUDIT_MAX_SUBSCRIPTION_CHANGES,
    audit_list,
    subscribed,
    subscription_list,
    unsubscribed,
    usage,
    usage_line,
    watch_already_finished,
    watch_started,
    watch_stopped,
)
from jobbot.slack_ids import decode_list_state, encode_list_state
from tests.slack_limits import check_limits, check_safe

GOLDEN_DIR = Path(__file__).parent / "golden"
# Read at import time: the autouse fixture in conftest.py clears JOBBOT_* variables before each test.
UPDATE_GOLDEN = os.environ.get("JOBBOT_UPDATE_GOLDEN") == "1"

NOW = datetime(2024, 6, 10, 7, 0, tzinfo=UTC)
START_MS = 1_718_000_000_123  # 2024-06-10 06:13:20 UTC
END_MS = 1_718_000_065_432
# The longest job ids there are: 19 digits, up to what BIGINT holds.
LONGEST_JOB_ID = 2**63 - 1

FAILED_LOG = """\
I0610 06:13:20.123456 4242 bulk_loader.cc:109] Loading graph 2, parallelism: 4
I0610 06:13:21.000000 4242 bulk_loader.cc:140] Finish loading vertex of label person: 1200 rows
W0610 06:13:22.000000 4242 csv_reader.cc:88] Bad row <!channel> in `knows.csv` & <https://evil|click>
E0610 06:13:23.000000 4242 bulk_loader.cc:160] ```closing fence attempt```
F0610 06:13:24.000000 4242 bulk_loader.cc:171] Check failed: status.ok() Loading failed, aborting
*** Check failure stack trace: ***
"""


def make_job(job_id: str | int = 7, status: str = "RUNNING", **fields: Any) -> JobWithLog:
    """A job read from the server's JSON as `get_job` reads it, odd fields and all."""
    data: dict[str, Any] = {
        "id": str(job_id),
        "status": status,
        "start_time": START_MS,
        "end_time": END_MS if status in ("SUCCESS", "FAILED", "CANCELLED") else 0,
        "log": "loading vertices\ndone\n",
        "detail": {"graph_id": "2", "process_id": 4242},
        "type": "BULK_LOADING",
    }
    data.update(fields)
    return JobWithLog.from_server(data)


def make_finished(job_id: str | int = 7, status: str = "SUCCESS", **fields: Any) -> FinishedJob:
    """A finished job as the notice ledger keeps it."""
    data: dict[str, Any] = {
        "id": str(job_id),
        "status": status,
        "graph_id": "2",
        "start_time_ms": START_MS,
        "end_time_ms": END_MS,
    }
    data.update(fields)
    return FinishedJob.model_validate(data)


def make_subscription(channel_id: str = "C0123ABCD", **fields: Any) -> Subscription:
    """A channel subscription as the store returns it."""
    data: dict[str, Any] = {
        "channel_id": channel_id,
        "statuses": ("FAILED",),
        "added_by": "U012ABCDEF",
        "added_at": datetime(2024, 6, 1, 9, 30, tzinfo=UTC),
    }
    data.update(fields)
    return Subscription.model_validate(data)


def mixed_jobs(count: int) -> list[JobWithLog]:
    """`count` jobs in the server's (no) order, cycling through every status."""
    cycle = ("SUCCESS", "FAILED", "RUNNING", "CANCELLED", "SUCCESS", "UNKNOWN")
    jobs = [
        make_job(n, cycle[n % len(cycle)], start_time=START_MS + n * 60_000, end_time=END_MS + n * 61_000)
        for n in range(1, count + 1)
    ]
    return jobs[::2] + jobs[1::2]


def all_buttons(message: Message) -> list[dict[str, Any]]:
    return [
        element
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "button"
    ]


def button_ids(message: Message) -> list[str]:
    return [button["action_id"] for button in all_buttons(message)]


def all_text(message: Message) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


# --- golden messages ------------------------------------------------------------------------

GOLDEN: dict[str, Callable[[], Message]] = {
    "list_page_2": lambda: job_list(mixed_jobs(23), statuses=(), page=2, now=NOW),
    "list_filtered": lambda: job_list(mixed_jobs(23), statuses=("running", "FAILED"), page=1, now=NOW),
    "list_empty_failed": lambda: job_list([make_job(1, "SUCCESS")], statuses=("FAILED",), now=NOW),
    "card_running": lambda: job_card(make_job(8, "RUNNING", end_time=123), now=NOW),
    "card_success": lambda: job_card(make_job(7, "SUCCESS"), now=NOW),
    "card_failed_log": lambda: job_card(make_job(9, "FAILED", log=FAILED_LOG), now=NOW),
    "cancel_prompt_running": lambda: cancel_prompt(make_job(8, "RUNNING"), now=NOW),
    "cancel_prompt_finished": lambda: cancel_prompt(make_job(7, "SUCCESS"), now=NOW),
    "cancel_prompt_stale": lambda: cancel_prompt(
        make_job(3, "RUNNING", start_time=START_MS - 9 * 86_400_000),
        now=NOW,
        stale=stale.find_stale(
            [make_job(3, "RUNNING", start_time=START_MS - 9 * 86_400_000)],
            [make_job(n, "SUCCESS", end_time=START_MS + n * 240_000) for n in (1, 2, 3)],
            now=NOW,
            limit_seconds=86_400,
        )["3"],
    ),
    "usage": lambda: usage(),
    "usage_with_problem": lambda: usage("`<!here>` is not a job status."),
    "refusal": lambda: refusal(
        "You are not allowed to cancel jobs from Slack. An admin can allow it by adding your Slack user ID "
        "`U012ABCDEF` to `JOBBOT_CANCEL_USERS` (then restarting jobbot)."
    ),
    "problem_with_detail": lambda: problem(
        "The Interactive server answered with an error, HTTP 500 (code 103):",
        detail="Fail to kill process: 4242, <!channel>",
    ),
    "notice_success": lambda: completion_notice(make_finished(7, "SUCCESS")),
    "notice_failed": lambda: completion_notice(make_finished(9, "FAILED", log_tail=FAILED_LOG)),
    "notice_cancelled_by": lambda: completion_notice(
        make_finished(8, "CANCELLED", cancelled_by="U012ABCDEF")
    ),
    "digest": lambda: completion_digest(
        [
            make_finished(7),
            make_finished(12, "FAILED"),
            make_finished(10, "CANCELLED", cancelled_by="U012ABCDEF"),
        ],
        offline=False,
    ),
    "digest_offline": lambda: completion_digest(
        [make_finished(n, NOTICE_STATUSES[n % 3], graph_id=str(n % 4)) for n in range(1, 13)], offline=True
    ),
    "failure_log_reply": lambda: failure_log_reply(
        [make_finished(9, "FAILED", log_tail=FAILED_LOG), make_finished(7), make_finished(11, "FAILED")]
    ),
    "watch_started": lambda: watch_started("7"),
    "watch_already_finished": lambda: watch_already_finished(make_job(7, "FAILED"), now=NOW),
    "watch_stopped": lambda: watch_stopped("7", existed=True),
    "watch_stopped_not_watching": lambda: watch_stopped("7", existed=False),
    "subscribed_all": lambda: subscribed("C0123ABCD", NOTICE_STATUSES),
    "subscribed_failed": lambda: subscribed("G0123ABCD", ("FAILED", "CANCELLED")),
    "unsubscribed": lambda: unsubscribed("C0123ABCD", existed=True),
    "unsubscribed_not_subscribed": lambda: unsubscribed("C0123ABCD", existed=False),
    "subscription_list": lambda: subscription_list(
        [make_subscription(), make_subscription("G0456EFGH", statuses=NOTICE_STATUSES, added_by="W0ADMIN")],
        default_channel="C0NOTIFY",
        default_statuses=("FAILED", "CANCELLED"),
    ),
    "subscription_list_empty": lambda: subscription_list(
        [], default_channel=None, default_statuses=NOTICE_STATUSES
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_message_matches_its_golden_file(name: str) -> None:
    """Each main message renders exactly as its reviewed golden JSON (JOBBOT_UPDATE_GOLDEN=1 rewrites it)."""
    message = GOLDEN[name]()
    rendered = {"text": message.text, "blocks": message.blocks}
    path = GOLDEN_DIR / f"{name}.json"
    if UPDATE_GOLDEN:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(json.dumps(rendered, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"missing {path.name}: run with JOBBOT_UPDATE_GOLDEN=1"
    assert json.loads(path.read_text(encoding="utf-8")) == rendered


@pytest.mark.parametrize("path", sorted(GOLDEN_DIR.glob("*.json")), ids=lambda path: path.stem)
def test_golden_file_is_valid_block_kit(path: Path) -> None:
    """Every golden file parses into slack_sdk blocks and re-serializes unchanged, within Slack's limits."""
    data = json.loads(path.read_text(encoding="utf-8"))
    message = Message(text=data["text"], blocks=data["blocks"])
    check_limits(message)
    check_safe(message)


def test_every_golden_has_a_file_and_every_file_a_golden() -> None:
    """No golden file is stale or missing: the files on disk are exactly the renderers under test."""
    assert {path.stem for path in GOLDEN_DIR.glob("*.json")} == set(GOLDEN)


# --- the job list ---------------------------------------------------------------------------


def test_list_is_newest_first_by_numeric_id() -> None:
    """Jobs are sorted by the number in their id, not as text, whatever order the server sent."""
    message = job_list([make_job(9), make_job(100), make_job(10)], now=NOW)
    details = [b for b in button_ids(message) if b.startswith(slack_ids.JOB_DETAILS)]
    assert details == [slack_ids.action_id(slack_ids.JOB_DETAILS, n) for n in ("100", "10", "9")]


def test_list_filters_by_status_and_says_so() -> None:
    """Only jobs with the requested statuses are listed, and the context line names the filter."""
    message = job_list(mixed_jobs(23), statuses=("failed",), now=NOW)
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert sections and all(":x: FAILED" in text for text in sections)
    assert "Jobs 1\u20134 of 4 · status: FAILED" in message.blocks[1]["elements"][0]["text"]


def test_list_offers_cancel_only_for_active_jobs() -> None:
    """Every listed job has Details; only RUNNING and WAITING jobs also get a Cancel button."""
    jobs = [make_job(1, "RUNNING"), make_job(2, "WAITING"), make_job(3, "SUCCESS"), make_job(4, "PAUSED")]
    ids = button_ids(job_list(jobs, now=NOW))
    assert [i for i in ids if i.startswith(slack_ids.JOB_CANCEL)] == [
        slack_ids.action_id(slack_ids.JOB_CANCEL, "2"),
        slack_ids.action_id(slack_ids.JOB_CANCEL, "1"),
    ]
    assert len([i for i in ids if i.startswith(slack_ids.JOB_DETAILS)]) == 4


def test_cancel_button_carries_the_danger_confirmation_dialog() -> None:
    """The Cancel button asks for confirmation in a danger dialog, within Slack's dialog limits."""
    [cancel] = [b for b in all_buttons(job_list([make_job(7)], now=NOW)) if b.get("style") == "danger"]
    assert cancel["value"] == "7"
    assert cancel["action_id"] == slack_ids.action_id(slack_ids.JOB_CANCEL, "7")
    confirm = cancel["confirm"]
    assert confirm["title"]["text"] == "Cancel job 7?"
    assert confirm["text"]["type"] == "plain_text"
    assert "cannot be undone" in confirm["text"]["text"]
    assert (confirm["confirm"]["text"], confirm["deny"]["text"], confirm["style"]) == (
        "Cancel job",
        "Keep running",
        "danger",
    )
    longest = cancel_button("9" * 20).to_dict()["confirm"]
    assert len(longest["title"]["text"]) <= 100 and len(longest["text"]["text"]) <= 300


@pytest.mark.parametrize(
    ("page", "shown", "nav"),
    [
        (1, 1, ["next", "refresh"]),
        (2, 2, ["prev", "next", "refresh"]),
        (3, 3, ["prev", "refresh"]),
        (99, 3, ["prev", "refresh"]),
        (0, 1, ["next", "refresh"]),
        (-5, 1, ["next", "refresh"]),
    ],
)
def test_pagination_clamps_pages_and_shows_only_existing_neighbours(
    page: int, shown: int, nav: list[str]
) -> None:
    """Out-of-range pages are clamped, and Prev / Next appear only when those pages exist."""
    message = job_list(mixed_jobs(23), statuses=(), page=page, now=NOW)
    nav_block = message.blocks[-1]["elements"]
    assert [button["action_id"].rsplit(":", 1)[1] for button in nav_block] == nav
    refresh = nav_block[-1]
    assert refresh["action_id"] == slack_ids.action_id(slack_ids.LIST_REFRESH, "refresh")
    assert decode_list_state(refresh["value"]) == ((), shown)
    for button in nav_block[:-1]:
        assert button["action_id"].startswith(slack_ids.LIST_PAGE + ":")
        step = -1 if button["action_id"].endswith("prev") else 1
        assert decode_list_state(button["value"]) == ((), shown + step)


def test_nav_buttons_keep_the_status_filter() -> None:
    """Next carries the filter and the next page number as compact JSON under 2000 characters."""
    message = job_list(mixed_jobs(80), statuses=("SUCCESS", "FAILED"), page=1, now=NOW)
    [next_button] = [b for b in message.blocks[-1]["elements"] if b["action_id"].endswith("next")]
    assert next_button["value"] == '{"p":2,"s":["SUCCESS","FAILED"]}'
    assert decode_list_state(next_button["value"]) == (("SUCCESS", "FAILED"), 2)


@pytest.mark.parametrize(
    ("statuses", "text"),
    [
        ((), "No jobs yet."),
        (("FAILED",), "No jobs with status FAILED."),
        (("FAILED", "WAITING"), "or WAITING"),
    ],
)
def test_empty_results_say_so_kindly(statuses: tuple[str, ...], text: str) -> None:
    """An empty page says there are no jobs (with the filter) and still offers Refresh."""
    message = job_list([], statuses=statuses, now=NOW)
    assert text in message.text and text in all_text(message)
    assert button_ids(message) == [slack_ids.action_id(slack_ids.LIST_REFRESH, "refresh")]
    check_limits(message)


def test_page_size_is_clamped_to_what_fits_a_message() -> None:
    """A caller asking for 500 jobs a page gets MAX_PAGE_SIZE; asking for 0 gets one."""
    jobs = mixed_jobs(600)
    big = job_list(jobs, now=NOW, page_size=500)
    assert sum(b["type"] == "section" for b in big.blocks) == MAX_PAGE_SIZE
    check_limits(big)
    one = job_list(jobs, now=NOW, page_size=0)
    assert sum(b["type"] == "section" for b in one.blocks) == 1


def test_unknown_filter_statuses_are_ignored() -> None:
    """A status outside KNOWN_STATUSES cannot reach the message or a button value."""
    message = job_list(mixed_jobs(5), statuses=("<!channel>", "failed"), now=NOW)
    assert "channel" not in all_text(message)
    check_safe(message)


@pytest.mark.parametrize(
    ("value", "state"),
    [
        ('{"p":3,"s":["FAILED"]}', (("FAILED",), 3)),
        ('{"p":2,"s":["failed","bogus","FAILED","RUNNING"]}', (("FAILED", "RUNNING"), 2)),
        ("", ((), 1)),
        ("null", ((), 1)),
        ("[1, 2]", ((), 1)),
        ("not json", ((), 1)),
        ('{"p": true}', ((), 1)),
        ('{"p": "2"}', ((), 1)),
        ('{"p": -4}', ((), 1)),
        ('{"p": 1e9}', ((), 1)),
        ('{"p": 99999999999}', ((), 1)),
        ('{"s": "FAILED"}', ((), 1)),
        ('{"s": [1, null, {"x": 1}, "SUCCESS"]}', (("SUCCESS",), 1)),
        ("[" * 5000 + "]" * 5000, ((), 1)),
        ("[" * 1900, ((), 1)),
        ('{"p": 2, "s": []}' + " " * 3000, ((), 1)),
    ],
)
def test_decode_list_state_tolerates_garbage(value: str, state: tuple[tuple[str, ...], int]) -> None:
    """Button values decode to (statuses, page); anything malformed or forged gives the defaults."""
    assert decode_list_state(value) == state


@given(st.lists(st.sampled_from(KNOWN_STATUSES)), st.integers(min_value=1, max_value=1_000_000))
def test_list_state_round_trips(statuses: list[str], page: int) -> None:
    """decode_list_state is the inverse of encode_list_state (with statuses deduplicated in order)."""
    value = encode_list_state(statuses, page)
    assert len(value) < 2000
    assert decode_list_state(value) == (tuple(dict.fromkeys(statuses)), page)


# --- one job --------------------------------------------------------------------------------


def card_fields(message: Message) -> dict[str, str]:
    [fields_block] = [b for b in message.blocks if b["type"] == "section" and "fields" in b]
    pairs = (field["text"].split("\n", 1) for field in fields_block["fields"])
    return {label.strip("*"): value for label, value in pairs}


def test_running_card_never_trusts_end_time() -> None:
    """A running job shows how long it has run so far and no end, whatever end_time holds."""
    message = job_card(make_job(8, "RUNNING", end_time=END_MS), now=NOW)
    fields = card_fields(message)
    assert "Ended" not in fields
    assert fields["Running for"] == "46m 39s"
    assert button_ids(message) == [
        slack_ids.action_id(slack_ids.JOB_REFRESH, "8"),
        slack_ids.action_id(slack_ids.JOB_CANCEL, "8"),
    ]


def test_finished_card_shows_end_and_duration_without_cancel() -> None:
    """A terminal job shows its end time and total duration, and only a Refresh button."""
    message = job_card(make_job(7, "SUCCESS"), now=NOW)
    fields = card_fields(message)
    assert fields["Ended"].startswith("<!date^1718000065^")
    assert fields["Duration"] == "1m 05s"
    assert fields["Graph"] == "`2`" and fields["Process"] == "4242" and fields["Type"] == "BULK_LOADING"
    assert button_ids(message) == [slack_ids.action_id(slack_ids.JOB_REFRESH, "7")]


def test_card_with_no_times_or_detail_still_renders() -> None:
    """A job with only an id and a status renders, leaving out what the server did not send."""
    message = job_card(JobWithLog.from_server({"id": "3"}), now=NOW)
    assert set(card_fields(message)) == {"Status", "Type"}
    assert "_(empty log)_" in all_text(message)
    check_limits(message)


def test_card_notice_comes_first_and_is_not_escaped() -> None:
    """The caller's notice (bot-written mrkdwn) is the first section, mentions intact."""
    message = job_card(make_job(8, "CANCELLED"), now=NOW, notice="<@U1> cancelled job 8.")
    assert message.blocks[1]["text"]["text"] == "<@U1> cancelled job 8."


def test_log_truncated_by_jobbot_is_noted() -> None:
    """When only the log's tail was kept, the card says so, and the log still ends with its last line."""
    log = "".join(f"row {n}\n" for n in range(100_000)) + "LAST LINE\n"
    message = job_card(make_job(9, "FAILED", log=log), now=NOW)
    text = all_text(message)
    assert "Log truncated by jobbot" in text
    assert "LAST LINE\\n```" in text
    assert "earlier lines not shown" in text
    check_limits(message)


def test_cancel_prompt_for_running_job_asks_to_confirm() -> None:
    """`/jobs cancel 8` on a running job explains the next step and offers the Cancel button."""
    message = cancel_prompt(make_job(8, "RUNNING"), now=NOW)
    assert "press *Cancel* below and confirm" in message.blocks[1]["text"]["text"]
    assert slack_ids.action_id(slack_ids.JOB_CANCEL, "8") in button_ids(message)


@pytest.mark.parametrize("status", ["SUCCESS", "FAILED", "CANCELLED"])
def test_cancel_prompt_for_finished_job_has_nothing_to_cancel(status: str) -> None:
    """`/jobs cancel 7` on a finished job says so and offers no Cancel button."""
    message = cancel_prompt(make_job(7, status), now=NOW)
    assert "has already finished" in message.text
    assert not any(i.startswith(slack_ids.JOB_CANCEL) for i in button_ids(message))


def test_cancel_prompt_for_unknown_status_does_not_offer_cancel() -> None:
    """A job in an unknown state is neither active nor finished: no Cancel button, and the status shown."""
    message = cancel_prompt(make_job(7, "<!here>"), now=NOW)
    assert "is not running (status &lt;!HERE&gt;)" in message.blocks[1]["text"]["text"]
    assert not any(i.startswith(slack_ids.JOB_CANCEL) for i in button_ids(message))
    check_safe(message)


# --- problems, usage and refusal ------------------------------------------------------------


def test_problem_escapes_detail_but_not_text() -> None:
    """`problem` keeps the bot's mrkdwn and escapes the server's detail that follows it."""
    message = problem("Job *7* failed:", detail="<!channel> & <https://evil|click>")
    assert message.blocks[0]["text"]["text"] == (
        ":warning: Job *7* failed: &lt;!channel&gt; &amp; &lt;https://evil|click&gt;"
    )
    check_safe(message)


def test_problem_with_huge_detail_fits() -> None:
    """A megabyte of server detail is clipped so the warning still fits one section."""
    message = problem("The server said:", detail="<" * 1_000_000)
    check_limits(message)


def test_usage_lists_every_subcommand_with_an_example() -> None:
    """Usage shows the whole grammar, which includes every form of the hint slack_ids advertises."""
    message = usage()
    text = all_text(message)
    for form in slack_ids.COMMAND_USAGE_HINT.strip("[]").split(" | "):
        assert form in usage_line()
    for example in (
        "list FAILED RUNNING",
        "status 42",
        "cancel 42",
        "watch 42",
        "unwatch 42",
        "subscribe FAILED",
        "unsubscribe",
        "subscriptions",
        "help",
    ):
        assert f"`/jobs {example}`" in text
    check_limits(message)


def test_usage_leads_with_the_escaped_problem() -> None:
    """When parsing failed, usage starts with the problem, with user text escaped."""
    message = usage("I don't know `<!channel>`.")
    assert message.blocks[0]["text"]["text"] == ":warning: I don't know `&lt;!channel&gt;`."
    assert message.text.startswith("I don't know `&lt;!channel&gt;`.")
    check_safe(message)


def test_refusal_shows_the_reason_within_limits() -> None:
    """A refusal shows its reason behind a lock, with fallback text, and a long reason still fits."""
    message = refusal("You may not. Add `U012ABCDEF` to `JOBBOT_CANCEL_USERS`.")
    assert message.blocks[0]["text"]["text"].startswith(":lock: You may not.")
    assert message.text.startswith("Not allowed: You may not.")
    check_limits(refusal("x" * 10_000))


# --- hostile data ---------------------------------------------------------------------------

HOSTILE_TEXTS = {
    "mentions": "<!channel> <!here> <@U123> <https://evil|click> & " * 300,
    "backticks": "```" * 4000,
    "emoji": "\U0001f600" * 10_000,
    "controls": "\x00\x1b[31m\r\n\x7f" * 2000,
    "quotes": '"\\' * 5000,
    "bidi": "gr\u202eaph\u2066x\u2069\u200b\x85\u200f" * 2000,
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXTS))
def test_list_of_hostile_jobs_stays_within_limits(kind: str) -> None:
    """Ten active jobs with 20-digit ids, 10 kB graph ids and statuses of hostile text still fit."""
    hostile = HOSTILE_TEXTS[kind]
    jobs = [
        make_job(
            10**19 + n, "RUNNING" if n % 2 else hostile, detail={"graph_id": hostile, "process_id": 2**62}
        )
        for n in range(30)
    ]
    message = job_list(jobs, page=2, now=NOW)
    assert sum(b["type"] == "section" for b in message.blocks) == 10
    check_limits(message)
    check_safe(message)


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXTS))
def test_card_of_hostile_job_stays_within_limits(kind: str) -> None:
    """A card whose log, graph id, type and status are hostile text fits and pings no one."""
    hostile = HOSTILE_TEXTS[kind]
    job = make_job(
        10**19, "RUNNING", log=hostile * 20, type=hostile, detail={"graph_id": hostile, "process_id": 1}
    )
    for message in (job_card(job, now=NOW, notice="x" * 5000), cancel_prompt(job, now=NOW)):
        check_limits(message)
        check_safe(message)
        assert all(
            b["type"] != "section" or b.get("text", {}).get("text", "").count("```") in (0, 2)
            for b in message.blocks
        )


def test_5_mb_log_is_cut_to_a_bounded_tail() -> None:
    """A 5 MB log, even one that skipped the model's tail, renders as a bounded block with its end."""
    log = "<!channel> `x` & progress\r" * 200_000 + "final line"
    parsed = make_job(9, "FAILED", log=log)
    assert parsed.log_truncated and len(parsed.log) <= LOG_TAIL_CHARS
    unparsed = parsed.model_copy(update={"log": log})  # as if built without the model's validators
    for job in (parsed, unparsed):
        message = job_card(job, now=NOW)
        check_limits(message)
        check_safe(message)
        assert "final line\\n```" in all_text(message)


def test_100000_jobs_render_one_valid_page() -> None:
    """The server's unbounded list (100,000 jobs, shuffled) gives one valid page, newest first."""
    templates = mixed_jobs(6)
    # model_copy keeps building the fixture fast; the renderer sees ordinary Job objects.
    jobs = [templates[n % 6].model_copy(update={"id": str(n)}) for n in range(1, 100_001)]
    random.Random(7).shuffle(jobs)  # the server lists jobs in no order
    message = job_list(jobs, statuses=("SUCCESS", "FAILED"), page=3, now=NOW)
    matching = sum(job.status in ("SUCCESS", "FAILED") for job in jobs)
    assert f"Jobs 21\u201330 of {matching:,} ·" in message.blocks[1]["elements"][0]["text"]
    newest = sorted((job.sort_key for job in jobs if job.status in ("SUCCESS", "FAILED")), reverse=True)
    details = [b["value"] for b in all_buttons(message) if b["action_id"].startswith(slack_ids.JOB_DETAILS)]
    assert details == [str(n) for n in newest[20:30]]
    check_limits(message)


def test_job_with_a_mangled_id_gets_no_buttons() -> None:
    """A job id that is not a short run of digits is shown (escaped) but never put in a button."""
    job = make_job("../1<!here>", "RUNNING")
    for message in (job_list([job], now=NOW), job_card(job, now=NOW)):
        assert not any(
            i.startswith((slack_ids.JOB_CANCEL, slack_ids.JOB_DETAILS)) for i in button_ids(message)
        )
        check_safe(message)
        check_limits(message)


server_text = st.text(max_size=300) | st.sampled_from(list(HOSTILE_TEXTS.values()))
server_jobs = st.builds(
    lambda job_id, status, graph_id, log, start, end: make_job(
        job_id,
        status,
        log=log,
        start_time=start,
        end_time=end,
        detail={"graph_id": graph_id, "process_id": 1},
    ),
    job_id=st.integers(min_value=0, max_value=10**20 - 1) | st.text(max_size=30),
    status=st.sampled_from(KNOWN_STATUSES) | server_text,
    graph_id=server_text,
    log=server_text,
    start=st.integers(min_value=-(2**40), max_value=2**45),
    end=st.integers(min_value=-(2**40), max_value=2**45),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(server_jobs, max_size=25), st.integers(min_value=-3, max_value=5))
def test_any_server_data_gives_a_valid_list_and_cards(jobs: list[JobWithLog], page: int) -> None:
    """Whatever the server sends, every list page and card is valid Block Kit that pings no one."""
    check_limits(message := job_list(jobs, page=page, now=NOW))
    check_safe(message)
    for job in jobs[:3]:
        check_limits(message := job_card(job, now=NOW))
        check_safe(message)


# --- completion notices ---------------------------------------------------------------------


def section_texts(message: Message) -> list[str]:
    return [block["text"]["text"] for block in message.blocks if block["type"] == "section"]


def test_notice_is_one_line_with_a_details_button() -> None:
    """A notice is one section: status, job, graph, start, duration, and a Details button for the job."""
    message = completion_notice(make_finished(7, "SUCCESS"))
    [section] = message.blocks
    assert section["text"]["text"] == (
        ":white_check_mark: SUCCESS  ·  Job *#7*  ·  graph `2`  ·  started "
        "<!date^1718000000^{date_short_pretty} {time}|2024-06-10 06:13 UTC>  ·  took 1m 05s"
    )
    assert section["accessory"]["action_id"] == slack_ids.action_id(slack_ids.JOB_DETAILS, "7")
    assert section["accessory"]["value"] == "7"
    assert message.text == "Job 7 finished: SUCCESS (graph 2, took 1m 05s)"


def test_notice_without_graph_or_times_leaves_them_out() -> None:
    """A job the ledger knows little about still gets a notice, without empty parts."""
    message = completion_notice(FinishedJob(id="3", status="FAILED"))
    assert section_texts(message) == [":x: FAILED  ·  Job *#3*"]
    assert message.text == "Job 3 finished: FAILED"


def test_notice_names_who_cancelled_the_job() -> None:
    """A job cancelled through jobbot says who cancelled it, as a mention of their user id."""
    message = completion_notice(make_finished(8, "CANCELLED", cancelled_by="W0ENTERPRISE1"))
    assert section_texts(message)[0].endswith("  ·  Cancelled by <@W0ENTERPRISE1>")
    check_safe(message)


@pytest.mark.parametrize(
    "cancelled_by", ["", "<!channel>", "U12>|x", "U012ABC\n", "u012abc", "C012ABC", "U1", "U" + "A" * 31]
)
def test_notice_omits_a_malformed_canceller(cancelled_by: str) -> None:
    """A cancelled_by that is not a Slack user id is left out rather than put inside `<@...>`."""
    message = completion_notice(make_finished(8, "CANCELLED", cancelled_by=cancelled_by))
    assert "Cancelled by" not in all_text(message)
    check_safe(message)


def test_notice_for_a_mangled_id_has_no_button_and_escapes_everything() -> None:
    """A job id, status and graph id of hostile text are escaped, and no button carries the id."""
    job = make_finished("<!here>", "<!channel>", graph_id="<https://evil|x>" * 1000)
    message = completion_notice(job)
    assert all_buttons(message) == [] and "accessory" not in message.blocks[0]
    assert "&lt;!here&gt;" in message.text
    check_safe(message)
    check_limits(message)


def test_digest_counts_statuses_and_lists_newest_first_without_buttons() -> None:
    """A digest says how many jobs finished, counts them by status, and lists them newest id first."""
    jobs = [make_finished(9), make_finished(100, "FAILED"), make_finished(10, "CANCELLED"), make_finished(11)]
    message = completion_digest([*jobs, make_finished(2, "PAUSED")], offline=False)
    assert message.blocks[0]["text"]["text"] == "5 jobs finished"
    summary, lines = section_texts(message)
    assert summary.split("  ·  ") == [
        ":white_check_mark: 2 succeeded",
        ":x: 1 failed",
        ":no_entry_sign: 1 cancelled",
        ":grey_question: 1 other",
    ]
    assert re.findall(r"Job \*#(\d+)\*", lines) == ["100", "11", "10", "9", "2"]
    assert message.text == "5 jobs finished: 2 succeeded, 1 failed, 1 cancelled, 1 other"
    assert all_buttons(message) == []
    assert "`/jobs status ID`" in all_text(message)


@pytest.mark.parametrize(
    ("offline", "title"), [(False, "1 job finished"), (True, "While jobbot was offline, 1 job finished")]
)
def test_digest_title_says_whether_jobbot_was_offline(offline: bool, title: str) -> None:
    """The header counts in the singular for one job and mentions the outage when `offline`."""
    message = completion_digest([make_finished(7)], offline=offline)
    assert message.blocks[0]["text"]["text"] == title
    assert message.text.startswith(title + ":")


def test_digest_of_more_than_the_maximum_lists_the_newest_and_counts_the_rest() -> None:
    """A caller that did not split a big batch still gets a valid digest: the newest jobs and a count."""
    jobs = [make_finished(n) for n in range(1, DIGEST_MAX_JOBS + 8)]
    message = completion_digest(jobs, offline=True)
    assert message.blocks[0]["text"]["text"] == f"While jobbot was offline, {len(jobs)} jobs finished"
    lines = "\n".join(section_texts(message)[1:]).split("\n")
    assert len(lines) == DIGEST_MAX_JOBS and "Job *#32*" in lines[0]
    assert "7 older jobs are not listed here" in all_text(message)
    check_limits(message)


def hostile_finished_jobs(kind: str, count: int, **fields: Any) -> list[FinishedJob]:
    """`count` finished jobs whose graph ids (10 kB), statuses and some ids are hostile text."""
    hostile = HOSTILE_TEXTS[kind]
    return [
        make_finished(
            LONGEST_JOB_ID - n if n % 3 else hostile[:40] + str(n),
            NOTICE_STATUSES[n % 3] if n % 2 else hostile,
            graph_id=(hostile * 10)[:10_000],
            start_time_ms=START_MS,
            end_time_ms=START_MS + 3 * 86_400_000 + n,
            cancelled_by="W" + "Z" * 30,
            **fields,
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXTS))
@pytest.mark.parametrize("offline", [False, True])
def test_digest_of_the_most_hostile_jobs_stays_within_limits(kind: str, offline: bool) -> None:
    """DIGEST_MAX_JOBS jobs with long or hostile ids, 10 kB graph ids and odd statuses fit, one line each."""
    message = completion_digest(hostile_finished_jobs(kind, DIGEST_MAX_JOBS), offline=offline)
    check_limits(message)
    check_safe(message)
    lines = "\n".join(section_texts(message)[1:]).split("\n")
    assert len(lines) == DIGEST_MAX_JOBS
    assert all("Cancelled by <@W" in line for line in lines)
    longest_ids = [line for line in lines if re.search(r"Job \*#\d{19}\*", line)]
    assert len(longest_ids) == len([n for n in range(DIGEST_MAX_JOBS) if n % 3])


# --- the failure log reply ------------------------------------------------------------------


def test_failure_log_reply_shows_each_failed_jobs_log_end_escaped() -> None:
    """Only FAILED jobs get a section: a heading and the escaped end of the log, newest job first."""
    jobs = [make_finished(9, "FAILED", log_tail=FAILED_LOG), make_finished(7), make_finished(11, "FAILED")]
    message = failure_log_reply(jobs)
    first, second = section_texts(message)
    assert first == "*Job #11* \u2014 _(log is empty)_"
    assert second.startswith("*Job #9* \u2014 last lines of the log:\n```\n")
    assert "&lt;!channel&gt;" in second and second.count("```") == 2
    assert message.text == "Last log lines of failed jobs 11 and 9"
    assert failure_log_reply([make_finished(4, "FAILED", log_tail="x")]).text == (
        "Last log lines of failed job 4"
    )
    check_safe(message)


def test_failure_log_reply_without_failed_jobs_says_so() -> None:
    """Called for a batch with no failure, the reply is still a valid message that explains itself."""
    message = failure_log_reply([make_finished(7), make_finished(8, "CANCELLED")])
    assert "no log to show" in message.text
    check_limits(message)


def test_failure_log_reply_shares_room_left_by_short_logs() -> None:
    """Room a short log leaves unused goes to the next job, so one long log gets more than an equal share."""
    long_log = "".join(f"row {n} failed to parse\n" for n in range(2000))
    jobs = [make_finished(n, "FAILED", log_tail="short") for n in range(2, 20)]
    message = failure_log_reply([*jobs, make_finished(1, "FAILED", log_tail=long_log)])
    last = section_texts(message)[-1]
    assert last.startswith("*Job #1*") and len(last) > MAX_BLOCKS_JSON_CHARS // 19
    assert last.endswith("row 1999 failed to parse\n```")
    check_limits(message)


FIVE_MB_LOGS = {
    "mentions": ("<!channel> <!here> <@U123> <https://evil|click> & " * 120_000)[:5_000_000],
    "backticks": ("```closing fence``` `x`\n" * 220_000)[:5_000_000] + "\nEND",
    "emoji": ("\U0001f600" * 99 + "\n") * 50_000,
    "one_line": "&" * 5_000_000,
    "bidi": ("\u202e\u2067 \u200b" * 99 + "\n") * 50_000,
}


@pytest.mark.parametrize("kind", sorted(FIVE_MB_LOGS))
def test_failure_log_reply_for_the_most_jobs_with_5_mb_logs_fits(kind: str) -> None:
    """DIGEST_MAX_JOBS failed jobs with hostile 5 MB logs give one valid reply that pings no one."""
    jobs = [
        make_finished(LONGEST_JOB_ID - n, "FAILED", log_tail=FIVE_MB_LOGS[kind])
        for n in range(DIGEST_MAX_JOBS)
    ]
    message = failure_log_reply(jobs)
    check_limits(message)
    check_safe(message)
    sections = section_texts(message)
    assert len(sections) == DIGEST_MAX_JOBS
    assert all(text.count("```") in (0, 2) for text in sections)
    shown = [text for text in sections if "```" in text]
    others = [text for text in sections if "```" not in text]
    assert shown, "at least the first logs fit"
    assert all("no room for the log here: `/jobs status 9" in text for text in others)


def test_failure_log_reply_of_more_than_the_maximum_counts_the_rest() -> None:
    """More failed jobs than DIGEST_MAX_JOBS: the newest are shown and the rest are counted."""
    jobs = [make_finished(n, "FAILED", log_tail="boom") for n in range(1, DIGEST_MAX_JOBS + 4)]
    message = failure_log_reply(jobs)
    assert len(section_texts(message)) == DIGEST_MAX_JOBS
    assert "3 more failed jobs are not shown here" in all_text(message)
    assert message.text.endswith("and 3 more")
    check_limits(message)


# --- watching -------------------------------------------------------------------------------


def test_watch_started_promises_a_dm_and_says_how_to_stop() -> None:
    """`/jobs watch 7` confirms the direct message to come and shows `/jobs unwatch 7`."""
    message = watch_started("7")
    assert message.text == "I'll send you a direct message when job 7 finishes."
    assert "`/jobs unwatch 7`" in all_text(message)


def test_watch_of_a_finished_job_shows_its_card_at_once() -> None:
    """Watching a job that has already finished answers with its card and says so first."""
    message = watch_already_finished(make_job(7, "SUCCESS"), now=NOW)
    assert message.text == "Job 7 has already finished: SUCCESS."
    assert "has already finished (:white_check_mark: SUCCESS)" in message.blocks[1]["text"]["text"]
    assert button_ids(message) == [slack_ids.action_id(slack_ids.JOB_REFRESH, "7")]


@pytest.mark.parametrize(
    ("existed", "text"), [(True, "won't send you a message"), (False, "were not watching")]
)
def test_watch_stopped_says_whether_anything_changed(existed: bool, text: str) -> None:
    """`/jobs unwatch 7` says the watch ended, or that there was none."""
    assert text in watch_stopped("7", existed=existed).text


def test_watch_messages_escape_a_mangled_id() -> None:
    """Ids that did not come through the parser are escaped, and no unwatch hint is built from them."""
    for message in (
        watch_started("<!channel>"),
        watch_stopped("<!channel>" * 100, existed=True),
    ):
        check_safe(message)
        check_limits(message)
        assert "unwatch" not in all_text(message)


# --- subscriptions --------------------------------------------------------------------------


def test_subscribed_names_the_channel_statuses_and_the_invite_step() -> None:
    """The confirmation links the channel, names the statuses and explains `/invite @jobbot`."""
    message = subscribed("C0123ABCD", ("failed", "BOGUS"))
    text = all_text(message)
    assert "<#C0123ABCD> whenever a job finishes with status FAILED." in text
    assert "`/invite @jobbot`" in text and "`/jobs unsubscribe`" in text
    everything = subscribed("C0123ABCD", ())
    assert "whenever a job finishes (SUCCESS, FAILED or CANCELLED)" in all_text(everything)


@pytest.mark.parametrize("channel_id", ["<!channel>", "C12>|x", "c0123", "D0123ABCD", "C0123\n", "#general"])
def test_malformed_channel_ids_are_shown_as_text_not_links(channel_id: str) -> None:
    """A channel id that is not well-formed is shown as escaped inline code, never inside `<#...>`."""
    for message in (
        subscribed(channel_id, NOTICE_STATUSES),
        unsubscribed(channel_id, existed=True),
        subscription_list([], default_channel=channel_id, default_statuses=NOTICE_STATUSES),
    ):
        assert "<#" not in all_text(message)
        check_safe(message)
        check_limits(message)


@pytest.mark.parametrize(("existed", "text"), [(True, "will no longer get"), (False, "was not subscribed")])
def test_unsubscribed_says_whether_anything_changed(existed: bool, text: str) -> None:
    """`/jobs unsubscribe` confirms, or says the channel was not subscribed."""
    message = unsubscribed("C0123ABCD", existed=existed)
    assert text in all_text(message) and "<#C0123ABCD>" in all_text(message)


def test_subscription_list_puts_the_settings_channel_first() -> None:
    """The channel from JOBBOT_NOTIFY_CHANNEL comes first, then each subscription with who and when."""
    message = subscription_list(
        [make_subscription()], default_channel="C0NOTIFY", default_statuses=NOTICE_STATUSES
    )
    [lines] = section_texts(message)
    first, second = lines.split("\n")
    assert first == "• <#C0NOTIFY>  ·  SUCCESS, FAILED, CANCELLED  ·  (from `JOBBOT_NOTIFY_CHANNEL`)"
    assert second.startswith("• <#C0123ABCD>  ·  FAILED  ·  added <!date^1717234200^")
    assert second.endswith(" by <@U012ABCDEF>")
    assert message.text == "2 channels get completion notices."


def test_subscription_list_empty_explains_how_to_subscribe() -> None:
    """With no channel at all, the list explains `/jobs subscribe` instead of showing nothing."""
    message = subscription_list([], default_channel=None, default_statuses=NOTICE_STATUSES)
    assert "No channel gets completion notices yet" in message.text
    assert "`/jobs subscribe`" in all_text(message) and "`/invite @jobbot`" in all_text(message)


def test_subscription_list_of_1000_hostile_entries_is_clipped_to_fit() -> None:
    """A thousand subscriptions with hostile ids and statuses fit one message that says how many more."""
    hostile = "<!channel> & <https://evil|x> `"
    subs = [
        make_subscription(
            f"C{n:08d}" if n % 2 else hostile * 10,
            statuses=(hostile, "FAILED", "failed", "\U0001f600" * 100, "A", "B"),
            added_by="U012ABCDEF" if n % 3 else hostile * 10,
        )
        for n in range(1000)
    ]
    message = subscription_list(subs, default_channel=hostile, default_statuses=NOTICE_STATUSES)
    check_limits(message)
    check_safe(message)
    shown = "\n".join(section_texts(message)).count("• ")
    assert 10 < shown < 1001
    assert f"and {1001 - shown:,} more" in all_text(message)
    assert message.text == "1,001 channels get completion notices."


def test_subscription_list_shows_everything_when_it_fits() -> None:
    """A list that fits is shown whole, with no "more" line."""
    subs = [make_subscription(f"C{n:08d}") for n in range(20)]
    message = subscription_list(subs, default_channel=None, default_statuses=NOTICE_STATUSES)
    assert "\n".join(section_texts(message)).count("• ") == 20
    assert "more" not in all_text(message)
    check_limits(message)


finished_jobs = st.builds(
    lambda job_id, status, graph_id, log, start, end, by: make_finished(
        job_id, status, graph_id=graph_id, log_tail=log, start_time_ms=start, end_time_ms=end, cancelled_by=by
    ),
    job_id=st.integers(min_value=0, max_value=10**20 - 1) | st.text(max_size=30),
    status=st.sampled_from(NOTICE_STATUSES) | server_text,
    graph_id=st.none() | server_text,
    log=server_text,
    start=st.none() | st.integers(min_value=-(2**40), max_value=2**45),
    end=st.none() | st.integers(min_value=-(2**40), max_value=2**45),
    by=st.none() | st.from_regex(r"[UW][A-Z0-9]{2,30}", fullmatch=True) | st.text(max_size=40),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(finished_jobs, max_size=DIGEST_MAX_JOBS), st.booleans())
def test_any_finished_jobs_give_valid_notices_digest_and_log_reply(
    jobs: list[FinishedJob], offline: bool
) -> None:
    """Whatever the ledger holds, notices, digests and failure-log replies are valid and ping no one."""
    for message in (completion_digest(jobs, offline=offline), failure_log_reply(jobs)):
        check_limits(message)
        check_safe(message)
    for job in jobs[:3]:
        check_limits(message := completion_notice(job))
        check_safe(message)


def test_audit_list_shows_who_did_what_within_limits() -> None:
    """The audit list escapes server text, mentions valid user ids only, and fits with hostile data."""
    from jobbot.models import AuditEntry

    entries = [
        AuditEntry(
            at=NOW,
            user_id="U0ALLOWED1",
            team_id="T1",
            channel_id="C1",
            job_id="7",
            status_before="RUNNING",
            outcome="succeeded",
            message="Successfully cancel job: 7 <!channel>",
        ),
        AuditEntry(at=NOW, user_id="<!here>", job_id="8", outcome="refused", message="`x`" * 5000),
    ] * 10
    message = audit_list(entries, job_id=None)
    check_limits(message)
    check_safe(message)
    text = json.dumps(message.blocks)
    assert "<@U0ALLOWED1>" in text and "succeeded" in text
    assert audit_list([], job_id="7").text == "Cancel attempts for job 7: none recorded."


def test_a_graph_id_with_a_bidi_override_reads_as_what_it_is() -> None:
    """A graph id hiding a right-to-left override is shown with the override spelled out, everywhere
    it appears: list, card, cancel prompt and the Cancel dialog, notice and digest."""
    graph = "prod\u202e1-tset"  # reads as "prodtest-1" in Slack if the override is kept
    job = make_job(8, "RUNNING", detail={"graph_id": graph, "process_id": 1})
    finished = make_finished(8, "FAILED", graph_id=graph)
    for message in (
        job_list([job], now=NOW),
        job_card(job, now=NOW),
        cancel_prompt(job, now=NOW),
        completion_notice(finished),
        completion_digest([finished, make_finished(9)], offline=False),
    ):
        check_safe(message)
        assert "prod\\u202e1-tset" in "\n".join([message.text, *strings_in(message.blocks)])


def strings_in(value: Any) -> list[str]:
    """Every string inside a block structure, as Slack will render it (not JSON-escaped)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return []


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXTS))
def test_audit_list_with_every_part_full_of_hostile_text_fits(kind: str) -> None:
    """Twenty cancel attempts, five folded refusals and five subscription changes, all carrying hostile
    text, give one valid message that pings no one and still shows each part."""
    from jobbot.models import AuditEntry, SubscriptionChange

    hostile = HOSTILE_TEXTS[kind]
    attempts = [
        AuditEntry(
            at=NOW,
            user_id="U0ALLOWED1",
            job_id="9" * 20,
            status_before=hostile,
            outcome="failed",
            message=hostile,
        )
    ] * AUDIT_MAX_ENTRIES
    refusals = [
        AuditEntry(
            at=NOW, user_id=hostile, job_id="7", outcome="refused", message=hostile, repeats=14, last_at=NOW
        )
    ] * AUDIT_MAX_REFUSALS
    changes = [
        SubscriptionChange(
            at=NOW, user_id="U0ALLOWED1", channel_id=hostile, action="subscribed", statuses=(hostile,)
        )
    ] * AUDIT_MAX_SUBSCRIPTION_CHANGES
    message = audit_list(attempts, job_id=None, refusals=refusals, changes=changes)
    check_limits(message)
    check_safe(message)
    text = all_text(message)
    assert "*failed*" in text and "refused x14*" in text and "*subscribed*" in text
