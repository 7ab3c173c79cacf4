"""Live job cards: one message per job (or a digest card for a burst), edited as its jobs change, and
what goes in its thread: the ending, the failure's log, the full log as a file, the long-running alert."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, HeaderBlock, SectionBlock

from jobbot.models import ACTIVE_STATUSES, TERMINAL_STATUSES, FinishedJob, FullLog, JobStatus
from jobbot.render.jobs import cancel_button, full_log_button, job_button
from jobbot.render.kit import (
    CARD_TEXT_CHARS,
    JOB_ID_CHARS,
    LIST_SERVER_TEXT_CHARS,
    Message,
    context_block,
    job_name,
    mrkdwn_text,
    packed_sections,
    plain_text,
    server_fallback,
    server_header,
    server_mark,
    server_on,
    server_words,
    shrink_to_fit,
    to_message,
    valid_job_id,
)
from jobbot.render.mrkdwn import (
    clip,
    code_span,
    date_token,
    duration,
    one_line,
    plain,
    status_emoji,
    status_label,
    status_word,
    user_mention,
)
from jobbot.render.notices import DIGEST_MAX_JOBS, MIN_DIGEST_SERVER_TEXT_CHARS, newest_first
from jobbot.servers import is_server_name
from jobbot.slack_ids import COMMAND, JOB_DETAILS

# The full log uploaded as a file is capped at this many bytes (UTF-8); above it, its last part is sent,
# after a line saying so. 1 MiB is about 10,000 lines of a loader's log: the whole of nearly every log,
# and small enough to read in Slack's file preview and to hold in memory while it is uploaded.
FULL_LOG_MAX_BYTES = 2**20
# A card names at most this many watchers and counts the rest: a crowd would only push the job aside.
MAX_WATCHERS_SHOWN = 20

SEPARATOR = "  ·  "

# How an ended job ended, as the end of a sentence starting "Job 42 ...".
_ENDED = {JobStatus.SUCCESS: "succeeded", JobStatus.FAILED: "failed", JobStatus.CANCELLED: "was cancelled"}
_ONGOING = {JobStatus.RUNNING: "is running", JobStatus.WAITING: "is waiting"}
# The digest's counts, in the order a job goes through them; any other status counts as "other".
_COUNTED = {
    JobStatus.RUNNING: "running",
    JobStatus.WAITING: "waiting",
    JobStatus.SUCCESS: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}


# --- one job's card -------------------------------------------------------------------------


def live_card(
    job: FinishedJob, *, watchers: Sequence[str] = (), now: datetime, server: str | None = None
) -> Message:
    """One job's card: status, job, graph, when it started, who watches it, and its buttons.

    While the job has not ended, the start carries Slack's `{ago}` ("12 minutes ago"): each reader's
    client works it out when it shows the card, so it stays true between edits, where a "running for
    12m" written from `now` would be stale a minute later and the card would need an edit a minute to
    stay true. `now` only keeps a start later than jobbot's clock from reading "in 5 minutes". Once
    the job ended, the card says how long it took and who cancelled it, and loses its Cancel button.
    A job whose id the server mangled gets no buttons. `server` names the job's server first (None: not
    named), and the buttons carry it.
    """
    headline = server_mark(server) + _headline(job, CARD_TEXT_CHARS)
    blocks: list[Block] = [SectionBlock(text=mrkdwn_text(headline))]
    facts = _timeline(job, now, started="Started")
    watched = _watched_by(watchers)
    if watched:
        facts.append(watched)
    if facts:
        blocks.append(context_block(SEPARATOR.join(facts)))
    buttons = _buttons(job, server)
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    return to_message(server_fallback(server) + _sentence(job), blocks)


def _headline(job: FinishedJob, server_text_chars: int) -> str:
    parts = [status_label(job.status, server_text_chars), f"Job *#{job_name(job.id, server_text_chars)}*"]
    if job.graph_id is not None:
        parts.append(f"graph {code_span(job.graph_id, server_text_chars)}")
    return SEPARATOR.join(parts)


def _timeline(job: FinishedJob, now: datetime, *, started: str) -> list[str]:
    """When the job started (and how long ago, while it has not ended), how long it took, who cancelled it."""
    parts = []
    ended = _has_ended(job)
    if job.started_at is not None:
        parts.append(f"{started} {date_token(job.started_at, ago=not ended and job.started_at <= now)}")
    if ended and job.duration_seconds is not None:
        parts.append(f"took {duration(job.duration_seconds)}")
    canceller = _canceller(job)
    if canceller is not None:
        parts.append(f"Cancelled by {canceller}")
    return parts


def _watched_by(watchers: Sequence[str]) -> str | None:
    # Only well-formed user ids become mentions (nothing else may go inside `<@...>`), each once.
    mentions = list(dict.fromkeys(m for m in map(user_mention, watchers) if m is not None))
    if not mentions:
        return None
    shown, more = mentions[:MAX_WATCHERS_SHOWN], len(mentions) - MAX_WATCHERS_SHOWN
    return "Watched by " + ", ".join(shown) + (f" and {more:,} more" if more > 0 else "")


def _buttons(job: FinishedJob, server: str | None) -> list[ButtonElement]:
    """Details, Cancel (while the job can be cancelled) and Full log, each carrying `server`; none for a
    mangled id. A live card is posted to a channel, for no one person: its Cancel button is drawn for all
    who read it, and the click checks whoever presses it."""
    job_id = valid_job_id(job.id)
    if job_id is None:
        return []
    buttons = [job_button("Details", JOB_DETAILS, job_id, server=server)]
    if JobStatus(job.status) in ACTIVE_STATUSES:
        buttons.append(cancel_button(job_id, server=server))
    buttons.append(full_log_button(job_id, server=server))
    return buttons


def _sentence(job: FinishedJob) -> str:
    """The notification: "Job 42 is running on graph g", "Job 42 failed (graph g, took 3m 05s)"."""
    name = job_name(job.id, JOB_ID_CHARS)
    graph = one_line(job.graph_id, CARD_TEXT_CHARS) if job.graph_id is not None else None
    if not _has_ended(job):
        text = f"Job {name} {_doing(job)}"
        return f"{text} on graph {graph}" if graph is not None else text
    details = [f"graph {graph}"] if graph is not None else []
    if job.duration_seconds is not None:
        details.append(f"took {duration(job.duration_seconds)}")
    text = f"Job {name} {_ENDED[JobStatus(job.status)]}"
    return f"{text} ({', '.join(details)})" if details else text


def _doing(job: FinishedJob) -> str:
    """What a job is doing or how it ended, to follow "Job 42": "is running", "failed", "is PAUSED"."""
    status = JobStatus(job.status)
    return _ENDED.get(status) or _ONGOING.get(status) or f"is {status_word(job.status)}"


def _has_ended(job: FinishedJob) -> bool:
    return JobStatus(job.status) in TERMINAL_STATUSES


def _canceller(job: FinishedJob) -> str | None:
    return user_mention(job.cancelled_by) if job.cancelled_by is not None else None


# --- a burst of jobs ------------------------------------------------------------------------


def digest_card(jobs: Sequence[FinishedJob], *, now: datetime, server: str | None = None) -> Message:
    """One card for a burst of jobs: a count per state, then one line per job, newest first, no buttons.

    Titled "N jobs started" while every job is running or waiting, "N jobs" once any is not. At most
    DIGEST_MAX_JOBS jobs are listed (the rest are counted); callers split bigger bursts. `now` and
    `server` are used as in `live_card`.
    """
    ordered = newest_first(jobs)
    shown, more = ordered[:DIGEST_MAX_JOBS], len(ordered) - DIGEST_MAX_JOBS
    started = bool(ordered) and all(JobStatus(job.status) in ACTIVE_STATUSES for job in ordered)
    title = f"{len(ordered):,} {'job' if len(ordered) == 1 else 'jobs'}" + (" started" if started else "")
    counts = _state_counts(ordered)
    summary = SEPARATOR.join(f"{emoji} {count:,} {word}" for emoji, count, word in counts)
    text = f"{title}: {', '.join(f'{count:,} {word}' for _, count, word in counts)}" if counts else title

    def build(server_text_chars: int) -> list[Block]:
        blocks: list[Block] = [HeaderBlock(text=plain_text(server_header(server) + title))]
        blocks.append(SectionBlock(text=mrkdwn_text(summary or "No jobs.")))
        blocks.extend(packed_sections([_digest_line(job, now, server_text_chars) for job in shown]))
        notes = []
        if more > 0:
            notes.append(f"{more:,} older {'job is' if more == 1 else 'jobs are'} not listed here")
        notes.append(f"`{COMMAND} {server_words(server)}status ID` shows a job's details and log")
        blocks.append(context_block(SEPARATOR.join(notes)))
        return blocks

    # Hostile graph ids, statuses and job ids are clipped harder until the card fits.
    blocks = shrink_to_fit(build, LIST_SERVER_TEXT_CHARS, MIN_DIGEST_SERVER_TEXT_CHARS)
    return to_message(server_fallback(server) + text, blocks)


def _digest_line(job: FinishedJob, now: datetime, server_text_chars: int) -> str:
    return SEPARATOR.join([_headline(job, server_text_chars), *_timeline(job, now, started="started")])


def _state_counts(jobs: Sequence[FinishedJob]) -> list[tuple[str, int, str]]:
    """(emoji, count, word) for each state present, in the order a job goes through them, then "other"."""
    counts = Counter(JobStatus(job.status) for job in jobs)
    rows = [
        (status_emoji(status), counts[status], word) for status, word in _COUNTED.items() if counts[status]
    ]
    other = sum(count for status, count in counts.items() if status not in _COUNTED)
    if other:
        rows.append((status_emoji(JobStatus.UNKNOWN), other, "other"))
    return rows


# --- in the card's thread -------------------------------------------------------------------


def ending_reply(job: FinishedJob, *, server: str | None = None) -> Message:
    """The one line broadcast from a card's thread when its job ends: how, graph, duration, canceller;
    led by `server` when it is named."""
    lead = server_mark(server) + status_emoji(job.status)
    parts = [f"{lead} Job *#{job_name(job.id, JOB_ID_CHARS)}* {_doing(job)}"]
    if job.graph_id is not None:
        parts.append(f"graph {code_span(job.graph_id, CARD_TEXT_CHARS)}")
    if _has_ended(job) and job.duration_seconds is not None:
        parts.append(f"took {duration(job.duration_seconds)}")
    canceller = _canceller(job)
    if canceller is not None:
        parts.append(f"Cancelled by {canceller}")
    text = server_fallback(server) + _sentence(job)
    return to_message(text, [SectionBlock(text=mrkdwn_text(SEPARATOR.join(parts)))])


def long_running_alert(
    job: FinishedJob, *, running_for: float, usual: float | None, server: str | None = None
) -> Message:
    """ "Job #42 has been running for 2h 03m", its graph, how long its graph's jobs usually take (`usual`
    seconds, when known), and the job's buttons. A `running_for` that is not a finite number reads as
    0s; such a `usual`, or a negative one, is left out. `server` is used as in `live_card`."""
    took = duration(running_for if math.isfinite(running_for) else 0)
    headline = f"Job #{job_name(job.id, JOB_ID_CHARS)} has been running for {took}"
    parts, details = [f"{server_mark(server)}:hourglass: *{headline}*"], []
    if job.graph_id is not None:
        parts.append(f"graph {code_span(job.graph_id, CARD_TEXT_CHARS)}")
        details.append(f"graph {one_line(job.graph_id, CARD_TEXT_CHARS)}")
    if usual is not None and math.isfinite(usual) and usual >= 0:
        parts.append(f"its graph's jobs usually take {duration(usual)}")
        details.append(parts[-1])
    blocks: list[Block] = [SectionBlock(text=mrkdwn_text(SEPARATOR.join(parts)))]
    buttons = _buttons(job, server)
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    text = f"{headline} ({'; '.join(details)})" if details else headline
    return to_message(server_fallback(server) + text, blocks)


# --- the full log as a file -----------------------------------------------------------------


@dataclass(frozen=True)
class LogFile:
    """A log as a file to upload: its name in Slack, its title, its bytes, and the comment posted with it."""

    filename: str
    title: str
    content: bytes
    comment: str


def log_file_name(job_id: str, server: str | None = None) -> str:
    """The name a job's full log is uploaded under (and found again by): `job-42.log`, or `job.log`
    for a mangled id; led by a named server, `staging-job-42.log`."""
    valid = valid_job_id(job_id)
    name = f"job-{valid}.log" if valid is not None else "job.log"
    return name if server is None else f"{_file_word(server)}-{name}"


def _file_word(server: str) -> str:
    # Server names are checked at start-up; this keeps anything else from putting a path in a file name.
    return server if is_server_name(server) else "server"


def full_log_file(log: FullLog, *, server: str | None = None) -> LogFile:
    """The file for a job's full log, at most FULL_LOG_MAX_BYTES: a log jobbot received cut, or cuts
    here, keeps its end, from a whole character on, and says so on its first line.

    The comment is mrkdwn and the title plain text: a mangled job id is escaped in each, and the file
    is then named `job.log`. A named `server` leads the file's name, title and comment.
    """
    content = log.text.encode("utf-8", "replace")
    cut = log.cut or len(content) > FULL_LOG_MAX_BYTES
    head = b""
    if cut:
        where = valid_job_id(log.job_id) or "ID"
        head = (
            f"[jobbot: this log was longer than {FULL_LOG_MAX_BYTES // 2**20} MiB; "
            f"this is its last part. GET /v1/job/{where} on the Interactive server has it whole.]\n"
        ).encode()
    room = FULL_LOG_MAX_BYTES - len(head)
    if len(content) > room:
        content = content[len(content) - room :]
        content = content[_first_character(content) :]
    part = " (its last part)" if cut else ""
    return LogFile(
        filename=log_file_name(log.job_id, server),
        title=f"{server_header(server)}Full log of job #{plain(clip(log.job_id, JOB_ID_CHARS))}{part}",
        content=head + content,
        comment=f"{server_mark(server)}Full log of job #{job_name(log.job_id, JOB_ID_CHARS)}{part}",
    )


def _first_character(content: bytes) -> int:
    """Where the first whole UTF-8 character of `content` starts: past at most 3 continuation bytes."""
    start = 0
    while start < min(len(content), 3) and content[start] & 0xC0 == 0x80:
        start += 1
    return start


def full_log_sent(full: FullLog, *, server: str | None = None) -> Message:
    """The ephemeral answer to a Full log click once the file is in the person's direct messages; it
    names the job's `server` when that is named."""
    on = server_on(server)
    if full.cut:
        mib = FULL_LOG_MAX_BYTES // 2**20
        text = (
            f"I sent you the last {mib} MiB of the log of job #{full.job_id}{on} in a direct message; "
            "the whole log is longer than that."
        )
    else:
        text = f"I sent you the full log of job #{full.job_id}{on} in a direct message."
    return to_message(text, [SectionBlock(text=mrkdwn_text(f":page_facing_up: {text}"))])
