"""The README's picture of a live channel is what the renderers produce: the test renders one job's card,
its edit, its thread, a long-running alert and a digest card, and compares them with the README's text
(`JOBBOT_UPDATE_GOLDEN=1` rewrites it)."""

from __future__ import annotations

import html
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobbot.models import FinishedJob
from jobbot.render.cards import digest_card, ending_reply, live_card, long_running_alert
from jobbot.render.kit import Message
from jobbot.render.notices import failure_log_reply

README = Path(__file__).resolve().parent.parent / "README.md"
# Read at import: the tests' environment is cleaned of JOBBOT_ variables before each test runs.
UPDATE = os.environ.get("JOBBOT_UPDATE_GOLDEN") == "1"
BEGIN, END = "<!-- live-channel:begin -->", "<!-- live-channel:end -->"
START_MS = int(datetime(2026, 11, 28, 21, 5, tzinfo=UTC).timestamp() * 1000)
NOW = datetime(2026, 11, 28, 21, 20, tzinfo=UTC)
PEOPLE = {"U0ALICE": "@alice", "U0BOB": "@bob"}
EMOJI = {
    "white_check_mark": "✅",
    "x": "❌",
    "no_entry_sign": "🚫",
    "hourglass_flowing_sand": "⏳",
    "hourglass": "⌛",
    "double_vertical_bar": "⏸",
}
LOG = (
    "I1128 21:05:01 loading person.csv\n"
    "I1128 21:05:40 loaded 1,204,311 vertices\n"
    "E1128 21:06:12 bad row 17 in knows.csv: missing column creationDate\n"
)


def shown(mrkdwn: str) -> str:
    """Text as Slack shows it, near enough for a README: dates by their fallback, people by name, emoji."""
    text = re.sub(r"<!date\^[^|>]*\|([^>]*)>", r"\1", mrkdwn)
    text = re.sub(r"<@(\w+)>", lambda m: PEOPLE.get(m.group(1), "@" + m.group(1)), text)
    text = re.sub(r":([a-z_]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    return html.unescape(text.replace("*", ""))


def preview(message: Message, indent: str = "") -> list[str]:
    lines: list[str] = []
    for block in message.blocks:
        kind = block["type"]
        if kind == "header":
            lines.append(block["text"]["text"])
        elif kind == "section":
            text = shown(block["text"]["text"])
            accessory: dict[str, Any] | None = block.get("accessory")
            if accessory and accessory.get("type") == "button":
                text += f"  [{accessory['text']['text']}]"
            lines += text.replace("```", "").strip("\n").splitlines()
        elif kind == "context":
            lines.append("  ".join(shown(e["text"]) for e in block["elements"]))
        elif kind == "actions":
            lines.append(" ".join(f"[{e['text']['text']}]" for e in block["elements"]))
    return [indent + line if line else line for line in lines]


def live_channel() -> str:
    running = FinishedJob(id="42", status="RUNNING", graph_id="ldbc_sf1", start_time_ms=START_MS)
    failed = running.model_copy(
        update={"status": "FAILED", "end_time_ms": START_MS + 74_000, "log_tail": LOG.rstrip("\n")}
    )
    burst = [
        FinishedJob(id=str(n), status="RUNNING", graph_id="ldbc_sf1", start_time_ms=START_MS)
        for n in range(50, 62)
    ]
    burst[0] = burst[0].model_copy(update={"status": "SUCCESS", "end_time_ms": START_MS + 65_000})
    parts = [
        "The card when job 42 starts (Started shows Slack's own '12 minutes ago', kept true without edits):",
        *preview(live_card(running, watchers=["U0BOB"], now=NOW), "  "),
        "",
        "The same message, edited in place when the job fails:",
        *preview(live_card(failed, now=NOW), "  "),
        "  └ thread, broadcast to the channel (the filter includes FAILED):",
        *preview(ending_reply(failed), "      "),
        "  └ thread:",
        *preview(failure_log_reply([failed]), "      "),
        "  └ thread: 📎 job-42.log (Full log of job #42, the whole log as a file)",
        "",
        "A job past JOBBOT_LONG_RUNNING_AFTER, or well past its graph's usual duration, once, in its thread:",
        *preview(long_running_alert(running, running_for=7380, usual=720.0), "  "),
        "",
        "Twelve jobs starting together: one digest card, edited as they end:",
        *preview(digest_card(burst, now=NOW), "  "),
    ]
    return "\n".join(parts)


def test_the_readme_shows_a_live_channel_as_the_renderers_draw_it() -> None:
    readme = README.read_text()
    assert BEGIN in readme and END in readme, "the README lost its live channel markers"
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    expected = f"{head}{BEGIN}\n```\n{live_channel()}\n```\n{END}{tail}"
    if UPDATE:
        README.write_text(expected)
        readme = expected
    assert readme == expected, "the README's live channel differs from the renderers: JOBBOT_UPDATE_GOLDEN=1"
