"""Problems and refusals, and `explain`: the one place that turns an error into what a person reads."""

from __future__ import annotations

from slack_sdk.models.blocks import SectionBlock

from jobbot.errors import (
    GroupLookupFailure,
    InteractiveServerError,
    InteractiveUnavailable,
    InvalidJobId,
    JobNotFound,
    Refused,
    StoreError,
    UserFacingError,
)
from jobbot.render.kit import DETAIL_CHARS, NOTICE_CHARS, Message, mrkdwn_text, to_message
from jobbot.render.mrkdwn import clip, escape
from jobbot.render.replies import usage
from jobbot.slack_ids import is_channel_id, is_conversation_id


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


# What a person reads for an error whose text is for the operator only: it may name a database host,
# a database or a file path.
STORE_TROUBLE = "jobbot's store is not answering; the details are in its log."
INSIDE_TROUBLE = "Something went wrong inside jobbot; the details are in its log."


def explain(exc: Exception, *, server: str | None = None) -> Message:
    """The message a person reads for any failure: a user-facing error's facts worded, anything else
    (an internal error, a bug) one fixed sentence, its detail left to the log. `server` names the
    Interactive server the request was about, when several are configured."""
    if isinstance(exc, Refused):
        return refusal(why_refused(exc))
    if isinstance(exc, InvalidJobId):
        return usage(f"That is not a job id: {exc}.")
    named = f" `{server}`" if server else ""
    the_server = f"the Interactive server{named}"
    if isinstance(exc, JobNotFound):
        return problem(f"Job {exc.job_id} does not exist on {the_server}.")
    if isinstance(exc, InteractiveUnavailable):
        return problem(f"Could not reach {the_server} at", detail=f"{exc.endpoint}: {exc.reason}")
    if isinstance(exc, InteractiveServerError):
        code = f" (code {exc.code})" if exc.code is not None else ""
        return problem(
            f"The Interactive server{named} answered with an error, HTTP {exc.http_status}{code}:",
            detail=exc.message,
        )
    if isinstance(exc, UserFacingError):
        return problem("jobbot could not do that:", detail=str(exc))
    if isinstance(exc, StoreError):
        return problem(STORE_TROUBLE)
    return problem(INSIDE_TROUBLE)


def why_refused(exc: Refused) -> str:
    """The refusal in words (mrkdwn): why, and what would allow it. Ids shown were validated here."""
    match exc.why:
        case "channel_not_allowed":
            # A direct message's id (allowed too) is no channel to link to: shown as the id.
            where = ", ".join(f"<#{c}>" if is_channel_id(c) else f"`{c}`" for c in exc.allowed_channels)
            shown = f"`{exc.channel_id}`" if is_conversation_id(exc.channel_id) else "this conversation"
            return (
                f"jobbot answers `/jobs` only in {where}. "
                f"An admin can add {shown} to `JOBBOT_ALLOWED_CHANNELS`."
            )
        case "workspace_unknown":
            return (
                "jobbot refuses everyone right now: it could not confirm which workspace it is installed "
                f"in ({exc.workspace_problem}), so it cannot tell members from people of other "
                "organizations. It asks Slack again every half minute. An admin can check that "
                "`SLACK_BOT_TOKEN` is still valid (reinstall the app if it was revoked) and that jobbot can "
                "reach `SLACK_API_URL`."
            )
        case "no_team":
            return "jobbot could not tell which organization your account belongs to, so it will not act."
        case "other_organization":
            return (
                "jobbot acts only for members of the workspace it is installed in; your account belongs to "
                "another organization. Ask someone from that workspace."
            )
        case "unknown_user":
            return "jobbot could not tell who you are, so it will not cancel."
    users_setting, groups_setting = exc.cancel_settings
    allow = (
        f"An admin can allow it by adding your Slack user ID `{exc.user_id}` to `{users_setting}` "
        "(then restarting jobbot)"
    )
    if exc.cancel_usergroups:
        groups = ", ".join(f"`{g}`" for g in exc.cancel_usergroups)
        allow += f", or by adding you to a user group in `{groups_setting}` ({groups})"
    on = f" on `{exc.server}`" if exc.server else ""
    if exc.why == "lookup_failed":
        failures = "; ".join(_lookup_failure(f) for f in exc.lookup_failures)
        return (
            f"You may not cancel jobs{on} right now: jobbot could not check your user groups ({failures}), "
            f"and it refuses when it cannot check. {allow}."
        )
    if exc.why == "nobody_may_cancel":
        return f"Nobody may cancel jobs{on} from Slack yet. {allow}."
    return f"You are not allowed to cancel jobs{on} from Slack. {allow}."


def _lookup_failure(failure: GroupLookupFailure) -> str:
    if failure.unreachable is not None:
        return f"`{failure.group}`: Slack could not be reached ({failure.unreachable})"
    said = "error" if failure.slack_error is None else failure.slack_error
    return f"`{failure.group}`: Slack said `{said}`"
