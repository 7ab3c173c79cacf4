"""The cancel workflow on its own: a real SQLite store, a small job-API double, injected clocks; no Slack,
no HTTP. Each test names one rule of what a confirmed cancel sends, records and answers."""

from __future__ import annotations

import ast
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobbot import cancellation
from jobbot.cancellation import (
    CANCEL_OUTCOME_POLL_SECONDS,
    AlreadyFinished,
    Cancellation,
    Cancelled,
    CancellingElsewhere,
    WarningNeeded,
)
from jobbot.errors import (
    InteractiveServerError,
    InteractiveUnavailable,
    InvalidJobId,
    JobAlreadyFinished,
    Refused,
    StoreError,
)
from jobbot.models import AUDIT_FOLD_SECONDS, Actor, AuditEntry, Job, JobWithLog
from jobbot.stale import Stale, UnknownStatus
from jobbot.store import Store, open_store
from jobbot.store.sqlite import SqliteStore
from tests.server_json import JOB

ALICE = Actor(user_id="U0ALICE01", team_id="T0001", channel_id="C0CHAN01")
BOB = Actor(user_id="U0BOB0001", team_id="T0001", channel_id="C0CHAN02")
OUTSIDER = Actor(user_id="U0OUTSIDE1", team_id="T0001", channel_id="C0CHAN01")
START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SAID = "Job cancelled successfully"


