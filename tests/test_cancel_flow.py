"""The cancel workflow and its authorization, driven through JobsHandlers' own methods: each test names
one rule of who may cancel, what one click sends, and what the clicker is told."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from jobbot import cancellation, logs, metrics
from jobbot.authz import USERGROUP_CACHE_SECONDS, Access
from jobbot.emulator import CANCEL_FAILED_AT_ONCE, CANCEL_JOB, CANCEL_STAYS, GET_JOB, Emulator, Quirks
from jobbot.errors import Refused, StoreError, WorkspaceUnknown
from jobbot.jobs_api import JobClient
from jobbot.models import AuditEntry
from jobbot.render.mrkdwn import status_label
from jobbot.render.problems import why_refused
from jobbot.slack_ids import JOB_CANCEL
from jobbot.store import Store, open_store
from jobbot.store.sqlite import SqliteStore
from tests.desk import CANCELLER, CHANNEL, Desk
from tests.fakes import TEAM_ID, FakeSlack, Scripted
from tests.support import ENDED_BY_A_CANCEL, FakeClock, status_read_after_cancel

SECOND_CANCELLER = "U0ALLOWED2"
GROUP_MEMBER = "U0MEMBER1"
GROUP = "S0CANCELS"


def shown(reply: dict[str, Any]) -> str:
    return str(reply["text"]) + json.dumps(reply["blocks"], ensure_ascii=False)


def deletes(emulator: Emulator) -> int:
    return len([r for r in emulator.requests if r[0] == "DELETE"])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/jobbot.db")
    yield opened
    opened.close()


@pytest.fixture
def slack(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake_slack.api_url, retry_handlers=[])


def cancellers(slack: WebClient) -> Access:
    """Two users may cancel; nobody through a group."""
    return Access(
        cancel_users=(CANCELLER, SECOND_CANCELLER),
        cancel_usergroups=(),
        allowed_channels=(),
        client=slack,
        workspace_team=lambda: TEAM_ID,
    )


@pytest.fixture
def jobs(emulator: Emulator) -> Iterator[JobClient]:
    # No retries: a fault injected for one request is that request's answer.
    with JobClient(emulator.url, retries=0) as client:
        yield client


# Authorization: who may cancel.


def unreachable_slack() -> WebClient:
    """A Web API client aimed at a loopback port that nothing listens on: every call is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return WebClient(token="xoxb-test", base_url=f"http://127.0.0.1:{port}/api/", retry_handlers=[])


def group_access(client: WebClient, monotonic: Callable[[], float] = lambda: 0.0) -> Access:
    return Access(
        cancel_users=(),
        cancel_usergroups=(GROUP,),
        allowed_channels=(),
        client=client,
        workspace_team=lambda: TEAM_ID,
        monotonic=monotonic,
    )


class GroupsThatFail(WebClient):
    """A Web API client whose user-group lookups fail, each group its own way."""

    def __init__(self, failures: dict[str, Exception]) -> None:
        super().__init__(token="xoxb-test")
        self.failures = failures

    def usergroups_users_list(self, **kwargs: Any) -> Any:
        raise self.failures[kwargs["usergroup"]]


def test_a_refusal_after_failed_group_lookups_reads_in_full() -> None:
    """The whole sentence a person reads when no group could be checked: each group with what went
    wrong (Slack's error, a placeholder when Slack named none, a connection error), then how to allow it."""
    failures: dict[str, Exception] = {
        "S0ONE": SlackApiError(
            "no", SlackResponse(**_slack_answer({"ok": False, "error": "plan_upgrade_required"}))
        ),
        "S0TWO": SlackApiError("no", SlackResponse(**_slack_answer({"ok": False}))),
        "S0THREE": ConnectionResetError(),
    }
    access = Access(
        cancel_users=(),
        cancel_usergroups=tuple(failures),
        allowed_channels=(),
        client=GroupsThatFail(failures),
        workspace_team=lambda: TEAM_ID,
    )
    with pytest.raises(Refused) as refused:
        access.check_cancel(GROUP_MEMBER)
    assert why_refused(refused.value) == (
        "You may not cancel jobs right now: jobbot could not check your user groups ("
        "`S0ONE`: Slack said `plan_upgrade_required`; `S0TWO`: Slack said `error`; "
        "`S0THREE`: Slack could not be reached (ConnectionResetError)), and it refuses when it cannot "
        f"check. An admin can allow it by adding your Slack user ID `{GROUP_MEMBER}` to "
        "`JOBBOT_CANCEL_USERS` (then restarting jobbot), or by adding you to a user group in "
        "`JOBBOT_CANCEL_USERGROUPS` (`S0ONE`, `S0TWO`, `S0THREE`)."
    )


