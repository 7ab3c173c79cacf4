"""Parse the text of a `/jobs` slash command into a typed command; pure, and it never raises."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jobbot import servers as servers_module
from jobbot.errors import InvalidJobId
from jobbot.models import KNOWN_STATUSES, NOTICE_STATUSES, JobStatus, NoticeStyle, validate_job_id
from jobbot.render.mrkdwn import clip, neutralize_backticks
from jobbot.slack_ids import COMMAND


@dataclass(frozen=True)
class ListJobs:
    """Show one page of jobs, newest first; no statuses means every status."""

    statuses: tuple[JobStatus, ...] = ()
    page: int = 1


@dataclass(frozen=True)
class ShowJob:
    """Show one job's card: its details and the end of its log."""

    job_id: str


@dataclass(frozen=True)
class CancelJob:
    """Ask to cancel one job; the reply carries a Cancel button with a confirmation dialog."""

    job_id: str


@dataclass(frozen=True)
class Watch:
    """Send the user a direct message when one job finishes."""

    job_id: str


@dataclass(frozen=True)
class Unwatch:
    """Stop watching one job."""

    job_id: str


@dataclass(frozen=True)
class Subscribe:
    """Post completion notices in this channel for jobs that finish with one of `statuses`.

    The statuses are a non-empty subset of NOTICE_STATUSES, in that order.
    """

    statuses: tuple[JobStatus, ...] = NOTICE_STATUSES
    style: NoticeStyle = NoticeStyle.FINAL


@dataclass(frozen=True)
class Unsubscribe:
    """Stop posting completion notices in this channel."""


@dataclass(frozen=True)
class ListSubscriptions:
    """Show which channels receive completion notices, and for which statuses."""


@dataclass(frozen=True)
class ShowAudit:
    """`/jobs audit [ID]`: the latest cancel attempts, for one job or for all."""

    job_id: str | None


@dataclass(frozen=True)
class UseServer:
    """`/jobs use NAME`: make NAME this channel's default server; `name` None (`/jobs use` alone) shows the
    servers and the channel's default. NAME is lowercased, and has a server name's shape."""

    name: str | None


@dataclass(frozen=True)
class Help:
    """Show usage, led by what was wrong with the text when `problem` is set; `tried` names the
    subcommand whose use went wrong (None: no subcommand could be recognised)."""

    problem: str | None = None
    tried: str | None = None


Command = (
    ListJobs
    | ShowJob
    | CancelJob
    | Watch
    | Unwatch
    | Subscribe
    | Unsubscribe
    | ListSubscriptions
    | ShowAudit
    | UseServer
    | Help
)


@dataclass(frozen=True)
class Subcommand:
    """One word of the `/jobs` grammar, with what the usage message says about it."""

    name: str
    arguments: str
    example: str
    summary: str
    # Listed (usage message, unknown-word reply) only when several servers are configured.
    needs_servers: bool = False

    @property
    def form(self) -> str:
        """The subcommand with its arguments, e.g. `status ID`."""
        return f"{self.name} {self.arguments}".strip()


