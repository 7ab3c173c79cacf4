"""The job list and one job's card: its Cancel button, the cancel prompt and outcome, the warning before
a cancel that may kill another program (a stale or UNKNOWN job)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    HeaderBlock,
    SectionBlock,
)

from jobbot import stale as staleness
from jobbot.models import Job, JobStatus, JobWithLog
from jobbot.render.kit import (
    CARD_TEXT_CHARS,
    JOB_ID_CHARS,
    LIST_SERVER_TEXT_CHARS,
    MAX_CONFIRM_TEXT_CHARS,
    MIN_LIST_SERVER_TEXT_CHARS,
    NOTICE_CHARS,
    Message,
    context_block,
    mrkdwn_text,
    plain_text,
    server_fallback,
    server_header,
    shrink_to_fit,
    to_message,
    valid_job_id,
)
from jobbot.render.mrkdwn import (
    clip,
    code_block,
    code_span,
    date_token,
    duration,
    escape,
    plain,
    status_label,
    status_word,
)
from jobbot.slack_ids import (
    JOB_CANCEL,
    JOB_DETAILS,
    JOB_FULL_LOG,
    JOB_REFRESH,
    LIST_PAGE,
    LIST_REFRESH,
    action_id,
    encode_cancel_ref,
    encode_job_ref,
    encode_list_state,
    known_statuses,
)

# Two blocks per job: ten jobs with Cancel buttons and their dialogs stay well inside the JSON budget.
MAX_PAGE_SIZE = 10
# The log gets this much of the card, and less when the rest of the card is unusually large.
LOG_CHARS = 2500
MIN_LOG_CHARS = 200

EN_DASH = "\u2013"
REFRESH_LABEL = ":arrows_counterclockwise: Refresh"


# --- the job list -----------------------------------------------------------------------------


def job_list(
    jobs: Iterable[Job],
    *,
    statuses: Sequence[str] = (),
    page: int = 1,
    now: datetime,
    page_size: int = MAX_PAGE_SIZE,
    stale_limit_seconds: float = staleness.DEFAULT_LIMIT_HOURS * 3600,
    server: str | None = None,
    may_cancel: bool,
) -> Message:
    """One page of jobs, newest first, filtered by `statuses` (empty means all).

    `jobs` is the server's whole unsorted list; `server` names its server (None: not named), and its
    buttons carry it. Statuses outside KNOWN_STATUSES are ignored, an
    out-of-range `page` is clamped, and `page_size` is clamped to 1..MAX_PAGE_SIZE. Running jobs get a
    Cancel button only when the person the page is for `may_cancel` (an UNKNOWN job too: the server's
    DELETE kills its process); the Cancel dialog of a shown job whose cancel may kill another program
    (stale or UNKNOWN, see `jobbot.stale`) says so.
    """
    if not isinstance(jobs, Sequence):
        jobs = list(jobs)  # read twice: once to sort, once for the graphs' history
    wanted = known_statuses(statuses)
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
    risks = staleness.kill_risks(shown, jobs, now=now, limit_seconds=stale_limit_seconds)

    filter_text = f"status: {', '.join(wanted)}" if wanted else "all statuses"
    if shown:
        first, last = (page - 1) * size + 1, (page - 1) * size + len(shown)
        summary = f"Jobs {first}{EN_DASH}{last} of {total:,}"
        text = f"GraphScope jobs {first}{EN_DASH}{last} of {total:,} ({filter_text})"
    else:
        summary = "No jobs"
        text = _no_jobs(wanted)
    fallback = server_fallback(server) + text

    def build(server_text_chars: int) -> list[Block]:
        blocks: list[Block] = [HeaderBlock(text=plain_text(server_header(server) + "GraphScope jobs"))]
        blocks.append(context_block(f"{summary} · {filter_text} · as of {date_token(now)}"))
        if not shown:
            blocks.append(SectionBlock(text=mrkdwn_text(text)))
        for job in shown:
            blocks.append(SectionBlock(text=mrkdwn_text(_list_line(job, now, server_text_chars))))
            buttons = _job_buttons(
                job, JOB_DETAILS, "Details", risks.get(job.id), server=server, may_cancel=may_cancel
            )
            if buttons:
                blocks.append(ActionsBlock(elements=buttons))
        nav: list[ButtonElement] = []
        if page > 1:
            nav.append(_nav_button("Prev", action_id(LIST_PAGE, "prev"), page - 1, wanted, server))
        if page < pages:
            nav.append(_nav_button("Next", action_id(LIST_PAGE, "next"), page + 1, wanted, server))
        nav.append(_nav_button(REFRESH_LABEL, action_id(LIST_REFRESH, "refresh"), page, wanted, server))
        blocks.append(ActionsBlock(elements=nav))
        return blocks

    # Hostile graph ids and statuses (long, non-ASCII) are clipped harder until the page fits.
    return to_message(fallback, shrink_to_fit(build, LIST_SERVER_TEXT_CHARS, MIN_LIST_SERVER_TEXT_CHARS))


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


def _nav_button(
    label: str, action: str, page: int, statuses: Sequence[str], server: str | None
) -> ButtonElement:
    value = encode_list_state(statuses, page, server=server)
    return ButtonElement(text=plain_text(label), action_id=action, value=value)


# --- one job ----------------------------------------------------------------------------------


def job_card(
    job: JobWithLog,
    *,
    now: datetime,
    notice: str | None = None,
    risk: staleness.KillRisk | None = None,
    server: str | None = None,
    may_cancel: bool,
) -> Message:
    """One job's details, the end of its log, and Refresh / Cancel buttons.

    `notice` is bot-written mrkdwn shown first (e.g. the outcome of a cancel); it is not escaped.
    `risk` (see `jobbot.stale`) puts a warning in the Cancel button's dialog. `server` names the job's
    server (None: not named), and its buttons carry it. Cancel is drawn only when the person the card
    is for `may_cancel`.
    """
    text = f"Job {escape(clip(job.id, JOB_ID_CHARS))}: {status_word(job.status)}"
    if job.graph_id is not None:
        text += f" (graph {escape(clip(job.graph_id, CARD_TEXT_CHARS))})"
    return card(job, now=now, notice=notice, text=text, risk=risk, server=server, may_cancel=may_cancel)


def cancel_prompt(
    job: JobWithLog, *, now: datetime, risk: staleness.KillRisk | None = None, server: str | None = None
) -> Message:
    """The reply to `/jobs cancel ID`: the job's card, telling the user to press Cancel and confirm.

    A job whose cancel may kill another program (`risk`; an UNKNOWN job always) is said to be so first,
    and again in the Cancel dialog. Only those who may cancel are answered with it
    (`jobbot.cancellation.Cancellation.prompt`).
    """
    name = escape(clip(job.id, JOB_ID_CHARS))
    risk = (risk or staleness.unknown_status(job)) if job.is_cancellable else None
    if job.is_cancellable and _valid_id(job) is not None:
        notice = f":warning: To cancel job {name}, press *Cancel* below and confirm. Nothing is stopped yet."
        text = f"Press Cancel and confirm to cancel job {name}."
        if risk is not None:
            notice = f":rotating_light: *Check first:* {escape(kill_warning(risk))}\n{notice}"
            text = f"{kill_warning(risk)} {text}"
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
    return card(job, now=now, notice=notice, text=text, risk=risk, server=server, may_cancel=True)


# The cards after a confirmed cancel (these three) are for the clicker, just allowed to cancel.


def cancelled_card(
    job_id: str,
    job: JobWithLog,
    *,
    canceller: str,
    server_says: str,
    after: JobWithLog | None,
    read_back_error: str | None,
    now: datetime,
    server: str | None = None,
) -> Message:
    """The job's card after a confirmed cancel went through: who cancelled it, the server's words, and
    the job as read back (`after`, None when it could not be read: `read_back_error` says why)."""
    said = escape(server_says)
    notice = f":no_entry_sign: <@{canceller}> cancelled job {job_id}. The server said: _{said}_"
    if after is None:
        problem = escape(read_back_error or "")
        notice += f"\n:warning: Its status could not be read back: {problem}"
        return job_card(job, now=now, notice=notice, server=server, may_cancel=True)
    if after.known_status is not JobStatus.CANCELLED:
        # The loader thread can overwrite CANCELLED once its process is killed.
        notice += f"\nThe server now reports it as {status_label(after.status)}."
    return job_card(after, now=now, notice=notice, server=server, may_cancel=True)


def already_finished_card(
    job: JobWithLog, *, cancelled_by: str | None, now: datetime, server: str | None = None
) -> Message:
    """The job's card after a confirmed cancel found it already ended, and by whose cancel if known."""
    ended = status_label(job.status)
    notice = f":information_source: Nothing to cancel: job {job.id} had already ended as {ended}"
    if cancelled_by:
        notice += f" (cancelled by <@{cancelled_by}>)"
    return job_card(job, now=now, notice=notice + ".", server=server, may_cancel=True)


