"""Replies to `/jobs`: usage, watch, subscriptions and the audit list."""

from __future__ import annotations

import json

import pytest

from jobbot import commands, slack_ids
from jobbot.models import NOTICE_STATUSES
from jobbot.render.replies import (
    AUDIT_MAX_ENTRIES,
    AUDIT_MAX_REFUSALS,
    AUDIT_MAX_SUBSCRIPTION_CHANGES,
    audit_list,
    subscribed,
    subscription_list,
    unsubscribed,
    usage,
    usage_line,
    watch_already_finished,
    watch_started,
    watch_stopped,
)
from tests.render_fixtures import (
    HOSTILE_TEXTS,
    NOW,
    all_text,
    button_ids,
    make_job,
    make_subscription,
    section_texts,
)
from tests.slack_limits import check_limits, check_safe

# --- usage ----------------------------------------------------------------------------------


def test_usage_lists_every_subcommand_with_an_example() -> None:
    """Usage shows the whole grammar, which includes every form of the hint slack_ids advertises
    (`use NAME` only where there are servers to choose from)."""
    message = usage()
    text = all_text(message)
    for form in slack_ids.COMMAND_USAGE_HINT.strip("[]").split(" | "):
        assert form in usage_line(("prod", "staging"))
        assert (form in usage_line()) == (form != commands.USE.form)
    for example in (
        "list FAILED RUNNING",
        "status 42",
        "cancel 42",
        "watch 42",
        "unwatch 42",
        "subscribe FAILED",
        "unsubscribe",
        "subscriptions",
        "help",
    ):
        assert f"`/jobs {example}`" in text
    check_limits(message)


def test_usage_leads_with_the_escaped_problem() -> None:
    """When parsing failed, usage starts with the problem, with user text escaped."""
    message = usage("I don't know `<!channel>`.")
    assert message.blocks[0]["text"]["text"] == ":warning: I don't know `&lt;!channel&gt;`."
    assert message.text.startswith("I don't know `&lt;!channel&gt;`.")
    check_safe(message)


# --- watching -------------------------------------------------------------------------------


def test_watch_started_promises_a_dm_and_says_how_to_stop() -> None:
    """`/jobs watch 7` confirms the direct message to come and shows `/jobs unwatch 7`."""
    message = watch_started("7")
    assert message.text == "I'll send you a direct message when job 7 finishes."
    assert "`/jobs unwatch 7`" in all_text(message)


def test_watch_of_a_finished_job_shows_its_card_at_once() -> None:
    """Watching a job that has already finished answers with its card and says so first."""
    message = watch_already_finished(make_job(7, "SUCCESS"), now=NOW)
    assert message.text == "Job 7 has already finished: SUCCESS."
    assert "has already finished (:white_check_mark: SUCCESS)" in message.blocks[1]["text"]["text"]
    assert button_ids(message) == [
        slack_ids.action_id(slack_ids.JOB_REFRESH, "7"),
        slack_ids.action_id(slack_ids.JOB_FULL_LOG, "7"),
    ]


@pytest.mark.parametrize(
    ("existed", "text"), [(True, "won't send you a message"), (False, "were not watching")]
)
def test_watch_stopped_says_whether_anything_changed(existed: bool, text: str) -> None:
    """`/jobs unwatch 7` says the watch ended, or that there was none."""
    assert text in watch_stopped("7", existed=existed).text


def test_watch_messages_escape_a_mangled_id() -> None:
    """Ids that did not come through the parser are escaped, and no unwatch hint is built from them."""
    for message in (
        watch_started("<!channel>"),
        watch_stopped("<!channel>" * 100, existed=True),
    ):
        check_safe(message)
        check_limits(message)
        assert "unwatch" not in all_text(message)


# --- subscriptions --------------------------------------------------------------------------


