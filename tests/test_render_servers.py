"""Messages with several servers: each names its server the one way, and every button carries it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from jobbot import stale
from jobbot.models import NOTICE_STATUSES, AuditEntry, FullLog, NoticeStyle, SubscriptionChange
from jobbot.render.cards import (
    digest_card,
    ending_reply,
    full_log_file,
    full_log_sent,
    live_card,
    log_file_name,
    long_running_alert,
)
from jobbot.render.jobs import (
    already_finished_card,
    cancel_prompt,
    cancelled_card,
    cancelling_elsewhere_card,
    job_card,
    job_list,
)
from jobbot.render.kit import Message
from jobbot.render.notices import completion_digest, completion_notice, failure_log_reply
from jobbot.render.replies import (
    audit_list,
    one_server_only,
    server_choices,
    server_chosen,
    subscribed,
    subscription_list,
    unsubscribed,
    usage,
    usage_line,
    watch_already_finished,
    watch_started,
    watch_stopped,
)
from jobbot.servers import EVERY_SERVER
from jobbot.slack_ids import JOB_CANCEL, decode_cancel_ref, decode_job_ref, decode_list_server
from tests.render_fixtures import (
    FAILED_LOG,
    NOW,
    START_MS,
    all_text,
    make_finished,
    make_job,
    make_subscription,
    mixed_jobs,
)
from tests.slack_limits import check_limits, check_safe

SERVER = "eu-west-1"
AT = datetime(2024, 6, 10, 6, 0, tzinfo=UTC)


def _stale() -> stale.Stale:
    old = make_job(3, "RUNNING", start_time=START_MS - 9 * 86_400_000)
    return stale.find_stale([old], [old], now=NOW, limit_seconds=86_400)["3"]


# Each renderer about jobs, called with `server` (None or a name).
JOB_MESSAGES: dict[str, Callable[[str | None], Message]] = {
    "list": lambda s: job_list(mixed_jobs(23), page=2, now=NOW, server=s, may_cancel=True),
    "list_empty": lambda s: job_list([], statuses=("FAILED",), now=NOW, server=s, may_cancel=True),
    "card": lambda s: job_card(make_job(8, "RUNNING"), now=NOW, server=s, may_cancel=True),
    "cancel_prompt": lambda s: cancel_prompt(make_job(8, "RUNNING"), now=NOW, server=s),
    "cancel_prompt_stale": lambda s: cancel_prompt(
        make_job(3, "RUNNING", start_time=START_MS - 9 * 86_400_000), now=NOW, risk=_stale(), server=s
    ),
    "cancelled_card": lambda s: cancelled_card(
        "8",
        make_job(8, "RUNNING"),
        canceller="U012ABCDEF",
        server_says="ok",
        after=None,
        read_back_error="timed out",
        now=NOW,
        server=s,
    ),
    "already_finished_card": lambda s: already_finished_card(
        make_job(8, "CANCELLED"), cancelled_by="U012ABCDEF", now=NOW, server=s
    ),
    "cancelling_elsewhere_card": lambda s: cancelling_elsewhere_card(
        "8", make_job(8, "RUNNING"), holder="U012ABCDEF", now=NOW, server=s
    ),
    "notice": lambda s: completion_notice(make_finished(9, "FAILED"), server=s),
    "digest": lambda s: completion_digest(
        [make_finished(n, "FAILED") for n in range(1, 30)], offline=True, server=s
    ),
    "failure_log_reply": lambda s: failure_log_reply(
        [make_finished(n, "FAILED", log_tail=FAILED_LOG) for n in range(1, 30)], server=s
    ),
    "failure_log_reply_none": lambda s: failure_log_reply([make_finished(7)], server=s),
    "live_card": lambda s: live_card(make_finished(42, "RUNNING", end_time_ms=None), now=NOW, server=s),
    "digest_card": lambda s: digest_card(
        [make_finished(n, "RUNNING", end_time_ms=None) for n in range(40, 70)], now=NOW, server=s
    ),
    "ending_reply": lambda s: ending_reply(make_finished(42, "FAILED"), server=s),
    "long_running_alert": lambda s: long_running_alert(
        make_finished(42, "RUNNING", end_time_ms=None), running_for=7380, usual=720, server=s
    ),
    "watch_started": lambda s: watch_started("7", server=s),
    "watch_already_finished": lambda s: watch_already_finished(make_job(7, "FAILED"), now=NOW, server=s),
    "watch_stopped": lambda s: watch_stopped("7", existed=True, server=s),
    "watch_stopped_not_watching": lambda s: watch_stopped("7", existed=False, server=s),
    "full_log_sent": lambda s: full_log_sent(FullLog("7", "log", cut=True), server=s),
    "subscribed": lambda s: subscribed("C0123ABCD", NOTICE_STATUSES, server=s),
    "subscribed_live": lambda s: subscribed("C0123ABCD", ("FAILED",), NoticeStyle.LIVE, server=s),
    "unsubscribed": lambda s: unsubscribed("C0123ABCD", existed=True, server=s),
    "unsubscribed_not_subscribed": lambda s: unsubscribed("C0123ABCD", existed=False, server=s),
}
# The keyword-less call each renderer had before servers: None must render exactly as it does.
UNNAMED: dict[str, Callable[[], Message]] = {
    "list": lambda: job_list(mixed_jobs(23), page=2, now=NOW, may_cancel=True),
    "card": lambda: job_card(make_job(8, "RUNNING"), now=NOW, may_cancel=True),
    "notice": lambda: completion_notice(make_finished(9, "FAILED")),
    "failure_log_reply": lambda: failure_log_reply(
        [make_finished(n, "FAILED", log_tail=FAILED_LOG) for n in range(1, 30)]
    ),
    "live_card": lambda: live_card(make_finished(42, "RUNNING", end_time_ms=None), now=NOW),
    "watch_started": lambda: watch_started("7"),
    "subscribed": lambda: subscribed("C0123ABCD", NOTICE_STATUSES),
    "unsubscribed": lambda: unsubscribed("C0123ABCD", existed=True),
}


def buttons(value: Any) -> list[dict[str, Any]]:
    """Every button anywhere in the blocks: in actions blocks and as a section's accessory."""
    if isinstance(value, dict):
        found = [value] if value.get("type") == "button" else []
        return found + [b for v in value.values() for b in buttons(v)]
    if isinstance(value, list):
        return [b for v in value for b in buttons(v)]
    return []