def cancelling_elsewhere_card(
    job_id: str, job: JobWithLog, *, holder: str, now: datetime, server: str | None = None
) -> Message:
    """The job's card while another person's confirmed cancel of it is under way."""
    notice = (
        f":hourglass_flowing_sand: <@{holder}> is cancelling job {job_id} right now; "
        "press Refresh in a moment to see the outcome."
    )
    return job_card(job, now=now, notice=notice, server=server, may_cancel=True)


def warning_needed_card(
    job: JobWithLog, *, risk: staleness.KillRisk, now: datetime, server: str | None = None
) -> Message:
    """The job's card after a confirmed click whose dialog had not warned that the cancel may kill another
    program, when it may now: nothing was sent; the warning, and a Cancel button whose dialog says it."""
    name = escape(clip(job.id, JOB_ID_CHARS))
    warning = kill_warning(risk)
    notice = (
        f":rotating_light: *Nothing was cancelled.* The dialog you confirmed did not say this: "
        f"{escape(warning)}\nTo cancel job {name} anyway, press *Cancel* below and confirm."
    )
    text = f"Job {name} was not cancelled. {warning}"
    return card(job, now=now, notice=notice, text=text, risk=risk, server=server, may_cancel=True)


def card(
    job: JobWithLog,
    *,
    now: datetime,
    notice: str | None,
    text: str,
    risk: staleness.KillRisk | None = None,
    server: str | None = None,
    may_cancel: bool,
) -> Message:
    """A job's card led by `notice`, with `text` as its fallback: what the card, the cancel prompt and the
    watch reply share. `server` names the job's server in the header and the fallback (None: not named),
    and its buttons carry it; Cancel is among them only when the card's reader `may_cancel`."""
    header = server_header(server) + f"Job {plain(clip(job.id, JOB_ID_CHARS))}"

    def build(log_chars: int) -> list[Block]:
        blocks: list[Block] = [HeaderBlock(text=plain_text(header))]
        if notice and notice.strip():
            blocks.append(SectionBlock(text=mrkdwn_text(clip(notice, NOTICE_CHARS))))
        blocks.append(SectionBlock(fields=[mrkdwn_text(field) for field in _card_fields(job, now)]))
        blocks.append(SectionBlock(text=mrkdwn_text(_log_text(job.log, log_chars))))
        notes = []
        if job.log_truncated:
            notes.append(":scissors: Log truncated by jobbot: only the end of the server's log is shown.")
        notes.append(f"As of {date_token(now)}")
        blocks.append(context_block("  ·  ".join(notes)))
        buttons = _job_buttons(
            job, JOB_REFRESH, REFRESH_LABEL, risk, full_log=True, server=server, may_cancel=may_cancel
        )
        if buttons:
            blocks.append(ActionsBlock(elements=buttons))
        return blocks

    return to_message(server_fallback(server) + text, shrink_to_fit(build, LOG_CHARS, MIN_LOG_CHARS))


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


