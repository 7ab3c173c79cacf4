"""Problems and refusals: the bot's words kept, the server's detail escaped, within Slack's limits."""

from __future__ import annotations

from jobbot.render.problems import problem, refusal
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
