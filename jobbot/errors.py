"""Every exception jobbot raises on purpose, in one tree: what a Slack user may read apart from the rest.

Exception
 └── JobbotError                  raised on purpose
      ├── UserFacingError         its facts may be shown to a Slack user (render.problems.explain words them)
      │    ├── InvalidJobId
      │    ├── Refused            who may not do what where, and why (facts, not sentences)
      │    └── JobApiError        the Interactive admin API's answer
      │         ├── JobNotFound
      │         ├── JobAlreadyFinished
      │         ├── InteractiveUnavailable
      │         └── InteractiveServerError
      └── InternalError           for the operator: logged whole; a Slack user reads one fixed sentence
           ├── ConfigError
           ├── StoreError         may name a database host, a database, a file path
           ├── WorkspaceUnknown
           ├── PostRefused
           ├── PostUncertain
           ├── ListingError       (also a ValueError)
           └── SkeletonTooLarge   (also a ValueError)
"""

from __future__ import annotations

from typing import Literal, NamedTuple


class JobbotError(Exception):
    """Base of every error jobbot raises on purpose; its branch says whether a Slack user may read it."""


class UserFacingError(JobbotError):
    """Facts a Slack user may read: about their request or the job server, never jobbot's insides."""


class InternalError(JobbotError):
    """An error of jobbot's own machinery (store, Slack, settings, parsing): its text is for the log only."""


class ConfigError(InternalError):
    """A setting is missing or malformed; start-up stops with this one line."""


class SocketOpenFailed(InternalError):
    """A Socket Mode connection did not open: Slack refused apps.connections.open, the WebSocket did not
    open, or Slack sent no hello. The text names which, never a token."""


class InvalidJobId(UserFacingError):
    """A job id that is not ASCII digits worth at most 2**63-1; no request is ever built from it."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        super().__init__("a job id is a number such as `42`, at most 9223372036854775807")


class JobApiError(UserFacingError):
    """Base of the errors that come from talking to the Interactive admin API."""


class JobNotFound(JobApiError):
    """The server does not know this job id."""

    def __init__(self, job_id: str, code: int | None = None) -> None:
        self.job_id = job_id
        # The server's error code; servers before Aug 2024 sent the bare message text, so None.
        self.code = code
        super().__init__(f"job {job_id} does not exist on the Interactive server")


class JobAlreadyFinished(JobApiError):
    """A cancel reached a job that had already ended (the server answers 400 `Job already X`)."""

    def __init__(self, job_id: str, status: str | None = None) -> None:
        self.job_id = job_id
        self.status = status
        ended = f" ({status})" if status else ""
        super().__init__(f"job {job_id} had already finished{ended}")


class InteractiveUnavailable(JobApiError):
    """The server could not be reached or did not answer in time."""

    def __init__(self, endpoint: str, reason: str) -> None:
        self.endpoint = endpoint
        self.reason = reason
        super().__init__(f"the Interactive server at {endpoint} is unavailable: {reason}")


class InteractiveServerError(JobApiError):
    """The server answered with an error we have no better name for (code and message as it sent them)."""

    def __init__(self, http_status: int, code: int | None, message: str) -> None:
        self.http_status = http_status
        self.code = code
        self.message = message
        code_part = f", code {code}" if code is not None else ""
        super().__init__(f"the Interactive server answered HTTP {http_status}{code_part}: {message}")


class StoreError(InternalError):
    """The store cannot be opened, migrated or written; the text may say where the database lives."""


RefusalReason = Literal[
    "channel_not_allowed",
    "workspace_unknown",
    "no_team",
    "other_organization",
    "unknown_user",
    "lookup_failed",
    "nobody_may_cancel",
    "not_a_canceller",
]
# What was checked, as the audit trail and the log record it.
RefusalKind = Literal["channel", "organization", "cancel"]
_KINDS: dict[RefusalReason, RefusalKind] = {
    "channel_not_allowed": "channel",
    "workspace_unknown": "organization",
    "no_team": "organization",
    "other_organization": "organization",
    "unknown_user": "cancel",
    "lookup_failed": "cancel",
    "nobody_may_cancel": "cancel",
    "not_a_canceller": "cancel",
}


class GroupLookupFailure(NamedTuple):
    """A user group whose members Slack did not give: its error code, or the connection error's type."""

    group: str
    slack_error: str | None = None
    unreachable: str | None = None