class Server:
    """The Interactive server as a cancel sees it: jobs by id, each DELETE counted, faults on demand."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobWithLog] = {}
        self.deletes: list[str] = []
        self.reads = 0
        self.listings = 0
        # What the DELETE meets: run just before it reaches the job; an error it answers with.
        self.before_delete: Callable[[], None] = lambda: None
        self.delete_fails: Exception | None = None
        # The loader can record FAILED over a cancel once its process is killed.
        self.status_after_delete = "CANCELLED"
        self.reads_fail_after_delete: Exception | None = None
        self.landed = threading.Event()

    def add(self, job_id: str, status: str, *, started: datetime | None = None) -> str:
        """A job started a minute before the clock starts (so not stale), or at `started`."""
        start = int((started or START - timedelta(minutes=1)).timestamp() * 1000)
        fields = {"id": job_id, "status": status, "start_time": start}
        self.jobs[job_id] = JobWithLog.model_validate(JOB | fields)
        return job_id

    def list_jobs(self) -> list[Job]:
        self.listings += 1
        return list(self.jobs.values())

    def finish(self, job_id: str, status: str) -> None:
        self.jobs[job_id] = self.jobs[job_id].model_copy(update={"status": status})

    def get_job(self, job_id: str) -> JobWithLog:
        self.reads += 1
        if self.deletes and self.reads_fail_after_delete is not None:
            raise self.reads_fail_after_delete
        return self.jobs[job_id]

    def cancel_job(self, job_id: str) -> str:
        self.deletes.append(job_id)
        self.before_delete()
        if self.delete_fails is not None:
            raise self.delete_fails
        job = self.jobs[job_id]
        # As the real server: only a finished job is refused; an UNKNOWN one's process is killed.
        if job.is_terminal:
            raise JobAlreadyFinished(job_id, job.status)
        self.finish(job_id, self.status_after_delete)
        self.landed.set()
        return SAID


class Cancellers:
    """The permission: these users may cancel, anyone else is refused."""

    def __init__(self, *users: str) -> None:
        self.users = users

    def check_cancel(self, user_id: str) -> None:
        if user_id not in self.users:
            raise Refused("not_a_canceller", user_id=user_id)


class Clock:
    """Wall time that moves `step` at each reading (a millisecond, as a real one would), and on demand."""

    def __init__(self, step: timedelta = timedelta(milliseconds=1)) -> None:
        self.now = START
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


class Stopwatch:
    """A monotonic clock that moves only when the cancel sleeps on it; `on_sleep` runs at each sleep."""

    def __init__(self, on_sleep: Callable[[], None] = lambda: None) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self.on_sleep = on_sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.on_sleep()


def never_waits(seconds: float) -> None:
    raise AssertionError(f"the cancel waited {seconds} s for another clicker where none should be")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/jobbot.db")
    yield opened
    opened.close()


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def desk(
    server: Server,
    store: Store,
    clock: Callable[[], datetime],
    *,
    watch: Stopwatch | None = None,
) -> Cancellation:
    """A Cancellation for Alice and Bob; it may wait only when given a stopwatch."""
    return Cancellation(
        server,
        store,
        Cancellers(ALICE.user_id, BOB.user_id),
        clock=clock,
        sleep=watch.sleep if watch else never_waits,
        monotonic=watch or (lambda: 0.0),
    )


def audited(store: Store, job_id: str) -> list[tuple[str, str, str | None, str | None]]:
    """(user, outcome, status before, message) of each audit entry of the job, oldest first."""
    return [
        (e.user_id, e.outcome, e.status_before, e.message) for e in reversed(store.audit_entries(job_id, 50))
    ]


# What a confirmed cancel sends and answers.


def test_an_unknown_job_confirmed_after_the_warning_is_cancelled_and_the_audit_says_it_was_warned(
    server: Server, store: Store, clock: Clock
) -> None:
    """UNKNOWN is not finished on the server: a click whose dialog warned sends the DELETE, and the
    confirmed entry records that the warning was shown."""
    job_id = server.add("5", "UNKNOWN")
    outcome = desk(server, store, clock).confirm(job_id, ALICE, warned=True)
    assert isinstance(outcome, Cancelled) and server.deletes == [job_id]
    assert audited(store, job_id) == [
        (ALICE.user_id, "confirmed", None, cancellation.WARNED),
        (ALICE.user_id, "succeeded", "UNKNOWN", SAID),
    ]


def test_a_click_whose_dialog_did_not_warn_of_an_unknown_job_sends_nothing_and_warns(
    server: Server, store: Store, clock: Clock
) -> None:
    """An UNKNOWN job clicked through a dialog that did not warn (a button drawn while it ran): no
    DELETE, no claim; the outcome carries the warning to ask again, and the audit says why."""
    job_id = server.add("5", "UNKNOWN")
    outcome = desk(server, store, clock).confirm(job_id, ALICE)
    assert outcome == WarningNeeded(server.jobs[job_id], UnknownStatus(job_id, "UNKNOWN", 4242))
    assert server.deletes == [] and store.cancelled_by(job_id) is None
    assert audited(store, job_id) == [
        (ALICE.user_id, "confirmed", None, None),
        (
            ALICE.user_id,
            "warning_needed",
            "UNKNOWN",
            "not sent: status UNKNOWN, the server would kill process 4242",
        ),
    ]


def test_a_job_stale_by_its_graphs_loads_is_judged_again_at_the_click(
    server: Server, store: Store, clock: Clock
) -> None:
    """A RUNNING job that has run far longer than its graph's finished loads (read from the list at the
    click) is not cancelled by a click whose dialog did not warn; one whose dialog warned cancels it."""
    job_id = server.add("5", "RUNNING", started=START - timedelta(hours=5))
    for n in (1, 2, 3):  # three loads of the same graph, each of a minute
        done = server.jobs[server.add(str(n), "SUCCESS")]
        server.jobs[str(n)] = done.model_copy(update={"end_time_ms": (done.start_time_ms or 0) + 60_000})
    outcome = desk(server, store, clock).confirm(job_id, ALICE)
    assert isinstance(outcome, WarningNeeded) and isinstance(outcome.risk, Stale)
    assert outcome.risk.longest_finished_seconds is not None and outcome.risk.process_id == 4242
    assert server.listings == 1 and server.deletes == []
    assert isinstance(desk(server, store, clock).confirm(job_id, ALICE, warned=True), Cancelled)
    assert server.deletes == [job_id]


def test_a_job_past_the_configured_limit_needs_the_warning(
    server: Server, store: Store, clock: Clock
) -> None:
    """The limit (JOBBOT_STALE_RUNNING_HOURS, given to the cancel) judges alone when no history does:
    past it, an unwarned click sends nothing; under it, the click cancels."""
    job_id = server.add("5", "RUNNING", started=START - timedelta(hours=3))
    strict = Cancellation(server, store, Cancellers(ALICE.user_id), clock=clock, stale_after_seconds=2 * 3600)
    outcome = strict.confirm(job_id, ALICE)
    assert isinstance(outcome, WarningNeeded) and isinstance(outcome.risk, Stale)
    assert outcome.risk.limit_seconds == 2 * 3600 and server.deletes == []
    lenient = Cancellation(
        server, store, Cancellers(ALICE.user_id), clock=clock, stale_after_seconds=4 * 3600
    )
    assert isinstance(lenient.confirm(job_id, ALICE), Cancelled) and server.deletes == [job_id]


def test_a_fresh_running_job_reads_no_history_and_needs_no_warning(
    server: Server, store: Store, clock: Clock
) -> None:
    """A job running for a minute is cancelled by an unwarned click without reading the job list."""
    job_id = server.add("5", "RUNNING")
    assert isinstance(desk(server, store, clock).confirm(job_id, ALICE), Cancelled)
    assert server.listings == 0


def test_a_cancel_sends_one_delete_and_reports_the_job_before_and_after(
    server: Server, store: Store, clock: Clock
) -> None:
    """A confirmed cancel of a running job sends one DELETE and answers with the job as it was, as read
    back after, the server's words and who cancelled; the claim names that person for the notice."""
    job_id = server.add("5", "RUNNING")
    outcome = desk(server, store, clock).confirm(job_id, ALICE)
    assert isinstance(outcome, Cancelled)
    assert (outcome.job_id, outcome.canceller, outcome.server_says) == (job_id, ALICE.user_id, SAID)
    assert outcome.job.status == "RUNNING"
    assert outcome.after is not None and outcome.after.status == "CANCELLED"
    assert outcome.read_back_error is None
    assert server.deletes == [job_id] and store.cancelled_by(job_id) == ALICE.user_id
    assert audited(store, job_id) == [
        (ALICE.user_id, "confirmed", None, None),
        (ALICE.user_id, "succeeded", "RUNNING", SAID),
    ]


