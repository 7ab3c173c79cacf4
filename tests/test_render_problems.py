"""Problems and refusals: the bot's words kept, the server's detail escaped, within Slack's limits."""

from __future__ import annotations

import pytest

from jobbot.errors import (
    GroupLookupFailure,
    InteractiveServerError,
    InteractiveUnavailable,
    InvalidJobId,
    JobAlreadyFinished,
    JobNotFound,
    PostUncertain,
    Refused,
    StoreError,
)
from jobbot.render.problems import explain, problem, refusal, why_refused
from jobbot.render.replies import usage_line
from tests.slack_limits import check_limits, check_safe


def test_problem_escapes_detail_but_not_text() -> None:
    """`problem` keeps the bot's mrkdwn and escapes the server's detail that follows it."""
    message = problem("Job *7* failed:", detail="<!channel> & <https://evil|click>")
    assert message.blocks[0]["text"]["text"] == (
        ":warning: Job *7* failed: &lt;!channel&gt; &amp; &lt;https://evil|click&gt;"
    )
    check_safe(message)


def test_problem_with_huge_detail_fits() -> None:
    """A megabyte of server detail is clipped so the warning still fits one section."""
    message = problem("The server said:", detail="<" * 1_000_000)
    check_limits(message)


def test_refusal_shows_the_reason_within_limits() -> None:
    """A refusal shows its reason behind a lock, with fallback text, and a long reason still fits."""
    message = refusal("You may not. Add `U012ABCDEF` to `JOBBOT_CANCEL_USERS`.")
    assert message.blocks[0]["text"]["text"].startswith(":lock: You may not.")
    assert message.text.startswith("Not allowed: You may not.")
    check_limits(refusal("x" * 10_000))


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            Refused("not_a_canceller", user_id="U0CANCEL1"),
            ":lock: You are not allowed to cancel jobs from Slack.",
        ),
        (InvalidJobId("abc"), ":warning: That is not a job id: a job id is a number such as `42`"),
        (JobNotFound("7"), ":warning: Job 7 does not exist on the Interactive server."),
        (
            InteractiveUnavailable("http://interactive:7777", "timed out"),
            ":warning: Could not reach the Interactive server at http://interactive:7777: timed out",
        ),
        (
            InteractiveServerError(500, 103, "Fail to kill <!channel>"),
            ":warning: The Interactive server answered with an error, HTTP 500 (code 103): "
            "Fail to kill &lt;!channel&gt;",
        ),
        (
            InteractiveServerError(502, None, "Bad gateway"),
            ":warning: The Interactive server answered with an error, HTTP 502: Bad gateway",
        ),
        (
            JobAlreadyFinished("7", "FAILED"),
            ":warning: jobbot could not do that: job 7 had already finished (FAILED)",
        ),
        (
            StoreError("cannot connect to the PostgreSQL store at host=db.internal dbname=jobbot"),
            ":warning: jobbot's store is not answering; the details are in its log.",
        ),
        (
            PostUncertain("no answer from Slack: [Errno 111] Connection refused"),
            ":warning: Something went wrong inside jobbot; the details are in its log.",
        ),
        (KeyError("token"), ":warning: Something went wrong inside jobbot; the details are in its log."),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "",
)
def test_explain_words_each_known_error(error: Exception, shown: str) -> None:
    """Each known error becomes its own message, led by what went wrong, with server text escaped; an
    internal error or a bug becomes a fixed sentence."""
    message = explain(error)
    assert message.blocks[0]["text"]["text"].startswith(shown)
    check_limits(message)
    check_safe(message)


def test_explain_answers_a_bad_job_id_with_the_usage() -> None:
    """A job id that is not one is answered with the whole usage after the warning, not a bare warning."""
    message = explain(InvalidJobId("abc"))
    assert [block["text"]["text"].split("\n")[0] for block in message.blocks][1:] == [
        f"*Usage:* `{usage_line()}`"
    ]


def test_a_refusal_keeps_2900_characters_of_its_reason_and_1000_of_its_fallback_text() -> None:
    """A long reason is clipped to 2900 characters in the block (room for the lock, under Slack's 3000)
    and to 1000 in the notification text; a reason of exactly that length is kept whole."""
    long = refusal("x" * 5000)
    section = long.blocks[0]["text"]["text"]
    assert len(section) == len(":lock: ") + 2900 and len(long.text) == 1000
    exact = refusal("y" * 2900)
    assert exact.blocks[0]["text"]["text"] == ":lock: " + "y" * 2900
    assert refusal("z" * (1000 - len("Not allowed: "))).text == "Not allowed: " + "z" * 987


def test_with_several_servers_the_interactive_problems_name_the_server() -> None:
    """A request about `staging` that fails says so: which server has no such job, cannot be reached,
    or answered with an error. With one server (no name) the words are as they always were."""
    cases = {
        JobNotFound("7"): (
            "Job 7 does not exist on the Interactive server `staging`.",
            "Job 7 does not exist on the Interactive server.",
        ),
        InteractiveUnavailable("http://gs:7777", "connection refused"): (
            "Could not reach the Interactive server `staging` at",
            "Could not reach the Interactive server at",
        ),
        InteractiveServerError(500, 103, "boom"): (
            "The Interactive server `staging` answered with an error, HTTP 500 (code 103):",
            "The Interactive server answered with an error, HTTP 500 (code 103):",
        ),
    }
    for error, (named, alone) in cases.items():
        assert alone in str(explain(error).blocks) and "staging" not in str(explain(error).blocks)
        assert named in str(explain(error, server="staging").blocks)


def test_a_cancel_refused_on_one_of_several_servers_names_it_and_its_settings() -> None:
    """On `prod` with its own settings, each cancel refusal says where and which variable to change."""
    settings = ("JOBBOT_SERVER_PROD_CANCEL_USERS", "JOBBOT_SERVER_PROD_CANCEL_USERGROUPS")
    failure = GroupLookupFailure("S0ONCALL", slack_error="missing_scope")
    texts = {
        why: why_refused(
            Refused(
                why,
                user_id="U0AAAAAA",
                cancel_usergroups=("S0ONCALL",),
                lookup_failures=(failure,) if why == "lookup_failed" else (),
                server="prod",
                cancel_settings=settings,
            )
        )
        for why in ("lookup_failed", "nobody_may_cancel", "not_a_canceller")
    }
    assert texts["lookup_failed"].startswith("You may not cancel jobs on `prod` right now")
    assert texts["nobody_may_cancel"].startswith("Nobody may cancel jobs on `prod` from Slack yet.")
    assert texts["not_a_canceller"].startswith("You are not allowed to cancel jobs on `prod` from Slack.")
    for text in texts.values():
        assert "`U0AAAAAA` to `JOBBOT_SERVER_PROD_CANCEL_USERS`" in text
        assert "a user group in `JOBBOT_SERVER_PROD_CANCEL_USERGROUPS` (`S0ONCALL`)" in text
