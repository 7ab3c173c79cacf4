"""Replies to `/jobs` beyond the list and the card: watch, subscriptions, the audit trail and usage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from slack_sdk.models.blocks import Block, HeaderBlock, SectionBlock

from jobbot.commands import LIST, SUBCOMMANDS, SUBSCRIBE, SUBSCRIPTIONS, UNSUBSCRIBE, UNWATCH, USE, Subcommand
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
    server_on,
    server_words,
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
from jobbot.servers import EVERY_SERVER, EVERY_SERVER_WORD, MAX_NAME_CHARS
from jobbot.slack_ids import COMMAND

# An outcome or action word in an audit line: bot-written, but stored, so clipped like server text.
MAX_STATUS_WORD_CHARS = 40
# Channel and user ids that are not well-formed are shown as text, clipped to this.
SLACK_ID_CHARS = 40


# --- usage ------------------------------------------------------------------------------------


def usage(problem: str | None = None, servers: Sequence[str] = (), default: str | None = None) -> Message:
    """How to use `/jobs`, one line per subcommand with an example; led by `problem` (escaped) if given.

    `servers` (the configured names when there are several, else empty) adds the `[SERVER]` prefix, the
    `use NAME` subcommand and the servers, marking `default` (the channel's default; the first server
    when None).
    """
    blocks: list[Block] = []
    if problem:
        blocks.append(SectionBlock(text=mrkdwn_text(f":warning: {escape(clip(problem, DETAIL_CHARS))}")))
    lines = [f"*Usage:* `{usage_line(servers)}`", f"• `{COMMAND}` alone lists the newest jobs"]
    if servers:
        lines.append(
            f"• `{COMMAND} {server_words(servers[0])}{LIST.example}`: start any command with a server's "
            f"name to act on that server; without one, commands act on this channel's default"
        )
        lines.append(f"• `{COMMAND} {EVERY_SERVER_WORD} {SUBSCRIBE.example}`: notices from every server")
    for sub in _subcommands(servers):
        # `use`'s example names a server there is.
        example = f"{USE.name} {server_words(servers[-1]).strip()}" if sub is USE and servers else sub.example
        lines.append(f"• `{COMMAND} {example}`: {sub.summary}")
    lines.append(f"Statuses: {', '.join(KNOWN_STATUSES)}")
    if servers:
        marked = default if default in servers else servers[0]
        names = [
            _server_code(name) + (" (this channel's default)" if name == marked else "") for name in servers
        ]
        lines.append(f"Servers: {', '.join(names)}")
    blocks.append(SectionBlock(text=mrkdwn_text("\n".join(lines))))
    text = f"Usage: {usage_line(servers)}"
    if problem:
        text = f"{escape(clip(problem, DETAIL_CHARS))} {text}"
    return to_message(text, blocks)


def usage_line(servers: Sequence[str] = ()) -> str:
    """The whole one-line grammar, e.g. `/jobs [list [STATUS ...] | status ID | ... | help]`, led by
    `[SERVER]` when several `servers` are configured."""
    forms = " | ".join(sub.form for sub in _subcommands(servers))
    prefix = "[SERVER] " if servers else ""
    return f"{COMMAND} {prefix}[{forms}]"


def _subcommands(servers: Sequence[str]) -> tuple[Subcommand, ...]:
    """The subcommands worth listing: `use` only where there are servers to choose from."""
    return tuple(sub for sub in SUBCOMMANDS if servers or not sub.needs_servers)


def _server_code(server: str) -> str:
    return code_span(server, MAX_NAME_CHARS)


# --- watching one job -------------------------------------------------------------------------


def watch_started(job_id: str, *, server: str | None = None) -> Message:
    """The reply to `/jobs watch ID` for a job that is still running (on `server`, when it is named)."""
    name = job_name(job_id, JOB_ID_CHARS)
    text = f"I'll send you a direct message when job {name}{server_on(server)} finishes."
    blocks: list[Block] = [SectionBlock(text=mrkdwn_text(f":eyes: {text}"))]
    if valid_job_id(job_id) is not None:
        blocks.append(context_block(f"`{COMMAND} {server_words(server)}{UNWATCH.name} {name}` stops this."))
    return to_message(text, blocks)


def watch_already_finished(job: JobWithLog, *, now: datetime, server: str | None = None) -> Message:
    """The reply to `/jobs watch ID` for a job that has finished: its card, saying so, at once."""
    name = escape(clip(job.id, JOB_ID_CHARS))
    notice = (
        f":information_source: Job {name} has already finished ({status_label(job.status)}), "
        "so there is nothing to watch. This is how it ended:"
    )
    text = f"Job {name} has already finished: {status_word(job.status)}."
    # A finished job has nothing to cancel, whoever watches it.
    return card(job, now=now, notice=notice, text=text, server=server, may_cancel=False)


def watch_stopped(job_id: str, *, existed: bool, server: str | None = None) -> Message:
    """The reply to `/jobs unwatch ID`; `existed` says whether the user was watching the job."""
    name = job_name(job_id, JOB_ID_CHARS) + server_on(server)
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


def subscribed(
    channel_id: str,
    statuses: tuple[str, ...],
    style: NoticeStyle = NoticeStyle.FINAL,
    *,
    server: str | None = None,
) -> Message:
    """The reply to `/jobs subscribe`: which finished jobs this channel will hear about, and how.

    Statuses outside NOTICE_STATUSES are ignored; none left means all of them. `server` names the
    server subscribed to (servers.EVERY_SERVER: every one; None: not named).
    """
    wanted = tuple(s for s in NOTICE_STATUSES if s in {JobStatus(x) for x in statuses}) or NOTICE_STATUSES
    on = _on_server(server)
    when = (
        f"whenever a job{on} finishes ({_or_list(wanted)})"
        if wanted == NOTICE_STATUSES
        else f"whenever a job{on} finishes with status {_or_list(wanted)}"
    )
    where = _channel_ref(channel_id)
    stop = f"`{COMMAND} {_server_word(server)}{UNSUBSCRIBE.name}`"
    notes = f":lock: {PRIVATE_CHANNEL_HINT}  ·  {stop} stops the notices."
    if style is NoticeStyle.LIVE:
        shown = (
            f":white_check_mark: I'll post a live card in {where} for every job that runs{on}, edited as "
            f"it runs and when it ends; {_or_list(wanted)} endings are also sent to the channel from the "
            "card's thread."
        )
        text = (
            f"Subscribed: a live card per job{on} will be posted in this channel "
            f"({', '.join(wanted)} endings)."
        )
        return to_message(text, [SectionBlock(text=mrkdwn_text(shown)), context_block(notes)])
    shown = f":white_check_mark: I'll post a notice in {where} {when}."
    text = f"Subscribed: notices for {', '.join(wanted)} jobs{on} will be posted in this channel."
    return to_message(text, [SectionBlock(text=mrkdwn_text(shown)), context_block(notes)])


def unsubscribed(channel_id: str, *, existed: bool, server: str | None = None) -> Message:
    """The reply to `/jobs unsubscribe`; `existed` says whether the channel was subscribed (to `server`,
    when it is named: servers.EVERY_SERVER for every server)."""
    where = _channel_ref(channel_id)
    source = _from_server(server)
    if existed:
        shown = f":no_bell: {where} will no longer get completion notices{source}."
        hint = f"`{COMMAND} {_server_word(server)}{SUBSCRIBE.name}` turns them back on."
        text = f"Unsubscribed: this channel will no longer get completion notices{source}."
    else:
        shown = f":information_source: {where} was not subscribed{_to_server(server)}, so nothing changed."
        hint = f"`{COMMAND} {SUBSCRIPTIONS.name}` lists the channels that get notices."
        text = f"This channel was not subscribed{_to_server(server)}, so nothing changed."
    return to_message(text, [SectionBlock(text=mrkdwn_text(shown)), context_block(hint)])


def _on_server(server: str | None) -> str:
    """ " on `staging`" or " on any server" after "a job", or "" when the server is not named."""
    return " on any server" if server == EVERY_SERVER else server_on(server)


def _from_server(server: str | None) -> str:
    if server is None:
        return ""
    return " from any server" if server == EVERY_SERVER else f" from {_server_code(server)}"


def _to_server(server: str | None) -> str:
    if server is None:
        return ""
    return " to every server" if server == EVERY_SERVER else f" to {_server_code(server)}"


def _server_word(server: str | None) -> str:
    """A command's first word for `server` (`all ` for every server), inside inline code."""
    return f"{EVERY_SERVER_WORD} " if server == EVERY_SERVER else server_words(server)


