"""One guard for every listener: each registered command and button refuses a disallowed channel and a
user of another organization, and the organization check fails closed when the workspace is unknown."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient

from jobbot import slack_ids
from jobbot.app import workspace_team
from jobbot.authz import Access
from jobbot.config import load_settings
from jobbot.emulator import Emulator
from jobbot.errors import Refused, WorkspaceUnknown
from jobbot.jobs_api import JobClient
from jobbot.render.problems import why_refused
from jobbot.store import open_store
from tests.desk import Desk, respond_into
from tests.fakes import FakeSlack, Scripted
from tests.http_bot import HttpBot, serve_http_bot
from tests.slack_requests import click_payload, command_body
from tests.support import FakeClock

# Markers that exist only in the job's data: a reply that carries one of them leaked the job.
SECRET_GRAPH = "graph-of-payroll"
SECRET_LOG = "row 42 of salaries.csv loaded"
ELSEWHERE = "T0ELSEWHERE"


def shown(message: dict[str, Any]) -> str:
    return str(message["text"]) + json.dumps(message["blocks"], ensure_ascii=False)


def action_prefixes() -> list[str]:
    """Every button family jobbot draws: the action id prefixes named in slack_ids."""
    return sorted(
        value
        for name, value in vars(slack_ids).items()
        if name.isupper() and isinstance(value, str) and value.startswith("jobbot.")
    )


def probe_bodies(job_id: str, response_url: str, *, team_id: str | None) -> dict[str, str]:
    """One signed-able request body per registered command and button, aimed at a real job."""
    bodies = {}
    for text in ("list", f"status {job_id}", f"cancel {job_id}", f"watch {job_id}", "audit", "subscribe"):
        body = command_body(text, response_url=response_url)
        if team_id is not None:
            body = body.replace("team_id=T0001", f"team_id={team_id}")
        bodies[f"/jobs {text}"] = body
    for prefix in action_prefixes():
        value = (
            slack_ids.encode_list_state((), 1)
            if prefix in (slack_ids.LIST_PAGE, slack_ids.LIST_REFRESH)
            else job_id
        )
        payload = click_payload(slack_ids.action_id(prefix, job_id), value, response_url=response_url)
        if team_id is not None:
            payload["user"]["team_id"] = team_id
        bodies[prefix] = urlencode({"payload": json.dumps(payload)})
    return bodies


def bolt_request(body: str) -> BoltRequest:
    return BoltRequest(body=body, headers={"content-type": ["application/x-www-form-urlencoded"]})


@pytest.fixture
def secret_job(emulator: Emulator) -> str:
    return emulator.add_job(status="RUNNING", graph_id=SECRET_GRAPH, log=SECRET_LOG + "\n")


def refused_everywhere(bot: HttpBot, fake_slack: FakeSlack, job_id: str, *, team_id: str | None) -> None:
    """Every listener on the bolt App is reached by a probe, and every probe is refused without job data."""
    probes = probe_bodies(job_id, fake_slack.response_url("probe"), team_id=team_id)
    listeners = list(bot.bot.app._listeners)
    assert listeners, "no listeners registered"
    for listener in listeners:
        reached = [
            name
            for name, body in probes.items()
            if listener.matches(req=bolt_request(body), resp=BoltResponse(status=200))
        ]
        assert reached, f"no probe reaches the listener {listener.ack_function}; add its ids to slack_ids"
    for index, (name, body) in enumerate(probes.items()):
        reply_to = f"p{index}"
        body = body.replace("probe", reply_to)
        response = bot.post(body)
        assert response.status_code == 200, name
        [reply] = fake_slack.wait_for_responses(1, name=reply_to)
        text = shown(reply)
        assert SECRET_GRAPH not in text and SECRET_LOG not in text, f"{name} leaked the job: {text}"
        assert ":lock:" in text, f"{name} was not refused: {text}"


def test_every_listener_refuses_a_disallowed_channel(
    fake_slack: FakeSlack, emulator: Emulator, secret_job: str
) -> None:
    """Every registered command and button, from a channel outside JOBBOT_ALLOWED_CHANNELS, is refused
    with no job data and never reaches GraphScope."""
    for bot in serve_http_bot(fake_slack, emulator.url, JOBBOT_ALLOWED_CHANNELS="C0OPS0001"):
        refused_everywhere(bot, fake_slack, secret_job, team_id=None)
    assert emulator.requests == []


def test_every_listener_refuses_a_user_of_another_organization(
    fake_slack: FakeSlack, emulator: Emulator, secret_job: str
) -> None:
    """Every registered command and button, used by a member of another organization in a shared
    channel, is refused with no job data and never reaches GraphScope."""
    for bot in serve_http_bot(fake_slack, emulator.url):
        refused_everywhere(bot, fake_slack, secret_job, team_id=ELSEWHERE)
    assert emulator.requests == []


def test_the_probes_do_reach_job_data_when_allowed(
    fake_slack: FakeSlack, emulator: Emulator, secret_job: str
) -> None:
    """The same Details click from an allowed channel by a member shows the job: the probes are real."""
    for bot in serve_http_bot(fake_slack, emulator.url):
        bot.click(slack_ids.action_id(slack_ids.JOB_DETAILS, secret_job), secret_job)
        [reply] = fake_slack.wait_for_responses(1)
    assert SECRET_GRAPH in shown(reply) and SECRET_LOG in shown(reply)


def test_an_unknown_workspace_refuses_everyone_and_says_why(
    fake_slack: FakeSlack, emulator: Emulator, secret_job: str
) -> None:
    """When auth.test fails, a member of the workspace itself is refused, with Slack's error and what an
    admin can do, and no job data."""
    fake_slack.script("auth.test", *[Scripted(200, {"ok": False, "error": "invalid_auth"})] * 5)
    for bot in serve_http_bot(fake_slack, emulator.url):
        bot.click(slack_ids.action_id(slack_ids.JOB_DETAILS, secret_job), secret_job)
        [reply] = fake_slack.wait_for_responses(1)
    text = shown(reply)
    assert SECRET_LOG not in text and ":lock:" in text
    assert "invalid_auth" in text and "SLACK_BOT_TOKEN" in text
    assert emulator.requests == []


@pytest.fixture
def lookup_client(fake_slack: FakeSlack) -> Iterator[WebClient]:
    yield WebClient(token="xoxb-test", base_url=fake_slack.api_url, retry_handlers=[])


def test_a_failed_workspace_lookup_is_asked_again_later(
    fake_slack: FakeSlack, lookup_client: WebClient
) -> None:
    """A failed auth.test is not remembered for ever: within the retry interval the same reason is given
    without asking Slack, after it Slack is asked again, and a success is kept."""
    fake_slack.script("auth.test", Scripted(200, {"ok": False, "error": "account_inactive"}))
    clock = FakeClock()
    team = workspace_team(lookup_client, monotonic=clock.monotonic)
    with pytest.raises(WorkspaceUnknown, match="account_inactive"):
        team()
    with pytest.raises(WorkspaceUnknown, match="account_inactive"):
        team()
    assert len(fake_slack.calls_to("auth.test")) == 1
    clock.advance(3600)
    assert team() == "T0001"
    assert team() == "T0001"
    assert len(fake_slack.calls_to("auth.test")) == 2


def test_organization_check_fails_closed(lookup_client: WebClient) -> None:
    """Without a known workspace, or without the user's team, the organization check refuses."""

    def unknown() -> str:
        raise WorkspaceUnknown("Slack could not be reached (ConnectionRefusedError)")

    def known() -> str:
        return "T0001"

    def access(team: Any) -> Access:
        return Access(
            cancel_users=(),
            cancel_usergroups=(),
            allowed_channels=(),
            client=lookup_client,
            workspace_team=team,
        )

    with pytest.raises(Refused, match="ConnectionRefusedError") as refused:
        access(unknown).check_organization("T0001")
    assert refused.value.kind == "organization"
    with pytest.raises(Refused):
        access(known).check_organization(None)
    with pytest.raises(Refused, match="another organization"):
        access(known).check_organization(ELSEWHERE)
    access(known).check_organization("T0001")


