"""Keeping live cards: group jobs into cards, post each card once, edit it until Slack shows its newest
version, and post each follow-up (ending, log, full log file, long-running alert) once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from jobbot import metrics
from jobbot.clock import Clock
from jobbot.errors import JobApiError, JobNotFound, PostRefused, PostUncertain
from jobbot.jobs_api import JobClient
from jobbot.notifier.deliver import SlackHolds, into_messages
from jobbot.notifier.live import alert_figures
from jobbot.notifier.report import PollReport
from jobbot.notifier.slack_poster import SlackPoster
from jobbot.render.cards import (
    digest_card,
    ending_reply,
    full_log_file,
    live_card,
    log_file_name,
    long_running_alert,
)
from jobbot.render.kit import Message
from jobbot.render.notices import completion_digest, failure_log_reply
from jobbot.store import Card, CardState, FollowUp, FollowUpKind, FollowUpState, NotifierStore

# The follow-ups of one card that are due together go out as one reply (the others are one post each).
BATCHED = frozenset({FollowUpKind.ENDING, FollowUpKind.LOG})
THREAD_ORDER = {kind: rank for rank, kind in enumerate(FollowUpKind)}

# One logger for the whole notifier package: log filters and captures name "jobbot.notifier".
log = logging.getLogger("jobbot.notifier")


@dataclass(frozen=True)
class _Pass:
    ends: float
    stop: threading.Event | None


class CardKeeper:
    """Posts and edits live cards and their follow-ups, each post once whatever crashes or replicas do."""

    def __init__(
        self,
        store: NotifierStore,
        poster: SlackPoster,
        jobs: JobClient,
        *,
        clock: Clock,
        monotonic: Callable[[], float],
        holds: SlackHolds,
        server: str | None = None,
    ) -> None:
        self._store = store
        # What the cards call their server: None when it is the only one, and not named.
        self._server = server
        self._poster = poster
        self._jobs = jobs
        self._clock = clock
        self._monotonic = monotonic
        # Shared with the notices' courier: a destination Slack refuses waits for both.
        self.holds = holds
        self._reported_failures: set[tuple[str, str]] = set()

    # Grouping jobs into cards.

    def group(self) -> None:
        """Give new jobs their cards: one each, or digest cards for a burst. A destination waiting out an
        error, or with a card not yet out, gathers its new jobs meanwhile, as notices do."""
        rows = self._store.ungrouped_card_jobs()
        if not rows:
            return
        unsent = {c.destination for c in self._store.open_cards() if c.state is not CardState.POSTED}
        groups = into_messages(rows, unsent, self.holds, self._poster, self._monotonic())
        if groups:
            self._store.group_card_jobs(groups, self._clock())

    # Keeping cards and follow-ups.

    def keep(self, report: PollReport, *, until: float, stop: threading.Event | None = None) -> None:
        """Post new cards, edit changed ones, then post follow-ups with the rate allowance left (keeping
        one post for the next card). Ends at `until` or once `stop` is set; what is left waits in the
        store for the next pass, so an edit carrying a final state is late at worst, never lost."""
        this_pass = _Pass(until, stop)
        self.group()
        for card in self._store.open_cards():
            if self._pass_over(this_pass):
                return
            if self.holds.held(card.destination, self._monotonic()):
                report.waiting += 1
                continue
            if card.state is CardState.POSTED:
                # Edits are paced by their own allowance; a card left here keeps its newer version.
                if self._poster.updates_available() < 1:
                    continue
                step = partial(self._edit, card, report)
            else:
                step = partial(self._post_card, card, report)
            self._attempt(card.destination, report, step, self._card_failed(card))
        for batch in self._batches():
            if self._pass_over(this_pass):
                return
            self._follow_up(batch, report)

    def _pass_over(self, this_pass: _Pass) -> bool:
        stopping = this_pass.stop is not None and this_pass.stop.is_set()
        return stopping or self._monotonic() >= this_pass.ends

    def _post_card(self, card: Card, report: PollReport) -> None:
        channel = card.channel or self._poster.channel_for(card.destination)
        key = self._key(card)
        ts = None
        if card.state is CardState.POSTING:
            ts = self._poster.find(channel, key, oldest=card.created_at)
            if ts:
                log.info(
                    "notifier: card %d was already posted (found in history); not posting again", card.id
                )
        # A card found in history shows the first version at least (it may show a later one: an edit to
        # the newest follows whenever the store's version has moved past the first).
        shown = 1
        if ts is None:
            if not self._store.claim_card(
                card.id, attempts=card.attempts, channel=channel, now=self._clock()
            ):
                log.info("notifier: card %d was taken by another replica", card.id)
                return
            try:
                ts = self._poster.post(
                    channel, self._render(card), key=key, job_ids=[j.id for j in card.jobs]
                )
            except PostRefused:
                # Slack answered without posting: nothing is in the channel, a plain retry is safe.
                self._store.set_card_state(card.id, CardState.PENDING, now=self._clock())
                raise
            shown = card.version
            report.cards_posted += 1
            metrics.CARDS.labels("posted").inc()
        self._store.set_card_state(card.id, CardState.POSTED, now=self._clock(), ts=ts, shown=shown)

    def _edit(self, card: Card, report: PollReport) -> None:
        assert card.channel and card.ts
        self._poster.update(
            card.channel, card.ts, self._render(card), key=self._key(card), job_ids=[j.id for j in card.jobs]
        )
        report.cards_edited += 1
        metrics.CARDS.labels("edited").inc()
        self._store.set_card_state(card.id, CardState.POSTED, now=self._clock(), shown=card.version)

    def _render(self, card: Card) -> Message:
        now = self._clock()
        if len(card.jobs) == 1:
            job = card.jobs[0]
            return live_card(job, watchers=self._store.watchers(job.id), now=now, server=self._server)
        return digest_card(card.jobs, now=now, server=self._server)

    def _key(self, card: Card) -> str:
        return f"{self._store.instance_id}:card:{card.id}"

    # Follow-ups.

    def _batches(self) -> list[list[FollowUp]]:
        """The open follow-ups as posts to make. The endings (and the failures' log lines) of one card's
        jobs that are due together go out as one reply: a digest card's burst of endings is one post,
        not one per job. A batch whose post was attempted (POSTING) is kept apart from new ones, so that
        after a crash it is looked for under the same key."""
        batches: dict[tuple[object, ...], list[FollowUp]] = {}
        # In a thread, a job's ending reads first, then its last log lines, then the whole log.
        for followup in sorted(
            self._store.open_followups(), key=lambda f: (f.created_at, THREAD_ORDER[f.kind])
        ):
            if followup.card_id is not None and followup.kind in BATCHED:
                key: tuple[object, ...] = (followup.card_id, followup.kind, followup.state)
            else:
                key = (followup.generation, followup.job.id, followup.destination, followup.kind)
            batches.setdefault(key, []).append(followup)
        return list(batches.values())

    def _follow_up(self, batch: list[FollowUp], report: PollReport) -> None:
        first = batch[0]
        if first.card_id is not None and first.card_state is CardState.FAILED:
            # Its card cannot be posted or edited (the channel refuses): nor can its thread.
            self._set_state(batch, FollowUpState.FAILED, error="card failed")
            return
        if first.card_id is not None and (first.card_state is not CardState.POSTED or not first.card_ts):
            return  # its card is not out yet; the thread it goes in will be
        if self.holds.held(first.destination, self._monotonic()):
            report.waiting += 1
            return
        self._attempt(
            first.destination,
            report,
            partial(self._post_followups, batch, report),
            lambda error: self._set_state(batch, FollowUpState.FAILED, error=error),
        )

    def _post_followups(self, batch: list[FollowUp], report: PollReport) -> None:
        first = batch[0]
        thread_ts = first.card_ts
        channel = first.card_channel or first.channel or self._poster.channel_for(first.destination)
        # Keep one post of the channel's allowance for the next card: a follow-up never delays one.
        if self._poster.posts_available(channel) < 2:
            return
        if first.state is FollowUpState.POSTING and self._already_out(batch, channel):
            log.info(
                "notifier: the %s of job(s) %s was already posted; not again",
                first.kind.value,
                ", ".join(f.job.id for f in batch),
            )
            self._set_state(batch, FollowUpState.DONE)
            return
        claimed = [f for f in batch if self._store.claim_followup(f, channel=channel, now=self._clock())]
        if not claimed:
            return
        try:
            if first.kind is FollowUpKind.FILE:
                if not self._upload_full_log(claimed[0], channel):
                    return
            else:
                self._poster.post(
                    channel,
                    _followup_message(claimed, self._server),
                    key=self._followup_key(claimed),
                    job_ids=[f.job.id for f in claimed],
                    thread_ts=thread_ts,
                    broadcast=first.kind is FollowUpKind.ENDING,
                )
        except PostRefused:
            self._set_state(claimed, FollowUpState.PENDING)
            raise
        report.followups_posted += 1
        metrics.CARDS.labels(first.kind.value).inc()
        self._set_state(claimed, FollowUpState.DONE)

    def _upload_full_log(self, followup: FollowUp, channel: str) -> bool:
        """Read the job's whole log and upload it into the card's thread; False when it cannot be read."""
        job = followup.job
        try:
            full_log = self._jobs.full_log(job.id)
        except JobNotFound:
            log.warning("notifier: job %s is gone from the server; its full log cannot be sent", job.id)
            self._set_state([followup], FollowUpState.FAILED, error="job gone")
            return False
        except JobApiError as exc:
            # Nothing was sent: the next pass tries again.
            log.warning("notifier: could not read job %s's full log: %s", job.id, exc)
            self._set_state([followup], FollowUpState.PENDING)
            return False
        self._poster.upload(channel, full_log_file(full_log, server=self._server), thread_ts=followup.card_ts)
        return True

    def _already_out(self, batch: list[FollowUp], channel: str) -> bool:
        """Whether an attempt whose outcome was lost went through: Slack is asked before trying again."""
        first = batch[0]
        if first.kind is FollowUpKind.FILE:
            assert first.card_ts
            name = log_file_name(first.job.id, server=self._server)
            return self._poster.find_file(channel, first.card_ts, name, oldest=first.created_at)
        key = self._followup_key(batch)
        return self._poster.find(channel, key, oldest=first.created_at, thread_ts=first.card_ts) is not None

    def _followup_key(self, batch: list[FollowUp]) -> str:
        """The ledger key of a follow-up post: its kind, and the jobs it is about."""
        first = batch[0]
        jobs = ",".join(sorted((f.job.id for f in batch), key=int))
        return f"{self._store.instance_id}:{first.kind.value}:{first.generation}:{jobs}"

    def _set_state(self, batch: list[FollowUp], state: FollowUpState, error: str | None = None) -> None:
        for followup in batch:
            self._store.set_followup_state(followup, state, now=self._clock(), error=error)

    # Errors.

    def _card_failed(self, card: Card) -> Callable[[str], None]:
        return lambda error: self._store.set_card_state(
            card.id, CardState.FAILED, now=self._clock(), error=error
        )

    def _attempt(
        self, destination: str, report: PollReport, step: Callable[[], None], failed: Callable[[str], None]
    ) -> None:
        """Run one step; a Slack error makes the destination wait before its next attempt, and a refusal
        for good (`failed`) ends the card or follow-up, reported once per destination and error."""
        try:
            step()
        except PostUncertain as exc:
            report.slack_error = str(exc)
            wait = self.holds.failed(destination, self._monotonic())
            log.warning("notifier: live card to %s: %s; trying again in %g s", destination, exc, wait)
            return
        except PostRefused as exc:
            if not exc.permanent:
                report.slack_error = exc.error
                wait = self.holds.failed(
                    destination,
                    self._monotonic(),
                    retry_after=exc.retry_after,
                    workspace_wide=exc.workspace_wide,
                )
                log.warning(
                    "notifier: Slack refused a live card to %s for now (%s); trying again in %g s",
                    destination,
                    exc.error,
                    wait,
                )
                return
            self.holds.cleared(destination)
            failed(exc.error)
            report.failed += 1
            metrics.CARDS.labels("failed").inc()
            first_time = (destination, exc.error) not in self._reported_failures
            self._reported_failures.add((destination, exc.error))
            log.log(
                logging.ERROR if first_time else logging.DEBUG,
                "notifier: Slack refuses live cards in %s for good (%s); "
                "check that jobbot is in the channel and the channel is not archived",
                destination,
                exc.error,
            )
            return
        self.holds.cleared(destination)


def _followup_message(batch: list[FollowUp], server: str | None) -> Message:
    jobs = [f.job for f in batch]
    first = batch[0]
    if first.kind is FollowUpKind.ENDING:
        # Several of a digest card's jobs ending together: one reply saying how each ended.
        if len(jobs) == 1:
            return ending_reply(jobs[0], server=server)
        return completion_digest(jobs, offline=False, server=server)
    if first.kind is FollowUpKind.LOG:
        return failure_log_reply(jobs, server=server)
    running_for, usual = alert_figures(first.detail)
    return long_running_alert(first.job, running_for=running_for, usual=usual, server=server)
