"""Who may use /jobs where, and who may cancel: checked when acting, never only when drawing a button."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from jobbot.errors import CANCEL_SETTINGS, GroupLookupFailure, RefusalReason, Refused, WorkspaceUnknown
from jobbot.slack_ids import is_user_id

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
        self._server: str | None = None
        self._cancel_settings = CANCEL_SETTINGS
        self._lock = threading.Lock()

    def with_cancellers(
        self,
        users: Iterable[str],
        usergroups: Iterable[str],
        *,
        server: str | None = None,
        settings: tuple[str, str] = CANCEL_SETTINGS,
    ) -> Access:
        """The same checks with other cancellers (one server's, named `server` in refusals when several
        are configured, decided by the variables `settings`); the group lookups are shared."""
        other = copy.copy(self)
        other._cancel_users = frozenset(users)
        other._cancel_usergroups = tuple(usergroups)
        other._server = server
        other._cancel_settings = settings
        return other

    def check_channel(self, channel_id: str) -> None:
        """Refuse when JOBBOT_ALLOWED_CHANNELS is set and this channel is not in it."""
        if not self._allowed_channels or channel_id in self._allowed_channels:
            return
        raise Refused("channel_not_allowed", channel_id=channel_id, allowed_channels=self._allowed_channels)

    def check_organization(self, user_team: str | None) -> None:
        """Refuse users of another organization (a Slack Connect channel shared with another company).

        Fails closed: when jobbot cannot tell its own workspace, or the request names no team, nobody
        is let through, and the refusal says why.
        """
        try:
            home = self._workspace_team()
        except WorkspaceUnknown as exc:
            raise Refused("workspace_unknown", workspace_problem=exc.reason) from None
        if not user_team:
            raise Refused("no_team")
        if user_team != home:
            raise Refused("other_organization")

    def check_cancel(self, user_id: str) -> None:
        """Refuse unless the user is in JOBBOT_CANCEL_USERS or in a group of JOBBOT_CANCEL_USERGROUPS."""
        if not is_user_id(user_id):
            raise Refused("unknown_user")
        if user_id in self._cancel_users:
            return
        failures = []
        for group in self._cancel_usergroups:
            try:
                if user_id in self._group_members(group):
                    return
            except SlackApiError as exc:
                failures.append(GroupLookupFailure(group, slack_error=exc.response.get("error")))
            except OSError as exc:
                failures.append(GroupLookupFailure(group, unreachable=type(exc).__name__))
        if failures:
            why: RefusalReason = "lookup_failed"
        elif not self._cancel_users and not self._cancel_usergroups:
            why = "nobody_may_cancel"
        else:
            why = "not_a_canceller"
        raise Refused(
            why,
            user_id=user_id,
            cancel_usergroups=self._cancel_usergroups,
            lookup_failures=tuple(failures),
            server=self._server,
            cancel_settings=self._cancel_settings,
        )

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
