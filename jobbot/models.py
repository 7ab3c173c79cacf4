"""Typed views of what the Interactive server sends: jobs and their statuses. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    model_validator,
)

from jobbot.errors import InvalidJobId
from jobbot.servers import DEFAULT_SERVER

# The server keeps the whole loader log in every job; we keep only its end.
LOG_TAIL_CHARS = 16_000
# The most of a job's log read for its full-log file, in bytes as the server sends them: its last part is
# kept past that. 1 MiB, the cap render.cards names in the file (its FULL_LOG_MAX_BYTES, the same number).
FULL_LOG_MAX_BYTES = 2**20


class JobStatus(StrEnum):
    """A job's status as jobbot knows them. Each is also its own text, so it compares equal to the word
    the server sends; any other word reads as UNKNOWN (`JobStatus("PAUSED")` is UNKNOWN)."""

    RUNNING = "RUNNING"
    WAITING = "WAITING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    # What a missing or blank status reads as, and what any word jobbot has never seen counts as.
    UNKNOWN = "UNKNOWN"

    @classmethod
    def _missing_(cls, value: object) -> JobStatus:
        # Read as `Job` reads the server's word ("success " is SUCCESS); anything else is UNKNOWN.
        word = value.strip().upper() if isinstance(value, str) else None
        return next((status for status in cls if status.value == word), cls.UNKNOWN)


ACTIVE_STATUSES = frozenset({JobStatus.RUNNING, JobStatus.WAITING})
TERMINAL_STATUSES = frozenset({JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELLED})
# Statuses a person may filter on; the server may also send UNKNOWN or values we have never seen.
KNOWN_STATUSES = tuple(JobStatus)


def log_tail(log: str, limit: int = LOG_TAIL_CHARS) -> str:
    """The last `limit` characters of a log, starting at a line boundary when one is near."""
    if len(log) <= limit:
        return log
    tail = log[-limit:]
    newline = tail.find("\n")
    if 0 <= newline < 200:
        tail = tail[newline + 1 :]
    return tail


# A status or type word: "success " reads as "SUCCESS"; a blank one is not a word (see `_cleaned`).
Word = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1)]


class Job(BaseModel):
    """One bulk-loading job as the server lists it: everything but the log.

    The schema is the server's usual JSON, declared so that pydantic-core validates it without Python
    code: a listing of 10,000 jobs is parsed straight from the wire (see `jobbot.job_listing`). Anything
    that does not fit it (an integer id, a time sent as text, a missing field) is not refused but goes
    through `from_server`, which keeps what can be kept, and is logged as odd by the client.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: StrictStr
    # The server's word, even one jobbot does not know ("PAUSED"): shown as sent; see `known_status`.
    status: Word
    type: Word
    start_time_ms: StrictInt | None = Field(validation_alias="start_time")
    end_time_ms: StrictInt | None = Field(validation_alias="end_time")
    graph_id: StrictStr | None = Field(validation_alias=AliasPath("detail", "graph_id"))
    process_id: StrictInt | None = Field(validation_alias=AliasPath("detail", "process_id"))

    @classmethod
    def from_server(cls, data: Any) -> Self:
        """Any JSON object the server might send, made to fit: defaults for what is missing, junk
        dropped. Raises ValueError only when there is no job in it (not an object, no usable id)."""
        return cls.model_validate(_cleaned(data))

    @property
    def known_status(self) -> JobStatus:
        """The status as jobbot knows it: UNKNOWN for a word it has never seen."""
        return JobStatus(self.status)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_cancellable(self) -> bool:
        """Whether the server's DELETE acts on the job: anything not finished. UNKNOWN is not in the
        server's finished set, so a cancel of an UNKNOWN job (or one whose status jobbot has never seen)
        kills its stored process id too; `jobbot.stale.kill_risks` calls that dangerous."""
        return not self.is_terminal

    @property
    def sort_key(self) -> int:
        """Numeric id for newest-first ordering; the server lists jobs in no order. -1: not a job id
        as the server keys them (see `parse_job_id`; "007" is not one), so odd entries sort last."""
        return int(self.id) if parse_job_id(self.id) == self.id else -1

    @property
    def started_at(self) -> datetime | None:
        return _from_ms(self.start_time_ms)

    @property
    def ended_at(self) -> datetime | None:
        """End time, only for a terminal job: the server's end_time is meaningless while a job runs."""
        return _from_ms(self.end_time_ms) if self.is_terminal else None

    def duration_seconds(self, now: datetime) -> float | None:
        """How long the job ran (terminal) or has been running (active, measured to `now`)."""
        start = self.started_at
        if start is None:
            return None
        end = self.ended_at if self.is_terminal else (now if self.is_active else None)
        if end is None or end < start:
            return None
        return (end - start).total_seconds()


