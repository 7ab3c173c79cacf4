"""The notifier's loop: take the lease, then poll and deliver on a schedule that backs off on errors."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence

from jobbot import metrics, servers
from jobbot.clock import Clock
from jobbot.errors import JobApiError, StoreError
from jobbot.jobs_api import JobClient
from jobbot.models import NoticeStyle
from jobbot.notifier.cards import CardKeeper
from jobbot.notifier.deliver import Courier
from jobbot.notifier.live import LivePlanner
from jobbot.notifier.observe import JobTracker
from jobbot.notifier.report import PollReport
from jobbot.notifier.slack_poster import SlackPoster
from jobbot.servers import DEFAULT_SERVER
from jobbot.store import NotifierStore

# One logger for the whole notifier package: log filters and captures name "jobbot.notifier".
log = logging.getLogger("jobbot.notifier")

# While polls fail (GraphScope or the store errs), they spread out, doubling from the poll interval up
# to the interval plus this: a poll follows the end of an outage within interval + 4 s, which leaves a
# second to post.
POLL_BACKOFF_EXTRA_SECONDS = 4.0
LEASE_NAME = "notifier"
LEASE_FLOOR_SECONDS = 1.0


class Notifier:
    """Announces finished jobs to channels and watchers."""

    def __init__(
        self,
        jobs: JobClient,
        store: NotifierStore,
        poster: SlackPoster,
        *,
        clock: Clock,
        default_channel: str | None,
        default_statuses: Sequence[str],
        poll_interval: float,
        reconcile_interval: float,
        replica_id: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        notify_style: NoticeStyle = NoticeStyle.FINAL,
        long_running_after: float = 0.0,
        server: str = DEFAULT_SERVER,
        label: str | None = None,
    ) -> None:
        """One server's notifier: `store` is scoped to `server` and `jobs` speaks to it; messages call it
        `label` (None: the only server, not named)."""
        self.server = server
        self._store = store
        # The loop's schedule runs on this clock (tests simulate time with it); `clock` dates records.
        self._monotonic = monotonic
        self.poll_interval = poll_interval
        self._tracker = JobTracker(
            jobs,
            store,
            clock=clock,
            default_channel=default_channel,
            default_statuses=default_statuses,
            reconcile_interval=reconcile_interval,
            live=LivePlanner(
                store,
                default_channel=default_channel,
                default_statuses=default_statuses,
                default_style=notify_style,
                long_running_after=long_running_after,
            ),
        )
        self._courier = Courier(
            store, poster, clock=clock, monotonic=monotonic, poll_interval=poll_interval, server=label
        )
        self._keeper = CardKeeper(
            store, poster, jobs, clock=clock, monotonic=monotonic, holds=self._courier.holds, server=label
        )
        # Leadership: replicas share one lease; its holder polls and posts, the others stand by.
        self.replica_id = replica_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        # A leader renews every poll; a standby takes over once the lease has run out, which a lease
        # of a few intervals (and at least a few seconds) makes happen within two lease periods.
        self.lease_seconds = max(3 * poll_interval, LEASE_FLOOR_SECONDS)
        # The loop's schedule, on the monotonic clock: GraphScope polls and Slack destinations keep
        # separate backoffs, so trouble with one never slows the other.
        self._next_poll = float("-inf")
        self._poll_delay = poll_interval
        self.is_leader = False
        self.last_success: float | None = None  # time.monotonic() of the last poll that went through

    # The loop.

    def run(self, stop: threading.Event) -> None:
        """Poll while holding the lease, until `stop` is set. Polls back off only while they fail (GraphScope
        or the store errs); a Slack destination that errors waits on its own and is tried again when its
        wait ends, without delaying polls or other destinations. The lease is released on the way out, so
        a standby takes over at once."""
        # Each server's notifier runs on a thread of its own: its log lines and metrics name the server.
        with servers.acting_on(self.server):
            try:
                while not stop.is_set():
                    stop.wait(self.turn(stop))
            finally:
                if self.is_leader:
                    self._store.release_lease(LEASE_NAME, self.replica_id)
                    self.is_leader = False
                    log.info("notifier: lease released")

    def turn(self, stop: threading.Event | None = None) -> float:
        """One turn of the loop: a poll when one is due, else the deliveries whose destinations' waits
        have ended. Returns the seconds until the next turn: the next poll or the end of a wait. A
        delivery pass ends early once `stop` is set."""
        started = self._monotonic()
        if started >= self._next_poll:
            # Polls start every interval, not an interval after the last one ended.
            self._next_poll = started + self.poll_interval
            report = self._tick(poll=True, until=self._next_poll, stop=stop)
            if report.poll_failed:
                cap = self.poll_interval + POLL_BACKOFF_EXTRA_SECONDS
                self._poll_delay = min(self._poll_delay * 2, cap)
            else:
                self._poll_delay = self.poll_interval
            self._next_poll = started + self._poll_delay
        else:
            self._tick(poll=False, until=self._next_poll, stop=stop)
        now = self._monotonic()
        wake = self._next_poll
        hold_ends = self._courier.holds.next_end(now)
        if hold_ends is not None and self.is_leader:
            wake = min(wake, hold_ends)
        return max(0.0, wake - now)

    def _tick(
        self, *, poll: bool = True, until: float = float("inf"), stop: threading.Event | None = None
    ) -> PollReport:
        """Take or renew the lease, then, if this replica leads, poll (or only deliver what is due).
        Delivering stops at `until` (when the next poll is due) or once `stop` is set."""
        try:
            leader = self._store.acquire_lease(LEASE_NAME, self.replica_id, self.lease_seconds)
            if leader != self.is_leader:
                log.info("notifier: %s", "leading: this replica polls and posts" if leader else "standing by")
            self.is_leader = leader
            metrics.LEADER.set(1 if leader else 0)
            if not leader:
                self._tracker.start_afresh()  # a future leader re-reads everything first
                return PollReport()
            if not poll:
                report = PollReport()
                self._courier.group()
                self._courier.deliver(report, until=until, stop=stop)
                self._keeper.keep(report, until=self._pass_end(until), stop=stop)
                return report
            with metrics.POLL_SECONDS.time():
                report = self.poll_once(until=until, stop=stop)
            # A poll went through when GraphScope answered; Slack's trouble is the deliveries' to wait out.
            if not report.interactive_error:
                self.last_success = time.monotonic()
            return report
        except StoreError as exc:
            log.error("notifier: the store failed: %s", exc)
            return PollReport(store_error=str(exc))
        except Exception:
            log.exception("notifier: unexpected error; will try again")
            return PollReport(unexpected_error="unexpected error")

    # One poll.

    def poll_once(self, *, until: float = float("inf"), stop: threading.Event | None = None) -> PollReport:
        """Observe the server's jobs, then group and deliver notices (until `until`, or `stop` is set)."""
        report = PollReport()
        try:
            self._tracker.observe(report)
        except JobApiError as exc:
            # Nothing is recorded from a poll that failed part-way; the next one starts over.
            report.interactive_error = str(exc)
            log.warning("notifier: could not read jobs: %s", exc)
        self._courier.group()
        self._courier.deliver(report, until=until, stop=stop)
        self._keeper.keep(report, until=self._pass_end(until), stop=stop)
        return report

    def _pass_end(self, until: float) -> float:
        # As for notices: a pass ends when the next poll is due, but always gets half an interval.
        return max(until, self._monotonic() + self.poll_interval / 2)