# --- buttons shared by the list and the card --------------------------------------------------


def _valid_id(job: Job) -> str | None:
    return valid_job_id(job.id)


def _job_buttons(
    job: Job,
    prefix: str,
    label: str,
    risk: staleness.KillRisk | None = None,
    *,
    full_log: bool = False,
    server: str | None = None,
    may_cancel: bool,
) -> list[ButtonElement]:
    """The primary button (Details or Refresh), for a job that can be cancelled Cancel with its dialog
    when the reader `may_cancel`, and, when `full_log` (the card, not the list's rows), Full log. Each
    carries `server` with the job id. The dialog warns of `risk`, and always for an UNKNOWN job.

    A job whose id the server mangled gets no buttons: no request could be built from it anyway.
    """
    job_id = _valid_id(job)
    if job_id is None:
        return []
    buttons = [job_button(label, prefix, job_id, server=server)]
    if job.is_cancellable and may_cancel:
        risk = risk or staleness.unknown_status(job)
        buttons.append(cancel_button(job_id, risk=risk, server=server))
    if full_log:
        buttons.append(full_log_button(job_id, server=server))
    return buttons


def job_button(label: str, prefix: str, job_id: str, *, server: str | None = None) -> ButtonElement:
    """A plain button about one validated job (Details, Refresh): its value is the job and its server."""
    return ButtonElement(
        text=plain_text(label), action_id=action_id(prefix, job_id), value=encode_job_ref(server, job_id)
    )