@pytest.mark.parametrize("name", sorted(UNNAMED))
def test_no_server_renders_as_before(name: str) -> None:
    """server=None is the single-server message, byte for byte."""
    assert JOB_MESSAGES[name](None) == UNNAMED[name]()


@pytest.mark.parametrize("name", sorted(JOB_MESSAGES))
def test_a_named_server_is_named_and_carried_by_every_button(name: str) -> None:
    """With a server, the message and its notification name it, and every button's value carries it."""
    message = JOB_MESSAGES[name](SERVER)
    assert SERVER in all_text(message)
    assert SERVER in message.text
    for button in buttons(message.blocks):
        if button["action_id"].startswith("jobbot.list."):
            assert decode_list_server(button["value"]) == SERVER
        elif button["action_id"].startswith(JOB_CANCEL):
            # A Cancel button's value also says whether its dialog warned.
            server, job_id, _ = decode_cancel_ref(button["value"])
            assert server == SERVER and job_id.isdigit()
        else:
            server, job_id = decode_job_ref(button["value"])
            assert server == SERVER and job_id.isdigit()
    check_limits(message)
    check_safe(message)


@pytest.mark.parametrize("name", sorted(JOB_MESSAGES))
def test_without_a_server_no_button_carries_one(name: str) -> None:
    """With one server, button values are the job id alone and list states name no server."""
    message = JOB_MESSAGES[name](None)
    assert SERVER not in all_text(message)
    for button in buttons(message.blocks):
        assert decode_job_ref(button["value"])[0] is None
        assert decode_cancel_ref(button["value"])[0] is None
        assert decode_list_server(button["value"]) is None


