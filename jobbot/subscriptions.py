"""Who gets completion notices: `/jobs watch` and `subscribe`, their undoing and listing, with the audit."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from jobbot import slack_ids
from jobbot.clock import Clock, utc_now
from jobbot.errors import StoreError
from jobbot.models import AUDIT_FOLD_SECONDS, Actor, JobWithLog, NoticeStyle, Subscription, SubscriptionChange
from jobbot.render.kit import Message
from jobbot.render.problems import problem
from jobbot.render.replies import (
    subscribed,
    subscription_list,
    unsubscribed,
    watch_already_finished,
    watch_started,
    watch_stopped,
)
from jobbot.store import CommandStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoticeSettings:
    """What the handlers need to know about completion notices."""

    enabled: bool
    default_channel: str | None
    default_statuses: tuple[str, ...]
    default_style: NoticeStyle = NoticeStyle.FINAL


class JobLookup(Protocol):
    """How a watch reads the job it is asked for (`jobbot.jobs_api.JobClient` is one)."""

    def get_job(self, job_id: str) -> JobWithLog: ...


class Subscriptions:
    """The `/jobs` subcommands that choose who is told when jobs finish, each answered with its reply."""

    def __init__(
        self,
        jobs: JobLookup,
        store: CommandStore,
        notices: NoticeSettings,
        *,
        clock: Clock = utc_now,
        server: str | None = None,
    ) -> None:
        """`store` is scoped to one server (or to every server), which replies name as `server` (None: the
        only server, not named)."""
        self._jobs = jobs
        self._store = store
        self._notices = notices
        self._clock = clock
        self._server = server

    def watch(self, job_id: str, user_id: str) -> Message:
        if not self._notices.enabled:
            return problem("Completion notices are switched off here (JOBBOT_NOTIFIER=off).")
        job = self._jobs.get_job(job_id)
        if job.is_terminal:
            return watch_already_finished(job, now=self._clock(), server=self._server)
        self._store.watch(job_id, user_id, self._clock())
        return watch_started(job_id, server=self._server)

    def unwatch(self, job_id: str, user_id: str) -> Message:
        return watch_stopped(job_id, existed=self._store.unwatch(job_id, user_id), server=self._server)

    def subscribe(
        self, who: Actor, statuses: tuple[str, ...], style: NoticeStyle = NoticeStyle.FINAL
    ) -> Message:
        user_id, channel_id = who.user_id, who.channel_id
        if not self._notices.enabled:
            return problem("Completion notices are switched off here (JOBBOT_NOTIFIER=off).")
        if not slack_ids.is_channel_id(channel_id):
            return problem(
                "`/jobs subscribe` works in a channel. In a direct message, use `/jobs watch ID` for one job."
            )
        self._store.subscribe(
            Subscription(
                channel_id=channel_id,
                statuses=statuses,
                style=style,
                added_by=user_id,
                added_at=self._clock(),
            )
        )
        self._audit_subscription(
            who, "subscribed live" if style is NoticeStyle.LIVE else "subscribed", statuses
        )
        return subscribed(channel_id, statuses, style, server=self._server)

    def unsubscribe(self, who: Actor) -> Message:
        channel_id = who.channel_id
        existed = self._store.unsubscribe(channel_id)
        if existed:
            self._audit_subscription(who, "unsubscribed", ())
        return unsubscribed(channel_id, existed=existed, server=self._server)

    def listing(self, *, shown: bool = False, channel_defaults: Mapping[str, str] | None = None) -> Message:
        """Every channel's subscriptions, to whichever server (named when `shown`)."""
        return subscription_list(
            self._store.every_subscription(),
            default_channel=self._notices.default_channel,
            default_statuses=self._notices.default_statuses,
            default_style=self._notices.default_style,
            shown=shown,
            channel_defaults=channel_defaults or {},
        )

    def record_default_server(self, who: Actor) -> None:
        """The store's server made the channel's default (`/jobs use`): into the audit trail and the log."""
        self._audit_subscription(who, "default server", ())

    def _audit_subscription(self, who: Actor, action: str, statuses: tuple[str, ...]) -> None:
        """A channel's notices turned on, changed or off: into the audit trail and the log."""
        change = SubscriptionChange(
            at=self._clock(),
            user_id=who.user_id,
            team_id=who.team_id,
            channel_id=who.channel_id,
            action=action,
            statuses=statuses,
        )
        log.info(
            "%s: channel %s by %s",
            action,
            change.channel_id,
            who.user_id,
            extra={"audit": change.model_dump(mode="json")},
        )
        try:
            self._store.record_subscription_change(change, fold_within=AUDIT_FOLD_SECONDS)
        except StoreError as exc:
            # The change itself is made; the log line above still has it.
            log.error("could not record the subscription change: %s", exc)
