"""The README's example messages, drawn by the real renderers from fixed data, as a reader sees them in Slack.

Each example sits in the README between `<!-- example: NAME -->` and `<!-- /example -->`, in a code block.
`python -m tests.readme_examples` says which examples differ from what the renderers draw now (exit 1);
`python -m tests.readme_examples --write` rewrites them. tests/test_readme_examples.py fails on any drift.

A message is shown as text, near enough to Slack's look for a README: bold and italics dropped, people by
name, emoji as characters, a date by its fallback (UTC; Slack shows each reader their own time zone),
fields two to a row, buttons as [Label], and a button's confirmation dialog under it.
"""

from __future__ import annotations

import argparse
import difflib
import html
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobbot import stale as staleness
from jobbot.errors import Refused
from jobbot.models import FinishedJob, JobWithLog
from jobbot.render.cards import digest_card, ending_reply, live_card, long_running_alert
from jobbot.render.jobs import cancel_prompt, cancelled_card, job_card, job_list
from jobbot.render.kit import Message
from jobbot.render.notices import completion_digest, completion_notice, failure_log_reply
from jobbot.render.problems import explain
from jobbot.render.replies import usage

README = Path(__file__).resolve().parent.parent / "README.md"
# Longer lines are wrapped, as Slack wraps them, so the README reads without scrolling sideways.
WIDTH = 104
EXAMPLE = re.compile(r"(<!-- example: ([a-z-]+) -->\n)(.*?)(<!-- /example -->)", re.DOTALL)

NOW = datetime(2026, 11, 28, 21, 20, tzinfo=UTC)
# The examples are drawn for someone allowed to cancel, so they show the Cancel buttons and dialogs: where
# a renderer asks who reads the message, give it this person, allowed.
CANCELLER = "U0ALICE"
PEOPLE = {CANCELLER: "@alice", "U0BOB": "@bob"}
EMOJI = {
    "white_check_mark": "✅",
    "x": "❌",
    "no_entry_sign": "🚫",
    "hourglass_flowing_sand": "⏳",
    "hourglass": "⌛",
    "double_vertical_bar": "⏸",
    "arrows_counterclockwise": "🔄",
    "warning": "⚠️",
    "rotating_light": "🚨",
    "lock": "🔒",
    "information_source": "\u2139\ufe0f",
    "grey_question": "❔",
    "eyes": "👀",
    "scissors": "✂️",
}
LOAD_LOG = "I1128 21:08:02 loading person.csv\nI1128 21:17:40 loaded 1,204,311 vertices\n"
FAILED_LOG = (
    "I1128 21:05:01 loading person.csv\n"
    "I1128 21:05:40 loaded 1,204,311 vertices\n"
    "E1128 21:06:12 bad row 17 in knows.csv: missing column creationDate\n"
)


# --- how a message reads in Slack -----------------------------------------------------------------