def home_access(client: WebClient, *, allowed_channels: tuple[str, ...] = ()) -> Access:
    """Access for a workspace known to be T0001."""
    return Access(
        cancel_users=(),
        cancel_usergroups=(),
        allowed_channels=allowed_channels,
        client=client,
        workspace_team=lambda: "T0001",
    )


def test_the_organization_refusals_say_why(lookup_client: WebClient) -> None:
    """A request that names no team, and one from another organization, are each refused with the
    sentence that says why."""
    access = home_access(lookup_client)
    with pytest.raises(Refused) as no_team:
        access.check_organization(None)
    assert (no_team.value.kind, why_refused(no_team.value)) == (
        "organization",
        "jobbot could not tell which organization your account belongs to, so it will not act.",
    )
    with pytest.raises(Refused) as elsewhere:
        access.check_organization(ELSEWHERE)
    assert (elsewhere.value.kind, why_refused(elsewhere.value)) == (
        "organization",
        "jobbot acts only for members of the workspace it is installed in; your account belongs to "
        "another organization. Ask someone from that workspace.",
    )


@pytest.mark.parametrize(
    ("channel", "named"),
    [
        ("C0RANDOM1", "`C0RANDOM1`"),
        ("D0DIRECT1", "`D0DIRECT1`"),
        ("<!channel> c0random1", "this conversation"),
        ("", "this conversation"),
    ],
)
def test_a_channel_refusal_names_the_channel_only_when_it_looks_like_one(
    lookup_client: WebClient, channel: str, named: str
) -> None:
    """A refusal outside JOBBOT_ALLOWED_CHANNELS names the channel ID an admin should add when it looks
    like one, and says "this conversation" otherwise, so odd text from a request is never echoed."""
    access = home_access(lookup_client, allowed_channels=("C0OPS0001", "C0OPS0002"))
    with pytest.raises(Refused) as refused:
        access.check_channel(channel)
    assert (refused.value.kind, why_refused(refused.value)) == (
        "channel",
        f"jobbot answers `/jobs` only in <#C0OPS0001>, <#C0OPS0002>. An admin can add {named} to "
        "`JOBBOT_ALLOWED_CHANNELS`.",
    )


