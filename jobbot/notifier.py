"""Completion notices: poll the Interactive server, remember what was told, post each notice once.

`poll_once()` holds the logic (observe jobs, enqueue notices in the ledger, deliver open deliveries);
`run()` is only the loop. The clock, the job client, the store and the Slack poster are injected.

Exactly once rests on two things. Job statuses and the notices they cause are written in one
transaction, so a crash loses neither alone. Every delivery is marked "posting" before the post and
carries its ledger key as message metadata, so after a crash a delivery whose outcome is unknown is
looked up in the channel's history before it is posted again.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jobbot import blocks, metrics
from jobbot.blocks import Message
from jobbot.errors import JobApiError, JobNotFound, StoreError
from jobbot.jobs_api import JobClient
from jobbot.models import MAX_JOB_ID, FinishedJob, Job, JobWithLog, parse_job_id
from jobbot.slack_poster import PostRefused, PostUncertain, SlackPoster
from jobbot.store import Delivery, DeliveryState, NoticeRow, NotifierStore, TrackedJob

log = logging.getLogger(__name__)

# More notices than this for one destination in one poll become a digest.
DIGEST_THRESHOLD = 3
# New ids probed per poll; a longer run of new jobs is picked up over the next polls or the reconcile.
MAX_NEW_JOBS_PER_POLL = 200
# A failure's thread reply shows this much of the end of its log.
FAILURE_LOG_LINES = 40
FAILURE_LOG_CHARS = 4000
# While GraphScope errors, polls spread out, doubling from the poll interval up to the interval plus
# this: a poll follows the end of an outage within interval + 4 s, which leaves a second to post.
POLL_BACKOFF_EXTRA_SECONDS = 4.0
# A Slack destination (channel or user) that errors waits before its next attempt: from the first wait,
# doubling up to the cap, so its notices go out within a few seconds of Slack being well again.
SLACK_RETRY_FIRST_SECONDS = 1.0
SLACK_RETRY_MAX_SECONDS = 4.0
# A Retry-After is honoured up to this; beyond it the header is more likely wrong than meant.
RETRY_AFTER_MAX_SECONDS = 300.0
# A destination quiet this long after its wait ended starts its next error streak afresh.
SLACK_STREAK_FORGET_SECONDS = 60.0
# After a reset, more finished jobs than one digest holds are another server's history, not news: they
# are recorded without notices, as at a first start.
MAX_ANNOUNCED_AFTER_RESET = blocks.DIGEST_MAX_JOBS
# A job the server lost while it was running, recorded as such (by earlier versions, or when the
# newest job shows no reset): it says nothing about what the server holds now.
GONE = "GONE"
# Odd ids warned about, per process: enough for any real server, bounded against a hostile one.
MAX_ODD_IDS_REMEMBERED = 10_000
LEASE_NAME = "notifier"
LEASE_FLOOR_SECONDS = 1.0

Clock = Callable[[], datetime]


@dataclass
class PollReport:
    """What one poll did, for logs, tests and metrics."""

    finished: list[str] = field(default_factory=list)
    new_notices: int = 0
    posted: int = 0
    failed: int = 0
    reconciled: bool = False
    interactive_error: str | None = None
    slack_error: str | None = None
    # Deliveries left for later because their destination is waiting out an error or a Retry-After.
    waiting: int = 0


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
    ) -> None:
        self._jobs = jobs
        self._store = store
        self._poster = poster
        self._clock = clock
        # The loop's schedule runs on this clock (tests simulate time with it); `clock` dates records.
        self._monotonic = monotonic
        self._default_channel = default_channel
        self._default_statuses = tuple(default_statuses)
        self.poll_interval = poll_interval
        self._reconcile_interval = timedelta(seconds=reconcile_interval)
        # The first poll of a process re-reads everything: jobs may have finished while it was down.
        self._first_poll = True
        # (destination, error) pairs already logged at ERROR: an archived channel is reported once.
        self._reported_failures: set[tuple[str, str]] = set()
        # Server entries whose id is not a job id, already warned about and counted: once per process.
        self._odd_ids: set[str] = set()
        # The last poll could not reach the server: the next one checks it is still the same server.
        self._after_outage = False
        # Leadership: replicas share one lease; its holder polls and posts, the others stand by.
        self.replica_id = replica_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        # A leader renews every poll; a standby takes over once the lease has run out, which a lease
        # of a few intervals (and at least a few seconds) makes happen within two lease periods.
        self.lease_seconds = max(3 * poll_interval, LEASE_FLOOR_SECONDS)
        self._fenced = False
        self._stopping = threading.Event()
        # The loop's schedule, on the monotonic clock: GraphScope polls and Slack destinations keep
        # separate backoffs, so trouble with one never slows the other.
        self._holds = SlackHolds()
        self._next_poll = float("-inf")
        self._poll_delay = poll_interval
        # A delivery pass stops when the next poll is due, so that polls start on time; but it always
        # gets half an interval, so that a slow GraphScope cannot leave no time to post.
        self._deliver_until = float("inf")
        self._pass_ends = float("inf")
        self.is_leader = False
        self.last_success: float | None = None  # time.monotonic() of the last poll that went through

    # The loop.

    def run(self, stop: threading.Event) -> None:
        """Poll while holding the lease, until `stop` is set. Polls back off only while GraphScope errors;
        a Slack destination that errors waits on its own and is tried again when its wait ends, without
        delaying polls or other destinations. The lease is released on the way out, so a standby takes
        over at once."""
        self._stopping = stop
        try:
            while not stop.is_set():
                stop.wait(self.turn())
        finally:
            if self.is_leader:
                self._store.release_lease(LEASE_NAME, self.replica_id)
                self.is_leader = False
                log.info("notifier: lease released")

    def turn(self) -> float:
        """One turn of the loop: a poll when one is due, else the deliveries whose destinations' waits
        have ended. Returns the seconds until the next turn: the next poll or the end of a wait."""
        started = self._monotonic()
        if started >= self._next_poll:
            # Polls start every interval, not an interval after the last one ended.
            self._next_poll = started + self.poll_interval
            self._deliver_until = self._next_poll
            report = self._tick(poll=True)
            if report.interactive_error:
                cap = self.poll_interval + POLL_BACKOFF_EXTRA_SECONDS
                self._poll_delay = min(self._poll_delay * 2, cap)
            else:
                self._poll_delay = self.poll_interval
            self._next_poll = started + self._poll_delay
        else:
            self._deliver_until = self._next_poll
            self._tick(poll=False)
        self._deliver_until = float("inf")
        now = self._monotonic()
        wake = self._next_poll
        hold_ends = self._holds.next_end(now)
        if hold_ends is not None and self.is_leader:
            wake = min(wake, hold_ends)
        return max(0.0, wake - now)

    def _tick(self, *, poll: bool = True) -> PollReport:
        """Take or renew the lease, then, if this replica leads, poll (or only deliver what is due)."""
        try:
            leader = self._store.acquire_lease(LEASE_NAME, self.replica_id, self.lease_seconds)
            if leader != self.is_leader:
                log.info("notifier: %s", "leading: this replica polls and posts" if leader else "standing by")
            self.is_leader = leader
            metrics.LEADER.set(1 if leader else 0)
            if not leader:
                self._first_poll = True  # a future leader re-reads everything first
                return PollReport()
            self._fenced = True
            if not poll:
                report = PollReport()
                self._group()
                self._deliver(report)
                return report
            with metrics.POLL_SECONDS.time():
                report = self.poll_once()
            # A poll went through when GraphScope answered; Slack's trouble is the deliveries' to wait out.
            if not report.interactive_error:
                self.last_success = time.monotonic()
            return report
        except StoreError as exc:
            log.error("notifier: the store failed: %s", exc)
            return PollReport(interactive_error=str(exc))
        except Exception:
            log.exception("notifier: unexpected error; will try again")
            return PollReport(interactive_error="unexpected error")

    # One poll.

    def poll_once(self) -> PollReport:
        report = PollReport()
        try:
            self._observe(report)
        except JobApiError as exc:
            # Nothing is recorded from a poll that failed part-way; the next one starts over.
            report.interactive_error = str(exc)
            log.warning("notifier: could not read jobs: %s", exc)
        self._group()
        self._deliver(report)
        return report

    def _observe(self, report: PollReport) -> None:
        try:
            self._observe_jobs(report)
        except JobApiError:
            # An outage may end with another server behind the same address (a redeploy that lost
            # its metadata): the first poll that reaches it again checks before trusting what we know.
            self._after_outage = True
            raise
        self._after_outage = False

    def _observe_jobs(self, report: PollReport) -> None:
        now = self._clock()
        if not self._store.baseline_taken():
            jobs = self._trackable(self._jobs.list_jobs())
            self._store.take_baseline([_tracked(j) for j in jobs], now)
            log.info("notifier: first start; %d existing jobs recorded, none announced", len(jobs))
            self._first_poll = False
            report.reconciled = True
            return
        offline = self._first_poll
        last = self._store.last_reconcile()
        reconcile = offline or last is None or now - last >= self._reconcile_interval
        reset = False
        if not reconcile:
            steady = None if self._after_outage and self._server_was_reset() else self._steady_poll()
            reset = steady is None
        if reconcile or reset:
            seen, finished, reset = self._reconcile(reset=reset)
        else:
            assert steady is not None
            seen, finished = steady
        # After a reset, the new server's jobs that finished before we noticed it are announced like any
        # other (a digest when there are several), but not as "while jobbot was offline": it was not.
        notices = [
            NoticeRow(notice, destination, offline)
            for job in finished
            for notice in [self._finished(job)]
            for destination in self._destinations(notice)
        ]
        report.new_notices = self._store.record_poll(seen, notices, now=now, reconciled=reconcile or reset)
        report.finished = [j.id for j in finished]
        report.reconciled = reconcile or reset
        self._first_poll = False
        if finished:
            log.info(
                "notifier: %d job(s) finished: %s", len(finished), ", ".join(j.id for j in finished[:20])
            )

    def _steady_poll(self) -> tuple[list[TrackedJob], list[Job]] | None:
        """Re-read active jobs one by one, then ask for ids above the highest known: flat in history size.

        None: the server's ids started again (a known job is gone, or now started at another time, and
        the newest job we know confirms it); the caller reads the new server whole.
        """
        seen: list[TrackedJob] = []
        finished: list[Job] = []
        fetched: dict[str, Job] = {}
        for known in self._store.active_jobs():
            try:
                job = self._jobs.get_job(known.id)
            except JobNotFound:
                if self._server_was_reset():
                    return None
                # Not a reset (the newest job is still there): stop asking about this one, say nothing.
                log.warning("notifier: job %s is no longer on the server; no longer watching it", known.id)
                seen.append(TrackedJob(known.id, GONE, True))
                continue
            if _started_elsewhen(known, job) and self._server_was_reset():
                return None
            fetched[job.id] = job
            if job.status != known.status or _learns_start(known, job):
                seen.append(_tracked(job))
            if job.is_terminal:
                finished.append(job)
        next_id = self._store.high_water() + 1
        for probe in range(MAX_NEW_JOBS_PER_POLL):
            if next_id > MAX_JOB_ID:
                break  # no job id goes further; a reconcile says what the server has there
            try:
                job = self._jobs.get_job(str(next_id))
            except JobNotFound:
                break
            # A new id is the old server's next job only if the newest job we know is still its own:
            # a server that started again at 1 may already have passed our highest id.
            if probe == 0 and self._newest_moved(fetched):
                return None
            # The id asked for is the job's id, whatever the answer's own id field says.
            job = job.model_copy(update={"id": str(next_id)}) if job.id != str(next_id) else job
            seen.append(_tracked(job))
            if job.is_terminal:
                finished.append(job)
            next_id += 1
        return seen, finished

    def _reconcile(self, *, reset: bool = False) -> tuple[list[TrackedJob], list[Job], bool]:
        """Read the whole list: catches gaps in ids, jobs changed behind our back, and a server whose ids
        started again (`reset` says one was already seen). Returns what changed, what finished, and
        whether a new generation began."""
        listed = self._trackable(self._jobs.list_jobs())
        known = self._store.job_statuses()
        if reset or self._reset_in_listing(known, listed):
            known = self._begin_generation(listed)
            reset = True
        seen: list[TrackedJob] = []
        finished: list[Job] = []
        for job in listed:
            before = known.get(job.id)
            if before is None or before.status != job.status or _learns_start(before, job):
                seen.append(_tracked(job))
            # Only the first final status is announced: a CANCELLED the loader later overwrites with
            # FAILED is one event, not two.
            if job.is_terminal and (before is None or not before.terminal):
                finished.append(job)
        if reset and len(finished) > MAX_ANNOUNCED_AFTER_RESET:
            finished = []  # recorded above, like a first start's history; the warning said so
        return seen, finished, reset

    # A redeployed server: its ids start again at 1.
    #
    # Everything keyed by a job id (the store's jobs, the notice ledger, watches, cancel claims) is
    # keyed by (generation, job id), and a reset begins a new generation. That is simpler than moving
    # the old rows away and just as correct: the old rows stay where they are, never match the new
    # server's jobs, and the old server's notices already in the ledger are still delivered.
    #
    # A reset shows as a known job the server no longer has (404) or that now started at another time
    # (a new job under an old id). It is looked for after every outage (a redeploy is one), whenever a
    # running job vanishes or changes, before a new id is taken as the next job, and at every reconcile.
    # Each sign is confirmed on the newest job we know before anything is thrown away.

    def _server_was_reset(self, witness: TrackedJob | None = None) -> bool:
        """Whether the server's ids started again: the newest job we know (or `witness`) is gone from the
        server, or the server's job of that id started at another time."""
        known = witness or self._store.newest_job()
        if known is None:
            return False
        try:
            job = self._jobs.get_job(known.id)
        except JobNotFound:
            return True
        return _started_elsewhen(known, job)

    def _newest_moved(self, fetched: dict[str, Job]) -> bool:
        newest = self._store.newest_job()
        if newest is None:
            return False
        if newest.id in fetched:
            return _started_elsewhen(newest, fetched[newest.id])
        return self._server_was_reset(newest)

    def _reset_in_listing(self, known: dict[str, TrackedJob], listed: Sequence[Job]) -> bool:
        """Whether the list shows a reset: a known job missing or started at another time, confirmed on
        the highest such job by itself (a list that lost entries is not a reset)."""
        by_id = {job.id: job for job in listed}
        suspects = [
            before
            for before in known.values()
            if before.status != GONE
            and (before.id not in by_id or _started_elsewhen(before, by_id[before.id]))
        ]
        if not suspects:
            return False
        return self._server_was_reset(max(suspects, key=lambda job: int(job.id)))

    def _begin_generation(self, listed: Sequence[Job]) -> dict[str, TrackedJob]:
        """Start a new generation in the store, say so once, and return what we know of it: nothing."""
        kept = self._store.begin_generation(self._clock())
        metrics.INTERACTIVE_RESETS.inc()
        finished = sum(1 for job in listed if job.is_terminal)
        if finished > MAX_ANNOUNCED_AFTER_RESET:
            outcome = (
                f"its {finished} finished jobs are recorded, not announced (more than one digest: "
                "another server's history rather than news)"
            )
        else:
            outcome = f"its {finished} finished job(s) are announced"
        log.warning(
            "notifier: the Interactive server's job ids started again at 1 (its metadata was reset); "
            "treating its jobs as new; %d jobs of the previous generation kept in history; %s",
            kept,
            outcome,
        )
        return {}

    def _trackable(self, jobs: Sequence[Job]) -> list[Job]:
        """The listed jobs whose ids are job ids; each other entry is skipped with one warning and one
        count per process, so one odd entry can neither stop polling nor flood the log."""
        trackable = []
        for job in jobs:
            job_id = parse_job_id(job.id)
            if job_id == job.id:
                trackable.append(job)
                continue
            if job.id in self._odd_ids or len(self._odd_ids) >= MAX_ODD_IDS_REMEMBERED:
                continue
            self._odd_ids.add(job.id)
            # "007" is job 7 when a person types it, but the server keys jobs by their text: asked for
            # job 7, it would answer 404, so a padded id from the server cannot be followed either.
            reason = "not_canonical" if job_id else "too_large" if _digits(job.id) else "not_a_number"
            metrics.ODD_JOBS_SKIPPED.labels(reason).inc()
            log.warning(
                "notifier: skipped a job listed with id %r (%s); it is neither tracked nor announced",
                job.id[:80],
                reason.replace("_", " "),
            )
        return trackable

    def _finished(self, job: Job) -> FinishedJob:
        tail = ""
        if job.status == "FAILED":
            tail = _failure_tail(self._log_of(job))
        return FinishedJob(
            id=job.id,
            status=job.status,
            graph_id=job.graph_id,
            start_time_ms=job.start_time_ms,
            end_time_ms=job.end_time_ms,
            cancelled_by=self._store.cancelled_by(job.id) if job.status in ("CANCELLED", "FAILED") else None,
            log_tail=tail,
        )

    def _log_of(self, job: Job) -> str:
        """The job's log; a listed job comes without one, so it is read on its own (rare: a failure
        found by a reconcile). A job gone meanwhile gets its notice without log lines."""
        if isinstance(job, JobWithLog):
            return job.log
        try:
            return self._jobs.get_job(job.id).log
        except JobNotFound:
            return ""

    def _destinations(self, job: FinishedJob) -> list[str]:
        destinations = []
        if self._default_channel and job.status in self._default_statuses:
            destinations.append(self._default_channel)
        destinations += [s.channel_id for s in self._store.subscriptions() if job.status in s.statuses]
        destinations += self._store.watchers(job.id)
        return list(dict.fromkeys(destinations))

    # Grouping notices into Slack messages.

    def _group(self) -> bool:
        """Group new notices into messages; True when some were grouped."""
        rows = self._store.ungrouped_notices()
        if not rows:
            return False
        now = self._monotonic()
        # A destination waiting out an error, or with a message not yet out, gathers its new notices:
        # when it is well again they go out as one digest, not as a queue paced at one message a second.
        unsent = {
            d.destination
            for d in self._store.open_deliveries()
            if d.state in (DeliveryState.PENDING, DeliveryState.POSTING)
        }
        by_destination: dict[str, list[NoticeRow]] = {}
        for row in rows:
            if row.destination in unsent or self._holds.held(row.destination, now):
                continue
            by_destination.setdefault(row.destination, []).append(row)
        groups: list[list[NoticeRow]] = []
        for destination, rows in by_destination.items():
            # A burst, or more notices than the channel's rate allowance takes now: one digest.
            if len(rows) > DIGEST_THRESHOLD or len(rows) > max(1, self._poster.posts_available(destination)):
                rows.sort(key=lambda r: int(r.job.id), reverse=True)
                groups += [
                    rows[i : i + blocks.DIGEST_MAX_JOBS] for i in range(0, len(rows), blocks.DIGEST_MAX_JOBS)
                ]
            else:
                groups += [[row] for row in rows]
        if groups:
            self._store.group_notices(groups, self._clock())
        return bool(groups)

    # Delivery.

    def _deliver(self, report: PollReport) -> None:
        """Post notices first, then failures' log replies with whatever rate allowance is left: under a
        burst the replies wait for a quiet moment, the notices do not wait for them. A destination that
        errors waits on its own; the others go on. The pass ends when the next poll is due."""
        self._pass_ends = max(self._deliver_until, self._monotonic() + self.poll_interval / 2)
        deliveries = self._store.open_deliveries()
        notices = [d for d in deliveries if d.state in (DeliveryState.PENDING, DeliveryState.POSTING)]
        replies = [d for d in deliveries if d.state in (DeliveryState.POSTED, DeliveryState.THREADING)]
        posted = report.posted
        if not self._post_notices(notices, report):
            return
        # A destination whose waiting message just went out may have gathered notices meanwhile: group
        # them and post them now, not at the next poll.
        if report.posted > posted and self._group():
            tried = {d.id for d in notices}
            fresh = [
                d
                for d in self._store.open_deliveries()
                if d.state is DeliveryState.PENDING and d.id not in tried
            ]
            if not self._post_notices(fresh, report):
                return
        for delivery in self._store.open_deliveries() if notices else replies:
            if delivery.state not in (DeliveryState.POSTED, DeliveryState.THREADING) or not delivery.channel:
                continue
            if self._pass_over():
                return
            if self._holds.held(delivery.destination, self._monotonic()):
                report.waiting += 1
                continue
            # Keep one post of the allowance for the next notice: a reply must never delay one.
            if self._poster.posts_available(delivery.channel) < 2:
                continue
            self._attempt(delivery, report, self._post_log_reply)

    def _post_notices(self, notices: list[Delivery], report: PollReport) -> bool:
        """Post each notice whose destination is not waiting; False when the pass is over."""
        for delivery in notices:
            if self._pass_over():
                return False
            if self._holds.held(delivery.destination, self._monotonic()):
                report.waiting += 1
                continue
            self._attempt(delivery, report, self._post_notice)
        return True

    def _pass_over(self) -> bool:
        """Stop delivering: the process is stopping, or the next poll is due (it goes first)."""
        return self._stopping.is_set() or self._monotonic() >= self._pass_ends

    def _attempt(
        self, delivery: Delivery, report: PollReport, step: Callable[[Delivery, PollReport], None]
    ) -> None:
        """Run one delivery step; an error makes that destination wait before its next attempt."""
        try:
            step(delivery, report)
        except PostUncertain as exc:
            # The outcome is unknown: the state says so, and the next attempt looks before it posts.
            report.slack_error = str(exc)
            wait = self._holds.failed(delivery.destination, self._monotonic())
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
                wait = self._holds.failed(
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
            self._holds.cleared(delivery.destination)
            self._store.set_delivery_state(
                delivery.id, DeliveryState.FAILED, now=self._clock(), error=exc.error
            )
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
        self._holds.cleared(delivery.destination)

    def _post_notice(self, delivery: Delivery, report: PollReport) -> None:
        channel = delivery.channel or self._poster.channel_for(delivery.destination)
        key = self._key(delivery)
        ts = None
        if delivery.state is DeliveryState.POSTING:
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
            try:
                ts = self._poster.post(
                    channel, self._message(delivery), key=key, job_ids=[j.id for j in delivery.jobs]
                )
            except PostRefused:
                # Slack answered without posting: nothing is in the channel, so a plain retry is safe.
                self._store.set_delivery_state(delivery.id, DeliveryState.PENDING, now=self._clock())
                raise
            report.posted += 1
            metrics.NOTICES.labels("posted").inc()
            posted_at = self._clock()
            for job in delivery.jobs:
                if job.ended_at is not None:
                    metrics.NOTICE_LATENCY.observe(max(0.0, (posted_at - job.ended_at).total_seconds()))
        needs_reply = any(j.status == "FAILED" for j in delivery.jobs)
        state = DeliveryState.POSTED if needs_reply else DeliveryState.DONE
        self._store.set_delivery_state(delivery.id, state, now=self._clock(), channel=channel, ts=ts)

    def _post_log_reply(self, delivery: Delivery, report: PollReport) -> None:
        assert delivery.channel and delivery.ts
        key = self._key(delivery) + ":log"
        if delivery.state is DeliveryState.THREADING and self._poster.find(
            delivery.channel, key, oldest=delivery.created_at, thread_ts=delivery.ts
        ):
            self._store.set_delivery_state(delivery.id, DeliveryState.DONE, now=self._clock())
            return
        self._store.set_delivery_state(delivery.id, DeliveryState.THREADING, now=self._clock())
        failed = [j for j in delivery.jobs if j.status == "FAILED"]
        try:
            self._poster.post(
                delivery.channel,
                blocks.failure_log_reply(failed),
                key=key,
                job_ids=[j.id for j in failed],
                thread_ts=delivery.ts,
            )
        except PostRefused:
            self._store.set_delivery_state(delivery.id, DeliveryState.POSTED, now=self._clock())
            raise
        self._store.set_delivery_state(delivery.id, DeliveryState.DONE, now=self._clock())

    def _key(self, delivery: Delivery) -> str:
        return f"{self._store.instance_id}:{delivery.id}"

    @staticmethod
    def _message(delivery: Delivery) -> Message:
        if len(delivery.jobs) == 1:
            return blocks.completion_notice(delivery.jobs[0])
        return blocks.completion_digest(delivery.jobs, offline=delivery.offline)


def _failure_tail(log: str) -> str:
    return "\n".join(log.rstrip("\n").splitlines()[-FAILURE_LOG_LINES:])[-FAILURE_LOG_CHARS:]


def _digits(text: str) -> bool:
    return bool(text) and text.isascii() and text.isdigit()


def _tracked(job: Job) -> TrackedJob:
    return TrackedJob(job.id, job.status, job.is_terminal, job.start_time_ms)


def _learns_start(known: TrackedJob, job: Job) -> bool:
    # Stores from before start times were kept learn them as jobs are read again.
    return known.start_time_ms is None and job.start_time_ms is not None


def _started_elsewhen(known: TrackedJob, job: Job) -> bool:
    """Whether `job` is another job than `known` under the same id: it started at another time."""
    return None not in (known.start_time_ms, job.start_time_ms) and known.start_time_ms != job.start_time_ms


def _advice(error: str) -> str:
    if error == "not_in_channel":
        return "Invite the bot to the channel (/invite @jobbot) for future notices."
    if error in ("is_archived", "channel_is_archived"):
        return "The channel is archived; /jobs unsubscribe there or change JOBBOT_NOTIFY_CHANNEL."
    if error == "channel_not_found":
        return "Check the channel ID (JOBBOT_NOTIFY_CHANNEL or the subscription) and that the bot can see it."
    return ""
