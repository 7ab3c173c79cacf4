"""Routing `/jobs` text to a server: a server name (or `all`) first, and what a wrong name is told."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobbot import commands
from jobbot.commands import (
    CancelJob,
    Help,
    ListJobs,
    Routed,
    ShowJob,
    Subscribe,
    Unsubscribe,
    UseServer,
    Watch,
    parse,
    route,
)
from jobbot.models import NOTICE_STATUSES, JobStatus
from jobbot.servers import EVERY_SERVER

SERVERS = ("prod", "staging")


@pytest.mark.parametrize(
    ("text", "routed"),
    [
        ("staging list", Routed(ListJobs(), "staging")),
        ("prod status 3", Routed(ShowJob("3"), "prod")),
        ("prod 3", Routed(ShowJob("3"), "prod")),
        ("prod #3", Routed(ShowJob("3"), "prod")),
        ("staging cancel 7", Routed(CancelJob("7"), "staging")),
        ("prod subscribe failed", Routed(Subscribe((JobStatus.FAILED,)), "prod")),
        ("staging watch 5", Routed(Watch("5"), "staging")),
        ("staging", Routed(ListJobs(), "staging")),
        ("  STAGING \t List failed", Routed(ListJobs((JobStatus.FAILED,)), "staging")),
        ("Prod", Routed(ListJobs(), "prod")),
        ("all subscribe", Routed(Subscribe(NOTICE_STATUSES), EVERY_SERVER)),
        ("ALL Unsubscribe", Routed(Unsubscribe(), EVERY_SERVER)),
        ("list", Routed(ListJobs(), None)),
        ("", Routed(ListJobs(), None)),
        ("7", Routed(ShowJob("7"), None)),
        ("cancel 7", Routed(CancelJob("7"), None)),
        ("use staging", Routed(UseServer("staging"), None)),
        ("use PROD", Routed(UseServer("prod"), None)),
        ("use", Routed(UseServer(None), None)),
    ],
)
def test_a_server_name_first_chooses_the_server(text: str, routed: Routed) -> None:
    """A configured name first in any command, in any case, routes the rest of it to that server."""
    assert route(text, SERVERS) == routed


@pytest.mark.parametrize(
    "text", ["", "list", "7", "cancel 42", "subscribe live failed", "help", "audit 3", "use"]
)
def test_text_without_a_server_parses_as_before(text: str) -> None:
    """Text that names no server means what `parse` says, with no server, whether servers exist or not."""
    assert route(text, SERVERS) == Routed(parse(text), None)
    assert route(text, ()) == Routed(parse(text), None)


@pytest.mark.parametrize(
    "text", ["qa list", "qa 3", "QA status 3", "stagin", "Prodd", "prd cancel 7", "eu-west-1 subscribe"]
)
def test_a_server_that_is_not_configured_gets_the_list_of_servers(text: str) -> None:
    """A name that is not configured, before a subcommand or a job id or alone, is told the servers."""
    routed = route(text, SERVERS)
    assert routed.server is None
    assert isinstance(routed.command, Help)
    word = text.split()[0]
    assert routed.command.problem == f"`{word}` is not a server here; the servers are `prod`, `staging`."


def test_use_with_a_server_that_is_not_configured_gets_the_list_of_servers() -> None:
    """`/jobs use qa` names the servers there are rather than setting an unknown default."""
    assert route("use QA", SERVERS) == Routed(
        Help("`qa` is not a server here; the servers are `prod`, `staging`.", tried="use"), None
    )
    # With one server, `use` is answered by the handler (there is nothing to choose).
    assert route("use qa", ()) == Routed(UseServer("qa"), None)


@pytest.mark.parametrize(
    "text", ["staging list", "prod 3", "qa cancel 7", "all subscribe", "ALL unsubscribe"]
)
def test_with_one_server_a_server_name_is_refused(text: str) -> None:
    """With one server configured, a server name (or `all`) first is explained, never silently dropped."""
    routed = route(text, ())
    assert isinstance(routed.command, Help) and routed.command.problem is not None
    assert routed.command.problem.startswith("jobbot speaks to one GraphScope server here")
    assert f"leave out `{text.split()[0]}`" in routed.command.problem
    assert routed.server is None


@pytest.mark.parametrize(
    "text", ["stauts 7", "canel 7", "lst", "subscirbe failed", "wacth 5", "lis failed", "hepl"]
)
def test_a_mistyped_subcommand_is_still_an_unknown_word(text: str) -> None:
    """A typo of a subcommand keeps its "I don't know" reply, with or without servers."""
    for servers in (SERVERS, ()):
        routed = route(text, servers)
        assert isinstance(routed.command, Help) and routed.command.problem is not None
        assert routed.command.problem.startswith(f"I don't know `{text.split()[0]}`"), servers


def test_a_lone_word_like_nothing_names_both_the_subcommands_and_the_servers() -> None:
    """`/jobs foo` is neither a subcommand nor close to a server: the reply offers both."""
    routed = route("zzz", SERVERS)
    assert isinstance(routed.command, Help) and routed.command.problem is not None
    assert routed.command.problem.startswith("I don't know `zzz`. Try one of `list`")
    assert routed.command.problem.endswith("The servers are `prod`, `staging`.")
    # With one server, a lone unknown word reads exactly as it always has.
    assert route("zzz", ()) == Routed(parse("zzz"), None)


@pytest.mark.parametrize(
    "text", ["all", "all list", "all 3", "all status 3", "all use prod", "all subscriptions"]
)
def test_all_comes_only_before_subscribe_and_unsubscribe(text: str) -> None:
    """`all` means every server only for a subscription; anything else says so."""
    routed = route(text, SERVERS)
    assert isinstance(routed.command, Help) and routed.command.problem is not None
    assert routed.command.problem.startswith("`all` can only come before `subscribe` or `unsubscribe`")
    assert "`prod`, `staging`" in routed.command.problem
    assert routed.server is None


def test_a_bad_command_after_a_server_is_explained_as_without_one() -> None:
    """The rest after a server name is parsed as usual: its problem is the usual one."""
    assert route("prod list paused", SERVERS) == Routed(parse("list paused"), "prod")
    assert route("all subscribe running", SERVERS) == Routed(parse("subscribe running"), EVERY_SERVER)


def test_use_after_a_server_name_asks_for_the_name_after_use() -> None:
    """`/jobs prod use` is told the form that sets a default: `/jobs use prod`."""
    assert route("prod use", SERVERS) == Routed(
        Help("Put the server after `use`: `/jobs use prod`.", tried="use"), None
    )


def test_an_unknown_word_before_other_words_is_not_taken_for_a_server() -> None:
    """`/jobs foo bar`: nothing says `foo` was meant as a server, so it is an unknown word."""
    assert route("foo bar", SERVERS) == Routed(parse("foo bar"), None)
    assert route("foo bar", ()) == Routed(parse("foo bar"), None)


def test_echoed_server_words_cannot_break_their_code_span() -> None:
    """A server-like word is echoed through `_echo`: short, and without backticks."""
    routed = route("x" * 20 + " list", SERVERS)
    assert isinstance(routed.command, Help) and routed.command.problem is not None
    assert routed.command.problem.startswith("`" + "x" * 20 + "`")
    too_long = route("`" * 600, SERVERS)
    assert too_long == Routed(parse("`" * 600), None)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("use staging", UseServer("staging")),
        ("USE Staging", UseServer("staging")),
        ("use", UseServer(None)),
    ],
)
def test_use_parses_a_server_name(text: str, command: UseServer) -> None:
    """`use NAME` is UseServer with the name lowercased; `use` alone asks which servers there are."""
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("use a b", ["Too many words", "`b`", "use NAME"]),
        ("use all", ["`all` is not a server name"]),
        ("use ../x", ["`../x` is not a server name", "use staging"]),
        ("use " + "a" * 21, ["is not a server name"]),
    ],
)
def test_use_with_a_bad_name_is_help(text: str, words: list[str]) -> None:
    """A word after `use` that cannot be a server name is refused, echoed safely."""
    command = parse(text)
    assert isinstance(command, Help) and command.problem is not None
    for word in words:
        assert word in command.problem


def test_use_is_left_out_of_the_unknown_word_reply() -> None:
    """`use` only matters with several servers: the "I don't know" reply omits it. (The manifest's hint,
    one for every deployment, names it.)"""
    assert commands.USE.needs_servers
    assert f"{commands.USE.form} |" in commands.usage_hint()
    command = parse("frobnicate")
    assert isinstance(command, Help) and command.problem is not None
    assert "`use`" not in command.problem
    assert "use" in commands.RESERVED_WORDS and "live" in commands.RESERVED_WORDS


@given(
    st.text(max_size=600),
    st.sampled_from([(), SERVERS, ("a", "b-2", "c3")]),
)
def test_route_never_raises_and_names_only_configured_servers(text: str, servers: tuple[str, ...]) -> None:
    """For any text, route returns a command and a server that is None, configured, or every server."""
    routed = route(text, servers)
    assert routed.server is None or routed.server in servers or routed.server == EVERY_SERVER
    if routed.server == EVERY_SERVER:
        assert isinstance(routed.command, Subscribe | Unsubscribe | Help)
    if isinstance(routed.command, UseServer) and servers:
        assert routed.command.name is None or routed.command.name in servers
    if isinstance(routed.command, Help) and routed.command.problem is not None:
        assert len(routed.command.problem) < 400
