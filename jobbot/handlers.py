"""bolt listeners for `/jobs` and its buttons: ack at once, work on a pool, answer through respond().

Slack drops anything not acknowledged within 3 seconds, and a slow Interactive server must not delay
that: every listener acks first and hands the job-API work to a separate executor, so bolt's own
listener threads are never held by a slow call.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from jobbot import commands, logs, metrics, servers, slack_ids, stale
from jobbot.authz import Access
from jobbot.cancellation import (
    AlreadyFinished,
    Cancellation,
    Cancelled,
    CancellingElsewhere,
    CancelOutcome,
    WarningNeeded,
)
from jobbot.clock import Clock, utc_now
from jobbot.errors import (
    InteractiveServerError,
    InteractiveUnavailable,
    InternalError,
    InvalidJobId,
    JobApiError,
    JobbotError,
    JobNotFound,
    Refused,
)
from jobbot.jobs_api import JobClient
from jobbot.models import Actor, parse_job_id, validate_job_id
from jobbot.render.cards import LogFile, full_log_file, full_log_sent
from jobbot.render.jobs import (
    already_finished_card,
    cancel_prompt,
    cancelled_card,
    cancelling_elsewhere_card,
    job_card,
    job_list,
    warning_needed_card,
)
from jobbot.render.kit import Message
from jobbot.render.mrkdwn import code_span
from jobbot.render.problems import explain, problem
from jobbot.render.replies import (
    AUDIT_MAX_ENTRIES,
    AUDIT_MAX_REFUSALS,
    AUDIT_MAX_SUBSCRIPTION_CHANGES,
    audit_list,
    one_server_only,
    server_choices,
    server_chosen,
    usage,
)
from jobbot.servers import EVERY_SERVER
from jobbot.store import Store
from jobbot.subscriptions import NoticeSettings, Subscriptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerTools:
    """One Interactive server as the handlers reach it: its name, its shared job client, and who may
    cancel there (where `/jobs` answers, and for which organization, is the same for every server)."""

    name: str
    jobs: JobClient
    access: Access


@dataclass(frozen=True)
class _Desk:
    """Everything a request about one server's jobs acts through, the store scoped to that server."""

    name: str
    label: str | None  # what messages call the server: None when it is the only one
    jobs: JobClient
    store: Store
    cancellation: Cancellation
    subscriptions: Subscriptions