# The single source of the grammar's words: the parser dispatches on these names and the usage
# message lists them, so the two cannot drift apart.
LIST = Subcommand("list", "[STATUS ...]", "list FAILED RUNNING", "newest jobs first, optionally by status")
STATUS = Subcommand("status", "ID", "status 42", "one job's details and the end of its log (or just `42`)")
CANCEL = Subcommand("cancel", "ID", "cancel 42", "cancel a running job, after you confirm")
WATCH = Subcommand("watch", "ID", "watch 42", "get a direct message when the job finishes")
UNWATCH = Subcommand("unwatch", "ID", "unwatch 42", "stop watching a job")
SUBSCRIBE = Subcommand(
    "subscribe",
    "[live] [STATUS ...]",
    "subscribe FAILED",
    f"post a notice in this channel when a job finishes (all of {', '.join(NOTICE_STATUSES)} by default);"
    " `live`: a card per job, edited as it runs",
)
UNSUBSCRIBE = Subcommand("unsubscribe", "", "unsubscribe", "stop the notices in this channel")
SUBSCRIPTIONS = Subcommand(
    "subscriptions",
    "",
    "subscriptions",
    "the channels that get notices, and for which statuses",
)
AUDIT = Subcommand("audit", "[ID]", "audit 42", "the latest cancel attempts, for one job or all")
USE = Subcommand(
    "use",
    "NAME",
    "use staging",
    "make a server this channel's default (`use` alone lists the servers)",
    needs_servers=True,
)
HELP = Subcommand("help", "", "help", "this message")
SUBCOMMANDS = (LIST, STATUS, CANCEL, WATCH, UNWATCH, SUBSCRIBE, UNSUBSCRIBE, SUBSCRIPTIONS, AUDIT, USE, HELP)
HELP_ALIASES = frozenset({HELP.name, "-h", "--help", "?"})
# Words that cannot name a server: `/jobs list` must never be read as a server called "list".
RESERVED_WORDS = frozenset({sub.name for sub in SUBCOMMANDS} | HELP_ALIASES | {"live"})

# Slack allows 4,000 characters of command text; nothing valid comes close to this.
MAX_TEXT_CHARS = 500
# Longest piece of user input echoed back in a problem message.
MAX_ECHO_CHARS = 30


def parse(text: str) -> Command:
    """The command that `/jobs <text>` asks for; any unusable text becomes Help with a problem."""
    if len(text) > MAX_TEXT_CHARS:
        return Help(f"That command is too long ({len(text):,} characters); see the usage below.")
    words = text.split()
    if not words:
        return ListJobs()
    first, rest = words[0], words[1:]
    name = first.lower()
    if name == LIST.name:
        return _parse_list(rest)
    if name == STATUS.name:
        return _with_job_id(STATUS, rest, ShowJob)
    if name == CANCEL.name:
        return _with_job_id(CANCEL, rest, CancelJob)
    if name == WATCH.name:
        return _with_job_id(WATCH, rest, Watch)
    if name == UNWATCH.name:
        return _with_job_id(UNWATCH, rest, Unwatch)
    if name == SUBSCRIBE.name:
        return _parse_subscribe(rest)
    if name == UNSUBSCRIBE.name:
        return Unsubscribe() if not rest else _extra(UNSUBSCRIBE, rest)
    if name == SUBSCRIPTIONS.name:
        return ListSubscriptions() if not rest else _extra(SUBSCRIPTIONS, rest)
    if name == AUDIT.name:
        return ShowAudit(None) if not rest else _with_job_id(AUDIT, rest, ShowAudit)
    if name == USE.name:
        return _parse_use(rest)
    if name in HELP_ALIASES:
        return Help(None) if not rest else _extra(HELP, rest)
    if _looks_like_job_id(first):
        return _with_job_id(STATUS, words, ShowJob)
    return Help(_unknown_word(first))


def _unknown_word(word: str) -> str:
    known = ", ".join(f"`{sub.name}`" for sub in SUBCOMMANDS if not sub.needs_servers)
    return f"I don't know {_echo(word)}. Try one of {known}, or a job id such as `42`."


def _parse_use(words: list[str]) -> Command:
    if not words:
        return UseServer(None)
    if len(words) > 1:
        return _extra(USE, words[1:])
    name = words[0].lower()
    if not servers_module.is_server_name(name) or name == servers_module.EVERY_SERVER_WORD:
        return Help(
            f"{_echo(words[0])} is not a server name; use `{USE.form}`, for example `{USE.example}`.",
            USE.name,
        )
    return UseServer(name)


@dataclass(frozen=True)
class Routed:
    """A command and the server it names: None when it names none (the channel's default is meant), or
    servers.EVERY_SERVER for `/jobs all subscribe` and `/jobs all unsubscribe`."""

    command: Command
    server: str | None