def subscription_list(
    subs: Sequence[Subscription],
    *,
    default_channel: str | None,
    default_statuses: tuple[str, ...],
    default_style: NoticeStyle = NoticeStyle.FINAL,
    shown: bool = False,
    channel_defaults: Mapping[str, str] = {},
) -> Message:
    """Every channel that gets completion notices, with its statuses, who added it and when.

    The channel from settings (`default_channel`, with `default_statuses`) comes first. A list too
    long for one message ends with how many more there are. `shown` (several servers configured) names
    each line's server ("every server" for servers.EVERY_SERVER; the settings' channel hears of every
    server) and lists `channel_defaults`, each channel's default server set by `/jobs use`.
    """
    lines = []
    if default_channel:
        every = _line_server(EVERY_SERVER) if shown else ""
        style = _style_text(default_style, default_statuses)
        lines.append(
            f"• {_channel_ref(default_channel)}  ·  {every}{style}  ·  (from `JOBBOT_NOTIFY_CHANNEL`)"
        )
    for sub in subs:
        added_by = user_mention(sub.added_by) or code_span(sub.added_by, SLACK_ID_CHARS)
        server = _line_server(sub.server) if shown else ""
        lines.append(
            f"• {_channel_ref(sub.channel_id)}  ·  {server}{_style_text(sub.style, sub.statuses)}  ·  "
            f"added {date_token(sub.added_at)} by {added_by}"
        )
    subscribed_lines = len(lines)
    if shown and channel_defaults:
        lines.append(f"*Default servers* (set with `{COMMAND} {USE.form}`)")
        lines.extend(
            f"• {_channel_ref(channel)}  ·  {_server_code(server)}"
            for channel, server in sorted(channel_defaults.items())
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
    channels = "channel gets" if subscribed_lines == 1 else "channels get"
    count = f"{subscribed_lines:,} {channels} completion notices"

    def build(listed: int) -> list[Block]:
        blocks: list[Block] = [HeaderBlock(text=plain_text("Completion notices"))]
        blocks.append(context_block(count))
        blocks.extend(packed_sections(lines[:listed]))
        if listed < len(lines):
            blocks.append(context_block(f"{ELLIPSIS}and {len(lines) - listed:,} more"))
        blocks.append(context_block(how))
        return blocks

    def fits(listed: int) -> bool:
        built = [block.to_dict() for block in build(listed)]
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


def _line_server(server: str) -> str:
    """A subscription line's server, then the separator: "`staging`  ·  ", "every server  ·  "."""
    return _server_name(server) + "  ·  "


def _server_name(server: str) -> str:
    """A server in a line of a list: "`staging`", or "every server" for servers.EVERY_SERVER."""
    return "every server" if server == EVERY_SERVER else _server_code(server)


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
    shown: bool = False,
) -> Message:
    """The audit trail, newest first, each kind in its own part so that a flood of one never hides the
    others: cancel attempts (when, who, which job, what it was, what happened), refusals (repeats counted
    on one line), and subscription changes (who turned which channel's notices on or off, who made a
    server a channel's default). `shown` (several servers configured) names each line's server."""
    title = f"Cancel attempts for job {job_id}" if job_id else "Latest cancel attempts"
    entries, refusals = entries[:AUDIT_MAX_ENTRIES], refusals[:AUDIT_MAX_REFUSALS]
    changes = changes[:AUDIT_MAX_SUBSCRIPTION_CHANGES]
    if not entries and not refusals and not changes:
        return to_message(
            f"{title}: none recorded.", [SectionBlock(text=mrkdwn_text(f"*{title}*\nNone recorded."))]
        )

    def build(message_chars: int, attempts: int = len(entries)) -> list[Block]:
        blocks: list[Block] = [HeaderBlock(text=plain_text(title))]
        lines = [_audit_line(e, message_chars, shown) for e in entries[:attempts]] or ["None recorded."]
        if attempts < len(entries):
            lines.append(f"{ELLIPSIS}and {len(entries) - attempts} more not shown")
        blocks.extend(packed_sections(lines))
        if refusals:
            heading = "*Refused* (the same refusal again within 10 minutes is counted on its line)"
            blocks.extend(
                packed_sections([heading, *(_audit_line(r, message_chars, shown) for r in refusals)])
            )
        if changes:
            heading = "*Completion notices turned on or off*"
            if any(c.action == DEFAULT_SERVER_ACTION for c in changes):
                heading = "*Completion notices turned on or off, and default servers chosen*"
            blocks.extend(packed_sections([heading, *(_subscription_change_line(c, shown) for c in changes)]))
        return blocks

    counted = [f"{len(entries)} shown"]
    if refusals:
        counted.append(f"{len(refusals)} refusals")
    if changes:
        counted.append(f"{len(changes)} subscription changes")
    built = shrink_to_fit(build, AUDIT_MESSAGE_CHARS, 0)
    attempts = len(entries)
    # Hostile text in every field (emoji cost 12 JSON characters each) may still not fit: fewer attempts.
    while attempts > 0 and json_size([block.to_dict() for block in built]) > MAX_BLOCKS_JSON_CHARS:
        attempts -= 1
        built = build(0, attempts)
    return to_message(f"{title}: {', '.join(counted)}.", built)