def _slack_answer(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "client": None,
        "http_verb": "POST",
        "api_url": "https://slack.com/api/usergroups.users.list",
        "req_args": {},
        "data": data,
        "headers": {},
        "status_code": 200,
    }


def test_the_refusal_while_the_workspace_is_unknown_reads_in_full() -> None:
    """When jobbot cannot learn its own workspace it refuses everyone; the sentence says why, that it
    keeps asking, and the two things an admin can check."""

    def unknown() -> str:
        raise WorkspaceUnknown("Slack said `invalid_auth`")

    access = Access(
        cancel_users=(),
        cancel_usergroups=(),
        allowed_channels=(),
        client=WebClient(token="xoxb-test"),
        workspace_team=unknown,
    )
    with pytest.raises(Refused) as refused:
        access.check_organization(TEAM_ID)
    assert why_refused(refused.value) == (
        "jobbot refuses everyone right now: it could not confirm which workspace it is installed in "
        "(Slack said `invalid_auth`), so it cannot tell members from people of other organizations. It "
        "asks Slack again every half minute. An admin can check that `SLACK_BOT_TOKEN` is still valid "
        "(reinstall the app if it was revoked) and that jobbot can reach `SLACK_API_URL`."
    )


def test_a_group_lookup_that_cannot_reach_slack_refuses_the_cancel_and_says_why() -> None:
    """When Slack cannot be reached at all to list the cancel group (a connection error, not an error
    answer), the cancel is refused, and the refusal says jobbot could not check and names the error."""
    with pytest.raises(Refused) as refused:
        group_access(unreachable_slack()).check_cancel(GROUP_MEMBER)
    assert refused.value.kind == "cancel"
    assert f"`{GROUP}`: Slack could not be reached (URLError)" in why_refused(
        refused.value
    ) and "refuses when it cannot check" in why_refused(refused.value)


def test_an_unreachable_group_lookup_sends_no_delete(
    emulator: Emulator, store: Store, jobs: JobClient
) -> None:
    """A click whose group lookup cannot reach Slack is answered with the refusal and sends no DELETE."""
    job_id = emulator.add_job(status="RUNNING")
    desk = Desk(jobs, store, access=group_access(unreachable_slack()))
    reply = desk.click_cancel(job_id, user_id=GROUP_MEMBER)
    assert ":lock:" in shown(reply) and "could not be reached" in shown(reply)
    assert deletes(emulator) == 0 and emulator.get(job_id).status == "RUNNING"


def test_a_user_removed_from_the_group_loses_the_right_once_the_cache_expires(
    fake_slack: FakeSlack, slack: WebClient
) -> None:
    """Group members are asked of Slack again once USERGROUP_CACHE_SECONDS have passed: a member removed
    from the group may still cancel within that time, and not after it."""
    fake_slack.script(
        "usergroups.users.list",
        Scripted(200, {"ok": True, "users": [GROUP_MEMBER]}),
        Scripted(200, {"ok": True, "users": ["U0SOMEONE"]}),
    )
    clock = FakeClock()
    access = group_access(slack, monotonic=clock.monotonic)
    access.check_cancel(GROUP_MEMBER)
    clock.advance(USERGROUP_CACHE_SECONDS - 1)
    access.check_cancel(GROUP_MEMBER)
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1
    clock.advance(1)
    with pytest.raises(Refused, match="not allowed to cancel"):
        access.check_cancel(GROUP_MEMBER)
    assert len(fake_slack.calls_to("usergroups.users.list")) == 2


OUTSIDER = "U0OUTSIDE1"
ALLOW_BY_ID = (
    f"An admin can allow it by adding your Slack user ID `{OUTSIDER}` to `JOBBOT_CANCEL_USERS` "
    "(then restarting jobbot)"
)