def shown(mrkdwn: str) -> str:
    """mrkdwn as Slack shows it: dates by their fallback, people by name, emoji, no bold or italics."""
    text = re.sub(r"<!date\^[^|>]*\|([^>]*)>", r"\1", mrkdwn)
    text = re.sub(r"<@(\w+)>", lambda m: PEOPLE.get(m.group(1), "@" + m.group(1)), text)
    text = re.sub(r"<#(\w+)>", r"#\1", text)
    text = re.sub(r":([a-z_]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    text = re.sub(r"(?<!\w)_([^_\n]+)_(?!\w)", r"\1", text.replace("*", ""))
    return html.unescape(text)


def preview(message: Message, indent: str = "", *, dialogs: bool = False) -> list[str]:
    """The message's blocks as lines of text, each led by `indent`; with `dialogs`, each button's
    confirmation dialog under its row."""
    lines: list[str] = []
    for block in message.blocks:
        lines += _block_lines(block, dialogs)
    return [wrapped for line in lines for wrapped in _wrap(indent + line if line else line)]


def _wrap(line: str) -> list[str]:
    if len(line) <= WIDTH:
        return [line]
    lead = line[: len(line) - len(line.lstrip())]
    return textwrap.wrap(line, WIDTH, subsequent_indent=lead, break_on_hyphens=False)


def _block_lines(block: dict[str, Any], dialogs: bool) -> list[str]:
    kind = block["type"]
    if kind == "header":
        return [shown(block["text"]["text"])]
    if kind == "context":
        return ["  ".join(shown(element["text"]) for element in block["elements"])]
    if kind == "actions":
        buttons = block["elements"]
        lines = [" ".join(_label(button) for button in buttons)]
        for button in buttons if dialogs else []:
            lines += _dialog(button)
        return lines
    lines = []
    if "text" in block:
        text = shown(block["text"]["text"])
        accessory = block.get("accessory")
        if accessory and accessory.get("type") == "button":
            text += "  " + _label(accessory)
        lines += text.replace("```", "").strip("\n").splitlines()
    lines += _field_rows([shown(field["text"]) for field in block.get("fields", [])])
    return lines


def _field_rows(fields: list[str]) -> list[str]:
    """Fields two to a row, as Slack lays them out: `Label: value`."""
    cells = [field.replace("\n", ": ", 1) for field in fields]
    return [
        f"{left:<36}{right}".rstrip() for left, right in zip(cells[::2], [*cells[1::2], ""], strict=False)
    ]


def _label(button: dict[str, Any]) -> str:
    return f"[{shown(button['text']['text'])}]"


def _dialog(button: dict[str, Any]) -> list[str]:
    """What Slack asks before it sends the button's click, if it asks."""
    confirm = button.get("confirm")
    if not confirm:
        return []
    return [
        f"  {_label(button)} asks first: {shown(confirm['title']['text'])}",
        f"    {shown(confirm['text']['text'])}",
        f"    [{shown(confirm['deny']['text'])}] [{shown(confirm['confirm']['text'])}]",
    ]


# --- the scene: graph `modern_graph` on one server, job 3 running -------------------------------


def _ms(hour: int, minute: int, second: int = 0) -> int:
    return int(datetime(2026, 11, 28, hour, minute, second, tzinfo=UTC).timestamp() * 1000)


def _job(
    job_id: int, status: str, started: int, ended: int = 0, log: str = "", graph: str = "modern_graph"
) -> JobWithLog:
    """A job as the server's JSON gives it."""
    return JobWithLog.from_server(
        {
            "id": str(job_id),
            "status": status,
            "start_time": started,
            "end_time": ended,
            "log": log,
            "detail": {"graph_id": graph, "process_id": 4242},
            "type": "BULK_LOADING",
        }
    )


def _jobs() -> list[JobWithLog]:
    # Job 3 has run 12 minutes: too soon to look stale, whatever its graph's loads took.
    return [
        _job(1, "SUCCESS", _ms(20, 14), _ms(20, 15, 35)),
        _job(2, "FAILED", _ms(20, 15), _ms(20, 17, 5)),
        _job(3, "RUNNING", _ms(21, 8), log=LOAD_LOG),
        _job(4, "SUCCESS", _ms(21, 13), _ms(21, 16, 5)),
    ]


def _running() -> JobWithLog:
    return _jobs()[2]


def list_page() -> str:
    return "\n".join(preview(job_list(_jobs(), now=NOW, may_cancel=True)))


def status_card() -> str:
    return "\n".join(preview(job_card(_running(), now=NOW, may_cancel=True)))


def cancel_prompt_card() -> str:
    return _without_card(preview(cancel_prompt(_running(), now=NOW), dialogs=True))


def _without_card(lines: list[str]) -> str:
    """A prompt's lead, its buttons and the Cancel button's dialog: its middle is the card shown above."""
    card_starts = next(n for n, line in enumerate(lines) if line.startswith("Status: "))
    dialog_starts = next(n for n, line in enumerate(lines) if "asks first" in line)
    elided = "(the job's card: its fields, log and time)"
    return "\n".join([*lines[:card_starts], elided, *lines[dialog_starts - 1 :]])


def cancelled() -> str:
    after = _running().model_copy(update={"status": "CANCELLED", "end_time_ms": _ms(21, 20)})
    card = cancelled_card(
        "3",
        _running(),
        canceller=CANCELLER,
        server_says="Successfully cancel job: 3",
        after=after,
        read_back_error=None,
        now=NOW,
    )
    return "\n".join(preview(card))


def stale_prompt() -> str:
    job = _job(3, "RUNNING", _ms(21, 20) - 9 * 86_400_000, graph="payroll")
    stale = staleness.Stale(
        job_id="3",
        graph_id="payroll",
        process_id=4242,
        running_seconds=9 * 86_400.0,
        longest_finished_seconds=720.0,
        limit_seconds=None,
    )
    return _without_card(preview(cancel_prompt(job, now=NOW, risk=stale), dialogs=True))


def refusal() -> str:
    return "\n".join(preview(explain(Refused("not_a_canceller", user_id="U0123ABCD"))))


def notices() -> str:
    success = FinishedJob(
        id="41", status="SUCCESS", graph_id="ldbc", start_time_ms=_ms(20, 2), end_time_ms=_ms(20, 6, 10)
    )
    failed = FinishedJob(
        id="42",
        status="FAILED",
        graph_id="ldbc",
        start_time_ms=_ms(21, 5),
        end_time_ms=_ms(21, 6, 14),
        log_tail=FAILED_LOG.rstrip("\n"),
    )
    cancelled_job = FinishedJob(
        id="43",
        status="CANCELLED",
        graph_id="ldbc",
        start_time_ms=_ms(21, 7),
        end_time_ms=_ms(21, 9),
        cancelled_by=CANCELLER,
    )
    offline = [
        FinishedJob(
            id=str(n),
            status=status,
            graph_id="ldbc",
            start_time_ms=_ms(22, n - 40),
            end_time_ms=_ms(22, n - 39),
        )
        for n, status in zip(range(44, 48), ("SUCCESS", "SUCCESS", "FAILED", "SUCCESS"), strict=True)
    ]
    return "\n".join(
        [
            *preview(completion_notice(success)),
            "",
            *preview(completion_notice(failed)),
            "  └ thread:",
            *preview(failure_log_reply([failed]), "      "),
            "",
            *preview(completion_notice(cancelled_job)),
            "",
            "Four jobs that ended while jobbot was down, in one digest:",
            *preview(completion_digest(offline, offline=True), "  "),
        ]
    )


def help_reply() -> str:
    return "\n".join(preview(usage()))


def live_channel() -> str:
    started = _ms(21, 5)
    running = FinishedJob(id="42", status="RUNNING", graph_id="ldbc_sf1", start_time_ms=started)
    failed = running.model_copy(
        update={"status": "FAILED", "end_time_ms": started + 74_000, "log_tail": FAILED_LOG.rstrip("\n")}
    )
    burst = [
        FinishedJob(id=str(n), status="RUNNING", graph_id="ldbc_sf1", start_time_ms=started)
        for n in range(50, 62)
    ]
    burst[0] = burst[0].model_copy(update={"status": "SUCCESS", "end_time_ms": started + 65_000})
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


EXAMPLES: dict[str, Callable[[], str]] = {
    "list": list_page,
    "card": status_card,
    "cancel-prompt": cancel_prompt_card,
    "cancelled": cancelled,
    "stale-prompt": stale_prompt,
    "refusal": refusal,
    "notices": notices,
    "help": help_reply,
    "live-channel": live_channel,
}


# --- the README -------------------------------------------------------------------------------------


def examples_in(readme: str) -> Iterator[re.Match[str]]:
    return EXAMPLE.finditer(readme)


def rendered(readme: str) -> str:
    """The README with each example replaced by what the renderers draw now.

    Raises ValueError for an example the README names that does not exist here.
    """

    def draw(match: re.Match[str]) -> str:
        begin, name, _, end = match.groups()
        if name not in EXAMPLES:
            raise ValueError(f"the README names an example that tests/readme_examples.py lacks: {name}")
        return f"{begin}```\n{EXAMPLES[name]()}\n```\n{end}"

    return EXAMPLE.sub(draw, readme)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help="rewrite the README's examples")
    args = parser.parse_args()
    readme = README.read_text(encoding="utf-8")
    expected = rendered(readme)
    if args.write:
        README.write_text(expected, encoding="utf-8")
        return 0
    diff = list(
        difflib.unified_diff(
            readme.splitlines(), expected.splitlines(), "README.md", "renderers", lineterm=""
        )
    )
    print("\n".join(diff) or "The README's examples are what the renderers draw.")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