def full_log_button(job_id: str, *, server: str | None = None) -> ButtonElement:
    """The Full log button for a validated job id: jobbot uploads the job's whole log to the clicker's DM."""
    return job_button("Full log", JOB_FULL_LOG, job_id, server=server)


# A graph id or status inside the dialog's warning is clipped to this (after invisible characters are
# spelled out), so the whole warning fits the dialog.
STALE_GRAPH_CHARS = 24
UNKNOWN_STATUS_CHARS = 24


def kill_warning(risk: staleness.KillRisk) -> str:
    """Why a cancel of the job may kill another program, naming the process id the server would kill
    (plain text: escape it for mrkdwn); at most 300 characters, a confirmation dialog's limit."""
    if isinstance(risk, staleness.Stale):
        return stale_warning(risk)
    status = clip(plain(risk.status), UNKNOWN_STATUS_CHARS)
    process = f"process {risk.process_id}" if risk.process_id is not None else "its recorded process"
    why = (
        f"Job {clip(risk.job_id, JOB_ID_CHARS)} has status {status}: GraphScope records it neither as "
        "running nor as finished."
    )
    kill = f" Cancelling it still kills {process}, which may no longer be the loader but another program."
    return clip(why + kill, MAX_CONFIRM_TEXT_CHARS)


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


def cancel_button(
    job_id: str, *, risk: staleness.KillRisk | None = None, server: str | None = None
) -> ButtonElement:
    """The red Cancel button for a validated job id; Slack asks for confirmation before it sends the click.

    For a job whose cancel may kill another program (`risk`), the dialog says why instead of the usual
    sentence, and the button's value says that it did (`slack_ids.encode_cancel_ref`), for the audit.
    With `server`, the dialog's title is led by its name, and the button carries it.
    """
    said = (
        kill_warning(risk)
        if risk is not None
        else f"This stops the data load of job {job_id} and cannot be undone."
    )
    dialog = ConfirmObject(
        title=plain_text(server_header(server) + f"Cancel job {job_id}?"),
        text=plain_text(said),
        confirm=plain_text("Cancel job"),
        deny=plain_text("Keep running"),
        style="danger",
    )
    return ButtonElement(
        text=plain_text("Cancel"),
        action_id=action_id(JOB_CANCEL, job_id),
        value=encode_cancel_ref(server, job_id, warned=risk is not None),
        style="danger",
        confirm=dialog,
    )