@pytest.mark.parametrize(
    ("users", "groups", "reason"),
    [
        ((), (), f"Nobody may cancel jobs from Slack yet. {ALLOW_BY_ID}."),
        ((CANCELLER,), (), f"You are not allowed to cancel jobs from Slack. {ALLOW_BY_ID}."),
        (
            (),
            (GROUP,),
            f"You are not allowed to cancel jobs from Slack. {ALLOW_BY_ID}, or by adding you to a user "
            f"group in `JOBBOT_CANCEL_USERGROUPS` (`{GROUP}`).",
        ),
    ],
    ids=["nobody", "users", "groups"],
)
def test_a_refusal_says_whether_anyone_may_cancel_and_how_to_allow_it(
    fake_slack: FakeSlack, slack: WebClient, users: tuple[str, ...], groups: tuple[str, ...], reason: str
) -> None:
    """A refusal says 'Nobody may cancel' only when neither JOBBOT_CANCEL_USERS nor
    JOBBOT_CANCEL_USERGROUPS is set, else 'You are not allowed'; either way it is a cancel refusal that
    names the user's ID and JOBBOT_CANCEL_USERS, and with groups configured, the groups too."""
    fake_slack.script("usergroups.users.list", Scripted(200, {"ok": True, "users": [GROUP_MEMBER]}))
    access = Access(
        cancel_users=users,
        cancel_usergroups=groups,
        allowed_channels=(),
        client=slack,
        workspace_team=lambda: TEAM_ID,
    )
    with pytest.raises(Refused) as refused:
        access.check_cancel(OUTSIDER)
    assert (refused.value.kind, why_refused(refused.value)) == ("cancel", reason)


def test_a_user_id_jobbot_cannot_read_is_refused_as_a_cancel(slack: WebClient) -> None:
    """A user id that is not a Slack user ID (U... or W...) is refused, even if listed, with a cancel
    refusal that says jobbot could not tell who is asking."""
    access = Access(
        cancel_users=("someone",),
        cancel_usergroups=(),
        allowed_channels=(),
        client=slack,
        workspace_team=lambda: TEAM_ID,
    )
    with pytest.raises(Refused) as refused:
        access.check_cancel("someone")
    assert (refused.value.kind, why_refused(refused.value)) == (
        "cancel",
        "jobbot could not tell who you are, so it will not cancel.",
    )


# What one click sends and what it says.

HOSTILE = "done <!channel> <@U0BOSS01> <https://evil.example|click> *bold* \u202eevil"