def test_a_double_click_sends_one_delete_and_the_second_is_told_who_is_cancelling(
    server: Server, store: Store, clock: Clock
) -> None:
    """A second click by the same person while the first one's DELETE is in flight sends nothing,
    waits, and when the job has not left RUNNING by the end of the wait is told who holds the claim."""
    job_id = server.add("5", "RUNNING")
    running = server.jobs[job_id]
    cancel = desk(server, store, clock, watch=Stopwatch())
    second: list[object] = []
    server.before_delete = lambda: second.append(cancel.confirm(job_id, ALICE))
    first = cancel.confirm(job_id, ALICE)
    assert server.deletes == [job_id]
    assert isinstance(first, Cancelled) and first.canceller == ALICE.user_id
    assert second == [CancellingElsewhere(job_id, running, holder=ALICE.user_id)]
    assert audited(store, job_id) == [
        (ALICE.user_id, "confirmed", None, None),
        (ALICE.user_id, "confirmed", None, None),
        (ALICE.user_id, "cancelled_by_another", "RUNNING", f"claimed by {ALICE.user_id}"),
        (ALICE.user_id, "succeeded", "RUNNING", SAID),
    ]


def test_two_replicas_sharing_a_store_send_one_delete_and_the_second_reports_the_first(
    server: Server, store: Store, clock: Clock
) -> None:
    """Two Cancellation instances on one store (two replicas): while the first one's DELETE is in
    flight the second sends none, waits, and reports the job ended, cancelled by the first clicker."""
    job_id = server.add("5", "RUNNING")
    claimed, delete_may_land = threading.Event(), threading.Event()

    def in_flight() -> None:
        claimed.set()
        assert delete_may_land.wait(timeout=10.0)

    def first_lands() -> None:
        delete_may_land.set()
        assert server.landed.wait(timeout=10.0)

    server.before_delete = in_flight
    here = desk(server, store, clock)
    there = desk(server, store, clock, watch=Stopwatch(on_sleep=first_lands))
    first: list[object] = []
    clicking = threading.Thread(target=lambda: first.append(here.confirm(job_id, ALICE)))
    clicking.start()
    try:
        assert claimed.wait(timeout=10.0)
        second = there.confirm(job_id, BOB)
    finally:
        delete_may_land.set()
        clicking.join(timeout=10.0)
    assert server.deletes == [job_id]
    assert second == AlreadyFinished(server.jobs[job_id], cancelled_by=ALICE.user_id)
    assert second.job.status == "CANCELLED"
    assert [type(o) for o in first] == [Cancelled]