def test_a_refusal_is_acked_empty_and_answered_beside_the_card(
    fake_slack: FakeSlack, emulator: Emulator, secret_job: str
) -> None:
    """A refused command is acked with an empty body (Slack would show any text there to the person),
    and a refused click is answered beside the card it came from, never replacing it."""
    for bot in serve_http_bot(fake_slack, emulator.url, JOBBOT_ALLOWED_CHANNELS="C0OPS0001"):
        acked = bot.command(f"status {secret_job}", reply_to="command")
        [refused_command] = fake_slack.wait_for_responses(1, name="command")
        bot.click(slack_ids.action_id(slack_ids.JOB_REFRESH, secret_job), secret_job, reply_to="click")
        [refused_click] = fake_slack.wait_for_responses(1, name="click")
    assert (acked.status_code, acked.text) == (200, "")
    assert ":lock:" in shown(refused_command) and ":lock:" in shown(refused_click)
    assert refused_click["replace_original"] is False
    assert emulator.requests == []


# Where a request comes from, as the guard reads it from each kind of body.

OPS = "C0OPS0001"
NOT_OPS = "C0RANDOM1"


@pytest.fixture
def guard_of(lookup_client: WebClient, emulator: Emulator, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """The guard of JobsHandlers in workspace T0001 with JOBBOT_ALLOWED_CHANNELS=C0OPS0001: what it
    answers a request body with, "let through" or the refusal shown to the person."""
    store = open_store(f"sqlite:///{tmp_path}/jobbot.db")
    with JobClient(emulator.url, retries=0) as jobs:
        desk = Desk(jobs, store, access=home_access(lookup_client, allowed_channels=(OPS,)))

        def answer(body: dict[str, Any]) -> str:
            replies: list[dict[str, Any]] = []
            passed: list[bool] = []
            desk.handlers.guard(body, respond_into(replies), lambda: passed.append(True))
            if passed:
                assert not replies
                return "let through"
            [reply] = replies
            return shown(reply)

        yield answer
    store.close()


def command(**fields: str) -> dict[str, Any]:
    return {"command": "/jobs", "text": "list", "user_id": "U0ALLOWED1", **fields}


ANOTHER_ORGANIZATION = "another organization"


def test_a_command_is_judged_by_the_users_own_workspace_not_the_channels(
    guard_of: Callable[..., str],
) -> None:
    """In a channel shared with another organization, a slash command's `user_team` (the person's own
    workspace) decides, not `team_id`: their guest is refused in our channel, our member is let through
    in theirs; without `user_team`, `team_id` decides."""
    assert ANOTHER_ORGANIZATION in guard_of(command(channel_id=OPS, team_id="T0001", user_team=ELSEWHERE))
    assert guard_of(command(channel_id=OPS, team_id=ELSEWHERE, user_team="T0001")) == "let through"
    assert guard_of(command(channel_id=OPS, team_id="T0001")) == "let through"


def test_a_request_that_names_no_team_is_refused_as_of_no_known_organization(
    guard_of: Callable[..., str],
) -> None:
    """A slash command with neither `user_team` nor `team_id`, or a click whose user has no `team_id`,
    is refused because jobbot cannot tell the person's organization, not as if they belonged to
    another one."""
    no_team_click = {"type": "block_actions", "user": {"id": "U0ALLOWED1"}, "channel": {"id": OPS}}
    for body in (command(channel_id=OPS), no_team_click):
        refusal = guard_of(body)
        assert "could not tell which organization your account belongs to" in refusal
        assert ANOTHER_ORGANIZATION not in refusal


MEMBER = {"id": "U0ALLOWED1", "team_id": "T0001"}


@pytest.mark.parametrize(
    "body",
    [
        # A click on a message: `channel.id` first, even when the container names another channel.
        {
            "type": "block_actions",
            "user": MEMBER,
            "channel": {"id": OPS},
            "container": {"channel_id": NOT_OPS},
        },
        # A click whose payload has no `channel` (a message in a conversation Slack does not name).
        {"type": "block_actions", "user": MEMBER, "container": {"type": "message", "channel_id": OPS}},
        # An Events API body: the channel and the user's team are inside `event`.
        {"type": "event_callback", "event": {"type": "app_mention", "channel": OPS, "user_team": "T0001"}},
    ],
    ids=["click: channel before container", "click: container", "event"],
)
def test_the_channel_of_a_click_or_an_event_is_read_where_slack_puts_it(
    guard_of: Callable[..., str], body: dict[str, Any]
) -> None:
    """The guard finds an allowed channel in `channel.id`, else `container.channel_id`, else
    `event.channel` (and the team in `event.user_team`), and lets the request through."""
    assert guard_of(body) == "let through"


def test_a_click_is_judged_by_the_clickers_own_workspace_not_the_channels(
    guard_of: Callable[..., str],
) -> None:
    """A click's `user.team_id` (the clicker's own workspace) decides, not the payload's `team.id` (the
    workspace the channel lives in, which is what bolt's context would give): their guest is refused
    in our channel, our member is let through in theirs."""
    guest = {"id": "U0GUEST01", "team_id": ELSEWHERE}
    in_ours = {"type": "block_actions", "team": {"id": "T0001"}, "user": guest, "channel": {"id": OPS}}
    assert ANOTHER_ORGANIZATION in guard_of(in_ours)
    in_theirs = {"type": "block_actions", "team": {"id": ELSEWHERE}, "user": MEMBER, "channel": {"id": OPS}}
    assert guard_of(in_theirs) == "let through"


def test_the_direct_message_a_refusal_names_can_be_allowed(lookup_client: WebClient) -> None:
    """A refusal in a DM names its D... id for JOBBOT_ALLOWED_CHANNELS; start-up accepts that value, and
    the DM is then let through (and shown by its id where the refusal lists the allowed places)."""
    access = home_access(lookup_client, allowed_channels=("C0OPS0001",))
    with pytest.raises(Refused) as refused:
        access.check_channel("D0DIRECT1")
    assert "An admin can add `D0DIRECT1` to `JOBBOT_ALLOWED_CHANNELS`." in why_refused(refused.value)
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_APP_TOKEN": "xapp-1",
            "JOBBOT_ALLOWED_CHANNELS": "C0OPS0001,D0DIRECT1",
        },
        env_file=None,
    )
    allowed = home_access(lookup_client, allowed_channels=settings.jobbot_allowed_channels)
    allowed.check_channel("D0DIRECT1")
    with pytest.raises(Refused) as elsewhere:
        allowed.check_channel("C0RANDOM1")
    assert why_refused(elsewhere.value).startswith(
        "jobbot answers `/jobs` only in <#C0OPS0001>, `D0DIRECT1`."
    )