class JobWithLog(Job):
    """A job as `GET /v1/job/{id}` gives it: with the end of its loader log, for a person to read."""

    log: StrictStr
    log_truncated: bool = False

    @model_validator(mode="before")
    @classmethod
    def _keep_the_tail(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("log"), str) and len(data["log"]) > LOG_TAIL_CHARS:
            data = data | {"log": log_tail(data["log"]), "log_truncated": True}
        return data


def _cleaned(data: Any) -> dict[str, Any]:
    """`data` reshaped into the server's usual JSON, so that `Job` accepts it."""
    if not isinstance(data, dict):
        raise ValueError("a job must be a JSON object")
    raw_id = data.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        raise ValueError("job id must be a string or an integer")
    detail = data.get("detail")
    if not isinstance(detail, dict):
        detail = {}
    log = data.get("log")
    return {
        "id": str(raw_id),
        "status": _word(data.get("status")),
        "type": _word(data.get("type")),
        "start_time": _integer(data.get("start_time")),
        "end_time": _integer(data.get("end_time")),
        "detail": {
            "graph_id": _text(detail.get("graph_id")),
            "process_id": _integer(detail.get("process_id")),
        },
        "log": log if isinstance(log, str) else "",
    }


def _word(value: Any) -> str:
    # A job's type is read the same way as its status: nothing usable is UNKNOWN.
    return value if isinstance(value, str) and value.strip() else JobStatus.UNKNOWN.value


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    return str(value)


def _integer(value: Any) -> int | None:
    # Times and pids sent as text are common in hand-made data; anything else means "not known".
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal() and value.strip().isascii():
        return int(value)
    return None


def _from_ms(value: int | None) -> datetime | None:
    # 0, negatives and far-future garbage are what a RUNNING job's end_time often holds.
    if value is None or value <= 0 or value > 32_503_680_000_000:
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


# A job id is a decimal counter that must fit SQLite's INTEGER and PostgreSQL's BIGINT: 0 to 2**63-1.
MAX_JOB_ID = 2**63 - 1
MAX_JOB_ID_DIGITS = len(str(MAX_JOB_ID))  # 19


def parse_job_id(raw: object) -> str | None:
    """`raw` as a canonical job id, or None: the one rule for ids, for data that must not raise.

    A job id is ASCII decimal digits (`str.isdigit` alone also accepts superscripts and other
    scripts' digits) whose value is at most MAX_JOB_ID. Leading zeros are dropped ("007" is job 7,
    "0" stays "0"), so one job has one id in URLs, the store, the ledger and messages.
    """
    text = raw if isinstance(raw, str) else str(raw)
    if not _ascii_digits(text):
        return None
    canonical = text.lstrip("0") or "0"
    # The length check first: int() of a long enough string is slow, or refused outright.
    if len(canonical) > MAX_JOB_ID_DIGITS or int(canonical) > MAX_JOB_ID:
        return None
    return canonical


def job_id_fault(raw: str) -> str | None:
    """Why `raw`, as the server lists it, is not a job id jobbot can follow, or None when it is one.

    "not_canonical": a job id written another way ("007"): the server keys jobs by their text, so asked
    for job 7 it would not find it. "too_large": ASCII digits past MAX_JOB_ID. "not_a_number": the rest.
    """
    job_id = parse_job_id(raw)
    if job_id == raw:
        return None
    if job_id is not None:
        return "not_canonical"
    return "too_large" if _ascii_digits(raw) else "not_a_number"