def test_subscribed_names_the_channel_statuses_and_the_invite_step() -> None:
    """The confirmation links the channel, names the statuses and explains `/invite @jobbot`."""
    message = subscribed("C0123ABCD", ("failed", "BOGUS"))
    text = all_text(message)
    assert "<#C0123ABCD> whenever a job finishes with status FAILED." in text
    assert "`/invite @jobbot`" in text and "`/jobs unsubscribe`" in text
    everything = subscribed("C0123ABCD", ())
    assert "whenever a job finishes (SUCCESS, FAILED or CANCELLED)" in all_text(everything)


@pytest.mark.parametrize("channel_id", ["<!channel>", "C12>|x", "c0123", "D0123ABCD", "C0123\n", "#general"])
def test_malformed_channel_ids_are_shown_as_text_not_links(channel_id: str) -> None:
    """A channel id that is not well-formed is shown as escaped inline code, never inside `<#...>`."""
    for message in (
        subscribed(channel_id, NOTICE_STATUSES),
        unsubscribed(channel_id, existed=True),
        subscription_list([], default_channel=channel_id, default_statuses=NOTICE_STATUSES),
    ):
        assert "<#" not in all_text(message)
        check_safe(message)
        check_limits(message)


@pytest.mark.parametrize(("existed", "text"), [(True, "will no longer get"), (False, "was not subscribed")])
def test_unsubscribed_says_whether_anything_changed(existed: bool, text: str) -> None:
    """`/jobs unsubscribe` confirms, or says the channel was not subscribed."""
    message = unsubscribed("C0123ABCD", existed=existed)
    assert text in all_text(message) and "<#C0123ABCD>" in all_text(message)


def test_subscription_list_puts_the_settings_channel_first() -> None:
    """The channel from JOBBOT_NOTIFY_CHANNEL comes first, then each subscription with who and when."""
    message = subscription_list(
        [make_subscription()], default_channel="C0NOTIFY", default_statuses=NOTICE_STATUSES
    )
    [lines] = section_texts(message)
    first, second = lines.split("\n")
    assert first == "• <#C0NOTIFY>  ·  SUCCESS, FAILED, CANCELLED  ·  (from `JOBBOT_NOTIFY_CHANNEL`)"
    assert second.startswith("• <#C0123ABCD>  ·  FAILED  ·  added <!date^1717234200^")
    assert second.endswith(" by <@U012ABCDEF>")
    assert message.text == "2 channels get completion notices."


def test_subscription_list_empty_explains_how_to_subscribe() -> None:
    """With no channel at all, the list explains `/jobs subscribe` instead of showing nothing."""
    message = subscription_list([], default_channel=None, default_statuses=NOTICE_STATUSES)
    assert "No channel gets completion notices yet" in message.text
    assert "`/jobs subscribe`" in all_text(message) and "`/invite @jobbot`" in all_text(message)


def test_subscription_list_of_1000_hostile_entries_is_clipped_to_fit() -> None:
    """A thousand subscriptions with hostile ids and statuses fit one message that says how many more."""
    hostile = "<!channel> & <https://evil|x> `"
    subs = [
        make_subscription(
            f"C{n:08d}" if n % 2 else hostile * 10,
            statuses=(hostile, "FAILED", "failed", "\U0001f600" * 100, "A", "B"),
            added_by="U012ABCDEF" if n % 3 else hostile * 10,
        )
        for n in range(1000)
    ]
    message = subscription_list(subs, default_channel=hostile, default_statuses=NOTICE_STATUSES)
    check_limits(message)
    check_safe(message)
    shown = "\n".join(section_texts(message)).count("• ")
    assert 10 < shown < 1001
    assert f"and {1001 - shown:,} more" in all_text(message)
    assert message.text == "1,001 channels get completion notices."


def test_subscription_list_shows_everything_when_it_fits() -> None:
    """A list that fits is shown whole, with no "more" line."""
    subs = [make_subscription(f"C{n:08d}") for n in range(20)]
    message = subscription_list(subs, default_channel=None, default_statuses=NOTICE_STATUSES)
    assert "\n".join(section_texts(message)).count("• ") == 20
    assert "more" not in all_text(message)
    check_limits(message)