# What each outcome the audit trail stores means, in words; the stored words stay as they are.
_AUDIT_OUTCOMES = {
    "confirmed": "cancel confirmed",
    "succeeded": "cancelled",
    "failed": "cancel failed",
    "already_finished": "already finished",
    "cancelled_by_another": "already being cancelled",
    "warning_needed": "not sent: the dialog had not warned",
    "refused": "cancel refused",
}
# A refusal stores the kind of check that refused; a cancel refusal says all there is to say.
_REFUSAL_KINDS = {
    "cancel": None,
    "channel": "not an allowed channel",
    "organization": "from another organization",
}


def _audit_line(entry: AuditEntry, message_chars: int, shown: bool = False) -> str:
    who = user_mention(entry.user_id) or code_span(entry.user_id, SLACK_ID_CHARS)
    before = f" (was {status_word(entry.status_before)})" if entry.status_before else ""
    message = entry.message
    if entry.outcome == "refused" and message in _REFUSAL_KINDS:
        message = _REFUSAL_KINDS[message]
    said = f" {EM_DASH} {one_line(message, message_chars)}" if message and message_chars else ""
    job = escape(clip(entry.job_id, JOB_ID_CHARS))
    on = f" on {_server_name(entry.server)}" if shown else ""
    # An outcome word of a later version is shown as it is stored, its underscores read as spaces.
    words = _AUDIT_OUTCOMES.get(entry.outcome, entry.outcome.replace("_", " "))
    outcome = f"*{one_line(words, MAX_STATUS_WORD_CHARS)}{_repeated(entry.repeats, entry.last_at)}"
    return f"{date_token(entry.at)}  {who}  job *#{job}*{on}{before}: {outcome}{said}"


