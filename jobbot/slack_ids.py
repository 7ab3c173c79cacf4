"""Slack ids in one place: the command, its buttons' action ids and the values they carry, and checks
of the ids Slack gives jobbot."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

from jobbot.models import KNOWN_STATUSES
from jobbot.servers import is_server_name

COMMAND = "/jobs"
# Every subcommand of `jobbot.commands.SUBCOMMANDS`, in its order (a test ties them, and the manifest).
COMMAND_USAGE_HINT = (
    "[list [STATUS ...] | status ID | cancel ID | watch ID | unwatch ID | subscribe [live] [STATUS ...] | "
    "unsubscribe | subscriptions | audit [ID] | use NAME | help]"
)

# Action ids carry a suffix (the job id or the button's role) so that they are unique in a message;
# handlers match them by prefix.
LIST_PAGE = "jobbot.list.page"  # Prev / Next: value holds the page and filter
LIST_REFRESH = "jobbot.list.refresh"
JOB_DETAILS = "jobbot.job.details"
JOB_REFRESH = "jobbot.job.refresh"
JOB_CANCEL = "jobbot.job.cancel"  # carries a confirmation dialog; only the confirmed click arrives
JOB_FULL_LOG = "jobbot.job.full_log"  # uploads the job's whole log to the clicker's direct messages


def action_id(prefix: str, suffix: str) -> str:
    """A unique action id for one button of a message."""
    return f"{prefix}:{suffix}"


def matching(prefix: str) -> re.Pattern[str]:
    """The pattern a handler registers to receive every button made with `action_id(prefix, ...)`."""
    return re.compile("^" + re.escape(prefix) + r"(:|$)")


# Slack's limit for a button's value: a longer one cannot have come from a button jobbot drew.
MAX_BUTTON_VALUE_CHARS = 2000
MAX_LIST_STATE_PAGE = 1_000_000


def encode_list_state(statuses: Sequence[str], page: int, server: str | None = None) -> str:
    """The value a list navigation button carries: compact JSON `{"p": page, "s": [statuses]}`, and
    `"v": server` when the list is of a named server."""
    state: dict[str, object] = {"p": page, "s": list(known_statuses(statuses))}
    if server is not None:
        state["v"] = server
    return json.dumps(state, separators=(",", ":"))


def decode_list_server(value: str) -> str | None:
    """The server a navigation button's list was of; None when it names none, or nothing that could be
    a server name (then the channel's default is meant)."""
    server = _button_json(value).get("v")
    return server if isinstance(server, str) and is_server_name(server) else None


def encode_job_ref(server: str | None, job_id: str) -> str:
    """The value a job's button carries: the job id alone, or `server:job_id` for a named server."""
    return job_id if server is None else f"{server}:{job_id}"


def decode_job_ref(value: str) -> tuple[str | None, str]:
    """The (server, job id) a job's button carried: (None, value) when it names no server, or when what
    stands before the colon is not a server name (the job-id check that follows then explains it).
    The job id is not checked here."""
    if len(value) > MAX_BUTTON_VALUE_CHARS:
        return None, value
    server, colon, job_id = value.partition(":")
    if not colon or not is_server_name(server):
        return None, value
    return server, job_id


# Ends the value of a Cancel button whose dialog warned that the server kills the stored process id,
# which may no longer be the loader (`jobbot.stale.KillRisk`): the confirmed click says it was shown, for
# the audit, and a click without it on a job that is dangerous now is asked again (`jobbot.cancellation`).
# `|` is in neither a job id nor a server name, and a button drawn before it existed reads as not warned.
CANCEL_WARNED = "|warned"


def encode_cancel_ref(server: str | None, job_id: str, *, warned: bool) -> str:
    """The value a Cancel button carries: its job's `encode_job_ref`, and whether its dialog warned."""
    return encode_job_ref(server, job_id) + (CANCEL_WARNED if warned else "")


def decode_cancel_ref(value: str) -> tuple[str | None, str, bool]:
    """The (server, job id, warned) a Cancel button carried; see `decode_job_ref`."""
    warned = value.endswith(CANCEL_WARNED)
    server, job_id = decode_job_ref(value.removesuffix(CANCEL_WARNED) if warned else value)
    return server, job_id, warned


def decode_list_state(value: str) -> tuple[tuple[str, ...], int]:
    """The (statuses, page) a navigation button carried; anything malformed gives ((), 1)."""
    data = _button_json(value)
    page = data.get("p")
    if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= MAX_LIST_STATE_PAGE:
        page = 1
    raw = data.get("s")
    statuses = known_statuses([s for s in raw if isinstance(s, str)]) if isinstance(raw, list) else ()
    return statuses, page


def _button_json(value: str) -> dict[str, object]:
    """The JSON object a navigation button carried; empty when the value is too long or not an object."""
    data: object = None
    if len(value) <= MAX_BUTTON_VALUE_CHARS:
        try:
            data = json.loads(value)
        except (ValueError, RecursionError):
            data = None
    return data if isinstance(data, dict) else {}


def known_statuses(statuses: Iterable[str]) -> tuple[str, ...]:
    """The known job statuses among `statuses`, upper-cased, each once, in the order given."""
    wanted: list[str] = []
    for status in statuses:
        upper = status.strip().upper()
        if upper in KNOWN_STATUSES and upper not in wanted:
            wanted.append(upper)
    return tuple(wanted)


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
# after a crash (see notifier.py); `jobbot check` reads one message of each notify channel with them.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "files:write",  # the Full log button and a failed job's card thread upload its log as a file
    "channels:history",
    "groups:history",
    "im:history",
    "usergroups:read",  # only used when JOBBOT_CANCEL_USERGROUPS is set
)

# Where Slack sends commands, interactivity and events in HTTP mode (the app's request URL ends with it).
EVENTS_PATH = "/slack/events"
