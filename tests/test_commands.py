"""Parsing `/jobs` text: every input becomes a typed command, and nothing unsafe becomes a job id."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobbot import commands, slack_ids
from jobbot.commands import (
    CancelJob,
    Help,
    ListJobs,
    ListSubscriptions,
    ShowJob,
    Subscribe,
    Unsubscribe,
    Unwatch,
    Watch,
    parse,
)
from jobbot.models import KNOWN_STATUSES, MAX_JOB_ID_DIGITS, NOTICE_STATUSES, JobStatus, NoticeStyle
from jobbot.render.mrkdwn import BACKTICK_LOOKALIKE


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", ListJobs()),
        ("   ", ListJobs()),
        ("list", ListJobs()),
        ("LIST", ListJobs()),
        ("list failed", ListJobs((JobStatus.FAILED,))),
        ("list Running FAILED running", ListJobs((JobStatus.RUNNING, JobStatus.FAILED))),
        ("  list \t failed,running  ", ListJobs((JobStatus.FAILED, JobStatus.RUNNING))),
        ("list unknown", ListJobs((JobStatus.UNKNOWN,))),
        ("status 7", ShowJob("7")),
        ("Status   #7", ShowJob("7")),
        ("7", ShowJob("7")),
        ("#42", ShowJob("42")),
        ("cancel 7", CancelJob("7")),
        ("CANCEL\t8 ", CancelJob("8")),
        ("help", Help(None)),
        ("--help", Help(None)),
        ("watch 7", Watch("7")),
        ("WATCH #12", Watch("12")),
        ("unwatch 7", Unwatch("7")),
        ("Unwatch\t#7 ", Unwatch("7")),
        ("subscribe", Subscribe(NOTICE_STATUSES)),
        ("subscribe success failed cancelled", Subscribe(NOTICE_STATUSES)),
        ("subscribe failed", Subscribe((JobStatus.FAILED,))),
        ("Subscribe Cancelled,FAILED failed", Subscribe((JobStatus.FAILED, JobStatus.CANCELLED))),
        ("subscribe cancelled success", Subscribe((JobStatus.SUCCESS, JobStatus.CANCELLED))),
        ("unsubscribe", Unsubscribe()),
        ("UNSUBSCRIBE  ", Unsubscribe()),
        ("subscriptions", ListSubscriptions()),
    ],
)
def test_valid_text_gives_its_command(text: str, command: commands.Command) -> None:
    """Each form of the grammar parses to its command, whatever the case and spacing."""
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("frobnicate", ["`frobnicate`", "`list`", "`status`", "`cancel`", "`help`"]),
        ("status", ["`status` needs a job id", "status 42"]),
        ("cancel", ["`cancel` needs a job id", "cancel 42"]),
        ("cancel 7 8", ["Too many words", "`8`", "cancel ID"]),
        ("7 8", ["Too many words"]),
        ("help me", ["Too many words", "`help`"]),
        ("list PAUSED", ["`PAUSED` is not a job status", *KNOWN_STATUSES]),
        ("status ../graph/1", ["`../graph/1` is not a job id"]),
        ("cancel 1?x=1", ["`1?x=1` is not a job id", "a job id is a number"]),
        ("status %2e%2e", ["`%2e%2e` is not a job id"]),
        ("%2e%2e", ["I don't know `%2e%2e`"]),
        ("١٢", ["`١٢` is not a job id"]),
        ("status ²", ["`²` is not a job id"]),
        ("status " + "9" * (MAX_JOB_ID_DIGITS + 1), ["is not a job id"]),
        ("cancel -1", ["is not a job id"]),
        ("x" * 10_000, ["too long", "10,000 characters"]),
        ("watch", ["`watch` needs a job id", "watch 42"]),
        ("unwatch", ["`unwatch` needs a job id", "unwatch 42"]),
        ("watch 7 8", ["Too many words", "`8`", "watch ID"]),
        ("unwatch 7 please", ["Too many words", "`please`", "unwatch ID"]),
        ("watch ../1", ["`../1` is not a job id"]),
        ("unwatch ١٢", ["`١٢` is not a job id"]),
        ("watch " + "9" * (MAX_JOB_ID_DIGITS + 1), ["is not a job id"]),
        ("subscribe running", ["`running` is not a finished status", *NOTICE_STATUSES]),
        ("subscribe failed WAITING", ["`WAITING` is not a finished status"]),
        ("subscribe unknown", ["`unknown` is not a finished status"]),
        ("subscribe PAUSED", ["`PAUSED` is not a job status", *NOTICE_STATUSES]),
        ("subscribe <!channel>", ["`<!channel>` is not a job status"]),
        ("unsubscribe failed", ["Too many words", "`failed`", "use `unsubscribe`"]),
        ("subscriptions all", ["Too many words", "`all`", "use `subscriptions`"]),
        ("subscribers", ["I don't know `subscribers`", "`subscribe`", "`subscriptions`", "`watch`"]),
    ],
)
def test_unusable_text_gives_help_with_a_clear_problem(text: str, words: list[str]) -> None:
    """Unknown words, missing or extra arguments and bad ids become Help naming what was wrong."""
    command = parse(text)
    assert isinstance(command, Help)
    assert command.problem is not None
    for word in words:
        assert word in command.problem


def test_echoed_input_is_short_and_cannot_break_its_code_span() -> None:
    """User input quoted in a problem is clipped and its backticks replaced, so formatting holds."""
    command = parse("`" * 200)
    assert isinstance(command, Help) and command.problem is not None
    echoed = BACKTICK_LOOKALIKE * (commands.MAX_ECHO_CHARS - 1) + "…"
    assert command.problem.startswith(f"I don't know `{echoed}`. ")
    long_status = parse("list " + "Q" * 400)
    assert isinstance(long_status, Help) and long_status.problem is not None
    assert len(long_status.problem) < 200


def test_usage_hint_is_built_from_the_parsers_subcommands() -> None:
    """slack_ids' usage hint is exactly the parser's subcommand table, every form in the table's order,
    within Slack's 1,000 characters (the manifest schema's limit)."""
    assert commands.usage_hint() == slack_ids.COMMAND_USAGE_HINT
    assert len(slack_ids.COMMAND_USAGE_HINT) <= 1000
    forms = [sub.form for sub in commands.SUBCOMMANDS]
    assert "[" + " | ".join(forms) + "]" == slack_ids.COMMAND_USAGE_HINT
    for sub in commands.SUBCOMMANDS:
        assert not isinstance(parse(sub.example), Help) or sub is commands.HELP


@given(st.text(max_size=2000))
def test_parse_never_raises_and_ids_are_short_ascii_digits(text: str) -> None:
    """For any text, parse returns a command, and any job id in it is 1-20 ASCII digits."""
    command = parse(text)
    if isinstance(command, ShowJob | CancelJob | Watch | Unwatch):
        assert command.job_id.isascii() and command.job_id.isdigit()
        assert 0 < len(command.job_id) <= MAX_JOB_ID_DIGITS
    if isinstance(command, Subscribe):
        assert command.statuses and set(command.statuses) <= set(NOTICE_STATUSES)
        assert list(command.statuses) == [s for s in NOTICE_STATUSES if s in command.statuses]
    if isinstance(command, ListJobs):
        assert set(command.statuses) <= set(KNOWN_STATUSES)
        assert len(command.statuses) == len(set(command.statuses))
    if isinstance(command, Help) and command.problem is not None:
        assert len(command.problem) < 300


@given(
    st.sampled_from(["status", "cancel", "STATUS", "Cancel", "watch", "Unwatch", ""]),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40),
)
def test_id_like_arguments_never_yield_an_unsafe_id(verb: str, raw_id: str) -> None:
    """Whatever follows a verb that takes an id (or stands alone), only ASCII digits become an id."""
    command = parse(f"{verb} {raw_id}")
    if isinstance(command, ShowJob | CancelJob | Watch | Unwatch):
        assert command.job_id in raw_id
        assert command.job_id.isascii() and command.job_id.isdigit()


@given(st.lists(st.sampled_from([*KNOWN_STATUSES, "paused", "all", ""]), max_size=8), st.booleans())
def test_subscribe_accepts_exactly_the_notice_statuses(words: list[str], commas: bool) -> None:
    """`subscribe` takes any mix of case and separators of finished statuses, and nothing else."""
    text = "subscribe " + ("," if commas else " ").join(word.swapcase() for word in words)
    command = parse(text)
    typed = {word.upper() for word in words if word}
    if typed <= set(NOTICE_STATUSES):
        assert command == Subscribe(tuple(s for s in NOTICE_STATUSES if s in typed) or NOTICE_STATUSES)
    else:
        assert isinstance(command, Help) and command.problem is not None
        assert ", ".join(NOTICE_STATUSES) in command.problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("subscribe live", Subscribe(NOTICE_STATUSES, NoticeStyle.LIVE)),
        ("subscribe LIVE failed", Subscribe((JobStatus.FAILED,), NoticeStyle.LIVE)),
        ("subscribe final cancelled", Subscribe((JobStatus.CANCELLED,), NoticeStyle.FINAL)),
        ("subscribe failed", Subscribe((JobStatus.FAILED,), NoticeStyle.FINAL)),
    ],
)
def test_subscribe_takes_a_style_first(text: str, expected: Subscribe) -> None:
    """`subscribe live [STATUS ...]` asks for a live card per job; `final` (the default) for notices."""
    assert parse(text) == expected


def test_a_style_after_the_statuses_is_not_a_status() -> None:
    command = parse("subscribe failed live")
    assert isinstance(command, Help) and command.problem is not None
    assert command.problem.startswith("`live` is not a job status")


@pytest.mark.parametrize(("text", "job_id"), [("audit", None), ("audit 42", "42"), ("AUDIT #7", "7")])
def test_audit_takes_an_optional_job_id(text: str, job_id: str | None) -> None:
    """`/jobs audit` lists all recent cancel attempts; with an id, that job's."""
    assert parse(text) == commands.ShowAudit(job_id)


