"""The GraphScope Interactive servers one jobbot speaks to: their names, and which one a request means."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# The one server's name when JOBBOT_SERVERS is unset. It is never shown (a single server is not named in
# any message); the store keys that server's rows by it, and hands them to a named server when
# JOBBOT_SERVERS is set later (see store.sql.SqlStore.adopt_default_server).
DEFAULT_SERVER = "default"
# A subscription to every server, typed `/jobs all subscribe`. Not a valid name, so it never collides.
EVERY_SERVER = "*"
EVERY_SERVER_WORD = "all"
MAX_NAME_CHARS = 20
_NAME = re.compile(r"[a-z0-9-]{1,20}")


def is_server_name(text: str) -> bool:
    """Whether `text` has a server name's shape: lowercase ASCII letters, digits and dashes, 1 to 20."""
    return _NAME.fullmatch(text) is not None


@dataclass(frozen=True)
class Server:
    """One Interactive deployment: the name people type and read, and its admin API's base URL."""

    name: str
    url: str

    def __post_init__(self) -> None:
        # Names are written into SQL text and button values; this is the one gate they all pass.
        if not is_server_name(self.name):
            raise ValueError(f"not a server name: {self.name[:40]!r}")


@dataclass(frozen=True)
class Servers:
    """The configured servers, in the order JOBBOT_SERVERS lists them (the first is the default)."""

    all: tuple[Server, ...]
    # The server a store written by a single-server jobbot belongs to (see DEFAULT_SERVER).
    legacy: str

    def __post_init__(self) -> None:
        names = [server.name for server in self.all]
        if not names:
            raise ValueError("no server")
        if len(set(names)) != len(names):
            raise ValueError("a server is named twice")
        if self.legacy not in names:
            raise ValueError(f"the legacy server {self.legacy!r} is not configured")

    @classmethod
    def single(cls, url: str) -> Servers:
        """The one server of a jobbot configured with INTERACTIVE_ADMIN_ENDPOINT alone."""
        return cls((Server(DEFAULT_SERVER, url),), legacy=DEFAULT_SERVER)

    def __iter__(self) -> Iterator[Server]:
        return iter(self.all)

    def __len__(self) -> int:
        return len(self.all)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(server.name for server in self.all)

    @property
    def first(self) -> Server:
        return self.all[0]

    @property
    def shown(self) -> bool:
        """Whether messages name their server: only when there is more than one to tell apart."""
        return len(self.all) > 1

    def label(self, name: str) -> str | None:
        """What a message calls server `name`: its name when several are configured, else nothing."""
        return name if self.shown else None


# The server the work in hand is about: set by each server's notifier thread and by each request once its
# server is known; log lines and metrics carry it.
_CURRENT: ContextVar[str | None] = ContextVar("server", default=None)


@contextmanager
def acting_on(name: str | None) -> Iterator[None]:
    """Work inside is about server `name` (threads started with a copy of the context too)."""
    token = _CURRENT.set(name)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def work_on(name: str) -> None:
    """The rest of the work in this context is about server `name`: for a task run in a copy of the
    context of its own (as each `/jobs` reply is), whose log lines and metrics after this name it."""
    _CURRENT.set(name)


def current() -> str | None:
    """The server the work in hand is about, if known."""
    return _CURRENT.get()
