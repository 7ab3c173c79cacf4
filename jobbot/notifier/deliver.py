"""Delivering notices: group the ledger's notices into Slack messages and post each one once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from jobbot import metrics
from jobbot.clock import Clock
from jobbot.errors import PostRefused, PostUncertain
from jobbot.models import FinishedJob, JobStatus
from jobbot.notifier.report import PollReport
from jobbot.notifier.slack_poster import SlackPoster
from jobbot.notifier.transitions import NOTICE_DUE, REPLY_DUE, DeliveryEvent, next_state
from jobbot.render.kit import Message
from jobbot.render.notices import DIGEST_MAX_JOBS, completion_digest, completion_notice, failure_log_reply
from jobbot.store import Delivery, DeliveryState, NotifierStore

# One logger for the whole notifier package: log filters and captures name "jobbot.notifier".
log = logging.getLogger("jobbot.notifier")

# More notices than this for one destination in one poll become a digest.
DIGEST_THRESHOLD = 3
# A Slack destination (channel or user) that errors waits before its next attempt: from the first wait,
# doubling up to the cap, so its notices go out within a few seconds of Slack being well again.
SLACK_RETRY_FIRST_SECONDS = 1.0
SLACK_RETRY_MAX_SECONDS = 4.0
# A Retry-After is honoured up to this; beyond it the header is more likely wrong than meant.
RETRY_AFTER_MAX_SECONDS = 300.0
# A destination quiet this long after its wait ended starts its next error streak afresh.
SLACK_STREAK_FORGET_SECONDS = 60.0


@dataclass
class _Hold:
    until: float
    failures: int


class SlackHolds:
    """When each Slack destination may be tried again: after its own errors (doubling, capped) or as a
    429's Retry-After says, for that destination or, for a workspace-wide limit, for all of them."""

    def __init__(self) -> None:
        self._holds: dict[str, _Hold] = {}
        self._everyone_until = float("-inf")

    def held(self, destination: str, now: float) -> bool:
        hold = self._holds.get(destination)
        return now < self._everyone_until or (hold is not None and now < hold.until)

    def failed(
        self, destination: str, now: float, *, retry_after: float | None = None, workspace_wide: bool = False
    ) -> float:
        """Note an error; returns the seconds the destination (or everyone) now waits."""
        hold = self._holds.get(destination)
        failures = (hold.failures if hold else 0) + 1
        if retry_after is not None:
            wait = min(max(retry_after, 0.0), RETRY_AFTER_MAX_SECONDS)
        else:
            wait = min(SLACK_RETRY_FIRST_SECONDS * 2 ** (failures - 1), SLACK_RETRY_MAX_SECONDS)
        if workspace_wide:
            self._everyone_until = max(self._everyone_until, now + wait)
        else:
            self._holds[destination] = _Hold(now + wait, failures)
        return wait

    def cleared(self, destination: str) -> None:
        """The destination answered: its next error starts from the first wait again."""
        self._holds.pop(destination, None)

    def next_end(self, now: float) -> float | None:
        """The earliest moment after `now` at which a wait ends, if any wait is still running."""
        for destination, hold in list(self._holds.items()):
            if hold.until + SLACK_STREAK_FORGET_SECONDS < now:
                del self._holds[destination]
        ends = [h.until for h in self._holds.values() if h.until > now]
        if self._everyone_until > now:
            ends.append(self._everyone_until)
        return min(ends, default=None)


class ForADestination(Protocol):
    """A job for one destination, waiting for its message: a notice, or a job for a live card."""

    @property
    def job(self) -> FinishedJob: ...
    @property
    def destination(self) -> str: ...


Row = TypeVar("Row", bound=ForADestination)


def into_messages(
    rows: Sequence[Row], gathering: Collection[str], holds: SlackHolds, poster: SlackPoster, now: float
) -> list[list[Row]]:
    """Group rows into messages: one each, or for a burst (more than DIGEST_THRESHOLD for a destination,
    or more than its rate allowance takes now) digests of up to DIGEST_MAX_JOBS, newest job first. The
    rows of a destination that is `gathering` (a message of its own not yet out) or waiting out an error
    are left for later: when it is well again they go out together, not queued a message a second."""
    by_destination: dict[str, list[Row]] = {}
    for row in rows:
        if row.destination in gathering or holds.held(row.destination, now):
            continue
        by_destination.setdefault(row.destination, []).append(row)
    groups: list[list[Row]] = []
    for destination, waiting in by_destination.items():
        if len(waiting) > DIGEST_THRESHOLD or len(waiting) > max(1, poster.posts_available(destination)):
            waiting.sort(key=lambda r: int(r.job.id), reverse=True)
            groups += [waiting[i : i + DIGEST_MAX_JOBS] for i in range(0, len(waiting), DIGEST_MAX_JOBS)]
        else:
            groups += [[row] for row in waiting]
    return groups


@dataclass(frozen=True)
class _Pass:
    """One delivery pass: when it ends, and the event that says the process is stopping."""

    ends: float
    stop: threading.Event | None