# The settings that say who may cancel, unless a server has its own (JOBBOT_SERVER_<NAME>_...).
CANCEL_SETTINGS = ("JOBBOT_CANCEL_USERS", "JOBBOT_CANCEL_USERGROUPS")


class Refused(UserFacingError):
    """The request is not allowed: `why` names the rule, the other fields are the facts it needs.

    `kind` (channel, organization, cancel) follows from `why`. The text is a line for the log;
    `jobbot.render.problems.explain` words the refusal a person reads.
    """

    def __init__(
        self,
        why: RefusalReason,
        *,
        user_id: str = "",
        channel_id: str = "",
        allowed_channels: tuple[str, ...] = (),
        cancel_usergroups: tuple[str, ...] = (),
        lookup_failures: tuple[GroupLookupFailure, ...] = (),
        workspace_problem: str = "",
        server: str | None = None,
        cancel_settings: tuple[str, str] = CANCEL_SETTINGS,
    ) -> None:
        self.why = why
        self.kind = _KINDS[why]
        self.user_id = user_id
        self.channel_id = channel_id
        self.allowed_channels = allowed_channels
        self.cancel_usergroups = cancel_usergroups
        self.lookup_failures = lookup_failures
        self.workspace_problem = workspace_problem
        # A cancel refused on one of several servers: which, and the settings that decide there.
        self.server = server
        self.cancel_settings = cancel_settings
        super().__init__(self._for_the_log())

    def _for_the_log(self) -> str:
        failures = "; ".join(
            f"{f.group}: {f.slack_error if f.unreachable is None else f.unreachable}"
            for f in self.lookup_failures
        )
        return {
            "channel_not_allowed": f"channel {self.channel_id!r} is not in JOBBOT_ALLOWED_CHANNELS",
            "workspace_unknown": f"this workspace is unknown ({self.workspace_problem})",
            "no_team": "the request names no organization",
            "other_organization": "the account belongs to another organization",
            "unknown_user": "the request names no user",
            "lookup_failed": f"{self.user_id}'s user groups could not be checked ({failures})",
            "nobody_may_cancel": " and ".join(self.cancel_settings) + " are both empty",
            "not_a_canceller": f"{self.user_id} is not allowed to cancel",
        }[self.why]


class WorkspaceUnknown(InternalError):
    """jobbot could not learn which workspace it is installed in; `reason` says why (no secrets)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class PostRefused(InternalError):
    """Slack answered and did not post. `permanent`: do not try this delivery again.

    A 429 carries `retry_after` (seconds, from its Retry-After header) and `workspace_wide`: True when
    the limit is the method's across the workspace rather than one channel's.
    """

    def __init__(
        self,
        error: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        workspace_wide: bool = False,
    ) -> None:
        self.error = error
        self.permanent = permanent
        self.retry_after = retry_after
        self.workspace_wide = workspace_wide
        super().__init__(f"Slack refused the message: {error}")


class PostUncertain(InternalError):
    """No answer from Slack: the message may or may not have been posted."""


class ListingError(InternalError, ValueError):
    """The body is not a job list at all; the message says what came instead."""


class SkeletonTooLarge(InternalError, ValueError):
    """What is left of the body once its long strings are cut is still over the cap: not a job's JSON."""


class PlaygroundRequestError(InternalError):
    """A request to the playground's /play/* that is not what its page sends: answered 400 with the reason."""


class WebApiRefusal(InternalError):
    """The playground's Web API refusing a call, answered as Slack does: {"ok": false, "error": code}."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
