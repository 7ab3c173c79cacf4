"""The confirmed cancel of a job: permission, one claim per job, one DELETE, the read-back, the audit,
and the warning before a cancel that may kill another program (a stale or UNKNOWN job, `jobbot.stale`).

Slack-free: it takes who acts and a job id, and answers with a `CancelOutcome` (the facts); the
wording of each outcome belongs to the renderers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from jobbot import stale
from jobbot.clock import Clock, utc_now
from jobbot.errors import JobAlreadyFinished, JobApiError, JobbotError, Refused, StoreError
from jobbot.models import (
    AUDIT_FOLD_SECONDS,
    Actor,
    AuditEntry,
    Job,
    JobStatus,
    JobWithLog,
    validate_job_id,
)
from jobbot.store import CancelStore

log = logging.getLogger(__name__)

# A claim whose holder died before sending its DELETE may be taken over after this long.
CANCEL_CLAIM_STALE_SECONDS = 60.0
# How long a second clicker waits for the first click's cancel to show in the job's status.
CANCEL_OUTCOME_WAIT_SECONDS = 8.0
CANCEL_OUTCOME_POLL_SECONDS = 0.25
# The audit message of a confirmed click whose dialog warned that the server kills the stored process id.
WARNED = "after the warning that the server kills the stored process id, which may not be the loader"


class JobApi(Protocol):
    """What a cancel asks of the Interactive server (`jobbot.jobs_api.JobClient` is one)."""

    def get_job(self, job_id: str) -> JobWithLog: ...

    def cancel_job(self, job_id: str) -> str: ...

    def list_jobs(self) -> list[Job]: ...


class CancelPermission(Protocol):
    """Who may cancel (`jobbot.authz.Access` is one): `check_cancel` raises `Refused`, saying why."""

    def check_cancel(self, user_id: str) -> None: ...


@dataclass(frozen=True)
class Cancelled:
    """This click's DELETE was accepted: the server's words, and the job as read back after it."""

    job_id: str  # as asked for: the server's copy of the job could name another
    job: JobWithLog  # as it was just before the DELETE
    canceller: str
    server_says: str
    after: JobWithLog | None  # None when it could not be read back
    read_back_error: str | None = None


@dataclass(frozen=True)
class AlreadyFinished:
    """Nothing to cancel: the job had ended, on its own or by an earlier cancel."""

    job: JobWithLog
    cancelled_by: str | None  # who cancelled it, when it ended CANCELLED or FAILED after a recorded cancel


@dataclass(frozen=True)
class CancellingElsewhere:
    """Another click holds the job's claim, and its outcome had not shown when the wait ran out."""

    job_id: str
    job: JobWithLog
    holder: str


@dataclass(frozen=True)
class WarningNeeded:
    """Nothing was sent: the job's cancel may kill another program (`risk`), and the dialog the click
    confirmed had not said so. The person is warned and asked again."""

    job: JobWithLog
    risk: stale.KillRisk


CancelOutcome = Cancelled | AlreadyFinished | CancellingElsewhere | WarningNeeded