def test_audit_with_a_bad_id_is_usage() -> None:
    """A malformed id after audit is refused like anywhere else."""
    assert isinstance(parse("audit ../1"), Help)


def test_statuses_in_commands_are_job_statuses() -> None:
    """`list` and `subscribe` give their statuses as JobStatus members, whatever case was typed."""
    listed = parse("list failed,Running")
    assert isinstance(listed, ListJobs)
    assert listed.statuses == (JobStatus.FAILED, JobStatus.RUNNING)
    assert all(type(status) is JobStatus for status in listed.statuses)
    subscribed = parse("subscribe cancelled")
    assert isinstance(subscribed, Subscribe)
    assert all(type(status) is JobStatus for status in subscribed.statuses)


@pytest.mark.parametrize(
    ("text", "tried"),
    [
        ("status abc", "status"),
        ("4a", "status"),
        ("cancel", "cancel"),
        ("unwatch 1 2", "unwatch"),
        ("list NOPE", "list"),
        ("subscribe live RUNNING", "subscribe"),
        ("unsubscribe now", "unsubscribe"),
        ("subscriptions all", "subscriptions"),
        ("audit x", "audit"),
        ("use !", "use"),
        ("help me", "help"),
        ("frobnicate", None),
        ("x" * 501, None),
    ],
)
def test_a_problem_names_the_subcommand_tried(text: str, tried: str | None) -> None:
    """A command gone wrong says which subcommand was tried (for metrics and logs), None when no word
    of the text was one."""
    command = parse(text)
    assert isinstance(command, Help) and command.problem is not None
    assert command.tried == tried