class Courier:
    """Groups the ledger's notices into Slack messages and posts each one once."""

    def __init__(
        self,
        store: NotifierStore,
        poster: SlackPoster,
        *,
        clock: Clock,
        monotonic: Callable[[], float],
        poll_interval: float,
        server: str | None = None,
    ) -> None:
        self._store = store
        self._poster = poster
        # What the notices call their server: None when it is the only one, and not named.
        self._server = server
        self._clock = clock
        self._monotonic = monotonic
        self._poll_interval = poll_interval
        # When each destination may be tried again; the loop wakes up when a wait ends.
        self.holds = SlackHolds()
        # (destination, error) pairs already logged at ERROR: an archived channel is reported once.
        self._reported_failures: set[tuple[str, str]] = set()

    # Grouping notices into Slack messages.

    def group(self) -> bool:
        """Group new notices into messages; True when some were grouped."""
        rows = self._store.ungrouped_notices()
        if not rows:
            return False
        # A destination waiting out an error, or with a message not yet out, gathers its new notices:
        # when it is well again they go out as one digest, not as a queue paced at one message a second.
        unsent = {d.destination for d in self._store.open_deliveries() if d.state in NOTICE_DUE}
        groups = into_messages(rows, unsent, self.holds, self._poster, self._monotonic())
        if groups:
            self._store.group_notices(groups, self._clock())
        return bool(groups)

    # Delivery.

    def deliver(
        self, report: PollReport, *, until: float = float("inf"), stop: threading.Event | None = None
    ) -> None:
        """Post notices first, then failures' log replies with whatever rate allowance is left: under a
        burst the replies wait for a quiet moment, the notices do not wait for them. A destination that
        errors waits on its own; the others go on. The pass ends at `until`, when the next poll is due,
        or once `stop` is set."""
        # A pass stops when the next poll is due, so that polls start on time; but it always gets half
        # an interval, so that a slow GraphScope cannot leave no time to post.
        now = self._monotonic()
        this_pass = _Pass(ends=max(until, now + self._poll_interval / 2), stop=stop)
        deliveries = self._store.open_deliveries()
        notices = [d for d in deliveries if d.state in NOTICE_DUE]
        replies = [d for d in deliveries if d.state in REPLY_DUE]
        posted = report.posted
        if not self._post_notices(notices, report, this_pass):
            return
        # A destination whose waiting message just went out may have gathered notices meanwhile: group
        # them and post them now, not at the next poll.
        if report.posted > posted and self.group():
            tried = {d.id for d in notices}
            fresh = [
                d
                for d in self._store.open_deliveries()
                if d.state is DeliveryState.PENDING and d.id not in tried
            ]
            if not self._post_notices(fresh, report, this_pass):
                return
        for delivery in self._store.open_deliveries() if notices else replies:
            if delivery.state not in REPLY_DUE or not delivery.channel:
                continue
            if self._pass_over(this_pass):
                return
            if self.holds.held(delivery.destination, self._monotonic()):
                report.waiting += 1
                continue
            # Keep one post of the allowance for the next notice: a reply must never delay one.
            if self._poster.posts_available(delivery.channel) < 2:
                continue
            self._attempt(delivery, report, self._post_log_reply)

    def _post_notices(self, notices: list[Delivery], report: PollReport, this_pass: _Pass) -> bool:
        """Post each notice whose destination is not waiting; False when the pass is over."""
        for delivery in notices:
            if self._pass_over(this_pass):
                return False
            if self.holds.held(delivery.destination, self._monotonic()):
                report.waiting += 1
                continue
            self._attempt(delivery, report, self._post_notice)
        return True

    def _pass_over(self, this_pass: _Pass) -> bool:
        """Stop delivering: the process is stopping, or the next poll is due (it goes first)."""
        stopping = this_pass.stop is not None and this_pass.stop.is_set()
        return stopping or self._monotonic() >= this_pass.ends

    def _attempt(
        self, delivery: Delivery, report: PollReport, step: Callable[[Delivery, PollReport], None]
    ) -> None:
        """Run one delivery step; an error makes that destination wait before its next attempt."""
        try:
            step(delivery, report)
        except PostUncertain as exc:
            # The outcome is unknown: the state says so, and the next attempt looks before it posts.
            report.slack_error = str(exc)
            wait = self.holds.failed(delivery.destination, self._monotonic())
            log.warning(
                "notifier: delivery %d to %s: %s; trying it again in %g s",
                delivery.id,
                delivery.destination,
                exc,
                wait,
            )
            return
        except PostRefused as exc:
            metrics.NOTICES.labels("failed" if exc.permanent else "refused").inc()
            if not exc.permanent:
                report.slack_error = exc.error
                wait = self.holds.failed(
                    delivery.destination,
                    self._monotonic(),
                    retry_after=exc.retry_after,
                    workspace_wide=exc.workspace_wide,
                )
                log.warning(
                    "notifier: Slack refused delivery %d to %s for now (%s); trying %s again in %g s",
                    delivery.id,
                    delivery.destination,
                    exc.error,
                    "every destination" if exc.workspace_wide else "it",
                    wait,
                )
                return
            self.holds.cleared(delivery.destination)
            state = next_state(delivery.state, DeliveryEvent.REFUSED_FOR_GOOD)
            self._store.set_delivery_state(delivery.id, state, now=self._clock(), error=exc.error)
            report.failed += 1
            first_time = (delivery.destination, exc.error) not in self._reported_failures
            self._reported_failures.add((delivery.destination, exc.error))
            log.log(
                logging.ERROR if first_time else logging.DEBUG,
                "notifier: cannot post to %s (%s); %d notice(s) for job(s) %s not delivered. %s",
                delivery.destination,
                exc.error,
                len(delivery.jobs),
                ", ".join(j.id for j in delivery.jobs),
                _advice(exc.error),
            )
            return
        self.holds.cleared(delivery.destination)

    def _post_notice(self, delivery: Delivery, report: PollReport) -> None:
        channel = delivery.channel or self._poster.channel_for(delivery.destination)
        key = self._key(delivery)
        state = delivery.state
        ts = None
        if state is DeliveryState.POSTING:
            ts = self._poster.find(channel, key, oldest=delivery.created_at)
            if ts:
                log.info(
                    "notifier: delivery %d was already posted (found in history); not posting again",
                    delivery.id,
                )
        if ts is None:
            if not self._store.claim_delivery(
                delivery.id, attempts=delivery.attempts, channel=channel, now=self._clock()
            ):
                log.info("notifier: delivery %d was taken by another replica", delivery.id)
                return
            state = next_state(state, DeliveryEvent.CLAIMED)
            try:
                ts = self._poster.post(
                    channel, self._message(delivery), key=key, job_ids=[j.id for j in delivery.jobs]
                )
            except PostRefused:
                # Slack answered without posting: nothing is in the channel, so a plain retry is safe.
                refused = next_state(state, DeliveryEvent.REFUSED)
                self._store.set_delivery_state(delivery.id, refused, now=self._clock())
                raise
            report.posted += 1
            metrics.NOTICES.labels("posted").inc()
            posted_at = self._clock()
            for job in delivery.jobs:
                if job.ended_at is not None:
                    metrics.NOTICE_LATENCY.observe(max(0.0, (posted_at - job.ended_at).total_seconds()))
        needs_reply = any(JobStatus(j.status) is JobStatus.FAILED for j in delivery.jobs)
        out = DeliveryEvent.FAILURE_NOTICE_OUT if needs_reply else DeliveryEvent.NOTICE_OUT
        state = next_state(state, out)
        self._store.set_delivery_state(delivery.id, state, now=self._clock(), channel=channel, ts=ts)

    def _post_log_reply(self, delivery: Delivery, report: PollReport) -> None:
        assert delivery.channel and delivery.ts
        key = self._key(delivery) + ":log"
        if delivery.state is DeliveryState.THREADING and self._poster.find(
            delivery.channel, key, oldest=delivery.created_at, thread_ts=delivery.ts
        ):
            done = next_state(delivery.state, DeliveryEvent.REPLY_OUT)
            self._store.set_delivery_state(delivery.id, done, now=self._clock())
            return
        state = next_state(delivery.state, DeliveryEvent.REPLYING)
        self._store.set_delivery_state(delivery.id, state, now=self._clock())
        failed = [j for j in delivery.jobs if JobStatus(j.status) is JobStatus.FAILED]
        try:
            self._poster.post(
                delivery.channel,
                failure_log_reply(failed, server=self._server),
                key=key,
                job_ids=[j.id for j in failed],
                thread_ts=delivery.ts,
            )
        except PostRefused:
            refused = next_state(state, DeliveryEvent.REFUSED)
            self._store.set_delivery_state(delivery.id, refused, now=self._clock())
            raise
        done = next_state(state, DeliveryEvent.REPLY_OUT)
        self._store.set_delivery_state(delivery.id, done, now=self._clock())

    def _key(self, delivery: Delivery) -> str:
        return f"{self._store.instance_id}:{delivery.id}"

    def _message(self, delivery: Delivery) -> Message:
        if len(delivery.jobs) == 1:
            return completion_notice(delivery.jobs[0], server=self._server)
        return completion_digest(delivery.jobs, offline=delivery.offline, server=self._server)


def _advice(error: str) -> str:
    if error == "not_in_channel":
        return "Invite the bot to the channel (/invite @jobbot) for future notices."
    if error in ("is_archived", "channel_is_archived"):
        return "The channel is archived; /jobs unsubscribe there or change JOBBOT_NOTIFY_CHANNEL."
    if error == "channel_not_found":
        return "Check the channel ID (JOBBOT_NOTIFY_CHANNEL or the subscription) and that the bot can see it."
    return ""