def test_the_second_clicker_polls_every_quarter_second_and_gives_up_after_eight(
    server: Server, store: Store, clock: Clock
) -> None:
    """A clicker who finds the job claimed reads it again every CANCEL_OUTCOME_POLL_SECONDS and stops
    once CANCEL_OUTCOME_WAIT_SECONDS have passed on the monotonic clock, without sending a DELETE."""
    job_id = server.add("5", "RUNNING")
    assert store.claim_cancel(job_id, ALICE.user_id, clock(), stale_after=60.0) is None
    watch = Stopwatch()
    outcome = desk(server, store, clock, watch=watch).confirm(job_id, BOB)
    assert isinstance(outcome, CancellingElsewhere) and outcome.holder == ALICE.user_id
    assert watch.slept == [0.25] * 32 and watch.now == 108.0
    # One read before the claim, then one before each sleep and the last one at the deadline.
    assert server.reads == 1 + 32 + 1 and server.deletes == []


def test_the_second_clicker_reports_the_first_clicks_outcome_as_soon_as_it_shows(
    server: Server, store: Store, clock: Clock
) -> None:
    """When the job leaves RUNNING during the wait, the second clicker stops waiting at once and is told
    it had ended, cancelled by the holder of the claim."""
    job_id = server.add("5", "RUNNING")
    assert store.claim_cancel(job_id, ALICE.user_id, clock(), stale_after=60.0) is None
    watch = Stopwatch(on_sleep=lambda: server.finish(job_id, "CANCELLED"))
    outcome = desk(server, store, clock, watch=watch).confirm(job_id, BOB)
    assert outcome == AlreadyFinished(server.jobs[job_id], cancelled_by=ALICE.user_id)
    assert watch.slept == [CANCEL_OUTCOME_POLL_SECONDS] and server.deletes == []


def test_a_claim_left_by_a_holder_that_died_is_taken_over_after_a_minute(
    server: Server, store: Store, clock: Clock
) -> None:
    """A claim whose holder never sent its DELETE blocks others for a minute; after that, the next
    click takes it over and sends the DELETE."""
    job_id = server.add("5", "RUNNING")
    assert store.claim_cancel(job_id, ALICE.user_id, clock.now, stale_after=60.0) is None
    clock.now += timedelta(seconds=59)
    blocked = desk(server, store, clock, watch=Stopwatch()).confirm(job_id, BOB)
    assert isinstance(blocked, CancellingElsewhere) and server.deletes == []
    clock.now += timedelta(seconds=1)
    taken = desk(server, store, clock).confirm(job_id, BOB)
    assert isinstance(taken, Cancelled) and server.deletes == [job_id]
    assert store.cancelled_by(job_id) == BOB.user_id


# A job that had already ended.