def test_the_servers_cancel_message_is_shown_escaped(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """Whatever the server answers to a DELETE is shown literally in the outcome: no channel ping, no
    mention, no link, and a bidi override spelled out."""
    job_id = emulator.add_job(status="RUNNING")
    emulator.faults.fail_next(1, status=200, body=json.dumps({"message": HOSTILE}).encode(), route=CANCEL_JOB)
    reply = Desk(jobs, store, access=cancellers(slack)).click_cancel(job_id)
    text = shown(reply)
    assert f"<@{CANCELLER}> cancelled job {job_id}" in text
    assert "&lt;!channel&gt;" in text and "&lt;@U0BOSS01&gt;" in text
    assert "&lt;https://evil.example|click&gt;" in text and "\\u202e" in text
    assert "<!channel>" not in text and "<@U0BOSS01>" not in text and "\u202e" not in text


class JobFailsFirst(JobClient):
    """A client whose job fails on its own just before the DELETE reaches the server."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__(emulator.url, retries=0)
        self.emulator = emulator

    def cancel_job(self, job_id: str) -> str:
        self.emulator.finish_job(job_id, "FAILED")
        return super().cancel_job(job_id)


def test_a_delete_answered_job_already_finished_releases_the_claim(
    emulator: Emulator, store: Store, slack: WebClient
) -> None:
    """A DELETE answered "Job already FAILED" gives the cancel claim back: the job, which failed on its
    own, is never shown (or announced) as cancelled by the clicker."""
    job_id = emulator.add_job(status="RUNNING")
    with JobFailsFirst(emulator) as racing:
        reply = Desk(racing, store, access=cancellers(slack)).click_cancel(job_id)
    assert deletes(emulator) == 1
    assert "Nothing to cancel" in shown(reply) and "FAILED" in shown(reply)
    assert "cancelled by" not in shown(reply)
    assert store.cancelled_by(job_id) is None


def test_a_failed_delete_releases_the_claim_so_a_retry_sends_another(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """A DELETE that fails (HTTP 500) gives the cancel claim back: the next click, by anyone, sends a
    second DELETE and cancels the job."""
    job_id = emulator.add_job(status="RUNNING")
    emulator.faults.fail_next(1, status=500, route=CANCEL_JOB)
    desk = Desk(jobs, store, access=cancellers(slack))
    failed = desk.click_cancel(job_id)
    assert "HTTP 500" in shown(failed) and store.cancelled_by(job_id) is None
    retried = desk.click_cancel(job_id, user_id=SECOND_CANCELLER)
    assert deletes(emulator) == 2 and emulator.get(job_id).status in ENDED_BY_A_CANCEL
    assert f"<@{SECOND_CANCELLER}> cancelled job {job_id}" in shown(retried)


class ReadBackFails(JobClient):
    """A client whose server starts failing right after it accepts the DELETE."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__(emulator.url, retries=0)
        self.emulator = emulator

    def cancel_job(self, job_id: str) -> str:
        said = super().cancel_job(job_id)
        self.emulator.faults.fail_next(1, status=500, route=GET_JOB)
        return said


def test_a_failed_read_back_after_the_delete_is_reported_as_such(
    emulator: Emulator, store: Store, slack: WebClient
) -> None:
    """When the job cannot be read back after a successful DELETE, the clicker is told it was cancelled
    and that its status could not be read back, with the reason."""
    job_id = emulator.add_job(status="RUNNING")
    with ReadBackFails(emulator) as failing:
        reply = Desk(failing, store, access=cancellers(slack)).click_cancel(job_id)
    text = shown(reply)
    assert deletes(emulator) == 1 and emulator.get(job_id).status in ENDED_BY_A_CANCEL
    assert f"<@{CANCELLER}> cancelled job {job_id}" in text
    assert "Its status could not be read back" in text and "500" in text


def test_the_second_clicker_is_told_the_first_clicks_outcome(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """While the first click's DELETE is in flight, a second click waits for its outcome and reports it
    (cancelled, and by whom), not that someone "is cancelling right now"."""
    job_id = emulator.add_job(status="RUNNING")
    emulator.faults.hang(route=CANCEL_JOB)
    waits: list[float] = []

    def second_clicker_waits(seconds: float) -> None:
        # The wait lets the first click's DELETE through and lasts until the job has left RUNNING, so
        # the poll after it must find the first click's outcome.
        waits.append(seconds)
        emulator.faults.release()
        assert emulator.wait_until(lambda: emulator.get(job_id).status != "RUNNING", timeout=10.0)

    desk = Desk(jobs, store, access=cancellers(slack), sleep=second_clicker_waits)
    first: list[dict[str, Any]] = []
    clicking = threading.Thread(target=lambda: first.append(desk.click_cancel(job_id)))
    clicking.start()
    try:
        assert emulator.wait_until(lambda: store.cancelled_by(job_id) == CANCELLER, timeout=10.0)
        second = desk.click_cancel(job_id, user_id=SECOND_CANCELLER)
    finally:
        emulator.faults.release()
        clicking.join(timeout=10.0)
    assert waits, "the second clicker did not wait"
    assert deletes(emulator) == 1
    assert "is cancelling" not in shown(second)
    # The server's status when the second clicker read it: CANCELLED, or FAILED if the loader won.
    assert status_read_after_cancel(emulator, job_id) in shown(second)
    assert f"cancelled by <@{CANCELLER}>" in shown(second)
    assert f"<@{CANCELLER}> cancelled job {job_id}" in shown(first[0])


def audited(store: Store, job_id: str) -> list[tuple[str, str | None, str | None]]:
    """(outcome, status before, message) of each audit entry of the job, oldest first."""
    return [(e.outcome, e.status_before, e.message) for e in reversed(store.audit_entries(job_id, 20))]


def test_a_refused_click_is_audited_with_the_refusals_kind(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """A refused click leaves one `refused` entry whose message is the refusal's kind, and sends nothing."""
    job_id = emulator.add_job(status="RUNNING")
    reply = Desk(jobs, store, access=cancellers(slack)).click_cancel(job_id, user_id=OUTSIDER)
    assert ":lock:" in shown(reply) and deletes(emulator) == 0
    assert audited(store, job_id) == [("refused", None, "cancel")]


def test_a_click_on_a_job_that_had_ended_names_its_status_and_audits_it(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """A click on a job that has already ended sends no DELETE, says which status it ended with, and its
    audit entry records that status."""
    job_id = emulator.add_job(status="SUCCESS")
    reply = Desk(jobs, store, access=cancellers(slack)).click_cancel(job_id)
    ended = status_label("SUCCESS")
    assert f"Nothing to cancel: job {job_id} had already ended as {ended}." in shown(reply)
    assert deletes(emulator) == 0
    assert audited(store, job_id) == [("confirmed", None, None), ("already_finished", "SUCCESS", None)]


def test_a_job_failed_after_a_recorded_cancel_is_shown_with_its_canceller(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """The server's race: a job cancelled by one person and then recorded FAILED by its loader is shown
    to the next clicker as ended FAILED, cancelled by that person; a job that failed on its own names
    nobody."""
    emulator.quirks = Quirks(cancel_ends_failed=1.0, cancel_overwrite_delay=0.0)
    job_id = emulator.add_job(status="RUNNING")
    desk = Desk(jobs, store, access=cancellers(slack))
    desk.click_cancel(job_id)
    second = desk.click_cancel(job_id, user_id=SECOND_CANCELLER)
    failed = status_label("FAILED")
    assert f"had already ended as {failed} (cancelled by <@{CANCELLER}>)." in shown(second)
    on_its_own = emulator.add_job(status="FAILED")
    alone = desk.click_cancel(on_its_own)
    assert f"had already ended as {failed}." in shown(alone) and "cancelled by" not in shown(alone)


def test_after_the_delete_a_status_other_than_cancelled_is_named(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """When the server reports the job as something other than CANCELLED right after a successful DELETE
    (its loader recorded FAILED over it), the outcome names that status; a plain cancel says nothing
    more."""
    desk = Desk(jobs, store, access=cancellers(slack))
    # The default emulator's race, per job: one whose CANCELLED stays, one the loader overwrites first.
    fates: dict[str, str] = {}
    while not {CANCEL_STAYS, CANCEL_FAILED_AT_ONCE} <= set(fates):
        job_id = emulator.add_job(status="RUNNING")
        fates.setdefault(emulator.cancel_fate(job_id), job_id)
    plain, overwritten = fates[CANCEL_STAYS], fates[CANCEL_FAILED_AT_ONCE]
    cancelled = desk.click_cancel(plain)
    assert f"<@{CANCELLER}> cancelled job {plain}" in shown(cancelled)
    assert "now reports it as" not in shown(cancelled)
    reply = desk.click_cancel(overwritten)
    assert f"<@{CANCELLER}> cancelled job {overwritten}" in shown(reply)
    assert f"The server now reports it as {status_label('FAILED')}." in shown(reply)


def test_a_second_clicker_whose_wait_runs_out_is_told_who_is_cancelling(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """When the first click's cancel has not shown in the job's status after the wait, the second
    clicker is told who is cancelling and to press Refresh, sends no DELETE, and its audit entry says
    who holds the claim."""
    job_id = emulator.add_job(status="RUNNING")
    # The first click claimed the cancel and its DELETE has not landed yet.
    assert store.claim_cancel(job_id, CANCELLER, datetime.now(UTC), stale_after=60.0) is None
    watch = FakeClock()
    desk = Desk(jobs, store, access=cancellers(slack), sleep=watch.sleep, monotonic=watch.monotonic)
    reply = desk.click_cancel(job_id, user_id=SECOND_CANCELLER)
    assert watch.slept, "the second clicker did not wait"
    assert (
        f"<@{CANCELLER}> is cancelling job {job_id} right now; press Refresh in a moment to see the outcome."
        in shown(reply)
    )
    assert deletes(emulator) == 0
    assert audited(store, job_id) == [
        ("confirmed", None, None),
        ("cancelled_by_another", "RUNNING", f"claimed by {CANCELLER}"),
    ]


def test_a_delete_answered_already_finished_is_audited_with_the_servers_words(
    emulator: Emulator, store: Store, slack: WebClient
) -> None:
    """A DELETE answered "Job already FAILED" leaves an `already_finished` entry with the status the
    clicker saw and what the server said."""
    job_id = emulator.add_job(status="RUNNING")
    with JobFailsFirst(emulator) as racing:
        Desk(racing, store, access=cancellers(slack)).click_cancel(job_id)
    assert audited(store, job_id) == [
        ("confirmed", None, None),
        ("already_finished", "RUNNING", f"job {job_id} had already finished (FAILED)"),
    ]


def test_a_failed_delete_is_audited_with_the_error(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """A DELETE that fails (HTTP 500) leaves a `failed` entry with the status the clicker saw and the
    server's error."""
    job_id = emulator.add_job(status="RUNNING")
    emulator.faults.fail_next(1, status=500, route=CANCEL_JOB)
    Desk(jobs, store, access=cancellers(slack)).click_cancel(job_id)
    [confirmed, failed] = audited(store, job_id)
    assert confirmed == ("confirmed", None, None)
    assert failed[:2] == ("failed", "RUNNING")
    assert (failed[2] or "").startswith("the Interactive server answered HTTP 500")


# What a click leaves for the operator: the request's log line, the metric, the audit entry's log line.


def cancel_clicks(outcome: str) -> float:
    sample = metrics.REGISTRY.get_sample_value(
        "jobbot_commands_total", {"server": "default", "subcommand": "button:cancel", "outcome": outcome}
    )
    return sample or 0.0


def test_a_confirmed_click_is_logged_and_counted_with_its_job(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A confirmed click logs "confirmed cancel click from <user>", its log lines carry the job's id,
    and it is counted in jobbot_commands_total as subcommand="button:cancel"."""
    job_id = emulator.add_job(status="RUNNING")
    before = cancel_clicks("ok")
    caplog.handler.addFilter(logs.ContextFields())
    with caplog.at_level(logging.INFO, logger="jobbot"):
        Desk(jobs, store, access=cancellers(slack)).click_cancel(job_id)
    assert cancel_clicks("ok") == before + 1
    [click] = [r for r in caplog.records if r.getMessage() == f"confirmed cancel click from {CANCELLER}"]
    assert getattr(click, "job_id", None) == job_id
    assert {getattr(r, "job_id", None) for r in caplog.records} == {job_id}


NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_each_cancel_attempt_is_logged_with_its_audit_entry_as_json_fields(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Each audit entry is also a log line, "cancel attempt: job N by U: outcome", whose `audit` field
    holds the entry in JSON form (times as ISO strings), for JSON logs."""
    job_id = emulator.add_job(status="RUNNING")
    desk = Desk(jobs, store, access=cancellers(slack), clock=lambda: NOW)
    with caplog.at_level(logging.INFO, logger="jobbot"):
        desk.click_cancel(job_id)
    attempts = [r for r in caplog.records if r.getMessage().startswith("cancel attempt")]
    assert [r.getMessage() for r in attempts] == [
        f"cancel attempt: job {job_id} by {CANCELLER}: confirmed",
        f"cancel attempt: job {job_id} by {CANCELLER}: succeeded",
    ]
    assert getattr(attempts[0], "audit", None) == {
        "at": "2026-01-02T03:04:05Z",
        "user_id": CANCELLER,
        "team_id": TEAM_ID,
        "channel_id": CHANNEL,
        "job_id": job_id,
        "status_before": None,
        "outcome": "confirmed",
        "message": None,
        "repeats": 1,
        "last_at": None,
        "server": "default",
    }


class Verbose(JobClient):
    """A client whose server answers a DELETE with a very long message."""

    def cancel_job(self, job_id: str) -> str:
        super().cancel_job(job_id)
        return "".join(f"{n:04d}" for n in range(1, 501))


def test_the_audit_keeps_the_first_1000_characters_of_an_outcome(
    emulator: Emulator, store: Store, slack: WebClient
) -> None:
    """However long the server's answer, the audit entry keeps its first 1000 characters."""
    job_id = emulator.add_job(status="RUNNING")
    with Verbose(emulator.url, retries=0) as verbose:
        Desk(verbose, store, access=cancellers(slack)).click_cancel(job_id)
    [succeeded] = [e for e in store.audit_entries(job_id, 20) if e.outcome == "succeeded"]
    assert succeeded.message == "".join(f"{n:04d}" for n in range(1, 251))


class AuditFails(SqliteStore):
    """A store that cannot write the audit trail (and keeps everything else)."""

    def record_audit(self, entry: AuditEntry, *, fold_within: float = 0.0) -> None:
        raise StoreError("database is locked")


def test_an_audit_entry_the_store_cannot_record_is_logged_as_an_error_and_the_cancel_goes_on(
    emulator: Emulator, slack: WebClient, jobs: JobClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """When the store fails to record an audit entry, the cancel still happens and is reported, and the
    log has an error that says so with the store's reason."""
    job_id = emulator.add_job(status="RUNNING")
    store = AuditFails(str(tmp_path / "jobbot.db"))
    try:
        with caplog.at_level(logging.INFO, logger="jobbot"):
            reply = Desk(jobs, store, access=cancellers(slack)).click_cancel(job_id)
    finally:
        store.close()
    assert f"<@{CANCELLER}> cancelled job {job_id}" in shown(reply)
    assert emulator.get(job_id).status in ENDED_BY_A_CANCEL
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["could not record the audit entry: database is locked"] * 2


def test_a_click_that_names_no_user_is_refused_and_audited_under_no_user(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """A click whose payload has no user id is refused, sends nothing, and its audit entry names no
    user rather than a made-up one."""
    job_id = emulator.add_job(status="RUNNING")
    reply = Desk(jobs, store, access=cancellers(slack)).click_cancel(
        job_id, body={"user": {"team_id": TEAM_ID}, "channel": {"id": CHANNEL}}
    )
    assert "could not tell who you are" in shown(reply) and deletes(emulator) == 0
    [refused] = store.audit_entries(job_id, 20)
    assert (refused.outcome, refused.user_id) == ("refused", "")


def test_a_click_whose_user_has_no_id_is_not_credited_to_the_messages_author(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """A click whose `user` names no id is refused and audited under no user even when the message it
    was on names a user who may cancel (bolt's context would take `message.user` as the clicker)."""
    job_id = emulator.add_job(status="RUNNING")
    body = {
        "user": {"team_id": TEAM_ID},
        "channel": {"id": CHANNEL},
        "message": {"user": CANCELLER, "text": "job card"},
    }
    reply = Desk(jobs, store, access=cancellers(slack)).click_cancel(job_id, body=body)
    assert "could not tell who you are" in shown(reply) and deletes(emulator) == 0
    [refused] = store.audit_entries(job_id, 20)
    assert (refused.outcome, refused.user_id) == ("refused", "")


@pytest.mark.parametrize(
    ("where", "recorded"),
    [
        ({"channel_id": CHANNEL, "team_id": "T0HOST01", "user_team": TEAM_ID}, (TEAM_ID, CHANNEL)),
        ({"channel_id": CHANNEL, "team_id": TEAM_ID}, (TEAM_ID, CHANNEL)),
        ({}, (None, "")),
    ],
    ids=["shared channel", "own workspace", "named nowhere"],
)
def test_a_refused_cancel_command_is_audited_with_where_it_came_from(
    emulator: Emulator,
    store: Store,
    slack: WebClient,
    jobs: JobClient,
    where: dict[str, str],
    recorded: tuple[str | None, str],
) -> None:
    """A refused `/jobs cancel` is audited with the person's own workspace (`user_team`, else
    `team_id`) and the channel; a request that names neither is recorded with none, not a made-up one."""
    job_id = emulator.add_job(status="RUNNING")
    body = {"command": "/jobs", "text": f"cancel {job_id}", "user_id": OUTSIDER, **where}
    reply = Desk(jobs, store, access=cancellers(slack)).command(body)
    assert ":lock:" in shown(reply)
    [refused] = store.audit_entries(job_id, 20)
    assert (refused.outcome, refused.team_id, refused.channel_id) == ("refused", *recorded)


@pytest.mark.parametrize(
    ("body", "recorded"),
    [
        (
            {
                "user": {"id": OUTSIDER, "team_id": TEAM_ID},
                "channel": {"id": CHANNEL},
                "container": {"channel_id": "C0OTHER01"},
            },
            (TEAM_ID, CHANNEL),
        ),
        ({"user": {"id": OUTSIDER}}, (None, "")),
    ],
    ids=["named", "named nowhere"],
)
def test_a_refused_click_is_audited_with_where_it_came_from(
    emulator: Emulator,
    store: Store,
    slack: WebClient,
    jobs: JobClient,
    body: dict[str, Any],
    recorded: tuple[str | None, str],
) -> None:
    """A refused click is audited with the clicker's workspace and the message's channel; a click that
    names neither is recorded with none, not a made-up one."""
    job_id = emulator.add_job(status="RUNNING")
    reply = Desk(jobs, store, access=cancellers(slack)).click_cancel(job_id, body=body)
    assert ":lock:" in shown(reply)
    [refused] = store.audit_entries(job_id, 20)
    assert (refused.outcome, refused.team_id, refused.channel_id) == ("refused", *recorded)


# The Cancel button: drawn only for those who may press it.


def cancel_buttons(reply: dict[str, Any]) -> list[str]:
    """The action ids of the Cancel buttons in a reply."""
    return [
        str(element["action_id"])
        for block in reply["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("style") == "danger"
    ]


def command_from(user_id: str, text: str) -> dict[str, Any]:
    return {"command": "/jobs", "text": text, "user_id": user_id, "team_id": TEAM_ID, "channel_id": CHANNEL}


def test_only_those_who_may_cancel_are_shown_the_cancel_button(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """A running job's list row and card show Cancel to a canceller, and not to anyone else, whether
    asked for with `/jobs` or with the Details, Refresh and page buttons; drawing is not an attempt, so
    nothing is audited."""
    job_id = emulator.add_job(status="RUNNING")
    desk = Desk(jobs, store, access=cancellers(slack))
    for user_id, expected in ((CANCELLER, [f"{JOB_CANCEL}:{job_id}"]), (OUTSIDER, [])):
        replies = [
            desk.command(command_from(user_id, "list")),
            desk.command(command_from(user_id, f"status {job_id}")),
            desk.click("details", job_id, user_id),
            desk.click("refresh", job_id, user_id),
            desk.click("page", "", user_id),
        ]
        for reply in replies:
            assert reply["response_type"] == "ephemeral", "only the person who asked sees the buttons"
            assert cancel_buttons(reply) == expected
    assert audited(store, job_id) == []


def test_no_cancel_button_when_the_group_lookup_fails(
    emulator: Emulator, store: Store, jobs: JobClient, caplog: pytest.LogCaptureFixture
) -> None:
    """When jobbot cannot tell whether someone may cancel (Slack unreachable for the group lookup), the
    card shows no Cancel button, and still answers; the log says why the button is missing."""
    job_id = emulator.add_job(status="RUNNING")
    desk = Desk(jobs, store, access=group_access(unreachable_slack()))
    with caplog.at_level(logging.WARNING, logger="jobbot.cancellation"):
        reply = desk.command(command_from(GROUP_MEMBER, f"status {job_id}"))
    assert f"Job {job_id}" in shown(reply) and cancel_buttons(reply) == []
    [why] = [r.getMessage() for r in caplog.records if r.name == "jobbot.cancellation"]
    assert why.startswith(f"no Cancel button for {GROUP_MEMBER}: ") and "could not be checked" in why


def test_a_group_member_is_shown_the_cancel_button(
    fake_slack: FakeSlack, store: Store, jobs: JobClient, emulator: Emulator, slack: WebClient
) -> None:
    """A member of a cancelling user group (looked up in Slack) sees the Cancel button on a running job."""
    fake_slack.script("usergroups.users.list", Scripted(200, {"ok": True, "users": [GROUP_MEMBER]}))
    job_id = emulator.add_job(status="RUNNING")
    reply = Desk(jobs, store, access=group_access(slack)).command(
        command_from(GROUP_MEMBER, f"status {job_id}")
    )
    assert len(cancel_buttons(reply)) == 1


# The warning before a cancel that may kill another program.


def cancel_button_of(reply: dict[str, Any]) -> dict[str, Any]:
    [button] = [
        element
        for block in reply["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"].startswith(JOB_CANCEL)
    ]
    return dict(button)


def test_an_unknown_jobs_cancel_warns_in_the_dialog_and_the_confirmed_click_is_audited_as_warned(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """The card of an UNKNOWN job has a Cancel whose dialog says the server kills its stored process id,
    named; confirming it sends one DELETE (whatever the server then answers), and the audit's confirmed
    entry says the warning was shown."""
    job_id = emulator.add_job(process_id=31337)
    emulator.set_status(job_id, "UNKNOWN")
    desk = Desk(jobs, store, access=cancellers(slack))
    button = cancel_button_of(desk.click("details", job_id))
    said = button["confirm"]["text"]["text"]
    assert "status UNKNOWN" in said and "kills process 31337" in said and "no longer be the loader" in said
    desk.click_cancel(job_id, value=button["value"])
    assert deletes(emulator) == 1
    assert audited(store, job_id)[0] == ("confirmed", None, cancellation.WARNED)


def test_a_click_from_a_dialog_that_did_not_warn_sends_nothing_and_answers_with_the_warning(
    emulator: Emulator, store: Store, slack: WebClient, jobs: JobClient
) -> None:
    """A Cancel drawn while the job looked safe (a live card's, an old list's) and clicked once its
    status is UNKNOWN sends no DELETE: the reply warns, naming the process id, and its own Cancel's
    dialog warns too; confirming that one cancels."""
    job_id = emulator.add_job(process_id=31337)
    desk = Desk(jobs, store, access=cancellers(slack))
    unwarned = cancel_button_of(desk.click("details", job_id))
    assert "process" not in unwarned["confirm"]["text"]["text"]
    emulator.set_status(job_id, "UNKNOWN")
    reply = desk.click_cancel(job_id, value=unwarned["value"])
    assert deletes(emulator) == 0
    assert "Nothing was cancelled" in shown(reply) and "kills process 31337" in shown(reply)
    assert audited(store, job_id)[-1][0] == "warning_needed"
    warned = cancel_button_of(reply)
    assert "kills process 31337" in warned["confirm"]["text"]["text"]
    desk.click_cancel(job_id, value=warned["value"])
    assert deletes(emulator) == 1
