"""The permission model, end to end over HTTP: channels, organizations, users and user groups."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobbot import slack_ids
from jobbot.authz import Access
from jobbot.emulator import Emulator
from jobbot.errors import CANCEL_SETTINGS, Refused
from jobbot.render.problems import why_refused
from tests.fakes import FakeSlack, Scripted
from tests.http_bot import serve_http_bot
from tests.slack_requests import OTHER_USER, click_payload, command_body

GROUP = "S0CANCELS"


def shown(message: dict[str, Any]) -> str:
    return str(message["text"]) + json.dumps(message["blocks"], ensure_ascii=False)


def deletes(emulator: Emulator) -> int:
    return len([r for r in emulator.requests if r[0] == "DELETE"])


def test_member_of_a_cancel_usergroup_may_cancel(fake_slack: FakeSlack, emulator: Emulator) -> None:
    """A user outside JOBBOT_CANCEL_USERS but in a JOBBOT_CANCEL_USERGROUPS group cancels."""
    fake_slack.script("usergroups.users.list", Scripted(200, {"ok": True, "users": [OTHER_USER]}))
    job_id = emulator.add_job(status="RUNNING")
    for bot in serve_http_bot(
        fake_slack, emulator.url, JOBBOT_CANCEL_USERS="", JOBBOT_CANCEL_USERGROUPS=GROUP
    ):
        bot.click(slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id, user_id=OTHER_USER)
        [reply] = fake_slack.wait_for_responses(1)
    assert deletes(emulator) == 1 and "cancelled job" in shown(reply)
    [lookup] = fake_slack.calls_to("usergroups.users.list")
    assert lookup.body["usergroup"] == GROUP


def test_group_membership_is_cached_about_a_minute(fake_slack: FakeSlack, emulator: Emulator) -> None:
    """Two refusals in a row ask Slack for the group's members once."""
    fake_slack.script("usergroups.users.list", Scripted(200, {"ok": True, "users": ["U0SOMEONE"]}))
    job_id = emulator.add_job(status="RUNNING")
    for bot in serve_http_bot(
        fake_slack, emulator.url, JOBBOT_CANCEL_USERS="", JOBBOT_CANCEL_USERGROUPS=GROUP
    ):
        for name in ("r1", "r2"):
            bot.click(
                slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id, user_id=OTHER_USER, reply_to=name
            )
            [reply] = fake_slack.wait_for_responses(1, name=name)
            assert "JOBBOT_CANCEL_USERGROUPS" in shown(reply) and GROUP in shown(reply)
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1 and deletes(emulator) == 0


def test_failed_group_lookup_denies_and_says_why(fake_slack: FakeSlack, emulator: Emulator) -> None:
    """When Slack cannot list the group (free plan), the cancel is refused with Slack's reason."""
    fake_slack.script("usergroups.users.list", Scripted(200, {"ok": False, "error": "plan_upgrade_required"}))
    job_id = emulator.add_job(status="RUNNING")
    for bot in serve_http_bot(
        fake_slack, emulator.url, JOBBOT_CANCEL_USERS="", JOBBOT_CANCEL_USERGROUPS=GROUP
    ):
        bot.click(slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id, user_id=OTHER_USER)
        [reply] = fake_slack.wait_for_responses(1)
    assert "plan_upgrade_required" in shown(reply) and "could not check" in shown(reply)
    assert deletes(emulator) == 0


def test_commands_outside_allowed_channels_are_refused_politely(
    fake_slack: FakeSlack, emulator: Emulator
) -> None:
    """With JOBBOT_ALLOWED_CHANNELS, /jobs elsewhere names where it works and never reaches GraphScope."""
    for bot in serve_http_bot(fake_slack, emulator.url, JOBBOT_ALLOWED_CHANNELS="C0OPS0001,C0OPS0002"):
        bot.post(command_body("list", response_url=fake_slack.response_url(), channel_id="C0RANDOM1"))
        [reply] = fake_slack.wait_for_responses(1)
        bot.post(command_body("list", response_url=fake_slack.response_url("r2"), channel_id="C0OPS0002"))
        [allowed] = fake_slack.wait_for_responses(1, name="r2")
    assert "<#C0OPS0001>" in shown(reply) and "JOBBOT_ALLOWED_CHANNELS" in shown(reply)
    assert reply["response_type"] == "ephemeral"
    assert "GraphScope jobs" in shown(allowed)
    assert emulator.requests == [("GET", "/v1/job")]


def test_a_user_from_another_organization_is_refused(fake_slack: FakeSlack, emulator: Emulator) -> None:
    """A click from a Slack Connect guest (another team than the workspace's) cancels nothing."""
    job_id = emulator.add_job(status="RUNNING")
    payload = click_payload(
        slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id, response_url=fake_slack.response_url()
    )
    payload["user"]["team_id"] = "T0ELSEWHERE"
    from urllib.parse import urlencode

    for bot in serve_http_bot(fake_slack, emulator.url):
        bot.post(urlencode({"payload": json.dumps(payload)}))
        [reply] = fake_slack.wait_for_responses(1)
    assert "another organization" in shown(reply) and deletes(emulator) == 0


