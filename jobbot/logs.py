"""Logging set-up, with a filter that scrubs anything shaped like a Slack secret from every record."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_TOKEN = re.compile(r"\b(xox[abposr]|xapp|xoxe(?:\.xox[bp])?)-[A-Za-z0-9-]+")


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
    """bolt warns that the token is unused whenever SLACK_BOT_TOKEN is in the environment and a client
    is given; jobbot always gives the client, so the warning only confuses operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def configure(level: int, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretScrubber(secrets))
    handler.addFilter(QuietTokenWarning())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # slack_sdk logs whole request bodies at DEBUG; keep them out unless asked for at the root.
    logging.getLogger("slack_sdk").setLevel(max(level, logging.INFO))
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
