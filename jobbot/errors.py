"""One small exception tree: every failure jobbot knows how to explain to a person."""

from __future__ import annotations


class JobbotError(Exception):
    """Base of every error jobbot raises on purpose; its text is safe to show to a Slack user."""


class ConfigError(JobbotError):
    """A setting is missing or malformed; start-up stops with this one line."""


class InvalidJobId(JobbotError):
    """A job id that is not ASCII digits worth at most 2**63-1; no request is ever built from it."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        super().__init__("a job id is a number such as `42`, at most 9223372036854775807")


class JobApiError(JobbotError):
    """Base of the errors that come from talking to the Interactive admin API."""


class JobNotFound(JobApiError):
    """The server does not know this job id."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
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


class StoreError(JobbotError):
    """The store cannot be opened, migrated or written."""


class Refused(JobbotError):
    """The request is not allowed. `reason` is bot-written mrkdwn: why, and what would allow it."""

    def __init__(self, reason: str, *, kind: str) -> None:
        self.reason = reason
        self.kind = kind  # channel, organization, cancel
        super().__init__(reason)


class WorkspaceUnknown(Exception):
    """jobbot could not learn which workspace it is installed in; `reason` says why (no secrets)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class PostRefused(JobbotError):
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


class PostUncertain(JobbotError):
    """No answer from Slack: the message may or may not have been posted."""


class ListingError(ValueError):
    """The body is not a job list at all; the message says what came instead."""


class SkeletonTooLarge(ValueError):
    """What is left of the body once its long strings are cut is still over the cap: not a job's JSON."""
