"""Problems and refusals, and `explain`: the one place that turns an error into what a person reads."""

from __future__ import annotations

from slack_sdk.models.blocks import SectionBlock

from jobbot.errors import (
    InteractiveServerError,
    InteractiveUnavailable,
    InvalidJobId,
    JobbotError,
    JobNotFound,
    Refused,
)
from jobbot.render.kit import DETAIL_CHARS, NOTICE_CHARS, Message, mrkdwn_text, to_message
from jobbot.render.mrkdwn import clip, escape
from jobbot.render.replies import usage


def problem(text: str, *, detail: str | None = None) -> Message:
    """A warning; `text` is bot-written mrkdwn, `detail` (e.g. the server's message) follows it, escaped."""
    shown = f":warning: {clip(text, NOTICE_CHARS)}"
    if detail and detail.strip():
        shown += " " + escape(clip(detail.strip(), DETAIL_CHARS))
    return to_message(shown, [SectionBlock(text=mrkdwn_text(shown))])


def refusal(reason: str) -> Message:
    """A request jobbot will not carry out: `reason` is bot-written mrkdwn saying why and what would
    allow it (ids in it were validated by the caller)."""
    text = clip(reason, 2900)
    return to_message(
        clip(f"Not allowed: {reason}", 1000), [SectionBlock(text=mrkdwn_text(f":lock: {text}"))]
    )


def explain(exc: JobbotError) -> Message:
    """The message a person reads for each failure jobbot knows about."""
    if isinstance(exc, Refused):
        return refusal(exc.reason)
    if isinstance(exc, InvalidJobId):
        return usage(f"That is not a job id: {exc}.")
    if isinstance(exc, JobNotFound):
        return problem(f"Job {exc.job_id} does not exist on the Interactive server.")
    if isinstance(exc, InteractiveUnavailable):
        return problem("Could not reach the Interactive server at", detail=f"{exc.endpoint}: {exc.reason}")
    if isinstance(exc, InteractiveServerError):
        code = f" (code {exc.code})" if exc.code is not None else ""
        return problem(
            f"The Interactive server answered with an error, HTTP {exc.http_status}{code}:",
            detail=exc.message,
        )
    return problem("jobbot could not do that:", detail=str(exc))