# The commands `all` may come before: only a subscription can be to every server at once.
_FOR_EVERY_SERVER = (SUBSCRIBE, UNSUBSCRIBE)
# How alike an unknown first word must be to a subcommand (difflib's ratio) to be read as its typo
# rather than as a server name: `stauts 7` is a mistyped `status`, `qa list` a server that is not there.
_TYPO_LIKENESS = 0.7


def route(text: str, servers: Sequence[str]) -> Routed:
    """The command `/jobs <text>` asks for, and the server named before it, if any.

    `servers` are the configured names when more than one server is configured, else empty (then no
    command takes a server name). A name first in any command (`/jobs staging cancel 7`, `/jobs prod 3`,
    `/jobs staging` alone) chooses the server, whatever its case; `all` first chooses every server, and
    only before `subscribe` and `unsubscribe`. A first word that is neither a subcommand nor a job id but
    looks like a server name, alone or before a subcommand or a job id, gets a reply listing the servers,
    unless it looks more like a mistyped subcommand: that keeps the usual "I don't know" reply.
    """
    words = text.split()
    if len(text) > MAX_TEXT_CHARS or not words:
        return Routed(parse(text), None)
    first, rest = words[0].lower(), words[1:]
    names = [name.lower() for name in servers]
    if first == servers_module.EVERY_SERVER_WORD:
        return _for_every_server(words[0], rest, names)
    if first in names:
        if rest and rest[0].lower() == USE.name:
            put = f"Put the server after `{USE.name}`: `{COMMAND} {USE.name} {first}`."
            return Routed(Help(put, USE.name), None)
        return Routed(parse(" ".join(rest)), first)
    command = parse(text)
    if isinstance(command, UseServer) and names and command.name is not None and command.name not in names:
        return Routed(
            Help(f"{_echo(command.name)} is not a server here; {_servers_are(names)}", USE.name), None
        )
    if first in RESERVED_WORDS or _looks_like_job_id(words[0]) or not servers_module.is_server_name(first):
        return Routed(command, None)
    if rest and rest[0].lower() not in _COMMAND_WORDS and not _looks_like_job_id(rest[0]):
        return Routed(command, None)  # `/jobs foo bar`: nothing says `foo` was meant as a server
    if _is_typo_of_a_subcommand(first, names):
        return Routed(command, None)
    if not names:
        if not rest:
            return Routed(command, None)  # a lone word is a command gone wrong where there are no servers
        return Routed(Help(_ONE_SERVER.format(word=_echo(words[0]))), None)
    if not rest and not difflib.get_close_matches(first, names, n=1, cutoff=_TYPO_LIKENESS):
        # Neither like a subcommand nor like a server: say both what jobbot knows and where it answers.
        return Routed(Help(f"{_unknown_word(words[0])} {_servers_are(names, 'The')}"), None)
    return Routed(Help(f"{_echo(words[0])} is not a server here; {_servers_are(names)}"), None)


def _for_every_server(typed: str, rest: list[str], names: list[str]) -> Routed:
    if not names:
        return Routed(Help(_ONE_SERVER.format(word=_echo(typed))), None)
    word = f"`{servers_module.EVERY_SERVER_WORD}`"
    if not rest or rest[0].lower() not in {sub.name for sub in _FOR_EVERY_SERVER}:
        allowed = " or ".join(f"`{sub.name}`" for sub in _FOR_EVERY_SERVER)
        example = f"`{COMMAND} {servers_module.EVERY_SERVER_WORD} {SUBSCRIBE.example}`"
        return Routed(
            Help(f"{word} can only come before {allowed}, as in {example}; {_one_server_each(names)}"),
            None,
        )
    return Routed(parse(" ".join(rest)), servers_module.EVERY_SERVER)


