"""Live job cards: one message per job (or a digest card for a burst), edited as its jobs change, and
what goes in its thread: the ending, the failure's log, the full log as a file, the long-running alert."""

from __future__ import annotations

from dataclasses import dataclass

from jobbot.models import FullLog

# The full log uploaded as a file is capped at this many bytes (UTF-8); above it, its last part is sent,
# after a line saying so. 1 MiB is about 10,000 lines of a loader's log: the whole of nearly every log,
# and small enough to read in Slack's file preview and to hold in memory while it is uploaded.
FULL_LOG_MAX_BYTES = 2**20


@dataclass(frozen=True)
class LogFile:
    """A log as a file to upload: its name in Slack, its title, its bytes, and the comment posted with it."""

    filename: str
    title: str
    content: bytes
    comment: str


def full_log_file(log: FullLog) -> LogFile:
    """The file for a job's full log; a log jobbot received cut says so on its first line."""
    content = log.text.encode("utf-8", "replace")
    head = b""
    if log.cut:
        head = (
            f"[jobbot: this log was longer than {FULL_LOG_MAX_BYTES // 2**20} MiB; "
            f"this is its last part. GET /v1/job/{log.job_id} on the Interactive server has it whole.]\n"
        ).encode()
    content = content[-FULL_LOG_MAX_BYTES:] if len(content) > FULL_LOG_MAX_BYTES else content
    title = f"Full log of job #{log.job_id}" + (" (its last part)" if log.cut else "")
    return LogFile(filename=f"job-{log.job_id}.log", title=title, content=head + content, comment=title)
