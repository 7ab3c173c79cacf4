"""The one set of checks for the ids Slack gives jobbot: a kind letter, 2-30 ASCII capitals or digits."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jobbot.slack_ids import (
    is_channel_id,
    is_conversation_id,
    is_direct_message_id,
    is_enterprise_id,
    is_team_id,
    is_user_id,
    is_usergroup_id,
)

CHECKS: dict[str, Callable[[str], bool]] = {
    "user": is_user_id,
    "channel": is_channel_id,
    "direct message": is_direct_message_id,
    "conversation": is_conversation_id,
    "user group": is_usergroup_id,
    "team": is_team_id,
    "enterprise": is_enterprise_id,
}
# The kind letters each check accepts; every other letter is refused.
PREFIXES = {
    "user": "UW",
    "channel": "CG",
    "direct message": "D",
    "conversation": "CGD",
    "user group": "S",
    "team": "T",
    "enterprise": "E",
}


@pytest.mark.parametrize("kind", CHECKS)
def test_each_check_accepts_exactly_its_kind_letters(kind: str) -> None:
    """An id is accepted by a check only when its first letter is one of that kind's letters."""
    accepted = {letter for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if CHECKS[kind](letter + "012ABCDEF")}
    assert accepted == set(PREFIXES[kind])


@pytest.mark.parametrize("kind", CHECKS)
def test_ids_are_two_to_thirty_capitals_or_digits_after_the_letter(kind: str) -> None:
    """Between 2 and 30 characters after the kind letter pass; 1 or 31 do not."""
    check, letter = CHECKS[kind], PREFIXES[kind][0]
    assert check(letter + "0A")
    assert check(letter + "0" * 30)
    assert not check(letter + "0")
    assert not check(letter + "0" * 31)
    assert not check(letter)
    assert not check("")


@pytest.mark.parametrize("kind", CHECKS)
@pytest.mark.parametrize(
    "tail",
    [
        "\n",  # `$` would match before it: the difference from fullmatch
        "\r\n",
        " ",
        ">",  # would close a `<@...>` mention early
        "|x",
    ],
)
def test_nothing_may_follow_an_id(kind: str, tail: str) -> None:
    """A well-formed id with anything after it, a trailing newline included, is refused."""
    check, letter = CHECKS[kind], PREFIXES[kind][0]
    assert check(letter + "012ABCDEF")
    assert not check(letter + "012ABCDEF" + tail)
    assert not check(" " + letter + "012ABCDEF")


@pytest.mark.parametrize("kind", CHECKS)
@pytest.mark.parametrize(
    "body",
    [
        "012abcdef",  # lower case
        "012ABC-DEF",
        "\u0660\u0661\u0662ABCDEF",  # Arabic-Indic digits
        "\uff10\uff11\uff12ABCDEF",  # fullwidth digits
        "012ÄBCDEF",  # a capital outside ASCII
        "012\u0391BCDEF",  # Greek capital alpha, which looks like A
        "012\u200bABCDEF",  # a zero-width space
    ],
)
def test_only_ascii_capitals_and_digits_pass(kind: str, body: str) -> None:
    """Lower case, punctuation and letters or digits of other scripts make an id invalid."""
    assert not CHECKS[kind](PREFIXES[kind][0] + body)
