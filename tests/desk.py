"""JobsHandlers driven through their own methods, on a job client and a store: a desk with a button."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, cast

from slack_bolt import Ack, Respond

from jobbot.authz import Access
from jobbot.clock import Clock, utc_now
from jobbot.handlers import JobsHandlers, ServerTools
from jobbot.jobs_api import JobClient
from jobbot.servers import DEFAULT_SERVER
from jobbot.store import Store
from jobbot.subscriptions import NoticeSettings
from tests.fakes import TEAM_ID

CANCELLER = "U0ALLOWED1"
CHANNEL = "C0CHAN01"


class Inline(Executor):
    """Runs the handlers' work at once, in the caller's thread, so a test reads the reply right after."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def never_waits(seconds: float) -> None:
    raise AssertionError(f"the cancel waited {seconds} s for another clicker where none should be")


def no_ack() -> Ack:
    """An ack() that does nothing: these tests read the reply, not the acknowledgement."""
    return cast(Ack, lambda *args, **kwargs: None)


def respond_into(replies: list[dict[str, Any]]) -> Respond:
    """A respond() that keeps each reply, its arguments as a dict, in `replies`."""
    return cast(Respond, lambda **reply: replies.append(reply))


class Desk:
    """JobsHandlers on the in-process emulator and a SQLite store, with a button to click."""

    def __init__(
        self,
        jobs: JobClient,
        store: Store,
        *,
        access: Access,
        sleep: Callable[[float], None] = never_waits,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Clock = utc_now,
    ) -> None:
        self.handlers = JobsHandlers(
            [ServerTools(DEFAULT_SERVER, jobs, access)],
            work=Inline(),
            store=store,
            notices=NoticeSettings(enabled=True, default_channel=None, default_statuses=()),
            sleep=sleep,
            monotonic=monotonic,
            clock=clock,
        )

    def click_cancel(
        self,
        job_id: str,
        user_id: str = CANCELLER,
        *,
        body: dict[str, Any] | None = None,
        value: str | None = None,
    ) -> dict[str, Any]:
        """A confirmed Cancel click (with this payload, if given) on a button whose value is the job id (or
        `value`, as a drawn button carries it); returns the one reply it gets."""
        replies: list[dict[str, Any]] = []
        if body is None:
            body = {"user": {"id": user_id, "team_id": TEAM_ID}, "channel": {"id": CHANNEL}}
        self.handlers.on_cancel_click(
            ack=no_ack(),
            body=body,
            action={"value": job_id if value is None else value},
            respond=respond_into(replies),
        )
        [reply] = replies
        return reply

    def command(self, body: dict[str, Any]) -> dict[str, Any]:
        """A `/jobs` command with these form fields; returns the one reply it gets."""
        replies: list[dict[str, Any]] = []
        self.handlers.on_command(ack=no_ack(), command=body, respond=respond_into(replies))
        [reply] = replies
        return reply

    def click(self, kind: str, value: str, user_id: str = CANCELLER) -> dict[str, Any]:
        """A click on a Details, Refresh or list page button (`kind`) carrying `value`; returns its reply."""
        replies: list[dict[str, Any]] = []
        listener = {
            "details": self.handlers.on_details,
            "refresh": self.handlers.on_job_refresh,
            "page": self.handlers.on_list_page,
        }[kind]
        body = {"user": {"id": user_id, "team_id": TEAM_ID}, "channel": {"id": CHANNEL}}
        listener(ack=no_ack(), body=body, action={"value": value}, respond=respond_into(replies))
        [reply] = replies
        return reply
