"""The confirmed cancel of a job: permission, one claim per job, one DELETE, the read-back, the audit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from jobbot import blocks
from jobbot.authz import Access, Refused
from jobbot.blocks import Message
from jobbot.clock import Clock, utc_now
from jobbot.errors import JobAlreadyFinished, JobApiError, JobbotError, StoreError
from jobbot.jobs_api import JobClient
from jobbot.models import AuditEntry, JobWithLog, validate_job_id
from jobbot.mrkdwn import escape, status_label
from jobbot.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who acts, from where: the fields of an audit entry that come from the Slack payload."""

    user_id: str
    team_id: str | None
    channel_id: str | None


# A claim whose holder died before sending its DELETE may be taken over after this long.
CANCEL_CLAIM_STALE_SECONDS = 60.0
# How long a second clicker waits for the first click's cancel to show in the job's status.
CANCEL_OUTCOME_WAIT_SECONDS = 8.0
CANCEL_OUTCOME_POLL_SECONDS = 0.25
# The same refusal (user, job) or subscription change within this long of the last one is counted on its
# audit entry rather than added as another.
AUDIT_FOLD_SECONDS = 600.0


class Cancellation:
    """The cancel a confirmed click asks for, whichever replica it reached."""

    def __init__(
        self,
        jobs: JobClient,
        store: Store,
        access: Access,
        *,
        clock: Clock = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jobs = jobs
        self._store = store
        self._access = access
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic

    def confirm(self, raw_job_id: str, who: Actor) -> Message:
        job_id = validate_job_id(raw_job_id)
        audit = partial(self.audit, who, job_id)
        try:
            # Checked now, at the moment of acting: the list may have changed since the button was drawn.
            # A refused click leaves one (folded) `refused` entry and nothing else, so it cannot flood.
            self._access.check_cancel(who.user_id)
        except Refused as exc:
            audit("refused", None, exc.kind)
            raise
        audit("confirmed", None, None)
        job = self._jobs.get_job(job_id)
        if not job.is_active:
            audit("already_finished", job.status, None)
            return self._already_finished(job)
        # One claim per job in the store, whichever replica the click reached: only its holder sends
        # the DELETE. It also records who cancelled, for the completion notice.
        holder = self._store.claim_cancel(
            job_id, who.user_id, self._clock(), stale_after=CANCEL_CLAIM_STALE_SECONDS
        )
        if holder is not None:
            audit("cancelled_by_another", job.status, f"claimed by {holder}")
            return self._cancelled_by_another(job_id, holder)
        try:
            server_says = self._jobs.cancel_job(job_id)
        except JobAlreadyFinished as exc:
            self._store.forget_cancel(job_id, who.user_id)
            audit("already_finished", job.status, str(exc))
            return self._already_finished(self._jobs.get_job(job_id))
        except JobbotError as exc:
            self._store.forget_cancel(job_id, who.user_id)
            audit("failed", job.status, str(exc))
            raise
        audit("succeeded", job.status, server_says)
        said = escape(server_says)
        notice = f":no_entry_sign: <@{who.user_id}> cancelled job {job_id}. The server said: _{said}_"
        try:
            after = self._jobs.get_job(job_id)
        except JobApiError as exc:
            notice += f"\n:warning: Its status could not be read back: {escape(str(exc))}"
            return blocks.job_card(job, now=self._clock(), notice=notice)
        if after.status != "CANCELLED":
            # The loader thread can overwrite CANCELLED once its process is killed.
            notice += f"\nThe server now reports it as {status_label(after.status)}."
        return blocks.job_card(after, now=self._clock(), notice=notice)

    def audit(
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

    def _cancelled_by_another(self, job_id: str, holder: str) -> Message:
        """Someone else's click (here or on another replica) is cancelling: report its outcome."""
        deadline = self._monotonic() + CANCEL_OUTCOME_WAIT_SECONDS
        while True:
            job = self._jobs.get_job(job_id)
            if not job.is_active:
                return self._already_finished(job)
            if self._monotonic() >= deadline:
                notice = (
                    f":hourglass_flowing_sand: <@{holder}> is cancelling job {job_id} right now; "
                    "press Refresh in a moment to see the outcome."
                )
                return blocks.job_card(job, now=self._clock(), notice=notice)
            self._sleep(CANCEL_OUTCOME_POLL_SECONDS)

    def _already_finished(self, job: JobWithLog) -> Message:
        ended = status_label(job.status)
        notice = f":information_source: Nothing to cancel: job {job.id} had already ended as {ended}"
        who = self._store.cancelled_by(job.id)
        if who and job.status in ("CANCELLED", "FAILED"):
            notice += f" (cancelled by <@{who}>)"
        return blocks.job_card(job, now=self._clock(), notice=notice + ".")