def test_a_job_message_leads_with_its_server() -> None:
    """The one way a server is named: first in the header (plain) or the headline (inline code)."""
    card = job_card(make_job(8, "RUNNING"), now=NOW, server="staging", may_cancel=True)
    assert card.blocks[0]["text"]["text"] == "staging · Job 8"
    assert card.text.startswith("staging · Job 8")
    notice = completion_notice(make_finished(9, "FAILED"), server="staging")
    assert notice.blocks[0]["text"]["text"].startswith("`staging` · :x: FAILED")
    [cancel] = [b for b in buttons(card.blocks) if b["action_id"].startswith("jobbot.job.cancel")]
    assert cancel["confirm"]["title"]["text"] == "staging · Cancel job 8?"


def test_commands_quoted_in_a_message_start_with_its_server() -> None:
    """A hint such as `/jobs status ID` names the server, so it reaches the same one."""
    assert "`/jobs staging status ID`" in all_text(
        completion_digest([make_finished(7)], offline=False, server="staging")
    )
    assert "`/jobs staging unwatch 7`" in all_text(watch_started("7", server="staging"))
    assert "`/jobs all unsubscribe`" in all_text(
        subscribed("C0123ABCD", NOTICE_STATUSES, server=EVERY_SERVER)
    )


def test_every_server_subscription_says_so() -> None:
    """A subscription to every server reads as such, in the reply and in the notification."""
    message = subscribed("C0123ABCD", ("FAILED",), server=EVERY_SERVER)
    assert "whenever a job on any server finishes" in all_text(message)
    assert "on any server" in message.text
    gone = unsubscribed("C0123ABCD", existed=True, server=EVERY_SERVER)
    assert "from any server" in gone.text
    assert (
        "was not subscribed to every server"
        in unsubscribed("C0123ABCD", existed=False, server=EVERY_SERVER).text
    )


def test_log_file_name_includes_a_named_server() -> None:
    """The full log's file is named after its server too, so two servers' job 3 are told apart."""
    assert log_file_name("3") == "job-3.log"
    assert log_file_name("3", None) == "job-3.log"
    assert log_file_name("3", "staging") == "staging-job-3.log"
    assert log_file_name("007", "staging") == "staging-job.log"
    assert log_file_name("3", "../etc") == "server-job-3.log"
    named = full_log_file(FullLog("3", "line\n", cut=False), server="staging")
    assert named.filename == "staging-job-3.log"
    assert named.title == "staging · Full log of job #3"
    assert named.comment == "`staging` · Full log of job #3"
    assert full_log_file(FullLog("3", "line\n", cut=False)).title == "Full log of job #3"


# --- usage ------------------------------------------------------------------------------------


def test_usage_without_servers_lists_no_server_and_no_use() -> None:
    """With one server, usage is as it was: no `[SERVER]`, no `use`, no servers."""
    message = usage()
    assert message == usage(None, servers=(), default=None)
    text = all_text(message)
    assert "SERVER" not in text and "use NAME" not in usage_line() and "Servers:" not in text


def test_usage_with_servers_shows_the_prefix_use_and_the_servers() -> None:
    """With servers, usage shows `[SERVER]`, `use NAME`, `all subscribe` and each server, marking the
    channel's default (the first server when none is set)."""
    message = usage(servers=("prod", "staging"), default="staging")
    text = all_text(message)
    assert usage_line(("prod", "staging")).startswith("/jobs [SERVER] [list")
    assert "use NAME" in usage_line(("prod", "staging"))
    assert "`/jobs use staging`" in text
    assert "`/jobs all subscribe FAILED`" in text
    assert "Servers: `prod`, `staging` (this channel's default)" in text
    first = all_text(usage(servers=("prod", "staging")))
    assert "Servers: `prod` (this channel's default), `staging`" in first
    check_limits(message)


# --- subscriptions and the audit trail --------------------------------------------------------