def test_a_job_that_had_ended_is_reported_with_no_delete(server: Server, store: Store, clock: Clock) -> None:
    """A click on a job that has already ended sends no DELETE and claims nothing; the outcome names
    nobody as its canceller, and the audit records the status it ended with."""
    job_id = server.add("5", "SUCCESS")
    outcome = desk(server, store, clock).confirm(job_id, ALICE)
    assert outcome == AlreadyFinished(server.jobs[job_id], cancelled_by=None)
    assert server.deletes == [] and store.cancelled_by(job_id) is None
    assert audited(store, job_id) == [
        (ALICE.user_id, "confirmed", None, None),
        (ALICE.user_id, "already_finished", "SUCCESS", None),
    ]


def test_a_job_failed_after_a_cancel_is_reported_with_its_canceller(
    server: Server, store: Store, clock: Clock
) -> None:
    """When the server records FAILED over a cancel, the canceller's outcome carries that status as
    read back, and the next clicker is told the job ended FAILED, cancelled by the first."""
    server.status_after_delete = "FAILED"
    job_id = server.add("5", "RUNNING")
    cancel = desk(server, store, clock)
    first = cancel.confirm(job_id, ALICE)
    assert isinstance(first, Cancelled) and first.after is not None and first.after.status == "FAILED"
    second = cancel.confirm(job_id, BOB)
    assert second == AlreadyFinished(server.jobs[job_id], cancelled_by=ALICE.user_id)
    assert server.deletes == [job_id]


@pytest.mark.parametrize(
    ("status", "claimed", "named"),
    [("CANCELLED", True, True), ("FAILED", True, True), ("SUCCESS", True, False), ("FAILED", False, False)],
    ids=["cancelled", "failed after a cancel", "succeeded", "failed on its own"],
)
def test_a_recorded_canceller_is_named_only_for_a_job_that_ended_cancelled_or_failed(
    server: Server, store: Store, clock: Clock, status: str, claimed: bool, named: bool
) -> None:
    """A claim on record names its holder as the canceller of a job that ended CANCELLED or FAILED,
    never of one that succeeded; a job that failed with no claim on record names nobody."""
    job_id = server.add("5", status)
    if claimed:
        assert store.claim_cancel(job_id, ALICE.user_id, clock(), stale_after=60.0) is None
    outcome = desk(server, store, clock).confirm(job_id, BOB)
    assert outcome == AlreadyFinished(server.jobs[job_id], cancelled_by=ALICE.user_id if named else None)


def test_a_delete_answered_already_finished_gives_the_claim_back(
    server: Server, store: Store, clock: Clock
) -> None:
    """A DELETE answered "Job already FAILED" (the job failed on its own just before) forgets the claim,
    reads the job again, reports it ended with nobody as canceller, and audits the server's words."""
    job_id = server.add("5", "RUNNING")
    server.before_delete = lambda: server.finish(job_id, "FAILED")
    outcome = desk(server, store, clock).confirm(job_id, ALICE)
    assert outcome == AlreadyFinished(server.jobs[job_id], cancelled_by=None)
    assert outcome.job.status == "FAILED" and store.cancelled_by(job_id) is None
    assert audited(store, job_id) == [
        (ALICE.user_id, "confirmed", None, None),
        (ALICE.user_id, "already_finished", "RUNNING", f"job {job_id} had already finished (FAILED)"),
    ]


# Errors.


