"""Observing the Interactive server: read its jobs, notice resets, and record finished jobs' notices."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from jobbot import metrics
from jobbot.clock import Clock
from jobbot.errors import JobApiError, JobNotFound
from jobbot.jobs_api import JobClient
from jobbot.models import MAX_JOB_ID, FinishedJob, Job, JobStatus, JobWithLog, Subscription, job_id_fault
from jobbot.notifier.live import LivePlanner
from jobbot.notifier.report import PollReport
from jobbot.render.notices import DIGEST_MAX_JOBS
from jobbot.store import NoticeRow, NotifierStore, TrackedJob

# One logger for the whole notifier package: log filters and captures name "jobbot.notifier".
log = logging.getLogger("jobbot.notifier")

# New ids probed per poll; a longer run of new jobs is picked up over the next polls or the reconcile.
MAX_NEW_JOBS_PER_POLL = 200
# A failure's thread reply shows this much of the end of its log.
FAILURE_LOG_LINES = 40
FAILURE_LOG_CHARS = 4000
# After a reset, more finished jobs than one digest holds are another server's history, not news: they
# are recorded without notices, as at a first start.
MAX_ANNOUNCED_AFTER_RESET = DIGEST_MAX_JOBS
# A job the server lost while it was running, recorded as such (by earlier versions, or when the
# newest job shows no reset): it says nothing about what the server holds now.
GONE = "GONE"
# Odd ids warned about, per process: enough for any real server, bounded against a hostile one.
MAX_ODD_IDS_REMEMBERED = 10_000


class JobTracker:
    """Reads the server's jobs and records their statuses and the notices their endings cause."""

    def __init__(
        self,
        jobs: JobClient,
        store: NotifierStore,
        *,
        clock: Clock,
        default_channel: str | None,
        default_statuses: Sequence[str],
        reconcile_interval: float,
        live: LivePlanner,
    ) -> None:
        self._jobs = jobs
        # What live channels get: cards, their follow-ups, and long-running alerts.
        self._live = live
        self._store = store
        self._clock = clock
        self._default_channel = default_channel
        self._default_statuses = tuple(default_statuses)
        self._reconcile_interval = timedelta(seconds=reconcile_interval)
        # The first poll of a process re-reads everything: jobs may have finished while it was down.
        self._first_poll = True
        # Server entries whose id is not a job id, already warned about and counted: once per process.
        self._odd_ids: set[str] = set()
        # The last poll could not reach the server: the next one checks it is still the same server.
        self._after_outage = False

    def start_afresh(self) -> None:
        """Make the next observation re-read the whole server, as a process's first poll does."""
        self._first_poll = True

    def observe(self, report: PollReport) -> None:
        """Read the server's jobs and record what changed, and the notices of the jobs that finished.
        Raises JobApiError when the server cannot be read; nothing of that poll is recorded."""
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
            seen, changed, finished, reset = self._reconcile(reset=reset)
        else:
            assert steady is not None
            seen, changed, finished = steady
        endings = {job.id: self._finished(job) for job in finished}
        subscriptions = self._store.subscriptions()
        live = self._live.destinations(subscriptions)
        # After a reset, the new server's jobs that finished before we noticed it are announced like any
        # other (a digest when there are several), but not as "while jobbot was offline": it was not.
        # A live channel hears of endings on its cards instead.
        notices = [
            NoticeRow(notice, destination, offline)
            for notice in endings.values()
            for destination in self._destinations(notice, subscriptions)
            if destination not in live
        ]
        cards = self._live.cards(changed, endings, live)
        followups = self._live.endings(endings, live) + self._live.alerts(
            now, live, lambda job_id: self._destinations_of_alert(job_id, subscriptions)
        )
        report.new_notices = self._store.record_poll(
            seen, notices, now=now, reconciled=reconcile or reset, cards=cards, followups=followups
        )
        report.finished = [j.id for j in finished]
        report.reconciled = reconcile or reset
        self._first_poll = False
        if finished:
            log.info(
                "notifier: %d job(s) finished: %s", len(finished), ", ".join(j.id for j in finished[:20])
            )

    def _steady_poll(self) -> tuple[list[TrackedJob], list[Job], list[Job]] | None:
        """Re-read active jobs one by one, then ask for ids above the highest known: flat in history size.

        None: the server's ids started again (a known job is gone, or now started at another time, and
        the newest job we know confirms it); the caller reads the new server whole.
        """
        seen: list[TrackedJob] = []
        changed: list[Job] = []  # the jobs behind `seen`: new, or changed since the last poll
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
                changed.append(job)
            if job.is_terminal:
                finished.append(job)
        next_id = self._store.high_water() + 1
        for probe in range(MAX_NEW_JOBS_PER_POLL):
            if next_id > MAX_JOB_ID:
                break  # no job id goes further; a reconcile says what the server has there
            found = self._jobs.probe_job(str(next_id))
            if found is None:
                break
            # A new id is the old server's next job only if the newest job we know is still its own:
            # a server that started again at 1 may already have passed our highest id.
            if probe == 0 and self._newest_moved(fetched):
                return None
            # The id asked for is the job's id, whatever the answer's own id field says.
            job = found.model_copy(update={"id": str(next_id)}) if found.id != str(next_id) else found
            seen.append(_tracked(job))
            changed.append(job)
            if job.is_terminal:
                finished.append(job)
            next_id += 1
        return seen, changed, finished

    def _reconcile(self, *, reset: bool = False) -> tuple[list[TrackedJob], list[Job], list[Job], bool]:
        """Read the whole list: catches gaps in ids, jobs changed behind our back, and a server whose ids
        started again (`reset` says one was already seen). Returns what changed, what finished, and
        whether a new generation began."""
        listed = self._trackable(self._jobs.list_jobs())
        known = self._store.job_statuses()
        if reset or self._reset_in_listing(known, listed):
            known = self._begin_generation(listed)
            reset = True
        seen: list[TrackedJob] = []
        changed: list[Job] = []
        finished: list[Job] = []
        for job in listed:
            before = known.get(job.id)
            if before is None or before.status != job.status or _learns_start(before, job):
                seen.append(_tracked(job))
                changed.append(job)
            # Only the first final status is announced: a CANCELLED the loader later overwrites with
            # FAILED is one event, not two.
            if job.is_terminal and (before is None or not before.terminal):
                finished.append(job)
        if reset and len(finished) > MAX_ANNOUNCED_AFTER_RESET:
            # Recorded above, like a first start's history; the warning said so. No cards either.
            finished, changed = [], [job for job in changed if not job.is_terminal]
        return seen, changed, finished, reset

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
            reason = job_id_fault(job.id)
            if reason is None:
                trackable.append(job)
                continue
            if job.id in self._odd_ids or len(self._odd_ids) >= MAX_ODD_IDS_REMEMBERED:
                continue
            self._odd_ids.add(job.id)
            # "007" is job 7 when a person types it, but the server keys jobs by their text: asked for
            # job 7, it would answer 404, so a padded id from the server cannot be followed either.
            metrics.ODD_JOBS_SKIPPED.labels(reason).inc()
            log.warning(
                "notifier: skipped a job listed with id %r (%s); it is neither tracked nor announced",
                job.id[:80],
                reason.replace("_", " "),
            )
        return trackable

    def _finished(self, job: Job) -> FinishedJob:
        status = job.known_status
        canceller = (
            self._store.cancelled_by(job.id) if status in (JobStatus.CANCELLED, JobStatus.FAILED) else None
        )
        finished = FinishedJob(
            id=job.id,
            status=job.status,
            graph_id=job.graph_id,
            start_time_ms=job.start_time_ms,
            end_time_ms=job.end_time_ms,
            cancelled_by=canceller,
        )
        if status is not JobStatus.FAILED:
            return finished
        if canceller is not None:
            # The server's loader thread writes FAILED once the process the cancel killed exits, often
            # over the cancel's CANCELLED. It is announced as what it is, a cancel: to the channels that
            # hear of cancels, not as a failure with the kill's log, and the record is named beside it.
            return finished.model_copy(
                update={"status": JobStatus.CANCELLED.value, "recorded_as": job.status}
            )
        return finished.model_copy(update={"log_tail": _failure_tail(self._log_of(job))})

    def _log_of(self, job: Job) -> str:
        """The job's log; a listed job comes without one, so it is read on its own (rare: a failure
        found by a reconcile). A job gone meanwhile gets its notice without log lines."""
        if isinstance(job, JobWithLog):
            return job.log
        try:
            return self._jobs.get_job(job.id).log
        except JobNotFound:
            return ""

    def _destinations(self, job: FinishedJob, subscriptions: Sequence[Subscription]) -> list[str]:
        destinations = []
        if self._default_channel and job.status in self._default_statuses:
            destinations.append(self._default_channel)
        destinations += [s.channel_id for s in subscriptions if job.status in s.statuses]
        destinations += self._store.watchers(job.id)
        return list(dict.fromkeys(destinations))

    def _destinations_of_alert(self, job_id: str, subscriptions: Sequence[Subscription]) -> list[str]:
        """Where a long-running alert goes besides live channels: every channel that hears of this job's
        end, whatever its status filter (an alert is not an ending), and the job's watchers."""
        destinations = [self._default_channel] if self._default_channel else []
        destinations += [s.channel_id for s in subscriptions]
        destinations += self._store.watchers(job_id)
        return list(dict.fromkeys(destinations))


def _failure_tail(log: str) -> str:
    return "\n".join(log.rstrip("\n").splitlines()[-FAILURE_LOG_LINES:])[-FAILURE_LOG_CHARS:]


def _tracked(job: Job) -> TrackedJob:
    # A running job's end time is whatever the server's memory held (it is never written at creation).
    end = job.end_time_ms if job.is_terminal else None
    return TrackedJob(job.id, job.status, job.is_terminal, job.start_time_ms, job.graph_id, end)


def _learns_start(known: TrackedJob, job: Job) -> bool:
    # Stores from before start times were kept learn them as jobs are read again.
    return known.start_time_ms is None and job.start_time_ms is not None


def _started_elsewhen(known: TrackedJob, job: Job) -> bool:
    """Whether `job` is another job than `known` under the same id: it started at another time."""
    return None not in (known.start_time_ms, job.start_time_ms) and known.start_time_ms != job.start_time_ms