class Cancellation:
    """The cancel a confirmed click asks for: one audited DELETE per job, whichever replica it reached
    and however many clicks there are."""

    def __init__(
        self,
        jobs: JobApi,
        store: CancelStore,
        access: CancelPermission,
        *,
        clock: Clock = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        stale_after_seconds: float = stale.DEFAULT_LIMIT_HOURS * 3600,
    ) -> None:
        self._stale_after = stale_after_seconds
        self._jobs = jobs
        self._store = store
        self._access = access
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic

    def prompt(self, job_id: str, who: Actor) -> JobWithLog:
        """The job a `/jobs cancel ID` asks about, read only for someone who may cancel it."""
        self._permit(job_id, who)
        return self._jobs.get_job(job_id)

    def may_cancel(self, who: Actor) -> bool:
        """Whether this person's list or card may show Cancel buttons. Fails closed: whatever the
        refusal (a user-group lookup that failed included), none. Not audited, since nothing was asked
        for; a click is checked, and audited, again by `confirm`."""
        try:
            self._access.check_cancel(who.user_id)
        except Refused as exc:
            if exc.why == "lookup_failed":
                log.warning("no Cancel button for %s: %s", who.user_id, exc)
            return False
        return True

    def risk(self, job: Job) -> stale.KillRisk | None:
        """Why a cancel of `job` may kill another program (see `jobbot.stale`), or None. The job list is
        read only when the job has run long enough for its graph's history to judge it; if that read
        fails, the limit alone judges (logged)."""
        if not job.is_cancellable:
            return None
        now = self._clock()
        history: list[Job] = []
        if stale.worth_history(job, now):
            try:
                history = self._jobs.list_jobs()
            except JobApiError as exc:
                log.warning("could not read the job list to judge job %s: %s", job.id, exc)
        return stale.kill_risks([job], history, now=now, limit_seconds=self._stale_after).get(job.id)

    def confirm(self, raw_job_id: str, who: Actor, *, warned: bool = False) -> CancelOutcome:
        """Cancel the job for this person; raises `Refused`, `InvalidJobId` or the job API's error.

        `warned`: the dialog the click confirmed said that the cancel may kill another program (the
        button says so, `jobbot.slack_ids.decode_cancel_ref`); the audit records it. The job is judged
        again now: if its cancel may kill another program and the dialog had not said so (a button drawn
        before the job looked stale, a live card's), nothing is sent and `WarningNeeded` asks again.
        """
        job_id = validate_job_id(raw_job_id)
        # Checked now, at the moment of acting: the list may have changed since the button was drawn.
        self._permit(job_id, who)
        self._audit(who, job_id, "confirmed", None, WARNED if warned else None)
        job = self._jobs.get_job(job_id)
        if job.is_terminal:
            self._audit(who, job_id, "already_finished", job.status, None)
            return self._already_finished(job)
        if not warned and (risk := self.risk(job)) is not None:
            self._audit(who, job_id, "warning_needed", job.status, _risk_note(risk))
            return WarningNeeded(job, risk)
        # One claim per job in the store, whichever replica the click reached: only its holder sends
        # the DELETE. It also records who cancelled, for the completion notice.
        holder = self._store.claim_cancel(
            job_id, who.user_id, self._clock(), stale_after=CANCEL_CLAIM_STALE_SECONDS
        )
        if holder is not None:
            self._audit(who, job_id, "cancelled_by_another", job.status, f"claimed by {holder}")
            return self._cancelled_by_another(job_id, holder)
        try:
            server_says = self._jobs.cancel_job(job_id)
        except JobAlreadyFinished as exc:
            self._store.forget_cancel(job_id, who.user_id)
            self._audit(who, job_id, "already_finished", job.status, str(exc))
            return self._already_finished(self._jobs.get_job(job_id))
        except JobbotError as exc:
            self._store.forget_cancel(job_id, who.user_id)
            self._audit(who, job_id, "failed", job.status, str(exc))
            raise
        self._audit(who, job_id, "succeeded", job.status, server_says)
        try:
            after = self._jobs.get_job(job_id)
        except JobApiError as exc:
            return Cancelled(job_id, job, who.user_id, server_says, after=None, read_back_error=str(exc))
        return Cancelled(job_id, job, who.user_id, server_says, after=after)

    def _permit(self, job_id: str, who: Actor) -> None:
        """Raise `Refused` unless this person may cancel; a refusal leaves one (folded) `refused` entry
        and nothing else, so repeated ones cannot flood the trail."""
        try:
            self._access.check_cancel(who.user_id)
        except Refused as exc:
            self._audit(who, job_id, "refused", None, exc.kind)
            raise

    def _audit(
        self, who: Actor, job_id: str, outcome: str, status_before: str | None, message: str | None
    ) -> None:
        """One cancel attempt, into the store's audit trail and the log (structured, for JSON logs)."""
        entry = AuditEntry(
            at=self._clock(),
            user_id=who.user_id,
            team_id=who.team_id,
            channel_id=who.channel_id,
            job_id=job_id,
            status_before=status_before,
            outcome=outcome,
            message=message[:1000] if message else None,
        )
        log.info(
            "cancel attempt: job %s by %s: %s",
            job_id,
            who.user_id,
            outcome,
            extra={"audit": entry.model_dump(mode="json")},
        )
        try:
            # Refusals repeated soon after fold into one entry: nobody can push the trail out with them.
            fold = AUDIT_FOLD_SECONDS if outcome == "refused" else 0.0
            self._store.record_audit(entry, fold_within=fold)
        except StoreError as exc:
            # The cancel itself must not fail for want of an audit row; the log line above still has it.
            log.error("could not record the audit entry: %s", exc)

    def _cancelled_by_another(self, job_id: str, holder: str) -> AlreadyFinished | CancellingElsewhere:
        """Someone else's click (here or on another replica) is cancelling: wait for its outcome."""
        deadline = self._monotonic() + CANCEL_OUTCOME_WAIT_SECONDS
        while True:
            job = self._jobs.get_job(job_id)
            if job.is_terminal:
                return self._already_finished(job)
            if self._monotonic() >= deadline:
                return CancellingElsewhere(job_id, job, holder)
            self._sleep(CANCEL_OUTCOME_POLL_SECONDS)

    def _already_finished(self, job: JobWithLog) -> AlreadyFinished:
        who = self._store.cancelled_by(job.id)
        # The loader can record FAILED over a cancel once its process is killed: still that person's.
        cancelled = job.known_status in (JobStatus.CANCELLED, JobStatus.FAILED)
        return AlreadyFinished(job, cancelled_by=who if cancelled else None)


def _risk_note(risk: stale.KillRisk) -> str:
    """The audit's short note of why a cancel was not sent without a warning (the dialog words it)."""
    process = f"process {risk.process_id}" if risk.process_id is not None else "no process id"
    if isinstance(risk, stale.UnknownStatus):
        return f"not sent: status {risk.status}, the server would kill {process}"
    return f"not sent: stale after {risk.running_seconds:.0f} s RUNNING, the server would kill {process}"
