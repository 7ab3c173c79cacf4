"""What live channels get from one poll: the cards to post or edit, the posts that follow a job's end,
and long-running alerts (which every destination gets, live or not)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from jobbot.models import FinishedJob, Job, JobStatus, NoticeStyle, Subscription
from jobbot.store import CardJob, FollowUpKind, FollowUpRow, NotifierStore

# The learned rule: with at least this many successful jobs of a graph on record (the latest
# USUAL_SAMPLE), a job of that graph is also alerted about once it has run LEARNED_FACTOR times their
# median, and at least LEARNED_MARGIN_SECONDS past it. A graph's loads take about the same time from one
# run to the next (the same data, the same machine); three times the usual is no slow day but a stuck
# loader, and the margin keeps a graph of one-minute loads from alerting after three minutes.
USUAL_MIN_RUNS = 5
USUAL_SAMPLE = 20
LEARNED_FACTOR = 3.0
LEARNED_MARGIN_SECONDS = 600.0

# Live channels per channel id: the endings (statuses) also broadcast from a card's thread.
LiveChannels = Mapping[str, tuple[str, ...]]


class LivePlanner:
    """Decides, from what a poll saw, which cards change and which follow-ups are due."""

    def __init__(
        self,
        store: NotifierStore,
        *,
        default_channel: str | None,
        default_statuses: Sequence[str],
        default_style: NoticeStyle,
        long_running_after: float,
    ) -> None:
        self._store = store
        self._default_channel = default_channel
        self._default_statuses = tuple(default_statuses)
        self._default_style = default_style
        self._long_running_after = long_running_after

    def destinations(self, subscriptions: Sequence[Subscription]) -> dict[str, tuple[str, ...]]:
        """The live channels and the endings each broadcasts: the notify channel when its style is live,
        and the channels subscribed with `live`."""
        live: dict[str, tuple[str, ...]] = {}
        if self._default_channel and self._default_style is NoticeStyle.LIVE:
            live[self._default_channel] = self._default_statuses
        for subscription in subscriptions:
            if subscription.style is NoticeStyle.LIVE:
                live.setdefault(subscription.channel_id, subscription.statuses)
        return live

    def cards(
        self, changed: Sequence[Job], endings: Mapping[str, FinishedJob], live: LiveChannels
    ) -> list[CardJob]:
        """Every job seen running, or seen at its (first) end, as each live channel's card is to show it.
        A job first seen already finished gets its card in that final state. A job not running yet
        (WAITING) gets none until it runs; a later change to a final status is not news (as for notices)."""
        if not live:
            return []
        rows = []
        for job in changed:
            snapshot = endings.get(job.id)
            if snapshot is None:
                if job.known_status is not JobStatus.RUNNING:
                    continue
                snapshot = running(job)
            rows += [CardJob(snapshot, channel) for channel in live]
        return rows

    @staticmethod
    def endings(endings: Mapping[str, FinishedJob], live: LiveChannels) -> list[FollowUpRow]:
        """The posts in a live card's thread when its job ends: the ending, broadcast to the channel when
        the channel's filter asks for it, and for a failure its last log lines and its full log."""
        rows = []
        for job in endings.values():
            for channel, statuses in live.items():
                if job.status in statuses:
                    rows.append(FollowUpRow(FollowUpKind.ENDING, job, channel))
                if JobStatus(job.status) is JobStatus.FAILED:
                    rows.append(FollowUpRow(FollowUpKind.LOG, job, channel))
                    rows.append(FollowUpRow(FollowUpKind.FILE, job, channel))
        return rows

    def alerts(
        self, now: datetime, live: LiveChannels, others: Callable[[str], Sequence[str]]
    ) -> list[FollowUpRow]:
        """One alert per job that has run too long, for every live channel (in the card's thread) and
        every destination `others(job_id)` names (a message of its own). Off when the limit is 0."""
        if self._long_running_after <= 0:
            return []
        usual_by_graph: dict[str, float | None] = {}
        rows = []
        for job in self._store.active_jobs():
            if job.alerted or job.start_time_ms is None or JobStatus(job.status) is not JobStatus.RUNNING:
                continue
            running_for = now.timestamp() - job.start_time_ms / 1000
            usual = (
                self._usual(job.graph_id, usual_by_graph) if running_for >= LEARNED_MARGIN_SECONDS else None
            )
            if not too_long(running_for, self._long_running_after, usual):
                continue
            snapshot = FinishedJob(
                id=job.id, status=job.status, graph_id=job.graph_id, start_time_ms=job.start_time_ms
            )
            detail = json.dumps({"running_for": running_for, "usual": usual})
            destinations = list(dict.fromkeys([*live, *others(job.id)]))
            rows += [FollowUpRow(FollowUpKind.LONG_RUNNING, snapshot, d, detail) for d in destinations]
        return rows

    def _usual(self, graph_id: str | None, known: dict[str, float | None]) -> float | None:
        """The median duration of the graph's latest successful jobs, once there are enough of them."""
        if graph_id is None:
            return None
        if graph_id not in known:
            durations = self._store.usual_durations(graph_id, USUAL_SAMPLE)
            known[graph_id] = statistics.median(durations) if len(durations) >= USUAL_MIN_RUNS else None
        return known[graph_id]


def too_long(running_for: float, limit: float, usual: float | None) -> bool:
    """Whether a job running this long is alerted about: past the fixed limit, or well past its graph's
    usual duration (LEARNED_FACTOR times it, and LEARNED_MARGIN_SECONDS more at least)."""
    if running_for >= limit:
        return True
    if usual is None:
        return False
    return running_for >= max(LEARNED_FACTOR * usual, usual + LEARNED_MARGIN_SECONDS)


def running(job: Job) -> FinishedJob:
    """A running job as its card shows it (the record is the ledger's, whose end fields stay empty)."""
    return FinishedJob(id=job.id, status=job.status, graph_id=job.graph_id, start_time_ms=job.start_time_ms)


def alert_figures(detail: str | None) -> tuple[float, float | None]:
    """(running for, usual) seconds from a long-running follow-up's detail."""
    figures = json.loads(detail or "{}")
    usual = figures.get("usual")
    return float(figures.get("running_for") or 0.0), None if usual is None else float(usual)
