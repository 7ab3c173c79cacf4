"""Who may use /jobs where, and who may cancel: checked when acting, never only when drawing a button."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from jobbot.errors import Refused, WorkspaceUnknown
from jobbot.slack_ids import is_conversation_id, is_user_id

log = logging.getLogger(__name__)

# A group's members are looked up again after this long: removals take effect within about a minute.
USERGROUP_CACHE_SECONDS = 60.0


class Access:
    """The permission model: channels where /jobs answers, one organization, and who may cancel."""

    def __init__(
        self,
        *,
        cancel_users: Iterable[str],
        cancel_usergroups: Iterable[str],
        allowed_channels: Iterable[str],
        client: WebClient,
        workspace_team: Callable[[], str],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cancel_users = frozenset(cancel_users)
        self._cancel_usergroups = tuple(cancel_usergroups)
        self._allowed_channels = tuple(allowed_channels)
        self._client = client
        self._workspace_team = workspace_team
        self._monotonic = monotonic
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def check_channel(self, channel_id: str) -> None:
        """Refuse when JOBBOT_ALLOWED_CHANNELS is set and this channel is not in it."""
        if not self._allowed_channels or channel_id in self._allowed_channels:
            return
        where = ", ".join(f"<#{c}>" for c in self._allowed_channels)
        shown = f"`{channel_id}`" if is_conversation_id(channel_id) else "this conversation"
        raise Refused(
            f"jobbot answers `/jobs` only in {where}. An admin can add {shown} to `JOBBOT_ALLOWED_CHANNELS`.",
            kind="channel",
        )

    def check_organization(self, user_team: str | None) -> None:
        """Refuse users of another organization (a Slack Connect channel shared with another company).

        Fails closed: when jobbot cannot tell its own workspace, or the request names no team, nobody
        is let through, and the refusal says why.
        """
        try:
            home = self._workspace_team()
        except WorkspaceUnknown as exc:
            raise Refused(
                f"jobbot refuses everyone right now: it could not confirm which workspace it is installed "
                f"in ({exc.reason}), so it cannot tell members from people of other organizations. It asks "
                "Slack again every half minute. An admin can check that `SLACK_BOT_TOKEN` is still valid "
                "(reinstall the app if it was revoked) and that jobbot can reach `SLACK_API_URL`.",
                kind="organization",
            ) from None
        if not user_team:
            raise Refused(
                "jobbot could not tell which organization your account belongs to, so it will not act.",
                kind="organization",
            )
        if user_team != home:
            raise Refused(
                "jobbot acts only for members of the workspace it is installed in; your account belongs to "
                "another organization. Ask someone from that workspace.",
                kind="organization",
            )

    def check_cancel(self, user_id: str) -> None:
        """Refuse unless the user is in JOBBOT_CANCEL_USERS or in a group of JOBBOT_CANCEL_USERGROUPS."""
        if not is_user_id(user_id):
            raise Refused("jobbot could not tell who you are, so it will not cancel.", kind="cancel")
        if user_id in self._cancel_users:
            return
        failures = []
        for group in self._cancel_usergroups:
            try:
                if user_id in self._group_members(group):
                    return
            except SlackApiError as exc:
                failures.append(f"`{group}`: Slack said `{exc.response.get('error', 'error')}`")
            except OSError as exc:
                failures.append(f"`{group}`: Slack could not be reached ({type(exc).__name__})")
        allow = (
            f"An admin can allow it by adding your Slack user ID `{user_id}` to `JOBBOT_CANCEL_USERS` "
            "(then restarting jobbot)"
        )
        if self._cancel_usergroups:
            groups = ", ".join(f"`{g}`" for g in self._cancel_usergroups)
            allow += f", or by adding you to a user group in `JOBBOT_CANCEL_USERGROUPS` ({groups})"
        if failures:
            raise Refused(
                "You may not cancel jobs right now: jobbot could not check your user groups ("
                + "; ".join(failures)
                + f"), and it refuses when it cannot check. {allow}.",
                kind="cancel",
            )
        nobody = not self._cancel_users and not self._cancel_usergroups
        who = (
            "Nobody may cancel jobs from Slack yet"
            if nobody
            else "You are not allowed to cancel jobs from Slack"
        )
        raise Refused(f"{who}. {allow}.", kind="cancel")

    def _group_members(self, group: str) -> frozenset[str]:
        now = self._monotonic()
        with self._lock:
            cached = self._members.get(group)
        if cached and now - cached[0] < USERGROUP_CACHE_SECONDS:
            return cached[1]
        response = self._client.usergroups_users_list(usergroup=group)
        members = frozenset(str(u) for u in response.get("users") or [])
        with self._lock:
            self._members[group] = (now, members)
        return members
