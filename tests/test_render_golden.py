"""The golden messages: each main message renders exactly as its reviewed JSON, valid Block Kit.

Regenerate the golden files with `JOBBOT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render_golden.py`
and review the diff before committing it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from jobbot import stale
from jobbot.models import NOTICE_STATUSES, NoticeStyle
from jobbot.render.cards import digest_card, ending_reply, live_card, long_running_alert
from jobbot.render.jobs import cancel_prompt, cancelled_card, job_card, job_list, warning_needed_card
from jobbot.render.kit import Message
from jobbot.render.notices import completion_digest, completion_notice, failure_log_reply
from jobbot.render.problems import problem, refusal
from jobbot.render.replies import (
    server_choices,
    server_chosen,
    subscribed,
    subscription_list,
    unsubscribed,
    usage,
    watch_already_finished,
    watch_started,
    watch_stopped,
)
from jobbot.servers import EVERY_SERVER
from tests.render_fixtures import (
    FAILED_LOG,
    NOW,
    START_MS,
    make_finished,
    make_job,
    make_subscription,
    mixed_jobs,
)
from tests.slack_limits import check_limits, check_safe

GOLDEN_DIR = Path(__file__).parent / "golden"
# Read at import time: the autouse fixture in conftest.py clears JOBBOT_* variables before each test.
UPDATE_GOLDEN = os.environ.get("JOBBOT_UPDATE_GOLDEN") == "1"


# --- golden messages ------------------------------------------------------------------------

GOLDEN: dict[str, Callable[[], Message]] = {
    "list_page_2": lambda: job_list(mixed_jobs(23), statuses=(), page=2, now=NOW, may_cancel=True),
    "list_filtered": lambda: job_list(
        mixed_jobs(23), statuses=("running", "FAILED"), page=1, now=NOW, may_cancel=True
    ),
    "list_empty_failed": lambda: job_list(
        [make_job(1, "SUCCESS")], statuses=("FAILED",), now=NOW, may_cancel=True
    ),
    "card_running": lambda: job_card(make_job(8, "RUNNING", end_time=123), now=NOW, may_cancel=True),
    # Drawn for someone who may not cancel: no Cancel button, all else as above.
    "list_filtered_no_cancel": lambda: job_list(
        mixed_jobs(23), statuses=("running", "FAILED"), page=1, now=NOW, may_cancel=False
    ),
    "card_running_no_cancel": lambda: job_card(
        make_job(8, "RUNNING", end_time=123), now=NOW, may_cancel=False
    ),
    "card_success": lambda: job_card(make_job(7, "SUCCESS"), now=NOW, may_cancel=True),
    "card_failed_log": lambda: job_card(make_job(9, "FAILED", log=FAILED_LOG), now=NOW, may_cancel=True),
    "cancel_prompt_running": lambda: cancel_prompt(make_job(8, "RUNNING"), now=NOW),
    "cancel_prompt_finished": lambda: cancel_prompt(make_job(7, "SUCCESS"), now=NOW),
    "cancel_prompt_stale": lambda: cancel_prompt(
        make_job(3, "RUNNING", start_time=START_MS - 9 * 86_400_000),
        now=NOW,
        risk=stale.find_stale(
            [make_job(3, "RUNNING", start_time=START_MS - 9 * 86_400_000)],
            [make_job(n, "SUCCESS", end_time=START_MS + n * 240_000) for n in (1, 2, 3)],
            now=NOW,
            limit_seconds=86_400,
        )["3"],
    ),
    "cancel_prompt_unknown": lambda: cancel_prompt(make_job(6, "UNKNOWN"), now=NOW),
    "warning_needed_stale": lambda: warning_needed_card(
        make_job(3, "RUNNING", start_time=START_MS - 9 * 86_400_000),
        risk=stale.find_stale(
            [make_job(3, "RUNNING", start_time=START_MS - 9 * 86_400_000)], [], now=NOW, limit_seconds=86_400
        )["3"],
        now=NOW,
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
    "live_card_running": lambda: live_card(
        make_finished(42, "RUNNING", end_time_ms=None), watchers=["U012ABCDEF", "W0ENTERPRISE1"], now=NOW
    ),
    "live_card_failed": lambda: live_card(make_finished(42, "FAILED"), watchers=["U012ABCDEF"], now=NOW),
    "live_card_cancelled_by": lambda: live_card(
        make_finished(42, "CANCELLED", cancelled_by="U012ABCDEF"), now=NOW
    ),
    "digest_card_started": lambda: digest_card(
        [make_finished(n, "RUNNING", end_time_ms=None, graph_id=str(n % 3)) for n in range(40, 52)], now=NOW
    ),
    "digest_card_mixed": lambda: digest_card(
        [
            make_finished(41, "RUNNING", end_time_ms=None),
            make_finished(42, "FAILED"),
            make_finished(43, "CANCELLED", cancelled_by="U012ABCDEF"),
            make_finished(44),
            make_finished(45, "WAITING", end_time_ms=None),
        ],
        now=NOW,
    ),
    "ending_reply_failed": lambda: ending_reply(make_finished(42, "FAILED", log_tail=FAILED_LOG)),
    "ending_reply_cancelled_by": lambda: ending_reply(
        make_finished(42, "CANCELLED", cancelled_by="U012ABCDEF")
    ),
    "long_running_alert": lambda: long_running_alert(
        make_finished(42, "RUNNING", end_time_ms=None), running_for=7380, usual=None
    ),
    "long_running_alert_usual": lambda: long_running_alert(
        make_finished(42, "RUNNING", end_time_ms=None), running_for=7380, usual=720
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
    "subscribed_live": lambda: subscribed("C0123ABCD", ("FAILED",), NoticeStyle.LIVE),
    "subscription_list_live": lambda: subscription_list(
        [make_subscription(style=NoticeStyle.LIVE), make_subscription("G0456EFGH", statuses=NOTICE_STATUSES)],
        default_channel="C0NOTIFY",
        default_statuses=NOTICE_STATUSES,
        default_style=NoticeStyle.LIVE,
    ),
    "subscription_list_empty": lambda: subscription_list(
        [], default_channel=None, default_statuses=NOTICE_STATUSES
    ),
    # With several servers, each message names its own and its buttons carry it.
    "server_list": lambda: job_list(
        mixed_jobs(23), statuses=("FAILED",), page=1, now=NOW, server="staging", may_cancel=True
    ),
    "server_card": lambda: job_card(make_job(8, "RUNNING"), now=NOW, server="staging", may_cancel=True),
    "server_cancel_prompt": lambda: cancel_prompt(make_job(8, "RUNNING"), now=NOW, server="prod"),
    "server_cancelled_card": lambda: cancelled_card(
        "8",
        make_job(8, "RUNNING"),
        canceller="U012ABCDEF",
        server_says="Successfully cancelled job: 8",
        after=make_job(8, "CANCELLED"),
        read_back_error=None,
        now=NOW,
        server="prod",
    ),
    "server_notice": lambda: completion_notice(make_finished(9, "FAILED"), server="staging"),
    "server_digest": lambda: completion_digest(
        [make_finished(7), make_finished(12, "FAILED")], offline=False, server="eu-west-1"
    ),
    "server_live_card": lambda: live_card(
        make_finished(42, "RUNNING", end_time_ms=None), watchers=["U012ABCDEF"], now=NOW, server="staging"
    ),
    "server_usage": lambda: usage(servers=("prod", "staging"), default="staging"),
    "server_subscription_list": lambda: subscription_list(
        [
            make_subscription(server="prod"),
            make_subscription("G0456EFGH", statuses=NOTICE_STATUSES, server=EVERY_SERVER),
        ],
        default_channel="C0NOTIFY",
        default_statuses=("FAILED",),
        shown=True,
        channel_defaults={"C0123ABCD": "staging"},
    ),
    "server_chosen": lambda: server_chosen("C0123ABCD", "staging", "prod"),
    "server_choices": lambda: server_choices(("prod", "staging"), "prod", "staging"),
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