@pytest.mark.parametrize(
    "error",
    [InteractiveServerError(500, None, "boom"), InteractiveUnavailable("http://gs:8080", "timed out")],
    ids=["server error", "unreachable"],
)
def test_a_failed_delete_gives_the_claim_back_is_audited_and_raised(
    server: Server, store: Store, clock: Clock, error: Exception
) -> None:
    """A DELETE that fails forgets the claim, leaves a `failed` entry with the error's words and is
    raised for the adapter to explain; the next click, by anyone, sends another DELETE."""
    job_id = server.add("5", "RUNNING")
    server.delete_fails = error
    cancel = desk(server, store, clock)
    with pytest.raises(type(error)):
        cancel.confirm(job_id, ALICE)
    assert store.cancelled_by(job_id) is None
    assert audited(store, job_id)[-1] == (ALICE.user_id, "failed", "RUNNING", str(error))
    server.delete_fails = None
    assert isinstance(cancel.confirm(job_id, BOB), Cancelled)
    assert server.deletes == [job_id, job_id] and store.cancelled_by(job_id) == BOB.user_id


def test_a_failed_read_back_is_reported_with_its_reason(server: Server, store: Store, clock: Clock) -> None:
    """When the job cannot be read back after an accepted DELETE, the outcome is still a cancel, with
    the job as it was before and the reason it could not be read; the audit says it succeeded."""
    job_id = server.add("5", "RUNNING")
    before = server.jobs[job_id]
    server.reads_fail_after_delete = InteractiveServerError(500, None, "down")
    outcome = desk(server, store, clock).confirm(job_id, ALICE)
    assert outcome == Cancelled(
        job_id, before, ALICE.user_id, SAID, after=None, read_back_error=str(server.reads_fail_after_delete)
    )
    assert audited(store, job_id)[-1] == (ALICE.user_id, "succeeded", "RUNNING", SAID)