def _ascii_digits(text: str) -> bool:
    return bool(text) and text.isascii() and text.isdigit()


def validate_job_id(raw: object) -> str:
    """Return `raw` as a canonical job id, or raise InvalidJobId; nothing else may reach a URL."""
    job_id = parse_job_id(raw)
    if job_id is None:
        text = raw if isinstance(raw, str) else str(raw)
        raise InvalidJobId(text[:40])
    return job_id


# Statuses a completion notice can announce.
NOTICE_STATUSES = (JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELLED)


class FinishedJob(BaseModel):
    """What a completion notice says about one job: kept in the notice ledger, so a notice rendered
    again after a restart says exactly what it would have said before."""

    model_config = ConfigDict(frozen=True)

    id: str
    status: str
    graph_id: str | None = None
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    cancelled_by: str | None = None  # a Slack user id, when the cancel came through jobbot
    log_tail: str = ""  # the last lines only, for a failure's thread reply
    # The server's status where it is not the one announced: FAILED, written by the loader's thread over
    # jobbot's cancel once the killed process exited. The job is announced as CANCELLED.
    recorded_as: str | None = None

    @property
    def started_at(self) -> datetime | None:
        return _from_ms(self.start_time_ms)

    @property
    def ended_at(self) -> datetime | None:
        return _from_ms(self.end_time_ms)

    @property
    def duration_seconds(self) -> float | None:
        start, end = self.started_at, self.ended_at
        return (end - start).total_seconds() if start and end and end >= start else None


@dataclass(frozen=True)
class FullLog:
    """A job's whole log as jobbot read it, or its end when the server's was longer than jobbot reads."""

    job_id: str
    text: str
    cut: bool  # the server's log was longer: `text` is its last part


class NoticeStyle(StrEnum):
    """How a channel hears of jobs: one notice when each ends, or a live card per job edited as it runs."""

    FINAL = "final"
    LIVE = "live"


class Subscription(BaseModel):
    """A channel that receives completion notices, with its own status filter and style. For a live
    channel, every job gets a card and the filter chooses the endings also broadcast from its thread."""

    model_config = ConfigDict(frozen=True)

    channel_id: str
    statuses: tuple[str, ...] = NOTICE_STATUSES
    style: NoticeStyle = NoticeStyle.FINAL
    added_by: str
    added_at: datetime
    # The server whose jobs the channel hears of, or servers.EVERY_SERVER for all of them.
    server: str = DEFAULT_SERVER


# The same refusal (user, job) or subscription change within this long of the last one is counted on its
# audit entry rather than added as another.
AUDIT_FOLD_SECONDS = 600.0


@dataclass(frozen=True)
class Actor:
    """Who acts, from where: the person, their own workspace and the channel, as the audit keeps them."""

    user_id: str  # "" when the request named nobody: refused, and recorded as such
    team_id: str | None
    channel_id: str  # "" when the request named no channel


class AuditEntry(BaseModel):
    """One cancel attempt, as the audit trail keeps it."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    user_id: str
    team_id: str | None = None
    channel_id: str | None = None
    job_id: str
    status_before: str | None = None
    outcome: str  # refused, confirmed, succeeded, failed, already_finished, cancelled_by_another
    message: str | None = None
    repeats: int = 1  # the same refusal repeated soon after is counted here rather than added
    last_at: datetime | None = None  # when it was last repeated
    server: str = DEFAULT_SERVER  # the server the job is on


class SubscriptionChange(BaseModel):
    """A channel's completion notices turned on (or changed) or off, as the audit trail keeps it."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    user_id: str
    team_id: str | None = None
    channel_id: str
    action: str  # subscribed, subscribed live, unsubscribed, default server
    statuses: tuple[str, ...] = ()  # what a subscription asked for; empty for unsubscribed
    repeats: int = 1  # the same change repeated soon after is counted here rather than added
    last_at: datetime | None = None
    server: str = DEFAULT_SERVER  # the server subscribed to (servers.EVERY_SERVER: all), or made default