def test_nobody_configured_says_how_to_allow_cancelling(fake_slack: FakeSlack, emulator: Emulator) -> None:
    """Denied by default: the refusal names the user's own ID and the setting that would allow it."""
    job_id = emulator.add_job(status="RUNNING")
    for bot in serve_http_bot(fake_slack, emulator.url, JOBBOT_CANCEL_USERS=""):
        bot.command(f"cancel {job_id}")
        [reply] = fake_slack.wait_for_responses(1)
    assert "Nobody may cancel" in shown(reply) and "U0ALLOWED1" in shown(reply)
    assert "JOBBOT_CANCEL_USERS" in shown(reply) and deletes(emulator) == 0


def test_every_cancel_attempt_is_audited_and_shown_by_audit(
    fake_slack: FakeSlack, emulator: Emulator
) -> None:
    """Refused, confirmed, succeeded and already-finished attempts are kept; `/jobs audit ID` lists them."""
    job_id = emulator.add_job(status="RUNNING")
    action = slack_ids.action_id(slack_ids.JOB_CANCEL, job_id)
    for bot in serve_http_bot(fake_slack, emulator.url):
        bot.click(action, job_id, user_id=OTHER_USER, reply_to="r1")
        fake_slack.wait_for_responses(1, name="r1")
        bot.click(action, job_id, reply_to="r2")
        fake_slack.wait_for_responses(1, name="r2")
        bot.click(action, job_id, reply_to="r3")
        fake_slack.wait_for_responses(1, name="r3")
        entries = bot.bot.store.audit_entries(job_id, 20)
        bot.command(f"audit {job_id}", reply_to="r4")
        [listing] = fake_slack.wait_for_responses(1, name="r4")
    outcomes = [e.outcome for e in reversed(entries)]
    # A refused click is one `refused` entry: no `confirmed` before it, so refusals cannot flood the trail.
    assert outcomes == ["refused", "confirmed", "succeeded", "confirmed", "already_finished"]
    succeeded = next(e for e in entries if e.outcome == "succeeded")
    assert (succeeded.user_id, succeeded.channel_id, succeeded.status_before) == (
        "U0ALLOWED1",
        "C0CHAN01",
        "RUNNING",
    )
    assert succeeded.team_id and "Successfully cancel job" in (succeeded.message or "")
    listed = shown(listing)
    assert "*cancelled*" in listed and "*cancel refused*" in listed and f"<@{OTHER_USER}>" in listed
    assert "*already finished*" in listed and "already_finished" not in listed


def test_a_flood_of_refusals_never_pushes_real_entries_out_of_audit(
    fake_slack: FakeSlack, emulator: Emulator
) -> None:
    """Twenty-five refused `/jobs cancel N` for one job fold into one "refused x25" line, and refusals
    for 25 other ids never push the real cancel out of `/jobs audit`."""
    job_id = emulator.add_job(status="RUNNING")
    for bot in serve_http_bot(fake_slack, emulator.url):
        bot.click(slack_ids.action_id(slack_ids.JOB_CANCEL, job_id), job_id, reply_to="cancel")
        fake_slack.wait_for_responses(1, name="cancel")
        for n in range(25):
            bot.command(f"cancel {job_id}", user_id=OTHER_USER, reply_to=f"same{n}")
            fake_slack.wait_for_responses(1, name=f"same{n}")
            bot.command(f"cancel {9000 + n}", user_id=OTHER_USER, reply_to=f"other{n}")
            fake_slack.wait_for_responses(1, name=f"other{n}")
        bot.command("audit", reply_to="audit")
        [listing] = fake_slack.wait_for_responses(1, name="audit")
    text = shown(listing)
    assert "*cancelled*" in text and f"#{job_id}" in text
    assert "cancel refused x25" in text and text.count("refused x25") == 1


def test_subscription_changes_are_audited(fake_slack: FakeSlack, emulator: Emulator) -> None:
    """`/jobs subscribe` and `/jobs unsubscribe` leave who, where, when and what in `/jobs audit`."""
    for bot in serve_http_bot(fake_slack, emulator.url):
        bot.command("subscribe failed", reply_to="sub")
        fake_slack.wait_for_responses(1, name="sub")
        bot.command("unsubscribe", user_id=OTHER_USER, reply_to="unsub")
        fake_slack.wait_for_responses(1, name="unsub")
        bot.command("audit", reply_to="audit")
        [listing] = fake_slack.wait_for_responses(1, name="audit")
        [unsubscribed, subscribed] = bot.bot.store.subscription_changes(10)
    text = shown(listing)
    assert "*subscribed* <#C0CHAN01> to FAILED" in text and "<@U0ALLOWED1>" in text
    assert "*unsubscribed* <#C0CHAN01>" in text and f"<@{OTHER_USER}>" in text
    assert (subscribed.action, subscribed.statuses, subscribed.team_id) == (
        "subscribed",
        ("FAILED",),
        "T0001",
    )
    assert (unsubscribed.action, unsubscribed.user_id, unsubscribed.channel_id) == (
        "unsubscribed",
        OTHER_USER,
        "C0CHAN01",
    )


