"""Logging: text or JSON lines, the server, request and job ids from context, and no secret in any record."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from jobbot import servers

_TOKEN = re.compile(r"\b(xox[abposr]|xapp|xoxe(?:\.xox[bp])?)-[A-Za-z0-9-]+")
_REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
_JOB_ID: ContextVar[str | None] = ContextVar("job_id", default=None)


@contextmanager
def context(*, request_id: str | None = None, job_id: str | None = None) -> Iterator[None]:
    """Log records made inside carry these ids (threads started with a copy of the context too)."""
    tokens = [_REQUEST_ID.set(request_id), _JOB_ID.set(job_id)]
    try:
        yield
    finally:
        _JOB_ID.reset(tokens[1])
        _REQUEST_ID.reset(tokens[0])


# The fields a line carries from its context, in the order they are printed.
_CONTEXT_FIELDS = ("server", "request_id", "job_id")


def _shown_server() -> str | None:
    """The server a line is about, unless it is the single server's internal name: a one-server
    deployment's lines read as they did before there could be several."""
    name = servers.current()
    return None if name == servers.DEFAULT_SERVER else name


class ContextFields(logging.Filter):
    """Adds `server` (see `jobbot.servers.acting_on`), `request_id` and `job_id` from the context to
    every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.server = _shown_server()
        record.request_id = _REQUEST_ID.get()
        record.job_id = _JOB_ID.get()
        return True


class SecretScrubber(logging.Filter):
    """Replaces tokens (by shape) and configured secrets (by value) in log messages with `[redacted]`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 8]

    def scrub(self, text: str) -> str:
        text = _TOKEN.sub(r"\1-[redacted]", text)
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.scrub(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback here so that what handlers print is the scrubbed text.
            message += "\n" + self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = message, None
        return True


class QuietTokenWarning(logging.Filter):
    """bolt warns that the token is unused (or ignored) whenever SLACK_BOT_TOKEN is in the environment and
    a client or an `authorize` function is given; jobbot always gives both, so the warning only confuses
    operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return (
            "`token` will be unused" not in message
            and "SLACK_BOT_TOKEN env variable) will be ignored" not in message
        )


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the server, request and job ids when set,
    and the structured fields of an audit entry."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in (*_CONTEXT_FIELDS, "audit"):
            value = getattr(record, field, None)
            if value:
                entry[field] = value
        return json.dumps(entry, ensure_ascii=False, default=str)


class Text(logging.Formatter):
    """The human format, with the server and the ids appended when set."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{f}={getattr(record, f)}" for f in _CONTEXT_FIELDS if getattr(record, f, None)]
        return f"{line} [{' '.join(ids)}]" if ids else line


# The logger of slack_sdk's Socket Mode clients under jobbot's link (`jobbot.socket_mode`).
SOCKET_MODE_SDK_LOGGER = "jobbot.socket_mode.slack_sdk"


def configure(level: int, secrets: Iterable[str] = (), *, json_lines: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if json_lines else Text())
    handler.addFilter(SecretScrubber(secrets))
    handler.addFilter(QuietTokenWarning())
    handler.addFilter(ContextFields())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # slack_sdk logs whole request bodies at DEBUG; keep them out unless asked for at the root.
    logging.getLogger("slack_sdk").setLevel(max(level, logging.INFO))
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    # Its INFO lines (socket opened, session established, receiving started, ...) come several to a
    # connection and repeat the one line jobbot logs when it replaces a connection: DEBUG shows them.
    logging.getLogger(SOCKET_MODE_SDK_LOGGER).setLevel(level if level <= logging.DEBUG else logging.WARNING)
