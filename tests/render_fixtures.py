"""Jobs, finished jobs and hostile server text that the renderer tests share, and ways to read a message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from jobbot.models import FinishedJob, JobWithLog, Subscription
from jobbot.render.kit import Message

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


def section_texts(message: Message) -> list[str]:
    return [block["text"]["text"] for block in message.blocks if block["type"] == "section"]


# --- hostile data ---------------------------------------------------------------------------

HOSTILE_TEXTS = {
    "mentions": "<!channel> <!here> <@U123> <https://evil|click> & " * 300,
    "backticks": "```" * 4000,
    "emoji": "\U0001f600" * 10_000,
    "controls": "\x00\x1b[31m\r\n\x7f" * 2000,
    "quotes": '"\\' * 5000,
    "bidi": "gr\u202eaph\u2066x\u2069\u200b\x85\u200f" * 2000,
}


server_text = st.text(max_size=300) | st.sampled_from(list(HOSTILE_TEXTS.values()))
