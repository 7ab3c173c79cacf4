"""Every Slack identifier jobbot owns, in one place: the command and the action ids of its buttons."""

from __future__ import annotations

import re

COMMAND = "/jobs"
COMMAND_USAGE_HINT = "[list [STATUS ...] | status ID | cancel ID | watch ID | subscribe [STATUS ...] | help]"

# Action ids carry a suffix (the job id or the button's role) so that they are unique in a message;
# handlers match them by prefix.
LIST_PAGE = "jobbot.list.page"  # Prev / Next: value holds the page and filter
LIST_REFRESH = "jobbot.list.refresh"
JOB_DETAILS = "jobbot.job.details"
JOB_REFRESH = "jobbot.job.refresh"
JOB_CANCEL = "jobbot.job.cancel"  # carries a confirmation dialog; only the confirmed click arrives


def action_id(prefix: str, suffix: str) -> str:
    """A unique action id for one button of a message."""
    return f"{prefix}:{suffix}"


def matching(prefix: str) -> re.Pattern[str]:
    """The pattern a handler registers to receive every button made with `action_id(prefix, ...)`."""
    return re.compile("^" + re.escape(prefix) + r"(:|$)")


# Ids Slack gives jobbot: in settings (user, channel and user group ids) and in requests.
SETTING_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
SETTING_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
SETTING_USERGROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
REQUEST_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
REQUEST_CONVERSATION_ID = re.compile(r"^[CGD][A-Z0-9]{2,30}$")


# Bot scopes the code needs. Answers to /jobs go to the request's response_url, which needs no scope.
# Notices need chat:write (and chat:write.public for public channels the bot was not invited to),
# im:write for watchers' direct messages, and the *:history scopes to read a notice's metadata back
# after a crash (see notifier.py).
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "channels:history",
    "groups:history",
    "im:history",
    "usergroups:read",  # only used when JOBBOT_CANCEL_USERGROUPS is set
)