def _is_typo_of_a_subcommand(word: str, names: Sequence[str]) -> bool:
    """Whether `word` is more like a subcommand (or alias) than like any server name."""
    candidates = [*_COMMAND_WORDS, *names]
    match = difflib.get_close_matches(word, candidates, n=1, cutoff=_TYPO_LIKENESS)
    return bool(match) and match[0] in _COMMAND_WORDS


def _servers_are(names: Sequence[str], article: str = "the") -> str:
    return f"{article} servers are " + ", ".join(f"`{name}`" for name in names) + "."


def _one_server_each(names: Sequence[str]) -> str:
    return "other commands act on one server: " + ", ".join(f"`{name}`" for name in names) + "."


_ONE_SERVER = (
    "jobbot speaks to one GraphScope server here, so commands take no server name: leave out {word}."
)
# The words that may follow a server name: every subcommand and alias.
_COMMAND_WORDS = frozenset({sub.name for sub in SUBCOMMANDS} | HELP_ALIASES)


def _parse_list(words: list[str]) -> Command:
    statuses: list[JobStatus] = []
    for word in words:
        # "failed,running" is accepted as well as "failed running".
        for part in filter(None, word.split(",")):
            status = part.upper()
            if status not in KNOWN_STATUSES:
                valid = ", ".join(KNOWN_STATUSES)
                return Help(f"{_echo(part)} is not a job status. Use one or more of {valid}.", LIST.name)
            if status not in statuses:
                statuses.append(JobStatus(status))
    return ListJobs(tuple(statuses))


def _parse_subscribe(words: list[str]) -> Command:
    # `subscribe live [STATUS ...]`: a card per job; the statuses choose the endings broadcast from it.
    style = NoticeStyle.FINAL
    if words and words[0].lower() in {s.value for s in NoticeStyle}:
        style = NoticeStyle(words[0].lower())
        words = words[1:]
    wanted: set[str] = set()
    for word in words:
        for part in filter(None, word.split(",")):
            status = part.upper()
            if status not in NOTICE_STATUSES:
                allowed = ", ".join(NOTICE_STATUSES)
                reason = "is not a finished status" if status in KNOWN_STATUSES else "is not a job status"
                return Help(f"{_echo(part)} {reason}: notices are sent only for {allowed}.", SUBSCRIBE.name)
            wanted.add(status)
    # One order whatever was typed: `subscribe failed success` and `subscribe success failed` agree.
    statuses = tuple(s for s in NOTICE_STATUSES if s in wanted) if wanted else NOTICE_STATUSES
    return Subscribe(statuses, style)


def _with_job_id(sub: Subcommand, words: list[str], make: Callable[[str], Command]) -> Command:
    if not words:
        return Help(f"`{sub.name}` needs a job id, for example `{sub.example}`.", sub.name)
    if len(words) > 1:
        return _extra(sub, words[1:])
    raw = words[0].removeprefix("#")  # the list shows jobs as #42
    try:
        job_id = validate_job_id(raw)
    except InvalidJobId as exc:
        return Help(f"{_echo(words[0])} is not a job id: {exc}.", sub.name)
    return make(job_id)


def usage_hint() -> str:
    """Every form of the grammar, as the manifest's usage hint shows them: `[list [STATUS ...] | ...]`.
    One manifest serves every deployment, so `use NAME` is in it too (with one server, its answer is
    that there is nothing to choose)."""
    return "[" + " | ".join(sub.form for sub in SUBCOMMANDS) + "]"


def _extra(sub: Subcommand, extra: list[str]) -> Help:
    return Help(f"Too many words after `{sub.name}` ({_echo(' '.join(extra))}); use `{sub.form}`.", sub.name)


def _looks_like_job_id(word: str) -> bool:
    # Any digit (even a non-ASCII one) means the user meant an id; validation then explains the problem.
    return any(char.isdigit() for char in word.removeprefix("#")[:1])


def _echo(user_text: str) -> str:
    """User input quoted for a problem message: short, and unable to break out of its code span."""
    return "`" + neutralize_backticks(clip(user_text, MAX_ECHO_CHARS)) + "`"
