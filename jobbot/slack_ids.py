"""Slack ids in one place: the command and action ids jobbot owns, and checks of the ids Slack gives it."""

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


# Ids Slack gives jobbot (in settings and in requests): a letter naming the kind of thing, then upper-case
# ASCII letters and digits. Real ids are 9 to 11 characters; Slack warns they may grow, so up to 31 pass.
# Checked with fullmatch: `$` also matches before a trailing newline. The classes are spelled out
# rather than `\w` or `\d`, which accept other scripts' letters and digits.
_ID_BODY = "[A-Z0-9]{2,30}"
_USER_ID = re.compile(f"[UW]{_ID_BODY}")  # W: a user of an Enterprise Grid organization
_CHANNEL_ID = re.compile(f"[CG]{_ID_BODY}")  # G: a private channel (or a group DM) of older workspaces
_DIRECT_MESSAGE_ID = re.compile(f"D{_ID_BODY}")
_CONVERSATION_ID = re.compile(f"[CGD]{_ID_BODY}")
_USERGROUP_ID = re.compile(f"S{_ID_BODY}")
_TEAM_ID = re.compile(f"T{_ID_BODY}")
_ENTERPRISE_ID = re.compile(f"E{_ID_BODY}")


def is_user_id(text: str) -> bool:
    """Whether `text` is a Slack user id (U..., or W... on Enterprise Grid)."""
    return _USER_ID.fullmatch(text) is not None


def is_channel_id(text: str) -> bool:
    """Whether `text` is a Slack channel id (C... public, G... private): where notices can be posted."""
    return _CHANNEL_ID.fullmatch(text) is not None


def is_direct_message_id(text: str) -> bool:
    """Whether `text` is the id of a direct message conversation (D...)."""
    return _DIRECT_MESSAGE_ID.fullmatch(text) is not None


def is_conversation_id(text: str) -> bool:
    """Whether `text` is the id of any conversation `/jobs` can be typed in: a channel or a direct message."""
    return _CONVERSATION_ID.fullmatch(text) is not None


def is_usergroup_id(text: str) -> bool:
    """Whether `text` is a Slack user group id (S...)."""
    return _USERGROUP_ID.fullmatch(text) is not None


def is_team_id(text: str) -> bool:
    """Whether `text` is a Slack workspace (team) id (T...)."""
    return _TEAM_ID.fullmatch(text) is not None


def is_enterprise_id(text: str) -> bool:
    """Whether `text` is an Enterprise Grid organization id (E...)."""
    return _ENTERPRISE_ID.fullmatch(text) is not None


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
