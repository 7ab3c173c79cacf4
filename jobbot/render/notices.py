"""Completion notices: one finished job, a digest of many, and the failed jobs' logs in the thread."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence

from slack_sdk.models.blocks import Block, HeaderBlock, SectionBlock

from jobbot.models import NOTICE_STATUSES, FinishedJob, JobStatus
from jobbot.render.jobs import job_button
from jobbot.render.kit import (
    CARD_TEXT_CHARS,
    EM_DASH,
    JOB_ID_CHARS,
    LIST_SERVER_TEXT_CHARS,
    MAX_BLOCKS_JSON_CHARS,
    Message,
    context_block,
    job_name,
    json_size,
    mrkdwn_text,
    packed_sections,
    plain_text,
    server_fallback,
    server_header,
    server_mark,
    server_words,
    shrink_to_fit,
    to_message,
    valid_job_id,
)
from jobbot.render.mrkdwn import (
    MIN_CODE_BLOCK_CHARS,
    code_block,
    code_span,
    date_token,
    duration,
    one_line,
    status_emoji,
    status_label,
    status_word,
    user_mention,
)
from jobbot.slack_ids import COMMAND, JOB_DETAILS

# The most jobs one digest (and its failure-log reply) lists: proven to fit Slack's limits whatever the
# server sent (tests/test_render_notices.py); callers split bigger batches into several digests.
DIGEST_MAX_JOBS = 25
# Server text in a digest line is clipped harder, down to this, when hostile data would not fit.
MIN_DIGEST_SERVER_TEXT_CHARS = 6
# Each failed job's log in the thread reply gets at most this much; the message's budget is shared.
FAILURE_LOG_CHARS = 2500
# A mangled job id (not 1-20 digits) in a failure-log heading is clipped to this.
FAILURE_ID_CHARS = 12

_NOTICE_WORDS = {JobStatus.SUCCESS: "succeeded", JobStatus.FAILED: "failed", JobStatus.CANCELLED: "cancelled"}


def completion_notice(job: FinishedJob, *, server: str | None = None) -> Message:
    """The channel message for one finished job: one compact line and a Details button.

    `server` names the job's server first (None: not named), and the button carries it.
    """
    button = None
    job_id = valid_job_id(job.id)
    if job_id is not None:
        button = job_button("Details", JOB_DETAILS, job_id, server=server)
    line = server_mark(server) + _finished_line(job, LIST_SERVER_TEXT_CHARS)
    section = SectionBlock(text=mrkdwn_text(line), accessory=button)
    return to_message(server_fallback(server) + _finished_text(job), [section])


def completion_digest(jobs: Sequence[FinishedJob], *, offline: bool, server: str | None = None) -> Message:
    """One message for many finished jobs: a count per status, then one line per job, newest first.

    `offline` says the jobs finished while jobbot was not running. At most DIGEST_MAX_JOBS jobs are
    listed (the rest are counted); callers split bigger batches so that every job gets its line.
    `server` names the jobs' server in the header (None: not named).
    """
    ordered = newest_first(jobs)
    shown, more = ordered[:DIGEST_MAX_JOBS], len(ordered) - DIGEST_MAX_JOBS
    finished = f"{len(ordered):,} {'job' if len(ordered) == 1 else 'jobs'} finished"
    title = f"While jobbot was offline, {finished}" if offline else finished
    counts = _status_counts(ordered)
    summary = "  ·  ".join(f"{emoji} {count:,} {word}" for emoji, count, word in counts)
    text = f"{title}: {', '.join(f'{count:,} {word}' for _, count, word in counts)}" if counts else title

    def build(server_text_chars: int) -> list[Block]:
        blocks: list[Block] = [HeaderBlock(text=plain_text(server_header(server) + title))]
        blocks.append(SectionBlock(text=mrkdwn_text(summary or "No jobs finished.")))
        blocks.extend(packed_sections([_finished_line(job, server_text_chars) for job in shown]))
        notes = []
        if more > 0:
            notes.append(f"{more:,} older {'job is' if more == 1 else 'jobs are'} not listed here")
        notes.append(f"`{COMMAND} {server_words(server)}status ID` shows a job's details and log")
        blocks.append(context_block("  ·  ".join(notes)))
        return blocks

    # Hostile graph ids, statuses and job ids are clipped harder until the digest fits.
    blocks = shrink_to_fit(build, LIST_SERVER_TEXT_CHARS, MIN_DIGEST_SERVER_TEXT_CHARS)
    return to_message(server_fallback(server) + text, blocks)


def failure_log_reply(jobs: Sequence[FinishedJob], *, server: str | None = None) -> Message:
    """The thread reply under a notice or digest: the end of each failed job's log, newest job first.

    The message's size budget is shared: a job whose log would not fit in what is left points to
    `/jobs status ID` instead. At most DIGEST_MAX_JOBS failed jobs are shown. `server` names the jobs'
    server first (None: not named), and in the commands it points to.
    """
    failed = [job for job in newest_first(jobs) if JobStatus(job.status) is JobStatus.FAILED]
    if not failed:
        none = "No job here failed, so there is no log to show."
        shown_none = mrkdwn_text(server_mark(server) + none)
        return to_message(server_fallback(server) + none, [SectionBlock(text=shown_none)])
    shown, more = failed[:DIGEST_MAX_JOBS], len(failed) - DIGEST_MAX_JOBS
    names = [job_name(job.id, FAILURE_ID_CHARS) for job in shown]
    if more > 0:
        names.append(f"{more:,} more")
    text = f"Last log lines of failed {'job' if len(names) == 1 else 'jobs'} {_and_list(names)}"
    status = f"`{COMMAND} {server_words(server)}status"

    footer: list[Block] = []
    if more > 0:
        footer.append(
            context_block(f"{more:,} more failed jobs are not shown here: {status} ID` shows a log.")
        )
    remaining = MAX_BLOCKS_JSON_CHARS - json_size([block.to_dict() for block in footer])
    sections: list[Block] = []
    for index, job in enumerate(shown):
        # An equal share of what is left: room a short log does not use goes to the jobs after it.
        section = _failure_section(job, remaining // (len(shown) - index), server)
        remaining -= json_size([section.to_dict()])
        sections.append(section)
    return to_message(server_fallback(server) + text, sections + footer)


def _failure_section(job: FinishedJob, max_json_chars: int, server: str | None) -> SectionBlock:
    name = job_name(job.id, FAILURE_ID_CHARS)
    lead = f"{server_mark(server)}*Job #{name}* {EM_DASH} "
    if not job.log_tail.strip():
        return SectionBlock(text=mrkdwn_text(lead + "_(log is empty)_"))
    heading = lead + "last lines of the log:\n"
    # A character costs at least one JSON character, so no budget above the share can fit.
    budget = max(min(FAILURE_LOG_CHARS, max_json_chars), MIN_CODE_BLOCK_CHARS)
    while True:
        log = code_block(job.log_tail, budget)
        section = SectionBlock(text=mrkdwn_text(heading + log))
        size = json_size([section.to_dict()])
        if size <= max_json_chars:
            return section
        if budget == MIN_CODE_BLOCK_CHARS:
            break
        # Scale the log by what its characters cost in JSON (escapes, emoji), keeping the rest fixed.
        log_size = len(json.dumps(log))
        room = max_json_chars - (size - log_size)
        budget = max(min(budget - 1, room * len(log) // log_size), MIN_CODE_BLOCK_CHARS)
    # Even the shortest tail of this log (emoji, escapes) does not fit in what is left.
    where = f": `{COMMAND} {server_words(server)}status {name}` shows it" if valid_job_id(job.id) else ""
    return SectionBlock(text=mrkdwn_text(f"{lead}_(no room for the log here{where})_"))


def _finished_line(job: FinishedJob, server_text_chars: int) -> str:
    parts = [status_label(job.status, server_text_chars), f"Job *#{job_name(job.id, server_text_chars)}*"]
    if job.graph_id is not None:
        parts.append(f"graph {code_span(job.graph_id, server_text_chars)}")
    if job.started_at is not None:
        parts.append(f"started {date_token(job.started_at)}")
    if job.duration_seconds is not None:
        parts.append(f"took {duration(job.duration_seconds)}")
    canceller = user_mention(job.cancelled_by) if job.cancelled_by is not None else None
    if canceller is not None:
        parts.append(f"Cancelled by {canceller}")
    if job.recorded_as is not None:
        parts.append(f"GraphScope recorded {status_word(job.recorded_as)} as the killed loader exited")
    return "  ·  ".join(parts)


def _finished_text(job: FinishedJob) -> str:
    details = []
    if job.graph_id is not None:
        details.append(f"graph {one_line(job.graph_id, CARD_TEXT_CHARS)}")
    if job.duration_seconds is not None:
        details.append(f"took {duration(job.duration_seconds)}")
    text = f"Job {job_name(job.id, JOB_ID_CHARS)} finished: {status_word(job.status)}"
    if job.cancelled_by is not None and job.status != JobStatus.CANCELLED:
        # The loader recorded FAILED over jobbot's cancel: the text a notification shows says so too.
        text += " after it was cancelled"
    return f"{text} ({', '.join(details)})" if details else text


def _status_counts(jobs: Sequence[FinishedJob]) -> list[tuple[str, int, str]]:
    """(emoji, count, word) for each notice status present, then one row for any other status."""
    counts = Counter(JobStatus(job.status) for job in jobs)
    rows = [(status_emoji(s), counts[s], _NOTICE_WORDS[s]) for s in NOTICE_STATUSES if counts[s]]
    other = sum(count for status, count in counts.items() if status not in NOTICE_STATUSES)
    if other:
        rows.append((status_emoji(JobStatus.UNKNOWN), other, "other"))
    return rows


def newest_first(jobs: Iterable[FinishedJob]) -> list[FinishedJob]:
    """The jobs by id, newest (largest) first, then those whose id the server mangled."""

    def key(job: FinishedJob) -> tuple[int, str]:
        job_id = valid_job_id(job.id)
        return (int(job_id) if job_id is not None else -1, job.id)

    return sorted(jobs, key=key, reverse=True)


def _and_list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