def test_subscription_list_names_servers_only_when_shown() -> None:
    """Each subscription's server (or "every server") appears only when servers are shown, with the
    channels' default servers."""
    subs = [make_subscription(server="prod"), make_subscription("G0456EFGH", server=EVERY_SERVER)]
    hidden = subscription_list(
        subs, default_channel=None, default_statuses=NOTICE_STATUSES, channel_defaults={"C0123ABCD": "prod"}
    )
    assert "`prod`" not in all_text(hidden) and "every server" not in all_text(hidden)
    shown = subscription_list(
        subs,
        default_channel=None,
        default_statuses=NOTICE_STATUSES,
        shown=True,
        channel_defaults={"C0123ABCD": "staging"},
    )
    text = all_text(shown)
    assert "<#C0123ABCD>  ·  `prod`  ·  FAILED" in text
    assert "<#G0456EFGH>  ·  every server  ·  FAILED" in text
    assert "*Default servers*" in text and "<#C0123ABCD>  ·  `staging`" in text
    assert shown.text == "2 channels get completion notices."


def test_channel_defaults_alone_are_listed() -> None:
    """A channel with a default server but no subscription still shows its default."""
    message = subscription_list(
        [],
        default_channel=None,
        default_statuses=NOTICE_STATUSES,
        shown=True,
        channel_defaults={"C1AB": "prod"},
    )
    assert "<#C1AB>  ·  `prod`" in all_text(message)
    assert message.text == "0 channels get completion notices."


def test_audit_names_each_lines_server_when_shown() -> None:
    """Cancel attempts, refusals and subscription changes name their server when servers are shown."""
    entry = AuditEntry(at=AT, user_id="U012ABCDEF", job_id="8", outcome="succeeded", server="prod")
    refusal = AuditEntry(at=AT, user_id="U012ABCDEF", job_id="9", outcome="refused", server="staging")
    change = SubscriptionChange(
        at=AT, user_id="U012ABCDEF", channel_id="C0123ABCD", action="subscribed", server=EVERY_SERVER
    )
    shown = all_text(audit_list([entry], job_id=None, refusals=[refusal], changes=[change], shown=True))
    assert "job *#8* on `prod`: *cancelled*" in shown
    assert "job *#9* on `staging`: *cancel refused*" in shown
    assert "*subscribed* <#C0123ABCD> to SUCCESS, FAILED, CANCELLED on every server" in shown
    hidden = all_text(audit_list([entry], job_id=None, refusals=[refusal], changes=[change]))
    assert "`prod`" not in hidden and "every server" not in hidden


def test_a_default_server_change_reads_as_such() -> None:
    """`/jobs use staging`, as the audit trail tells it."""
    change = SubscriptionChange(
        at=AT,
        user_id="U012ABCDEF",
        channel_id="C0123ABCD",
        action="default server",
        server="staging",
        repeats=2,
    )
    text = all_text(audit_list([], job_id=None, changes=[change], shown=True))
    assert "<@U012ABCDEF>  *made `staging` the default server x2*" in text
    assert "of <#C0123ABCD>" in text
    assert "default servers chosen" in text


# --- choosing a default -----------------------------------------------------------------------


def test_server_chosen_says_what_changed() -> None:
    """The reply to `/jobs use NAME` says the new default and the one it replaced, or that nothing changed."""
    assert "(it was `prod`)" in all_text(server_chosen("C0123ABCD", "staging", "prod"))
    first = server_chosen("C0123ABCD", "staging", None)
    assert "`staging` is now the default server in <#C0123ABCD>:" in all_text(first)
    same = server_chosen("C0123ABCD", "staging", "staging")
    assert "already this channel's default" in same.text
    for message in (first, same):
        check_limits(message)
        check_safe(message)


def test_server_choices_marks_which_server_commands_act_on() -> None:
    """`/jobs use` alone lists the servers, marking the channel's default, else the configured first."""
    set_here = all_text(server_choices(["prod", "staging"], "prod", "staging"))
    assert "• `prod`\\n• `staging`  ·  this channel's default" in set_here
    unset = server_choices(["prod", "staging"], "prod", None)
    assert "• `prod`  ·  the default\\n• `staging`" in all_text(unset)
    assert unset.text.endswith("commands here act on prod.")


def test_one_server_only_says_there_is_nothing_to_choose() -> None:
    """`/jobs use` with one server explains that there is one server and no choice."""
    message = one_server_only()
    assert "one GraphScope server" in message.text
    check_limits(message)
