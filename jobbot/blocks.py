"""Pure renderers: jobs and problems in, Slack messages (fallback text and Block Kit) out."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from jobbot import stale as staleness
from jobbot.commands import SUBCOMMANDS, SUBSCRIBE, SUBSCRIPTIONS, UNSUBSCRIBE, UNWATCH
from jobbot.errors import InvalidJobId
from jobbot.models import (
    KNOWN_STATUSES,
    NOTICE_STATUSES,
    AuditEntry,
    FinishedJob,
    Job,
    JobWithLog,
    Subscription,
    SubscriptionChange,
    validate_job_id,
)
from jobbot.mrkdwn import (
    ELLIPSIS,
    MIN_CODE_BLOCK_CHARS,
    channel_mention,
    clip,
    code_block,
    code_span,
    date_token,
    duration,
    escape,
    one_line,
    plain,
    status_emoji,
    status_label,
    status_word,
    user_mention,
)
from jobbot.slack_ids import (
    COMMAND,
    JOB_CANCEL,
    JOB_DETAILS,
    JOB_REFRESH,
    LIST_PAGE,
    LIST_REFRESH,
    action_id,
)

# Slack rejects a whole message that breaks any of these (see the platform notes).
MAX_BLOCKS = 50
MAX_TEXT_CHARS = 40_000
MAX_SECTION_CHARS = 3000
MAX_FIELDS = 10
MAX_FIELD_CHARS = 2000
MAX_HEADER_CHARS = 150
MAX_BUTTON_VALUE_CHARS = 2000
MAX_ACTION_ID_CHARS = 255
# Slack answers msg_blocks_too_long at about 13,000 characters; this is measured on `json.dumps`
# output, whose \u escapes make non-ASCII text count several times, so it errs on the safe side.
MAX_BLOCKS_JSON_CHARS = 12_000

# Two blocks per job: ten jobs with Cancel buttons and their dialogs stay well inside the JSON budget.
MAX_PAGE_SIZE = 10
# The log gets this much of the card, and less when the rest of the card is unusually large.
LOG_CHARS = 2500
MIN_LOG_CHARS = 200
# Server text (graph id, unknown status) in one line of the list, and the least it is clipped to.
LIST_SERVER_TEXT_CHARS = 24
MIN_LIST_SERVER_TEXT_CHARS = 8
CARD_TEXT_CHARS = 200
JOB_ID_CHARS = 24
NOTICE_CHARS = 1000
# Clipped before escaping, which can make text up to five times longer.
DETAIL_CHARS = 400
MAX_LIST_STATE_PAGE = 1_000_000

# The most jobs one digest (and its failure-log reply) lists: proven to fit Slack's limits whatever the
# server sent (tests/test_blocks.py); callers split bigger batches into several digests.
DIGEST_MAX_JOBS = 25
# Server text in a digest line is clipped harder, down to this, when hostile data would not fit.
MIN_DIGEST_SERVER_TEXT_CHARS = 6
# Each failed job's log in the thread reply gets at most this much; the message's budget is shared.
FAILURE_LOG_CHARS = 2500
# An outcome or action word in an audit line: bot-written, but stored, so clipped like server text.
MAX_STATUS_WORD_CHARS = 40
# A mangled job id (not 1-20 digits) in a failure-log heading is clipped to this.
FAILURE_ID_CHARS = 12
# Channel and user ids that are not well-formed are shown as text, clipped to this.
SLACK_ID_CHARS = 40

EN_DASH = "\u2013"
EM_DASH = "\u2014"
REFRESH_LABEL = ":arrows_counterclockwise: Refresh"


@dataclass(frozen=True)
class Message:
    """A Slack message: the notification fallback and its Block Kit blocks, ready for `respond()`."""

    text: str
    blocks: list[dict[str, Any]]


# --- the job list -----------------------------------------------------------------------------


def job_list(
    jobs: Iterable[Job],
    *,
    statuses: Sequence[str] = (),
    page: int = 1,
    now: datetime,
    page_size: int = MAX_PAGE_SIZE,
    stale_limit_seconds: float = staleness.DEFAULT_LIMIT_HOURS * 3600,
) -> Message:
    """One page of jobs, newest first, filtered by `statuses` (empty means all).

    `jobs` is the server's whole unsorted list. Statuses outside KNOWN_STATUSES are ignored, an
    out-of-range `page` is clamped, and `page_size` is clamped to 1..MAX_PAGE_SIZE. The Cancel dialog
    of a shown job that looks stale (see `jobbot.stale`) says so.
    """
    if not isinstance(jobs, Sequence):
        jobs = list(jobs)  # read twice: once to sort, once for the graphs' history
    wanted = _known_statuses(statuses)
    size = min(max(page_size, 1), MAX_PAGE_SIZE)
    selected = sorted(
        (job for job in jobs if not wanted or job.status in wanted),
        key=lambda job: (job.sort_key, job.id),
        reverse=True,
    )
    total = len(selected)
    pages = max((total + size - 1) // size, 1)
    page = min(max(page, 1), pages)
    shown = selected[(page - 1) * size : page * size]
    stale = staleness.find_stale(shown, jobs, now=now, limit_seconds=stale_limit_seconds)

    filter_text = f"status: {', '.join(wanted)}" if wanted else "all statuses"
    if shown:
        first, last = (page - 1) * size + 1, (page - 1) * size + len(shown)
        summary = f"Jobs {first}{EN_DASH}{last} of {total:,}"
        text = f"GraphScope jobs {first}{EN_DASH}{last} of {total:,} ({filter_text})"
    else:
        summary = "No jobs"
        text = _no_jobs(wanted)

    def build(server_text_chars: int) -> list[Block]:
        blocks: list[Block] = [HeaderBlock(text=_plain("GraphScope jobs"))]
        blocks.append(_context(f"{summary} · {filter_text} · as of {date_token(now)}"))
        if not shown:
            blocks.append(SectionBlock(text=_mrkdwn(text)))
        for job in shown:
            blocks.append(SectionBlock(text=_mrkdwn(_list_line(job, now, server_text_chars))))
            buttons = _job_buttons(job, JOB_DETAILS, "Details", stale.get(job.id))
            if buttons:
                blocks.append(ActionsBlock(elements=buttons))
        nav: list[ButtonElement] = []
        if page > 1:
            nav.append(_nav_button("Prev", action_id(LIST_PAGE, "prev"), page - 1, wanted))
        if page < pages:
            nav.append(_nav_button("Next", action_id(LIST_PAGE, "next"), page + 1, wanted))
        nav.append(_nav_button(REFRESH_LABEL, action_id(LIST_REFRESH, "refresh"), page, wanted))
        blocks.append(ActionsBlock(elements=nav))
        return blocks

    # Hostile graph ids and statuses (long, non-ASCII) are clipped harder until the page fits.
    return _message(text, _shrink_to_fit(build, LIST_SERVER_TEXT_CHARS, MIN_LIST_SERVER_TEXT_CHARS))


def encode_list_state(statuses: Sequence[str], page: int) -> str:
    """The value a list navigation button carries: compact JSON `{"p": page, "s": [statuses]}`."""
    return json.dumps({"p": page, "s": list(_known_statuses(statuses))}, separators=(",", ":"))


def decode_list_state(value: str) -> tuple[tuple[str, ...], int]:
    """The (statuses, page) a navigation button carried; anything malformed gives ((), 1)."""
    data: object = None
    if len(value) <= MAX_BUTTON_VALUE_CHARS:
        try:
            data = json.loads(value)
        except (ValueError, RecursionError):
            data = None
    if not isinstance(data, dict):
        return (), 1
    page = data.get("p")
    if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= MAX_LIST_STATE_PAGE:
        page = 1
    raw = data.get("s")
    statuses = _known_statuses([s for s in raw if isinstance(s, str)]) if isinstance(raw, list) else ()
    return statuses, page


def _known_statuses(statuses: Iterable[str]) -> tuple[str, ...]:
    wanted: list[str] = []
    for status in statuses:
        upper = status.strip().upper()
        if upper in KNOWN_STATUSES and upper not in wanted:
            wanted.append(upper)
    return tuple(wanted)


def _no_jobs(wanted: Sequence[str]) -> str:
    if not wanted:
        return "No jobs yet."
    return f"No jobs with status {' or '.join(wanted)}."


def _list_line(job: Job, now: datetime, server_text_chars: int) -> str:
    parts = [f"*#{escape(clip(job.id, JOB_ID_CHARS))}*  {status_label(job.status, server_text_chars)}"]
    if job.graph_id is not None:
        parts.append(f"graph {code_span(job.graph_id, server_text_chars)}")
    if job.started_at is not None:
        parts.append(f"started {date_token(job.started_at)}")
    took = _duration_text(job, now)
    if took:
        parts.append(took)
    return "  ·  ".join(parts)


def _duration_text(job: Job, now: datetime) -> str | None:
    seconds = job.duration_seconds(now)
    if seconds is None:
        return None
    return f"running for {duration(seconds)}" if job.is_active else f"took {duration(seconds)}"


def _nav_button(label: str, action: str, page: int, statuses: Sequence[str]) -> ButtonElement:
    return ButtonElement(text=_plain(label), action_id=action, value=encode_list_state(statuses, page))


# --- one job ----------------------------------------------------------------------------------


def job_card(
    job: JobWithLog, *, now: datetime, notice: str | None = None, stale: staleness.Stale | None = None
) -> Message:
    """One job's details, the end of its log, and Refresh / Cancel buttons.

    `notice` is bot-written mrkdwn shown first (e.g. the outcome of a cancel); it is not escaped.
    `stale` (see `jobbot.stale`) puts a warning in the Cancel button's dialog.
    """
    text = f"Job {escape(clip(job.id, JOB_ID_CHARS))}: {status_word(job.status)}"
    if job.graph_id is not None:
        text += f" (graph {escape(clip(job.graph_id, CARD_TEXT_CHARS))})"
    return _card(job, now=now, notice=notice, text=text, stale=stale)


def cancel_prompt(job: JobWithLog, *, now: datetime, stale: staleness.Stale | None = None) -> Message:
    """The reply to `/jobs cancel ID`: the job's card, telling the user to press Cancel and confirm.

    A job that looks stale (`stale`) is said to be so first, and again in the Cancel dialog.
    """
    name = escape(clip(job.id, JOB_ID_CHARS))
    if job.is_active and _valid_id(job) is not None:
        notice = f":warning: To cancel job {name}, press *Cancel* below and confirm. Nothing is stopped yet."
        text = f"Press Cancel and confirm to cancel job {name}."
        if stale is not None:
            notice = f":rotating_light: *Check first:* {escape(stale_warning(stale))}\n{notice}"
            text = f"{stale_warning(stale)} {text}"
    elif job.is_terminal:
        notice = (
            f":information_source: Job {name} has already finished ({status_label(job.status)}); "
            "there is nothing to cancel."
        )
        text = f"Job {name} has already finished ({status_word(job.status)})."
    else:
        notice = (
            f":grey_question: Job {name} is not running (status {status_word(job.status)}), "
            "so it cannot be cancelled from Slack."
        )
        text = f"Job {name} is not running (status {status_word(job.status)})."
    return _card(job, now=now, notice=notice, text=text, stale=stale if job.is_active else None)


def _card(
    job: JobWithLog, *, now: datetime, notice: str | None, text: str, stale: staleness.Stale | None = None
) -> Message:
    def build(log_chars: int) -> list[Block]:
        blocks: list[Block] = [HeaderBlock(text=_plain(f"Job {plain(clip(job.id, JOB_ID_CHARS))}"))]
        if notice and notice.strip():
            blocks.append(SectionBlock(text=_mrkdwn(clip(notice, NOTICE_CHARS))))
        blocks.append(SectionBlock(fields=[_mrkdwn(field) for field in _card_fields(job, now)]))
        blocks.append(SectionBlock(text=_mrkdwn(_log_text(job.log, log_chars))))
        notes = []
        if job.log_truncated:
            notes.append(":scissors: Log truncated by jobbot: only the end of the server's log is shown.")
        notes.append(f"As of {date_token(now)}")
        blocks.append(_context("  ·  ".join(notes)))
        buttons = _job_buttons(job, JOB_REFRESH, REFRESH_LABEL, stale)
        if buttons:
            blocks.append(ActionsBlock(elements=buttons))
        return blocks

    return _message(text, _shrink_to_fit(build, LOG_CHARS, MIN_LOG_CHARS))


def _card_fields(job: Job, now: datetime) -> list[str]:
    fields = [f"*Status*\n{status_label(job.status)}", f"*Type*\n{escape(clip(job.type, CARD_TEXT_CHARS))}"]
    if job.graph_id is not None:
        fields.append(f"*Graph*\n{code_span(job.graph_id, CARD_TEXT_CHARS)}")
    if job.process_id is not None:
        fields.append(f"*Process*\n{clip(str(job.process_id), 40)}")
    if job.started_at is not None:
        fields.append(f"*Started*\n{date_token(job.started_at)}")
    if job.ended_at is not None:
        fields.append(f"*Ended*\n{date_token(job.ended_at)}")
    seconds = job.duration_seconds(now)
    if seconds is not None:
        label = "Running for" if job.is_active else "Duration"
        fields.append(f"*{label}*\n{duration(seconds)}")
    return fields


def _log_text(log: str, max_chars: int) -> str:
    heading = "*Log*"
    if not log.strip():
        return f"{heading}\n_(empty log)_"
    return f"{heading}\n{code_block(log, max_chars)}"


def _shrink_to_fit(build: Callable[[int], list[Block]], start: int, floor: int) -> list[Block]:
    """Blocks built with the largest budget (from `start` down to `floor`) that fit the JSON limit.

    Each step cuts the budget by at least the excess (a character costs at least one JSON character),
    so this ends after a few builds.
    """
    budget = start
    while True:
        blocks = build(budget)
        excess = _json_size([block.to_dict() for block in blocks]) - MAX_BLOCKS_JSON_CHARS
        if excess <= 0 or budget == floor:
            return blocks
        budget = max(budget - max(excess, start // 10, 1), floor)


# --- buttons shared by the list and the card --------------------------------------------------


def _valid_id(job: Job) -> str | None:
    return _valid_job_id(job.id)


def _job_buttons(
    job: Job, prefix: str, label: str, stale: staleness.Stale | None = None
) -> list[ButtonElement]:
    """The primary button (Details or Refresh) and, for an active job, Cancel with its dialog.

    A job whose id the server mangled gets no buttons: no request could be built from it anyway.
    """
    job_id = _valid_id(job)
    if job_id is None:
        return []
    buttons = [ButtonElement(text=_plain(label), action_id=action_id(prefix, job_id), value=job_id)]
    if job.is_active:
        buttons.append(cancel_button(job_id, stale=stale))
    return buttons


# Slack's limit for a confirmation dialog's text.
MAX_CONFIRM_TEXT_CHARS = 300
# A graph id inside the dialog's stale warning is clipped to this (after invisible characters are
# spelled out), so the whole warning fits the dialog.
STALE_GRAPH_CHARS = 24


def stale_warning(stale: staleness.Stale) -> str:
    """Why a job looks stale, in plain words (plain text: escape it for mrkdwn); at most 300 characters."""
    running = f"Job {clip(stale.job_id, JOB_ID_CHARS)} has been RUNNING for {duration(stale.running_seconds)}"
    if stale.longest_finished_seconds is not None:
        graph = clip(plain(stale.graph_id or "?"), STALE_GRAPH_CHARS)
        why = (
            f"{running}, far longer than any finished load of graph {graph} "
            f"(longest {duration(stale.longest_finished_seconds)})."
        )
    else:
        limit = f"{(stale.limit_seconds or 0) / 3600:g} h"
        why = f"{running}, past the {limit} set by JOBBOT_STALE_RUNNING_HOURS."
    process = f"process {stale.process_id}" if stale.process_id is not None else "its recorded process"
    risk = (
        f" It may be a leftover of a GraphScope restart: cancelling it kills {process}, "
        "which may now be another program."
    )
    return clip(why + risk, MAX_CONFIRM_TEXT_CHARS)


def cancel_button(job_id: str, *, stale: staleness.Stale | None = None) -> ButtonElement:
    """The red Cancel button for a validated job id; Slack asks for confirmation before it sends the click.

    For a job that looks stale, the dialog says why instead of the usual sentence.
    """
    said = (
        stale_warning(stale)
        if stale is not None
        else f"This stops the data load of job {job_id} and cannot be undone."
    )
    dialog = ConfirmObject(
        title=_plain(f"Cancel job {job_id}?"),
        text=_plain(said),
        confirm=_plain("Cancel job"),
        deny=_plain("Keep running"),
        style="danger",
    )
    return ButtonElement(
        text=_plain("Cancel"),
        action_id=action_id(JOB_CANCEL, job_id),
        value=job_id,
        style="danger",
        confirm=dialog,
    )


# --- problems and help ------------------------------------------------------------------------


def problem(text: str, *, detail: str | None = None) -> Message:
    """A warning; `text` is bot-written mrkdwn, `detail` (e.g. the server's message) follows it, escaped."""
    shown = f":warning: {clip(text, NOTICE_CHARS)}"
    if detail and detail.strip():
        shown += " " + escape(clip(detail.strip(), DETAIL_CHARS))
    return _message(shown, [SectionBlock(text=_mrkdwn(shown))])


def usage(problem: str | None = None) -> Message:
    """How to use `/jobs`, one line per subcommand with an example; led by `problem` (escaped) if given."""
    blocks: list[Block] = []
    if problem:
        blocks.append(SectionBlock(text=_mrkdwn(f":warning: {escape(clip(problem, DETAIL_CHARS))}")))
    lines = [f"*Usage:* `{usage_line()}`", f"• `{COMMAND}` alone lists the newest jobs"]
    for sub in SUBCOMMANDS:
        lines.append(f"• `{COMMAND} {sub.example}`: {sub.summary}")
    lines.append(f"Statuses: {', '.join(KNOWN_STATUSES)}")
    blocks.append(SectionBlock(text=_mrkdwn("\n".join(lines))))
    text = f"Usage: {usage_line()}"
    if problem:
        text = f"{escape(clip(problem, DETAIL_CHARS))} {text}"
    return _message(text, blocks)


def usage_line() -> str:
    """The whole one-line grammar, e.g. `/jobs [list [STATUS ...] | status ID | ... | help]`."""
    forms = " | ".join(sub.form for sub in SUBCOMMANDS)
    return f"{COMMAND} [{forms}]"


def refusal(reason: str) -> Message:
    """A request jobbot will not carry out: `reason` is bot-written mrkdwn saying why and what would
    allow it (ids in it were validated by the caller)."""
    text = clip(reason, 2900)
    return _message(clip(f"Not allowed: {reason}", 1000), [SectionBlock(text=_mrkdwn(f":lock: {text}"))])


# --- completion notices -----------------------------------------------------------------------

_NOTICE_WORDS = {"SUCCESS": "succeeded", "FAILED": "failed", "CANCELLED": "cancelled"}


def completion_notice(job: FinishedJob) -> Message:
    """The channel message for one finished job: one compact line and a Details button."""
    button = None
    job_id = _valid_job_id(job.id)
    if job_id is not None:
        button = ButtonElement(text=_plain("Details"), action_id=action_id(JOB_DETAILS, job_id), value=job_id)
    section = SectionBlock(text=_mrkdwn(_finished_line(job, LIST_SERVER_TEXT_CHARS)), accessory=button)
    return _message(_finished_text(job), [section])


def completion_digest(jobs: Sequence[FinishedJob], *, offline: bool) -> Message:
    """One message for many finished jobs: a count per status, then one line per job, newest first.

    `offline` says the jobs finished while jobbot was not running. At most DIGEST_MAX_JOBS jobs are
    listed (the rest are counted); callers split bigger batches so that every job gets its line.
    """
    ordered = _newest_first(jobs)
    shown, more = ordered[:DIGEST_MAX_JOBS], len(ordered) - DIGEST_MAX_JOBS
    finished = f"{len(ordered):,} {'job' if len(ordered) == 1 else 'jobs'} finished"
    title = f"While jobbot was offline, {finished}" if offline else finished
    counts = _status_counts(ordered)
    summary = "  ·  ".join(f"{emoji} {count:,} {word}" for emoji, count, word in counts)
    text = f"{title}: {', '.join(f'{count:,} {word}' for _, count, word in counts)}" if counts else title

    def build(server_text_chars: int) -> list[Block]:
        blocks: list[Block] = [HeaderBlock(text=_plain(title))]
        blocks.append(SectionBlock(text=_mrkdwn(summary or "No jobs finished.")))
        blocks.extend(_packed_sections([_finished_line(job, server_text_chars) for job in shown]))
        notes = []
        if more > 0:
            notes.append(f"{more:,} older {'job is' if more == 1 else 'jobs are'} not listed here")
        notes.append(f"`{COMMAND} status ID` shows a job's details and log")
        blocks.append(_context("  ·  ".join(notes)))
        return blocks

    # Hostile graph ids, statuses and job ids are clipped harder until the digest fits.
    return _message(text, _shrink_to_fit(build, LIST_SERVER_TEXT_CHARS, MIN_DIGEST_SERVER_TEXT_CHARS))


def failure_log_reply(jobs: Sequence[FinishedJob]) -> Message:
    """The thread reply under a notice or digest: the end of each failed job's log, newest job first.

    The message's size budget is shared: a job whose log would not fit in what is left points to
    `/jobs status ID` instead. At most DIGEST_MAX_JOBS failed jobs are shown.
    """
    failed = [job for job in _newest_first(jobs) if job.status.strip().upper() == "FAILED"]
    if not failed:
        none = "No job here failed, so there is no log to show."
        return _message(none, [SectionBlock(text=_mrkdwn(none))])
    shown, more = failed[:DIGEST_MAX_JOBS], len(failed) - DIGEST_MAX_JOBS
    names = [_job_name(job.id, FAILURE_ID_CHARS) for job in shown]
    if more > 0:
        names.append(f"{more:,} more")
    text = f"Last log lines of failed {'job' if len(names) == 1 else 'jobs'} {_and_list(names)}"

    footer: list[Block] = []
    if more > 0:
        footer.append(
            _context(f"{more:,} more failed jobs are not shown here: `{COMMAND} status ID` shows a log.")
        )
    remaining = MAX_BLOCKS_JSON_CHARS - _json_size([block.to_dict() for block in footer])
    sections: list[Block] = []
    for index, job in enumerate(shown):
        # An equal share of what is left: room a short log does not use goes to the jobs after it.
        section = _failure_section(job, remaining // (len(shown) - index))
        remaining -= _json_size([section.to_dict()])
        sections.append(section)
    return _message(text, sections + footer)


def _failure_section(job: FinishedJob, max_json_chars: int) -> SectionBlock:
    name = _job_name(job.id, FAILURE_ID_CHARS)
    heading = f"*Job #{name}* {EM_DASH} "
    if not job.log_tail.strip():
        return SectionBlock(text=_mrkdwn(heading + "_(log is empty)_"))
    heading += "last lines of the log:\n"
    # A character costs at least one JSON character, so no budget above the share can fit.
    budget = max(min(FAILURE_LOG_CHARS, max_json_chars), MIN_CODE_BLOCK_CHARS)
    while True:
        log = code_block(job.log_tail, budget)
        section = SectionBlock(text=_mrkdwn(heading + log))
        size = _json_size([section.to_dict()])
        if size <= max_json_chars:
            return section
        if budget == MIN_CODE_BLOCK_CHARS:
            break
        # Scale the log by what its characters cost in JSON (escapes, emoji), keeping the rest fixed.
        log_size = len(json.dumps(log))
        room = max_json_chars - (size - log_size)
        budget = max(min(budget - 1, room * len(log) // log_size), MIN_CODE_BLOCK_CHARS)
    # Even the shortest tail of this log (emoji, escapes) does not fit in what is left.
    where = f": `{COMMAND} status {name}` shows it" if _valid_job_id(job.id) else ""
    return SectionBlock(text=_mrkdwn(f"*Job #{name}* {EM_DASH} _(no room for the log here{where})_"))


def _finished_line(job: FinishedJob, server_text_chars: int) -> str:
    parts = [status_label(job.status, server_text_chars), f"Job *#{_job_name(job.id, server_text_chars)}*"]
    if job.graph_id is not None:
        parts.append(f"graph {code_span(job.graph_id, server_text_chars)}")
    if job.started_at is not None:
        parts.append(f"started {date_token(job.started_at)}")
    if job.duration_seconds is not None:
        parts.append(f"took {duration(job.duration_seconds)}")
    canceller = user_mention(job.cancelled_by) if job.cancelled_by is not None else None
    if canceller is not None:
        parts.append(f"Cancelled by {canceller}")
    return "  ·  ".join(parts)


def _finished_text(job: FinishedJob) -> str:
    details = []
    if job.graph_id is not None:
        details.append(f"graph {one_line(job.graph_id, CARD_TEXT_CHARS)}")
    if job.duration_seconds is not None:
        details.append(f"took {duration(job.duration_seconds)}")
    text = f"Job {_job_name(job.id, JOB_ID_CHARS)} finished: {status_word(job.status)}"
    return f"{text} ({', '.join(details)})" if details else text


def _status_counts(jobs: Sequence[FinishedJob]) -> list[tuple[str, int, str]]:
    """(emoji, count, word) for each notice status present, then one row for any other status."""
    counts = Counter(job.status.strip().upper() for job in jobs)
    rows = [(status_emoji(s), counts[s], _NOTICE_WORDS[s]) for s in NOTICE_STATUSES if counts[s]]
    other = sum(count for status, count in counts.items() if status not in NOTICE_STATUSES)
    if other:
        rows.append((status_emoji("UNKNOWN"), other, "other"))
    return rows


def _newest_first(jobs: Iterable[FinishedJob]) -> list[FinishedJob]:
    def key(job: FinishedJob) -> tuple[int, str]:
        job_id = _valid_job_id(job.id)
        return (int(job_id) if job_id is not None else -1, job.id)

    return sorted(jobs, key=key, reverse=True)


def _packed_sections(lines: Sequence[str]) -> list[Block]:
    """Lines joined into as few sections as the section text limit allows: fewer blocks, less JSON."""
    sections: list[Block] = []
    current = ""
    for line in lines:
        if current and len(current) + 1 + len(line) > MAX_SECTION_CHARS:
            sections.append(SectionBlock(text=_mrkdwn(current)))
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        sections.append(SectionBlock(text=_mrkdwn(current)))
    return sections


# --- watching one job -------------------------------------------------------------------------


def watch_started(job_id: str) -> Message:
    """The reply to `/jobs watch ID` for a job that is still running."""
    name = _job_name(job_id, JOB_ID_CHARS)
    text = f"I'll send you a direct message when job {name} finishes."
    blocks: list[Block] = [SectionBlock(text=_mrkdwn(f":eyes: {text}"))]
    if _valid_job_id(job_id) is not None:
        blocks.append(_context(f"`{COMMAND} {UNWATCH.name} {name}` stops this."))
    return _message(text, blocks)


def watch_already_finished(job: JobWithLog, *, now: datetime) -> Message:
    """The reply to `/jobs watch ID` for a job that has finished: its card, saying so, at once."""
    name = escape(clip(job.id, JOB_ID_CHARS))
    notice = (
        f":information_source: Job {name} has already finished ({status_label(job.status)}), "
        "so there is nothing to watch. This is how it ended:"
    )
    return _card(
        job, now=now, notice=notice, text=f"Job {name} has already finished: {status_word(job.status)}."
    )


def watch_stopped(job_id: str, *, existed: bool) -> Message:
    """The reply to `/jobs unwatch ID`; `existed` says whether the user was watching the job."""
    name = _job_name(job_id, JOB_ID_CHARS)
    if existed:
        text = f"OK, I won't send you a message when job {name} finishes."
        return _message(text, [SectionBlock(text=_mrkdwn(f":no_bell: {text}"))])
    text = f"You were not watching job {name}, so nothing changed."
    return _message(text, [SectionBlock(text=_mrkdwn(f":information_source: {text}"))])


# --- channel subscriptions --------------------------------------------------------------------

SUBSCRIPTION_STATUS_WORDS = len(NOTICE_STATUSES)
PRIVATE_CHANNEL_HINT = (
    "For a private channel, invite me first with `/invite @jobbot`, or I cannot post there."
)


def subscribed(channel_id: str, statuses: tuple[str, ...]) -> Message:
    """The reply to `/jobs subscribe`: which finished jobs this channel will hear about.

    Statuses outside NOTICE_STATUSES are ignored; none left means all of them.
    """
    wanted = (
        tuple(s for s in NOTICE_STATUSES if s in {x.strip().upper() for x in statuses}) or NOTICE_STATUSES
    )
    when = (
        f"whenever a job finishes ({_or_list(wanted)})"
        if wanted == NOTICE_STATUSES
        else f"whenever a job finishes with status {_or_list(wanted)}"
    )
    shown = f":white_check_mark: I'll post a notice in {_channel_ref(channel_id)} {when}."
    notes = f":lock: {PRIVATE_CHANNEL_HINT}  ·  `{COMMAND} {UNSUBSCRIBE.name}` stops the notices."
    text = f"Subscribed: notices for {', '.join(wanted)} jobs will be posted in this channel."
    return _message(text, [SectionBlock(text=_mrkdwn(shown)), _context(notes)])


def unsubscribed(channel_id: str, *, existed: bool) -> Message:
    """The reply to `/jobs unsubscribe`; `existed` says whether the channel was subscribed."""
    where = _channel_ref(channel_id)
    if existed:
        shown = f":no_bell: {where} will no longer get completion notices."
        hint = f"`{COMMAND} {SUBSCRIBE.name}` turns them back on."
        text = "Unsubscribed: this channel will no longer get completion notices."
    else:
        shown = f":information_source: {where} was not subscribed, so nothing changed."
        hint = f"`{COMMAND} {SUBSCRIPTIONS.name}` lists the channels that get notices."
        text = "This channel was not subscribed, so nothing changed."
    return _message(text, [SectionBlock(text=_mrkdwn(shown)), _context(hint)])


def subscription_list(
    subs: Sequence[Subscription], *, default_channel: str | None, default_statuses: tuple[str, ...]
) -> Message:
    """Every channel that gets completion notices, with its statuses, who added it and when.

    The channel from settings (`default_channel`, with `default_statuses`) comes first. A list too
    long for one message ends with how many more there are.
    """
    lines = []
    if default_channel:
        lines.append(
            f"• {_channel_ref(default_channel)}  ·  {_statuses_text(default_statuses)}  ·  "
            "(from `JOBBOT_NOTIFY_CHANNEL`)"
        )
    for sub in subs:
        added_by = user_mention(sub.added_by) or code_span(sub.added_by, SLACK_ID_CHARS)
        lines.append(
            f"• {_channel_ref(sub.channel_id)}  ·  {_statuses_text(sub.statuses)}  ·  "
            f"added {date_token(sub.added_at)} by {added_by}"
        )
    how = (
        f"In a channel, `{COMMAND} {SUBSCRIBE.form}` adds it and `{COMMAND} {UNSUBSCRIBE.name}` "
        f"removes it. {PRIVATE_CHANNEL_HINT}"
    )
    if not lines:
        empty = (
            ":mailbox_with_no_mail: No channel gets completion notices yet. Run "
            f"`{COMMAND} {SUBSCRIBE.name}` in a channel to get a notice there whenever a job finishes "
            f"(`{COMMAND} {SUBSCRIBE.example}` for failures only)."
        )
        text = "No channel gets completion notices yet."
        return _message(text, [SectionBlock(text=_mrkdwn(empty)), _context(PRIVATE_CHANNEL_HINT)])
    count = f"{len(lines):,} {'channel gets' if len(lines) == 1 else 'channels get'} completion notices"

    def build(shown: int) -> list[Block]:
        blocks: list[Block] = [HeaderBlock(text=_plain("Completion notices"))]
        blocks.append(_context(count))
        blocks.extend(_packed_sections(lines[:shown]))
        if shown < len(lines):
            blocks.append(_context(f"{ELLIPSIS}and {len(lines) - shown:,} more"))
        blocks.append(_context(how))
        return blocks

    def fits(shown: int) -> bool:
        built = [block.to_dict() for block in build(shown)]
        return len(built) <= MAX_BLOCKS and _json_size(built) <= MAX_BLOCKS_JSON_CHARS

    # The largest number of lines that fits; the size grows with each line, so a binary search finds it.
    low, high = 0, len(lines)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return _message(count + ".", build(low))


def _channel_ref(channel_id: str) -> str:
    """A channel link for a well-formed id; anything else as escaped inline code, never a link."""
    return channel_mention(channel_id) or code_span(channel_id, SLACK_ID_CHARS)


def _statuses_text(statuses: Sequence[str]) -> str:
    words = list(dict.fromkeys(status_word(s) for s in statuses))
    if not words:
        return "no statuses"
    shown = ", ".join(words[:SUBSCRIPTION_STATUS_WORDS])
    return shown + (f", {ELLIPSIS}" if len(words) > SUBSCRIPTION_STATUS_WORDS else "")


# --- small text helpers -----------------------------------------------------------------------


def _valid_job_id(raw: str) -> str | None:
    """`raw` if it is a job id in its canonical form, else None. Only such ids get buttons and commands:
    the server keys jobs by their text, so it would not find a listed "007" under 7."""
    try:
        return raw if validate_job_id(raw) == raw else None
    except InvalidJobId:
        return None


def _job_name(raw: str, max_chars: int) -> str:
    """A job id for mrkdwn: a valid id whole, anything else on one line, clipped and escaped."""
    return _valid_job_id(raw) or one_line(raw, max_chars) or "?"


def _and_list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _or_list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


# --- limits -----------------------------------------------------------------------------------


def limit_violations(message: Message) -> list[str]:
    """Every Slack limit the message breaks (empty when Slack will accept it); for tests and logs.

    slack_sdk's `to_dict()` already checks most per-field lengths; this adds what it does not check:
    block count, total size, section field sizes and the fallback text.
    """
    found: list[str] = []
    if not message.text.strip():
        found.append("fallback text is empty")
    if len(message.text) > MAX_TEXT_CHARS:
        found.append(f"fallback text has {len(message.text)} > {MAX_TEXT_CHARS} characters")
    if len(message.blocks) > MAX_BLOCKS:
        found.append(f"{len(message.blocks)} > {MAX_BLOCKS} blocks")
    size = _json_size(message.blocks)
    if size > MAX_BLOCKS_JSON_CHARS:
        found.append(f"blocks JSON has {size} > {MAX_BLOCKS_JSON_CHARS} characters")
    for index, block in enumerate(message.blocks):
        found.extend(f"block {index}: {issue}" for issue in _block_violations(block))
    return found


def _block_violations(block: dict[str, Any]) -> list[str]:
    found: list[str] = []
    kind = block.get("type")
    if kind == "header" and len(block["text"]["text"]) > MAX_HEADER_CHARS:
        found.append("header too long")
    if kind == "section":
        if "text" in block and len(block["text"]["text"]) > MAX_SECTION_CHARS:
            found.append("section text too long")
        fields = block.get("fields", [])
        if len(fields) > MAX_FIELDS:
            found.append("too many fields")
        found.extend("field too long" for field in fields if len(field["text"]) > MAX_FIELD_CHARS)
    for element in block.get("elements", []):
        if len(element.get("value", "")) > MAX_BUTTON_VALUE_CHARS:
            found.append("button value too long")
        if len(element.get("action_id", "")) > MAX_ACTION_ID_CHARS:
            found.append("action_id too long")
    return found


# --- small builders ---------------------------------------------------------------------------


def _message(text: str, blocks: Sequence[Block]) -> Message:
    # to_dict() runs slack_sdk's validators: a renderer bug fails loudly here, not at Slack.
    return Message(text=clip(text, MAX_TEXT_CHARS) or "jobbot", blocks=[block.to_dict() for block in blocks])


def _json_size(blocks: list[dict[str, Any]]) -> int:
    return len(json.dumps(blocks))


def _plain(text: str) -> PlainTextObject:
    # No "emoji": true: it is Slack's default, and it would be repeated in every button.
    return PlainTextObject(text=text)


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text)


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[_mrkdwn(text)])


# --- audit trail ------------------------------------------------------------------------------

AUDIT_MAX_ENTRIES = 20
AUDIT_MAX_REFUSALS = 5
AUDIT_MAX_SUBSCRIPTION_CHANGES = 5
# A message (the server's answer, a refusal's kind) in an audit line gets at most this much, and less
# when the whole list would not fit.
AUDIT_MESSAGE_CHARS = 200


def audit_list(
    entries: Sequence[AuditEntry],
    *,
    job_id: str | None,
    refusals: Sequence[AuditEntry] = (),
    changes: Sequence[SubscriptionChange] = (),
) -> Message:
    """The audit trail, newest first, each kind in its own part so that a flood of one never hides the
    others: cancel attempts (when, who, which job, what it was, what happened), refusals (repeats counted
    on one line), and subscription changes (who turned which channel's notices on or off)."""
    title = f"Cancel attempts for job {job_id}" if job_id else "Latest cancel attempts"
    entries, refusals = entries[:AUDIT_MAX_ENTRIES], refusals[:AUDIT_MAX_REFUSALS]
    changes = changes[:AUDIT_MAX_SUBSCRIPTION_CHANGES]
    if not entries and not refusals and not changes:
        return _message(
            f"{title}: none recorded.", [SectionBlock(text=_mrkdwn(f"*{title}*\nNone recorded."))]
        )

    def build(message_chars: int, attempts: int = len(entries)) -> list[Block]:
        blocks: list[Block] = [HeaderBlock(text=_plain(title))]
        lines = [_audit_line(entry, message_chars) for entry in entries[:attempts]] or ["None recorded."]
        if attempts < len(entries):
            lines.append(f"{ELLIPSIS}and {len(entries) - attempts} more not shown")
        blocks.extend(_packed_sections(lines))
        if refusals:
            heading = "*Refused* (the same refusal again within 10 minutes is counted on its line)"
            blocks.extend(_packed_sections([heading, *(_audit_line(r, message_chars) for r in refusals)]))
        if changes:
            heading = "*Completion notices turned on or off*"
            blocks.extend(_packed_sections([heading, *(_subscription_change_line(c) for c in changes)]))
        return blocks

    shown = [f"{len(entries)} shown"]
    if refusals:
        shown.append(f"{len(refusals)} refusals")
    if changes:
        shown.append(f"{len(changes)} subscription changes")
    built = _shrink_to_fit(build, AUDIT_MESSAGE_CHARS, 0)
    attempts = len(entries)
    # Hostile text in every field (emoji cost 12 JSON characters each) may still not fit: fewer attempts.
    while attempts > 0 and _json_size([block.to_dict() for block in built]) > MAX_BLOCKS_JSON_CHARS:
        attempts -= 1
        built = build(0, attempts)
    return _message(f"{title}: {', '.join(shown)}.", built)


def _audit_line(entry: AuditEntry, message_chars: int) -> str:
    who = user_mention(entry.user_id) or code_span(entry.user_id, SLACK_ID_CHARS)
    before = f" (was {status_word(entry.status_before)})" if entry.status_before else ""
    said = f" {EM_DASH} {one_line(entry.message, message_chars)}" if entry.message and message_chars else ""
    job = escape(clip(entry.job_id, JOB_ID_CHARS))
    outcome = f"*{one_line(entry.outcome, MAX_STATUS_WORD_CHARS)}{_repeated(entry.repeats, entry.last_at)}"
    return f"{date_token(entry.at)}  {who}  job *#{job}*{before}: {outcome}{said}"


def _subscription_change_line(change: SubscriptionChange) -> str:
    who = user_mention(change.user_id) or code_span(change.user_id, SLACK_ID_CHARS)
    what = f"*{one_line(change.action, MAX_STATUS_WORD_CHARS)}{_repeated(change.repeats, change.last_at)}"
    line = f"{date_token(change.at)}  {who}  {what} {_channel_ref(change.channel_id)}"
    if change.action == "subscribed":
        line += f" to {_statuses_text(change.statuses or NOTICE_STATUSES)}"
    return line


def _repeated(repeats: int, last_at: datetime | None) -> str:
    """Closes the bold outcome: ` x14*` and when it was last repeated, or just `*` when it happened once."""
    if repeats <= 1:
        return "*"
    last = f" (last {date_token(last_at)})" if last_at is not None else ""
    return f" x{repeats}*{last}"