def test_a_malformed_job_id_is_answered_before_anything_is_checked_read_or_recorded(
    server: Server, store: Store, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A job id that is not one raises InvalidJobId, even for someone who may not cancel, with no
    request to the server, no audit entry and no log line of an attempt."""
    with caplog.at_level(logging.INFO, logger="jobbot.cancellation"), pytest.raises(InvalidJobId):
        desk(server, store, clock).confirm("5; DROP", OUTSIDER)
    assert server.reads == 0 and store.audit_entries(None, 10) == [] and caplog.records == []


# Permission and the audit trail.


def test_a_refused_click_is_audited_once_raised_and_reads_nothing(
    server: Server, store: Store, clock: Clock
) -> None:
    """A person who may not cancel is refused with Refused, leaves one `refused` entry whose message
    is the refusal's kind, and the job is neither read nor claimed nor cancelled."""
    job_id = server.add("5", "RUNNING")
    with pytest.raises(Refused):
        desk(server, store, clock).confirm(job_id, OUTSIDER)
    assert audited(store, job_id) == [(OUTSIDER.user_id, "refused", None, "cancel")]
    assert server.reads == 0 and server.deletes == [] and store.cancelled_by(job_id) is None


def test_refusals_soon_after_each_other_fold_into_one_entry(server: Server, store: Store) -> None:
    """The same person refused for the same job within AUDIT_FOLD_SECONDS of the last refusal is
    counted on its entry; after a longer pause, a new entry starts."""
    job_id = server.add("5", "RUNNING")
    clock = Clock(step=timedelta(0))
    cancel = desk(server, store, clock)
    for later in (0, 300, 600):
        clock.now += timedelta(seconds=later)
        with pytest.raises(Refused):
            cancel.confirm(job_id, OUTSIDER)
    [first] = store.audit_entries(job_id, 10)
    assert (first.at, first.repeats, first.last_at) == (START, 3, START + timedelta(seconds=900))
    clock.now += timedelta(seconds=AUDIT_FOLD_SECONDS + 1)
    with pytest.raises(Refused):
        cancel.confirm(job_id, OUTSIDER)
    assert [e.repeats for e in store.audit_entries(job_id, 10)] == [1, 3]


def test_only_refusals_fold(server: Server, store: Store) -> None:
    """Two clicks at the same moment on a job that had ended leave two `confirmed` and two
    `already_finished` entries: only refusals are counted on an earlier entry."""
    job_id = server.add("5", "SUCCESS")
    cancel = desk(server, store, lambda: START)
    cancel.confirm(job_id, ALICE)
    cancel.confirm(job_id, ALICE)
    assert [o for _, o, _, _ in audited(store, job_id)] == ["confirmed", "already_finished"] * 2


def test_an_audit_entry_records_who_from_where_when(server: Server, store: Store) -> None:
    """Each entry holds the clock's time, the person, their workspace, the channel and the job."""
    job_id = server.add("5", "SUCCESS")
    desk(server, store, lambda: START).confirm(job_id, ALICE)
    [entry, _] = store.audit_entries(job_id, 10)
    assert entry == AuditEntry(
        at=START,
        user_id=ALICE.user_id,
        team_id=ALICE.team_id,
        channel_id=ALICE.channel_id,
        job_id=job_id,
        status_before="SUCCESS",
        outcome="already_finished",
    )


def test_the_audit_keeps_the_first_1000_characters_of_a_message(server: Server, store: Store) -> None:
    """However long the server's answer to a DELETE, the audit entry keeps its first 1000 characters."""
    job_id = server.add("5", "RUNNING")
    long = "".join(f"{n:04d}" for n in range(1, 501))
    server.delete_fails = InteractiveServerError(500, None, long)
    with pytest.raises(InteractiveServerError):
        desk(server, store, lambda: START).confirm(job_id, ALICE)
    message = audited(store, job_id)[-1][3] or ""
    assert len(message) == 1000 and message == str(server.delete_fails)[:1000]


class AuditFails(SqliteStore):
    """A store that cannot write the audit trail (and keeps everything else)."""

    def record_audit(self, entry: AuditEntry, *, fold_within: float = 0.0) -> None:
        raise StoreError("database is locked")


def test_a_cancel_goes_on_when_its_audit_entry_cannot_be_recorded(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An audit entry the store cannot write is logged as an error with the store's reason, after its
    own structured log line, and the cancel still happens."""
    job_id = server.add("5", "RUNNING")
    store = AuditFails(str(tmp_path / "jobbot.db"))
    try:
        with caplog.at_level(logging.INFO, logger="jobbot.cancellation"):
            outcome = desk(server, store, lambda: START).confirm(job_id, ALICE)
    finally:
        store.close()
    assert isinstance(outcome, Cancelled) and server.deletes == [job_id]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", f"cancel attempt: job {job_id} by {ALICE.user_id}: confirmed"),
        ("ERROR", "could not record the audit entry: database is locked"),
        ("INFO", f"cancel attempt: job {job_id} by {ALICE.user_id}: succeeded"),
        ("ERROR", "could not record the audit entry: database is locked"),
    ]
    assert getattr(caplog.records[0], "audit", {})["outcome"] == "confirmed"


# The `/jobs cancel ID` prompt.


def test_the_prompt_reads_the_job_only_for_someone_who_may_cancel(
    server: Server, store: Store, clock: Clock
) -> None:
    """`prompt` gives the job to someone allowed to cancel, recording nothing; anyone else is refused
    before the job is read, with one `refused` entry."""
    job_id = server.add("5", "RUNNING")
    cancel = desk(server, store, clock)
    assert cancel.prompt(job_id, ALICE) == server.jobs[job_id]
    assert store.audit_entries(job_id, 10) == [] and server.deletes == []
    reads = server.reads
    with pytest.raises(Refused):
        cancel.prompt(job_id, OUTSIDER)
    assert server.reads == reads
    assert audited(store, job_id) == [(OUTSIDER.user_id, "refused", None, "cancel")]


def test_the_workflow_knows_nothing_of_slack_or_its_wording() -> None:
    """cancellation.py imports neither Slack's libraries nor the renderers: it answers with facts."""
    source = Path(cancellation.__file__).read_text()
    names = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    banned = ("slack_bolt", "slack_sdk", "jobbot.render", "jobbot.handlers")
    assert not {n for n in names if n and n.startswith(banned)}