# --- the audit list -------------------------------------------------------------------------


def test_audit_list_shows_who_did_what_within_limits() -> None:
    """The audit list escapes server text, mentions valid user ids only, and fits with hostile data."""
    from jobbot.models import AuditEntry

    entries = [
        AuditEntry(
            at=NOW,
            user_id="U0ALLOWED1",
            team_id="T1",
            channel_id="C1",
            job_id="7",
            status_before="RUNNING",
            outcome="succeeded",
            message="Successfully cancel job: 7 <!channel>",
        ),
        AuditEntry(at=NOW, user_id="<!here>", job_id="8", outcome="refused", message="`x`" * 5000),
    ] * 10
    message = audit_list(entries, job_id=None)
    check_limits(message)
    check_safe(message)
    text = json.dumps(message.blocks)
    assert "<@U0ALLOWED1>" in text and "*cancelled*" in text
    assert audit_list([], job_id="7").text == "Cancel attempts for job 7: none recorded."


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXTS))
def test_audit_list_with_every_part_full_of_hostile_text_fits(kind: str) -> None:
    """Twenty cancel attempts, five folded refusals and five subscription changes, all carrying hostile
    text, give one valid message that pings no one and still shows each part."""
    from jobbot.models import AuditEntry, SubscriptionChange

    hostile = HOSTILE_TEXTS[kind]
    attempts = [
        AuditEntry(
            at=NOW,
            user_id="U0ALLOWED1",
            job_id="9" * 20,
            status_before=hostile,
            outcome="failed",
            message=hostile,
        )
    ] * AUDIT_MAX_ENTRIES
    refusals = [
        AuditEntry(
            at=NOW, user_id=hostile, job_id="7", outcome="refused", message=hostile, repeats=14, last_at=NOW
        )
    ] * AUDIT_MAX_REFUSALS
    changes = [
        SubscriptionChange(
            at=NOW, user_id="U0ALLOWED1", channel_id=hostile, action="subscribed", statuses=(hostile,)
        )
    ] * AUDIT_MAX_SUBSCRIPTION_CHANGES
    message = audit_list(attempts, job_id=None, refusals=refusals, changes=changes)
    check_limits(message)
    check_safe(message)
    text = all_text(message)
    assert "*cancel failed*" in text and "*cancel refused x14*" in text and "*subscribed*" in text


@pytest.mark.parametrize(
    ("outcome", "message", "reads"),
    [
        ("confirmed", None, "job *#7* (was RUNNING): *cancel confirmed*"),
        ("succeeded", "Job 7 cancelled", "job *#7* (was RUNNING): *cancelled* \u2014 Job 7 cancelled"),
        ("failed", "HTTP 500", "job *#7* (was RUNNING): *cancel failed* \u2014 HTTP 500"),
        ("already_finished", None, "job *#7* (was RUNNING): *already finished*"),
        ("cancelled_by_another", "claimed by U0B", "*already being cancelled* \u2014 claimed by U0B"),
        ("refused", "cancel", "job *#7* (was RUNNING): *cancel refused*"),
        ("refused", "channel", "*cancel refused* \u2014 not an allowed channel"),
        ("refused", "organization", "*cancel refused* \u2014 from another organization"),
        ("some_new_word", None, "*some new word*"),
    ],
)
def test_audit_lines_are_written_for_people(outcome: str, message: str | None, reads: str) -> None:
    """Each stored outcome word (and a refusal's kind) reads as words in `/jobs audit`: "cancel refused",
    not `refused - cancel`; "already finished", not `already_finished`."""
    from jobbot.models import AuditEntry

    entry = AuditEntry(
        at=NOW, user_id="U0ALLOWED1", job_id="7", status_before="RUNNING", outcome=outcome, message=message
    )
    text = all_text(audit_list([entry], job_id=None))
    assert reads in text
    assert "_" not in text.split("job *#7*")[1]