# The SubscriptionChange action recorded by `/jobs use NAME`.
DEFAULT_SERVER_ACTION = "default server"


def _subscription_change_line(change: SubscriptionChange, shown: bool = False) -> str:
    who = user_mention(change.user_id) or code_span(change.user_id, SLACK_ID_CHARS)
    repeated = _repeated(change.repeats, change.last_at)
    where = _channel_ref(change.channel_id)
    if change.action == DEFAULT_SERVER_ACTION:
        made = f"*made {_server_name(change.server)} the default server{repeated}"
        return f"{date_token(change.at)}  {who}  {made} of {where}"
    what = f"*{one_line(change.action, MAX_STATUS_WORD_CHARS)}{repeated}"
    line = f"{date_token(change.at)}  {who}  {what} {where}"
    if change.action == "subscribed":
        line += f" to {_statuses_text(change.statuses or NOTICE_STATUSES)}"
    if shown:
        line += f" on {_server_name(change.server)}"
    return line


def _repeated(repeats: int, last_at: datetime | None) -> str:
    """Closes the bold outcome: ` x14*` and when it was last repeated, or just `*` when it happened once."""
    if repeats <= 1:
        return "*"
    last = f" (last {date_token(last_at)})" if last_at is not None else ""
    return f" x{repeats}*{last}"


# --- choosing a channel's default server ------------------------------------------------------


def server_chosen(channel_id: str, server: str, previous: str | None) -> Message:
    """The reply to `/jobs use NAME`: `server` is now the channel's default (it was `previous`, the
    default set before by `/jobs use`, if any)."""
    where = _channel_ref(channel_id)
    name = _server_code(server)
    if previous == server:
        shown = f":information_source: {name} was already the default server in {where}, so nothing changed."
        text = f"{server} was already this channel's default server."
    else:
        was = f" (it was {_server_code(previous)})" if previous is not None else ""
        shown = (
            f":white_check_mark: {name} is now the default server in {where}{was}: commands typed here "
            "without a server name act on it."
        )
        text = f"{server} is now this channel's default server."
    hint = (
        f"`{COMMAND} SERVER {LIST.name}` reaches another server for one command; "
        f"`{COMMAND} {USE.name}` lists them."
    )
    return to_message(text, [SectionBlock(text=mrkdwn_text(shown)), context_block(hint)])


def server_choices(servers: Sequence[str], default: str, channel_default: str | None) -> Message:
    """The reply to `/jobs use` alone: the servers, which one commands here act on, and how to choose.

    `default` is the first configured server; `channel_default` the one set here by `/jobs use`, if any.
    """
    current = channel_default if channel_default in servers else default
    lines = ["*GraphScope servers*"]
    for server in servers:
        mark = ""
        if server == current:
            mark = "  ·  this channel's default" if channel_default == current else "  ·  the default"
        lines.append(f"• {_server_code(server)}{mark}")
    hint = (
        f"`{COMMAND} {USE.form}` makes NAME this channel's default; `{COMMAND} SERVER {LIST.name}` reaches "
        "another server for one command."
    )
    text = f"GraphScope servers: {', '.join(servers)}; commands here act on {current}."
    return to_message(text, [*packed_sections(lines), context_block(hint)])


def one_server_only() -> Message:
    """The reply to `/jobs use` when only one server is configured: there is nothing to choose."""
    text = (
        "jobbot speaks to one GraphScope server here, so there is no server to choose: "
        "every command acts on it."
    )
    return to_message(text, [SectionBlock(text=mrkdwn_text(f":information_source: {text}"))])
