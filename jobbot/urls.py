"""URLs as they may be shown: credentials in a URL (`http://admin:pass@host`) never reach a log or Slack."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def without_credentials(url: str) -> str:
    """`url` with any user name and password replaced by `***`, for logs, replies and probes.

    Anything that does not parse as a URL is returned as `[unparseable URL]`: a malformed value may
    still hold a password, and showing it is the one thing this must never do.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "[unparseable URL]"
    if "@" not in parts.netloc:
        return url
    netloc = "***@" + (f"[{host}]" if host and ":" in host else (host or ""))
    if port is not None:
        netloc += f":{port}"
    return urlunsplit(parts._replace(netloc=netloc))