class JobsHandlers:
    """The `/jobs` command and every button jobbot draws, each acting on one server through its shared
    job client: the server named first in the command or carried by the button, else the channel's."""

    def __init__(
        self,
        servers: Sequence[ServerTools],
        *,
        work: Executor,
        store: Store,
        notices: NoticeSettings,
        legacy: str | None = None,
        clock: Clock = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        stale_after_seconds: float = stale.DEFAULT_LIMIT_HOURS * 3600,
    ) -> None:
        self._stale_after = stale_after_seconds
        # Where and for whom `/jobs` answers is the same for every server; only cancellers differ.
        self._access = servers[0].access
        self._work = work
        self._store = store
        self._clock = clock
        self._names = tuple(server.name for server in servers)
        self._shown = len(servers) > 1
        # A button drawn before JOBBOT_SERVERS was set carries no server: it is the old one's.
        self._legacy = legacy or self._names[0]

        def desk(tools: ServerTools) -> _Desk:
            scoped = store.for_server(tools.name)
            label = tools.name if self._shown else None
            return _Desk(
                tools.name,
                label,
                tools.jobs,
                scoped,
                Cancellation(
                    tools.jobs,
                    scoped,
                    tools.access,
                    clock=clock,
                    sleep=sleep,
                    monotonic=monotonic,
                    stale_after_seconds=stale_after_seconds,
                ),
                Subscriptions(tools.jobs, scoped, notices, clock=clock, server=label),
            )

        self._desks = {tools.name: desk(tools) for tools in servers}
        # `/jobs all subscribe` and `all unsubscribe`: subscriptions to every server at once.
        every = store.for_server(EVERY_SERVER)
        self._every = Subscriptions(servers[0].jobs, every, notices, clock=clock, server=EVERY_SERVER)

    def register(self, app: App) -> None:
        # Global, so every listener, present and future, is behind it: it runs before any is matched.
        app.use(self.guard)
        app.command(slack_ids.COMMAND)(self.on_command)
        app.action(slack_ids.matching(slack_ids.LIST_PAGE))(self.on_list_page)
        app.action(slack_ids.matching(slack_ids.LIST_REFRESH))(self.on_list_page)
        app.action(slack_ids.matching(slack_ids.JOB_DETAILS))(self.on_details)
        app.action(slack_ids.matching(slack_ids.JOB_REFRESH))(self.on_job_refresh)
        app.action(slack_ids.matching(slack_ids.JOB_CANCEL))(self.on_cancel_click)
        app.action(slack_ids.matching(slack_ids.JOB_FULL_LOG))(self.on_full_log_click)

    def guard(
        self, body: dict[str, Any], respond: Respond | None, next: Callable[[], None]
    ) -> BoltResponse | None:
        """Where and who, checked for every request before any listener sees it.

        A refusal is acked here and answered on the work pool, with no job data; nothing is fetched.
        It runs before the ack, so it must be quick: the channel check is pure, and the workspace's id
        is remembered once known (see app.workspace_team for the bounded lookup before that).
        """
        who = _actor_from(body)
        try:
            self._access.check_channel(who.channel_id)
            self._access.check_organization(who.team_id)
        except Refused as exc:
            log.info(
                "refused %s from %s in %s: %s", _request_kind(body), who.team_id, who.channel_id, exc.kind
            )
            if respond is not None:
                reason = exc

                def refuse() -> Message:
                    raise reason

                self._submit(respond, name=f"guard:{_request_kind(body)}", replace=False, build=refuse)
            return BoltResponse(status=200, body="")
        next()
        return None

    # Listeners: bolt passes arguments by name. Each acks before anything that can wait.

    def on_command(self, ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        _acknowledge(ack)
        routed = commands.route(str(command.get("text") or ""), self._names if self._shown else ())
        parsed = routed.command
        who = _actor_from(command)
        name, outcome = _subcommand_and_outcome(parsed)
        job_id = getattr(parsed, "job_id", None)
        error = " (usage error)" if outcome == "usage" else ""
        self._submit(
            respond,
            name=name,
            outcome=outcome,
            job_id=job_id,
            replace=False,
            build=lambda: self._answer(routed, who),
            note=f"/jobs {name}{error} from {who.user_id} in {who.channel_id}",
        )

    def on_list_page(self, ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        _acknowledge(ack)
        who = _actor_from(body)
        value = str(action.get("value") or "")
        statuses, page = slack_ids.decode_list_state(value)
        server = slack_ids.decode_list_server(value)
        self._submit(
            respond,
            name="button:page",
            replace=True,
            build=lambda: self._on_button_server(server, lambda desk: self._list(desk, statuses, page, who)),
        )

    def on_details(self, ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        _acknowledge(ack)
        who = _actor_from(body)
        server, job_id = slack_ids.decode_job_ref(str(action.get("value") or ""))
        self._submit(
            respond,
            name="button:details",
            job_id=job_id,
            replace=False,
            build=lambda: self._on_button_server(server, lambda desk: self._card(desk, job_id, who)),
        )

    def on_job_refresh(
        self, ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        _acknowledge(ack)
        who = _actor_from(body)
        server, job_id = slack_ids.decode_job_ref(str(action.get("value") or ""))
        self._submit(
            respond,
            name="button:refresh",
            job_id=job_id,
            replace=True,
            build=lambda: self._on_button_server(server, lambda desk: self._card(desk, job_id, who)),
        )

    def on_cancel_click(
        self, ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        """Only the click after Slack's confirmation dialog arrives here; it is the one that cancels. Its
        value says whether the dialog warned that the cancel may kill another program."""
        _acknowledge(ack)
        who = _actor_from(body)
        server, job_id, warned = slack_ids.decode_cancel_ref(str(action.get("value") or ""))

        def cancel(desk: _Desk) -> Message:
            outcome = desk.cancellation.confirm(job_id, who, warned=warned)
            return _cancel_reply(outcome, now=self._clock(), server=desk.label)

        self._submit(
            respond,
            name="button:cancel",
            job_id=job_id,
            replace=True,
            build=lambda: self._on_button_server(server, cancel),
            note=f"confirmed cancel click from {who.user_id}",
        )

    def on_full_log_click(
        self, ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        """The Full log button: the job's log goes to the clicker's direct message as a file."""
        _acknowledge(ack)
        who = _actor_from(body)
        server, job_id = slack_ids.decode_job_ref(str(action.get("value") or ""))
        self._submit(
            respond,
            name="button:full_log",
            job_id=job_id,
            replace=False,
            build=lambda: self._on_button_server(
                server, lambda desk: self._send_full_log(desk, job_id, who.user_id, client)
            ),
            note=f"full log asked for by {who.user_id}",
        )

    # Work, run on the pool: each returns the message to show.

    def _on_button_server(self, server: str | None, build: Callable[[_Desk], Message]) -> Message:
        """Build a button's answer on the server the button carries (none: the server of a message drawn
        before JOBBOT_SERVERS was set)."""
        desk = self._desks.get(server or self._legacy)
        if desk is None:
            return problem(
                f"This button is for the server {code_span(server or '', 30)}, which jobbot no longer "
                f"serves. The servers are {self._server_list()}."
            )
        servers.work_on(desk.name)
        return build(desk)

    def _server_list(self) -> str:
        return ", ".join(code_span(name, 30) for name in self._names)

    def _send_full_log(self, desk: _Desk, raw_job_id: str, user_id: str, client: WebClient) -> Message:
        full = desk.jobs.full_log(validate_job_id(raw_job_id))
        try:
            _upload_to_direct_message(client, user_id, full_log_file(full, server=desk.label))
        except (SlackApiError, SlackRequestError, OSError) as exc:
            reason = _slack_failure(exc)
            log.warning("could not send the full log of job %s to %s: %s", full.job_id, user_id, reason)
            return problem(f"I could not send you the full log of job #{full.job_id}:", detail=reason)
        return full_log_sent(full, server=desk.label)

    def _answer(self, routed: commands.Routed, who: Actor) -> Message:
        """The answer to a command: those about no one server first, then the rest on their server."""
        match routed.command:
            case commands.Help(problem=wrong):
                if not self._shown:
                    return usage(wrong)
                return usage(wrong, servers=self._names, default=self._channel_default(who.channel_id))
            case commands.UseServer(name=name):
                return self._use(name, who)
            case commands.ListSubscriptions():
                return self._every.listing(
                    shown=self._shown, channel_defaults=self._store.channel_servers() if self._shown else {}
                )
            case commands.Subscribe(statuses=statuses, style=style) if routed.server == EVERY_SERVER:
                return self._every.subscribe(who, statuses, style)
            case commands.Unsubscribe() if routed.server == EVERY_SERVER:
                return self._every.unsubscribe(who)
        desk = self._desks[routed.server or self._channel_default(who.channel_id)]
        servers.work_on(desk.name)
        return self._answer_on(desk, routed.command, who)

    def _answer_on(self, desk: _Desk, parsed: commands.Command, who: Actor) -> Message:
        match parsed:
            case commands.ListJobs(statuses=statuses, page=page):
                return self._list(desk, statuses, page, who)
            case commands.ShowJob(job_id=job_id):
                return self._card(desk, job_id, who)
            case commands.CancelJob(job_id=job_id):
                job = desk.cancellation.prompt(job_id, who)
                return cancel_prompt(
                    job, now=self._clock(), risk=desk.cancellation.risk(job), server=desk.label
                )
            case commands.Watch(job_id=job_id):
                return desk.subscriptions.watch(job_id, who.user_id)
            case commands.Unwatch(job_id=job_id):
                return desk.subscriptions.unwatch(job_id, who.user_id)
            case commands.Subscribe(statuses=statuses, style=style):
                return desk.subscriptions.subscribe(who, statuses, style)
            case commands.Unsubscribe():
                return desk.subscriptions.unsubscribe(who)
            case commands.ShowAudit(job_id=job_id):
                # Each kind has its own share of the answer, so a flood of one never hides another.
                return audit_list(
                    desk.store.audit_entries(job_id, AUDIT_MAX_ENTRIES, refused=False),
                    job_id=job_id,
                    refusals=desk.store.audit_entries(job_id, AUDIT_MAX_REFUSALS, refused=True),
                    changes=(
                        desk.store.subscription_changes(AUDIT_MAX_SUBSCRIPTION_CHANGES)
                        if job_id is None
                        else ()
                    ),
                    shown=self._shown,
                )
        raise AssertionError(f"unhandled command {parsed!r}")

    def _channel_default(self, channel_id: str) -> str:
        """The server a command naming none acts on: the channel's choice (`/jobs use`), else the first."""
        if self._shown:
            chosen = self._store.channel_server(channel_id)
            if chosen in self._desks:
                return chosen
        return self._names[0]

    def _use(self, name: str | None, who: Actor) -> Message:
        """`/jobs use [NAME]`: show the servers, or make one this channel's default (stored and audited)."""
        if not self._shown:
            return one_server_only()
        if name is None:
            return server_choices(
                self._names,
                default=self._names[0],
                channel_default=self._store.channel_server(who.channel_id),
            )
        # commands.route answers a name that is not configured, listing the servers, before this is reached.
        desk = self._desks[name]
        previous = desk.store.set_channel_server(who.channel_id, who.user_id, self._clock())
        desk.subscriptions.record_default_server(who)
        return server_chosen(who.channel_id, name, previous)

    # Lists and cards are answered to one person (ephemeral), so their Cancel buttons can be that
    # person's: drawn only for someone who may press them. The check may ask Slack for group members;
    # it runs here, on the work pool, after the ack.

    def _list(self, desk: _Desk, statuses: tuple[str, ...], page: int, who: Actor) -> Message:
        return job_list(
            desk.jobs.list_jobs(),
            statuses=statuses,
            page=page,
            now=self._clock(),
            stale_limit_seconds=self._stale_after,
            server=desk.label,
            may_cancel=desk.cancellation.may_cancel(who),
        )

    def _card(self, desk: _Desk, raw_job_id: str, who: Actor) -> Message:
        job = desk.jobs.get_job(validate_job_id(raw_job_id))
        # A job that cannot be cancelled has no Cancel button: nobody need be asked about it.
        may_cancel = job.is_cancellable and desk.cancellation.may_cancel(who)
        # The warning is in the Cancel dialog: with no button, no history need be read for it.
        risk = desk.cancellation.risk(job) if may_cancel else None
        return job_card(job, now=self._clock(), risk=risk, server=desk.label, may_cancel=may_cancel)

    def _submit(
        self,
        respond: Respond,
        *,
        name: str,
        replace: bool,
        build: Callable[[], Message],
        outcome: str = "ok",
        job_id: str | None = None,
        note: str | None = None,
    ) -> None:
        """Run `build` on the work pool and deliver its message; logs carry a request id (and job id)."""
        request_id = uuid.uuid4().hex[:12]
        safe_job_id = parse_job_id(job_id) if job_id else None
        with logs.context(request_id=request_id, job_id=safe_job_id):
            if note:
                log.info("%s", note)
            # The worker runs in a copy of this context, so its log lines carry the same ids.
            self._work.submit(
                contextvars.copy_context().run, self._reply, respond, name, outcome, replace, build
            )

    def _reply(
        self, respond: Respond, name: str, outcome: str, replace: bool, build: Callable[[], Message]
    ) -> None:
        try:
            message = build()
        except JobbotError as exc:
            # Keep what the person was looking at; show the problem beside it.
            # Several servers: the problem names the one the request was about (see _answer).
            message, replace = explain(exc, server=servers.current() if self._shown else None), False
            outcome = _OUTCOMES.get(type(exc), "error")
            # An internal error's detail is kept here only (the person reads a fixed sentence); the
            # server's failures are worth an operator's eye too; a person's typo or a refusal is not.
            level = logging.INFO
            if isinstance(exc, InternalError):
                level = logging.ERROR
            elif isinstance(exc, JobApiError):
                level = logging.WARNING
            log.log(level, "answered with a problem: %s", exc)
        except Exception as exc:
            log.exception("unexpected error while answering a /jobs request")
            message, replace, outcome = explain(exc), False, "bug"
        # Labelled with the server the answer was about (see _answer), or the default for none.
        metrics.COMMANDS.labels(name, outcome).inc()
        try:
            respond(
                text=message.text,
                blocks=message.blocks,
                response_type="ephemeral",
                replace_original=replace,
            )
        except Exception as exc:
            log.error("could not deliver a reply to Slack's response_url: %s", exc)


def _cancel_reply(outcome: CancelOutcome, *, now: datetime, server: str | None) -> Message:
    """The job's card with what came of a confirmed cancel said above it."""
    match outcome:
        case Cancelled(job_id=job_id, job=job, canceller=canceller, after=after):
            return cancelled_card(
                job_id,
                job,
                canceller=canceller,
                server_says=outcome.server_says,
                after=after,
                read_back_error=outcome.read_back_error,
                now=now,
                server=server,
            )
        case AlreadyFinished(job=job, cancelled_by=cancelled_by):
            return already_finished_card(job, cancelled_by=cancelled_by, now=now, server=server)
        case CancellingElsewhere(job_id=job_id, job=job, holder=holder):
            return cancelling_elsewhere_card(job_id, job, holder=holder, now=now, server=server)
        case WarningNeeded(job=job, risk=risk):
            return warning_needed_card(job, risk=risk, now=now, server=server)


def _upload_to_direct_message(client: WebClient, user_id: str, log_file: LogFile) -> None:
    """Open the bot's direct message with the person and share the file there."""
    opened = client.conversations_open(users=user_id)
    client.files_upload_v2(
        channel=str(opened["channel"]["id"]),
        content=log_file.content,
        filename=log_file.filename,
        title=log_file.title,
        initial_comment=log_file.comment,
    )


def _slack_failure(exc: Exception) -> str:
    """What went wrong with a Slack call, for a person: Slack's error code, or why there was none."""
    if isinstance(exc, SlackApiError):
        return f"Slack answered {exc.response.get('error') or f'HTTP {exc.response.status_code}'}."
    if isinstance(exc, SlackRequestError):
        # files_upload_v2 raises it when Slack's file host does not take the bytes.
        return "Slack's file host did not take the file."
    return f"Slack could not be reached or failed ({type(exc).__name__}); try again in a moment."


def _acknowledge(ack: Ack) -> None:
    started = time.monotonic()
    ack()
    metrics.ACK_SECONDS.observe(time.monotonic() - started)


_SUBCOMMAND_NAMES: dict[type, str] = {
    commands.ListJobs: "list",
    commands.ShowJob: "status",
    commands.CancelJob: "cancel",
    commands.Watch: "watch",
    commands.Unwatch: "unwatch",
    commands.Subscribe: "subscribe",
    commands.Unsubscribe: "unsubscribe",
    commands.ListSubscriptions: "subscriptions",
    commands.ShowAudit: "audit",
    commands.Help: "help",
    commands.UseServer: "use",
}


def _subcommand_and_outcome(parsed: commands.Command) -> tuple[str, str]:
    """The metric's and the log's names for a command: its subcommand, and `ok`, or `usage` when the text
    went wrong. A usage error counts under the subcommand tried (`/jobs status abc`: `status`), or
    `usage` when no subcommand could be recognised; `help` is only help asked for."""
    if isinstance(parsed, commands.Help) and parsed.problem:
        return parsed.tried or "usage", "usage"
    return _SUBCOMMAND_NAMES[type(parsed)], "ok"


_OUTCOMES: dict[type, str] = {
    Refused: "refused",
    InvalidJobId: "usage",
    JobNotFound: "not_found",
    InteractiveUnavailable: "unavailable",
    InteractiveServerError: "server_error",
}


def _actor_from(body: dict[str, Any]) -> Actor:
    """Who sends a request, from which channel, and their own workspace: the one reading of a Slack
    payload, for every request kind.

    Not bolt's `context`, which answers otherwise where it matters: its team is the channel's workspace
    (`team_id`, `team.id`), not the person's; its channel never comes from a click's `container`; and a
    click whose `user` has no id gets the id of the message's author (`message.user`) there.
    """
    if body.get("command"):
        # In a channel shared with another organization, `user_team` is the person's own workspace.
        team = body.get("user_team") or body.get("team_id")
        return Actor(
            user_id=str(body.get("user_id") or ""),
            team_id=str(team) if team else None,
            channel_id=str(body.get("channel_id") or ""),
        )
    event = _part(body, "event")
    channel = (
        _part(body, "channel").get("id")
        or _part(body, "container").get("channel_id")
        or event.get("channel")
        or ""
    )
    user = _part(body, "user")
    team = user.get("team_id") or event.get("user_team")
    return Actor(
        user_id=str(user.get("id") or ""), team_id=str(team) if team else None, channel_id=str(channel)
    )


def _part(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _request_kind(body: dict[str, Any]) -> str:
    """A short fixed name for the kind of request, for logs and metric labels."""
    if body.get("command"):
        return "command"
    return "button" if body.get("type") == "block_actions" else "other"
