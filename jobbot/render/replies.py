"""Replies to `/jobs` beyond the list and the card: watch, subscriptions, the audit trail and usage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import Block, HeaderBlock, SectionBlock

from jobbot.commands import SUBCOMMANDS, SUBSCRIBE, SUBSCRIPTIONS, UNSUBSCRIBE, UNWATCH
from jobbot.models import (
    KNOWN_STATUSES,
    NOTICE_STATUSES,
    AuditEntry,
    JobStatus,
    JobWithLog,
    NoticeStyle,
    Subscription,
    SubscriptionChange,
)
from jobbot.render.jobs import card
from jobbot.render.kit import (
    DETAIL_CHARS,
    EM_DASH,
    JOB_ID_CHARS,
    MAX_BLOCKS,
    MAX_BLOCKS_JSON_CHARS,
    Message,
    context_block,
    job_name,
    json_size,
    mrkdwn_text,
    packed_sections,
    plain_text,
    shrink_to_fit,
    to_message,
    valid_job_id,
)
from jobbot.render.mrkdwn import (
    ELLIPSIS,
    channel_mention,
    clip,
    code_span,
    date_token,
    escape,
    one_line,
    status_label,
    status_word,
    user_mention,
)
from jobbot.slack_ids import COMMAND

# An outcome or action word in an audit line: bot-written, but stored, so clipped like server text.
MAX_STATUS_WORD_CHARS = 40
# Channel and user ids that are not well-formed are shown as text, clipped to this.
SLACK_ID_CHARS = 40


# --- usage ------------------------------------------------------------------------------------


def usage(problem: str | None = None) -> Message:
    """How to use `/jobs`, one line per subcommand with an example; led by `problem` (escaped) if given."""
    blocks: list[Block] = []
    if problem:
        blocks.append(SectionBlock(text=mrkdwn_text(f":warning: {escape(clip(problem, DETAIL_CHARS))}")))
    lines = [f"*Usage:* `{usage_line()}`", f"• `{COMMAND}` alone lists the newest jobs"]
    for sub in SUBCOMMANDS:
        lines.append(f"• `{COMMAND} {sub.example}`: {sub.summary}")
    lines.append(f"Statuses: {', '.join(KNOWN_STATUSES)}")
    blocks.append(SectionBlock(text=mrkdwn_text("\n".join(lines))))
    text = f"Usage: {usage_line()}"
    if problem:
        text = f"{escape(clip(problem, DETAIL_CHARS))} {text}"
    return to_message(text, blocks)


def usage_line() -> str:
    """The whole one-line grammar, e.g. `/jobs [list [STATUS ...] | status ID | ... | help]`."""
    forms = " | ".join(sub.form for sub in SUBCOMMANDS)
    return f"{COMMAND} [{forms}]"


# --- watching one job -------------------------------------------------------------------------


def watch_started(job_id: str) -> Message:
    """The reply to `/jobs watch ID` for a job that is still running."""
    name = job_name(job_id, JOB_ID_CHARS)
    text = f"I'll send you a direct message when job {name} finishes."
    blocks: list[Block] = [SectionBlock(text=mrkdwn_text(f":eyes: {text}"))]
    if valid_job_id(job_id) is not None:
        blocks.append(context_block(f"`{COMMAND} {UNWATCH.name} {name}` stops this."))
    return to_message(text, blocks)


def watch_already_finished(job: JobWithLog, *, now: datetime) -> Message:
    """The reply to `/jobs watch ID` for a job that has finished: its card, saying so, at once."""
    name = escape(clip(job.id, JOB_ID_CHARS))
    notice = (
        f":information_source: Job {name} has already finished ({status_label(job.status)}), "
        "so there is nothing to watch. This is how it ended:"
    )
    return card(
        job, now=now, notice=notice, text=f"Job {name} has already finished: {status_word(job.status)}."
    )


def watch_stopped(job_id: str, *, existed: bool) -> Message:
    """The reply to `/jobs unwatch ID`; `existed` says whether the user was watching the job."""
    name = job_name(job_id, JOB_ID_CHARS)
    if existed:
        text = f"OK, I won't send you a message when job {name} finishes."
        return to_message(text, [SectionBlock(text=mrkdwn_text(f":no_bell: {text}"))])
    text = f"You were not watching job {name}, so nothing changed."
    return to_message(text, [SectionBlock(text=mrkdwn_text(f":information_source: {text}"))])


# --- channel subscriptions --------------------------------------------------------------------

SUBSCRIPTION_STATUS_WORDS = len(NOTICE_STATUSES)
PRIVATE_CHANNEL_HINT = (
    "For a private channel, invite me first with `/invite @jobbot`, or I cannot post there."
)


def subscribed(channel_id: str, statuses: tuple[str, ...], style: NoticeStyle = NoticeStyle.FINAL) -> Message:
    """The reply to `/jobs subscribe`: which finished jobs this channel will hear about, and how.

    Statuses outside NOTICE_STATUSES are ignored; none left means all of them.
    """
    wanted = tuple(s for s in NOTICE_STATUSES if s in {JobStatus(x) for x in statuses}) or NOTICE_STATUSES
    when = (
        f"whenever a job finishes ({_or_list(wanted)})"
        if wanted == NOTICE_STATUSES
        else f"whenever a job finishes with status {_or_list(wanted)}"
    )
    where = _channel_ref(channel_id)
    notes = f":lock: {PRIVATE_CHANNEL_HINT}  ·  `{COMMAND} {UNSUBSCRIBE.name}` stops the notices."
    if style is NoticeStyle.LIVE:
        shown = (
            f":white_check_mark: I'll post a live card in {where} for every job that runs, edited as it "
            f"runs and when it ends; {_or_list(wanted)} endings are also sent to the channel from the "
            "card's thread."
        )
        text = (
            f"Subscribed: a live card per job will be posted in this channel ({', '.join(wanted)} endings)."
        )
        return to_message(text, [SectionBlock(text=mrkdwn_text(shown)), context_block(notes)])
    shown = f":white_check_mark: I'll post a notice in {where} {when}."
    text = f"Subscribed: notices for {', '.join(wanted)} jobs will be posted in this channel."
    return to_message(text, [SectionBlock(text=mrkdwn_text(shown)), context_block(notes)])


def unsubscribed(channel_id: str, *, existed: bool) -> Message:
    """The reply to `/jobs unsubscribe`; `existed` says whether the channel was subscribed."""
    where = _channel_ref(channel_id)
    if existed:
        shown = f":no_bell: {where} will no longer get completion notices."
        hint = f"`{COMMAND} {SUBSCRIBE.name}` turns them back on."
        text = "Unsubscribed: this channel will no longer get completion notices."
    else:
        shown = f":information_source: {where} was not subscribed, so nothing changed."
        hint = f"`{COMMAND} {SUBSCRIPTIONS.name}` lists the channels that get notices."
        text = "This channel was not subscribed, so nothing changed."
    return to_message(text, [SectionBlock(text=mrkdwn_text(shown)), context_block(hint)])


def subscription_list(
    subs: Sequence[Subscription],
    *,
    default_channel: str | None,
    default_statuses: tuple[str, ...],
    default_style: NoticeStyle = NoticeStyle.FINAL,
) -> Message:
    """Every channel that gets completion notices, with its statuses, who added it and when.

    The channel from settings (`default_channel`, with `default_statuses`) comes first. A list too
    long for one message ends with how many more there are.
    """
    lines = []
    if default_channel:
        lines.append(
            f"• {_channel_ref(default_channel)}  ·  {_style_text(default_style, default_statuses)}  ·  "
            "(from `JOBBOT_NOTIFY_CHANNEL`)"
        )
    for sub in subs:
        added_by = user_mention(sub.added_by) or code_span(sub.added_by, SLACK_ID_CHARS)
        lines.append(
            f"• {_channel_ref(sub.channel_id)}  ·  {_style_text(sub.style, sub.statuses)}  ·  "
            f"added {date_token(sub.added_at)} by {added_by}"
        )
    how = (
        f"In a channel, `{COMMAND} {SUBSCRIBE.form}` adds it and `{COMMAND} {UNSUBSCRIBE.name}` "
        f"removes it. {PRIVATE_CHANNEL_HINT}"
    )
    if not lines:
        empty = (
            ":mailbox_with_no_mail: No channel gets completion notices yet. Run "
            f"`{COMMAND} {SUBSCRIBE.name}` in a channel to get a notice there whenever a job finishes "
            f"(`{COMMAND} {SUBSCRIBE.example}` for failures only)."
        )
        text = "No channel gets completion notices yet."
        return to_message(text, [SectionBlock(text=mrkdwn_text(empty)), context_block(PRIVATE_CHANNEL_HINT)])
    count = f"{len(lines):,} {'channel gets' if len(lines) == 1 else 'channels get'} completion notices"

    def build(shown: int) -> list[Block]:
        blocks: list[Block] = [HeaderBlock(text=plain_text("Completion notices"))]
        blocks.append(context_block(count))
        blocks.extend(packed_sections(lines[:shown]))
        if shown < len(lines):
            blocks.append(context_block(f"{ELLIPSIS}and {len(lines) - shown:,} more"))
        blocks.append(context_block(how))
        return blocks

    def fits(shown: int) -> bool:
        built = [block.to_dict() for block in build(shown)]
        return len(built) <= MAX_BLOCKS and json_size(built) <= MAX_BLOCKS_JSON_CHARS

    # The largest number of lines that fits; the size grows with each line, so a binary search finds it.
    low, high = 0, len(lines)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return to_message(count + ".", build(low))


def _channel_ref(channel_id: str) -> str:
    """A channel link for a well-formed id; anything else as escaped inline code, never a link."""
    return channel_mention(channel_id) or code_span(channel_id, SLACK_ID_CHARS)


def _style_text(style: NoticeStyle, statuses: Sequence[str]) -> str:
    if style is NoticeStyle.LIVE:
        return f"live cards, endings sent to the channel: {_statuses_text(statuses)}"
    return _statuses_text(statuses)


def _statuses_text(statuses: Sequence[str]) -> str:
    words = list(dict.fromkeys(status_word(s) for s in statuses))
    if not words:
        return "no statuses"
    shown = ", ".join(words[:SUBSCRIPTION_STATUS_WORDS])
    return shown + (f", {ELLIPSIS}" if len(words) > SUBSCRIPTION_STATUS_WORDS else "")


def _or_list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


# --- audit trail ------------------------------------------------------------------------------

AUDIT_MAX_ENTRIES = 20
AUDIT_MAX_REFUSALS = 5
AUDIT_MAX_SUBSCRIPTION_CHANGES = 5
# A message (the server's answer, a refusal's kind) in an audit line gets at most this much, and less
# when the whole list would not fit.
AUDIT_MESSAGE_CHARS = 200


def audit_list(
    entries: Sequence[AuditEntry],
    *,
    job_id: str | None,
    refusals: Sequence[AuditEntry] = (),
    changes: Sequence[SubscriptionChange] = (),
) -> Message:
    """The audit trail, newest first, each kind in its own part so that a flood of one never hides the
    others: cancel attempts (when, who, which job, what it was, what happened), refusals (repeats counted
    on one line), and subscription changes (who turned which channel's notices on or off)."""
    title = f"Cancel attempts for job {job_id}" if job_id else "Latest cancel attempts"
    entries, refusals = entries[:AUDIT_MAX_ENTRIES], refusals[:AUDIT_MAX_REFUSALS]
    changes = changes[:AUDIT_MAX_SUBSCRIPTION_CHANGES]
    if not entries and not refusals and not changes:
        return to_message(
            f"{title}: none recorded.", [SectionBlock(text=mrkdwn_text(f"*{title}*\nNone recorded."))]
        )

    def build(message_chars: int, attempts: int = len(entries)) -> list[Block]:
        blocks: list[Block] = [HeaderBlock(text=plain_text(title))]
        lines = [_audit_line(entry, message_chars) for entry in entries[:attempts]] or ["None recorded."]
        if attempts < len(entries):
            lines.append(f"{ELLIPSIS}and {len(entries) - attempts} more not shown")
        blocks.extend(packed_sections(lines))
        if refusals:
            heading = "*Refused* (the same refusal again within 10 minutes is counted on its line)"
            blocks.extend(packed_sections([heading, *(_audit_line(r, message_chars) for r in refusals)]))
        if changes:
            heading = "*Completion notices turned on or off*"
            blocks.extend(packed_sections([heading, *(_subscription_change_line(c) for c in changes)]))
        return blocks

    shown = [f"{len(entries)} shown"]
    if refusals:
        shown.append(f"{len(refusals)} refusals")
    if changes:
        shown.append(f"{len(changes)} subscription changes")
    built = shrink_to_fit(build, AUDIT_MESSAGE_CHARS, 0)
    attempts = len(entries)
    # Hostile text in every field (emoji cost 12 JSON characters each) may still not fit: fewer attempts.
    while attempts > 0 and json_size([block.to_dict() for block in built]) > MAX_BLOCKS_JSON_CHARS:
        attempts -= 1
        built = build(0, attempts)
    return to_message(f"{title}: {', '.join(shown)}.", built)


def _audit_line(entry: AuditEntry, message_chars: int) -> str:
    who = user_mention(entry.user_id) or code_span(entry.user_id, SLACK_ID_CHARS)
    before = f" (was {status_word(entry.status_before)})" if entry.status_before else ""
    said = f" {EM_DASH} {one_line(entry.message, message_chars)}" if entry.message and message_chars else ""
    job = escape(clip(entry.job_id, JOB_ID_CHARS))
    outcome = f"*{one_line(entry.outcome, MAX_STATUS_WORD_CHARS)}{_repeated(entry.repeats, entry.last_at)}"
    return f"{date_token(entry.at)}  {who}  job *#{job}*{before}: {outcome}{said}"


def _subscription_change_line(change: SubscriptionChange) -> str:
    who = user_mention(change.user_id) or code_span(change.user_id, SLACK_ID_CHARS)
    what = f"*{one_line(change.action, MAX_STATUS_WORD_CHARS)}{_repeated(change.repeats, change.last_at)}"
    line = f"{date_token(change.at)}  {who}  {what} {_channel_ref(change.channel_id)}"
    if change.action == "subscribed":
        line += f" to {_statuses_text(change.statuses or NOTICE_STATUSES)}"
    return line


def _repeated(repeats: int, last_at: datetime | None) -> str:
    """Closes the bold outcome: ` x14*` and when it was last repeated, or just `*` when it happened once."""
    if repeats <= 1:
        return "*"
    last = f" (last {date_token(last_at)})" if last_at is not None else ""
    return f" x{repeats}*{last}"