class _NoSlack:
    """A Web API client that records what it is asked and answers that the user is in every group."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def usergroups_users_list(self, *, usergroup: str) -> dict[str, Any]:
        self.asked.append(usergroup)
        return {"users": ["U0CANCEL\n"]}


def _access(client: _NoSlack, *, allowed_channels: tuple[str, ...] = ()) -> Access:
    return Access(
        cancel_users=("U0CANCEL",),
        cancel_usergroups=(GROUP,),
        allowed_channels=allowed_channels,
        client=client,  # type: ignore[arg-type]  # only usergroups_users_list is called
        workspace_team=lambda: "T0HOME",
    )


def test_a_user_id_with_a_trailing_newline_is_not_a_user() -> None:
    """check_cancel refuses "U0CANCEL\\n" as an unknown person, without asking Slack about its groups."""
    client = _NoSlack()
    with pytest.raises(Refused) as caught:
        _access(client).check_cancel("U0CANCEL\n")
    assert why_refused(caught.value) == "jobbot could not tell who you are, so it will not cancel."
    assert client.asked == []
    _access(client).check_cancel("U0CANCEL")


def test_a_channel_id_with_a_trailing_newline_is_not_shown_as_an_id() -> None:
    """A refused channel is named by its id only when the id is well formed, a trailing newline not."""
    access = _access(_NoSlack(), allowed_channels=("C0JOBS",))
    with pytest.raises(Refused) as caught:
        access.check_channel("D0CHAT\n")
    assert "add this conversation to" in why_refused(caught.value)
    with pytest.raises(Refused) as caught:
        access.check_channel("D0CHAT")
    assert "add `D0CHAT` to" in why_refused(caught.value)


class _Members(_NoSlack):
    """Answers each group's lookup with the members a test gives it."""

    def __init__(self, members: dict[str, list[str]]) -> None:
        super().__init__()
        self.members = members

    def usergroups_users_list(self, *, usergroup: str) -> dict[str, Any]:
        self.asked.append(usergroup)
        return {"users": self.members.get(usergroup, [])}


def test_a_server_with_cancellers_of_its_own_replaces_the_global_ones() -> None:
    """`JOBBOT_SERVER_<NAME>_CANCEL_USERS` / `_USERGROUPS`: that server's Access lets its own cancellers
    through and no longer the global ones; the global Access is unchanged, and a group's members are
    looked up once for both."""
    client = _Members({"S0GLOBAL": ["U0GROUPED"], "S0PROD": ["U0ONCALL"]})
    everywhere = Access(
        cancel_users=("U0GLOBAL",),
        cancel_usergroups=("S0GLOBAL",),
        allowed_channels=(),
        client=client,  # type: ignore[arg-type]  # only usergroups_users_list is called
        workspace_team=lambda: "T0HOME",
    )
    settings = ("JOBBOT_SERVER_PROD_CANCEL_USERS", "JOBBOT_SERVER_PROD_CANCEL_USERGROUPS")
    prod = everywhere.with_cancellers(["U0PROD"], ["S0PROD", "S0GLOBAL"], server="prod", settings=settings)
    prod.check_cancel("U0PROD")
    prod.check_cancel("U0ONCALL")
    prod.check_cancel("U0GROUPED")
    with pytest.raises(Refused) as caught:
        prod.check_cancel("U0GLOBAL")
    assert caught.value.why == "not_a_canceller"
    assert (caught.value.server, caught.value.cancel_settings) == ("prod", settings)
    assert why_refused(caught.value).startswith("You are not allowed to cancel jobs on `prod` from Slack.")
    assert "`JOBBOT_SERVER_PROD_CANCEL_USERS`" in why_refused(caught.value)
    assert "a user group in `JOBBOT_SERVER_PROD_CANCEL_USERGROUPS`" in why_refused(caught.value)
    everywhere.check_cancel("U0GLOBAL")
    everywhere.check_cancel("U0GROUPED")
    with pytest.raises(Refused) as caught:
        everywhere.check_cancel("U0PROD")
    assert (caught.value.server, caught.value.cancel_settings) == (None, CANCEL_SETTINGS)
    assert client.asked.count("S0GLOBAL") == 1, "the lookups are shared"

    nobody = everywhere.with_cancellers([], [])
    with pytest.raises(Refused) as caught:
        nobody.check_cancel("U0GLOBAL")
    assert caught.value.why == "nobody_may_cancel"
    assert str(caught.value) == "JOBBOT_CANCEL_USERS and JOBBOT_CANCEL_USERGROUPS are both empty"
    assert (caught.value.server, caught.value.cancel_settings) == (None, CANCEL_SETTINGS)
