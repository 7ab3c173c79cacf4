"""Posts notices to Slack and finds them again: every message carries metadata with its ledger key, so
after a crash jobbot can tell "posted but not recorded" from "never posted"."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from jobbot import metrics
from jobbot.errors import PostRefused, PostUncertain
from jobbot.render.cards import LogFile
from jobbot.render.kit import Message
from jobbot.slack_ids import is_user_id

log = logging.getLogger(__name__)

METADATA_EVENT = "jobbot_notice"
# Slack allows about one message a second per channel and tolerates short bursts: a token bucket per
# channel, refilled at one post a second, holding a burst of a few.
MIN_SECONDS_BETWEEN_POSTS = 1.0
BURST = 3
# chat.update is Tier 3: about 50 a minute per workspace, across every channel. One bucket for all
# edits, refilled at that rate, with a small burst so a few cards ending together go out at once.
UPDATE_INTERVAL_SECONDS = 60 / 50
UPDATE_BURST = 5
# How far to look back for a message whose outcome we did not learn: a few pages of history.
HISTORY_PAGES = 5
# chat.postMessage is limited per channel; Slack's other methods (history, replies, conversations.open)
# are limited per method across the workspace, so their 429 tells every destination to wait.
PER_CHANNEL_LIMITED = frozenset({"chat.postMessage"})
# When a 429 comes without a usable Retry-After, wait this long.
DEFAULT_RETRY_AFTER_SECONDS = 1.0

# The destination itself refuses: retrying will not help until someone changes the channel or app.
DESTINATION_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "channel_is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "cannot_dm_bot",
        "user_not_found",
        "user_disabled",
        "user_not_visible",
        "team_access_not_granted",
        "ekm_access_denied",
        "messages_tab_disabled",
    }
)
# The message to edit is gone, or Slack no longer lets us edit it: a card that cannot change again.
UPDATE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
# An upload the workspace does not allow.
UPLOAD_ERRORS = frozenset(
    {"file_uploads_disabled", "file_uploads_except_images_disabled", "file_upload_size_restricted"}
)
# The message itself is wrong: a bug on our side, never fixed by retrying.
MESSAGE_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "metadata_must_be_sent_from_app",
    }
)
# Every error that retrying will not fix.
PERMANENT_ERRORS = DESTINATION_ERRORS | UPDATE_ERRORS | UPLOAD_ERRORS | MESSAGE_ERRORS


class SlackPoster:
    """chat.postMessage with ledger keys, paced per channel; history searches to recover outcomes.

    Give it a WebClient that retries nothing (`notice_client`): retrying a post after a lost answer or
    a 5xx could post it twice, so those come back as PostUncertain and the ledger decides; a 429 comes
    back as PostRefused with its Retry-After, for the caller to schedule instead of sleeping on it.
    """

    def __init__(
        self,
        client: WebClient,
        *,
        min_interval: float = MIN_SECONDS_BETWEEN_POSTS,
        update_interval: float = UPDATE_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._min_interval = min_interval
        self._update_interval = update_interval
        self._monotonic = monotonic
        self._sleep = sleep
        # channel -> (tokens, when counted): each post takes one token.
        self._buckets: dict[str, tuple[float, float]] = {}
        # The same for chat.update, one bucket for the workspace.
        self._update_bucket: dict[str, tuple[float, float]] = {}
        self._dm_channels: dict[str, str] = {}
        self._lock = threading.Lock()

    def channel_for(self, destination: str) -> str:
        """A channel id as is; a user id becomes the id of the bot's direct-message channel with them."""
        if not is_user_id(destination):
            return destination
        with self._lock:
            known = self._dm_channels.get(destination)
        if known:
            return known
        response = self._call(self._client.conversations_open, users=destination)
        channel = str(response["channel"]["id"])
        with self._lock:
            self._dm_channels[destination] = channel
        return channel

    def post(
        self,
        channel: str,
        message: Message,
        *,
        key: str,
        job_ids: Sequence[str] = (),
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> str:
        """Post and return the message's ts. The metadata names the ledger key and the jobs announced,
        so that workflows (and audits) can read notices without parsing text. `broadcast`: a reply in
        `thread_ts` that Slack also shows in the channel."""
        self._pace(channel)
        kwargs: dict[str, Any] = {
            "channel": channel,
            "text": message.text,
            "blocks": message.blocks,
            "metadata": _metadata(key, job_ids),
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
            if broadcast:
                kwargs["reply_broadcast"] = True
        response = self._call(self._client.chat_postMessage, **kwargs)
        return str(response["ts"])

    def update(
        self, channel: str, ts: str, message: Message, *, key: str, job_ids: Sequence[str] = ()
    ) -> None:
        """Edit our message `ts` in place. Its metadata is sent again, so the key stays on the edit."""
        self._pace_update()
        self._call(
            self._client.chat_update,
            channel=channel,
            ts=ts,
            text=message.text,
            blocks=message.blocks,
            metadata=_metadata(key, job_ids),
        )

    def upload(self, channel: str, file: LogFile, *, thread_ts: str | None) -> None:
        """Share `file` in the channel (or thread), with its comment. Its completion posts a message, so
        it takes a post from the channel's allowance."""
        self._pace(channel)
        try:
            self._call(
                self._client.files_upload_v2,
                channel=channel,
                thread_ts=thread_ts,
                content=file.content,
                filename=file.filename,
                title=file.title,
                initial_comment=file.comment,
            )
        except SlackRequestError as exc:
            # slack_sdk stops before the completion step when the upload URL answers a 2xx other than
            # 200: nothing was shared, and a later try may go through.
            metrics.SLACK_ERRORS.labels("files.upload_v2", "upload_failed").inc()
            log.warning("Slack's file host did not take the upload: %s", exc)
            raise PostRefused("upload_failed", permanent=False) from None

    def find_file(self, channel: str, thread_ts: str, filename: str, *, oldest: datetime) -> bool:
        """Whether the thread holds a file named `filename` shared since `oldest`: an upload whose
        outcome was lost is looked for here before it is made again."""
        cursor: str | None = None
        # A minute of slack for clock skew between this host and Slack.
        oldest_ts = f"{oldest.timestamp() - 60:.6f}"
        for _ in range(HISTORY_PAGES):
            params: dict[str, Any] = {"channel": channel, "ts": thread_ts, "oldest": oldest_ts, "limit": 200}
            if cursor:
                params["cursor"] = cursor
            response = self._call(self._client.conversations_replies, **params)
            for message in response.get("messages") or []:
                if any(f.get("name") == filename for f in message.get("files") or []):
                    return True
            cursor = ((response.get("response_metadata") or {}).get("next_cursor")) or None
            if not cursor:
                return False
        return False

    def find(self, channel: str, key: str, *, oldest: datetime, thread_ts: str | None = None) -> str | None:
        """The ts of our message carrying `key` in the channel (or thread) since `oldest`, if Slack has it."""
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            params: dict[str, Any] = {"channel": channel, "include_all_metadata": True, "limit": 200}
            if cursor:
                params["cursor"] = cursor
            if thread_ts:
                response = self._call(self._client.conversations_replies, ts=thread_ts, **params)
            else:
                # A minute of slack for clock skew between this host and Slack.
                oldest_ts = f"{oldest.timestamp() - 60:.6f}"
                response = self._call(self._client.conversations_history, oldest=oldest_ts, **params)
            for message in response.get("messages") or []:
                metadata = message.get("metadata") or {}
                if (
                    metadata.get("event_type") == METADATA_EVENT
                    and (metadata.get("event_payload") or {}).get("key") == key
                ):
                    return str(message["ts"])
            cursor = ((response.get("response_metadata") or {}).get("next_cursor")) or None
            if not cursor:
                return None
        return None

    def posts_available(self, channel: str) -> float:
        """How many posts the channel's rate allowance takes right now without waiting."""
        if self._min_interval <= 0:
            return float("inf")
        with self._lock:
            return self._tokens(channel, self._monotonic())

    def updates_available(self) -> float:
        """How many edits the workspace's chat.update allowance takes right now without waiting."""
        if self._update_interval <= 0:
            return float("inf")
        with self._lock:
            return _tokens(self._update_bucket, "", self._monotonic(), self._update_interval, UPDATE_BURST)

    def _tokens(self, channel: str, now: float) -> float:
        return _tokens(self._buckets, channel, now, self._min_interval, BURST)

    def _pace(self, channel: str) -> None:
        self._take(self._buckets, channel, self._min_interval, BURST)

    def _pace_update(self) -> None:
        self._take(self._update_bucket, "", self._update_interval, UPDATE_BURST)

    def _take(self, buckets: dict[str, tuple[float, float]], name: str, interval: float, burst: int) -> None:
        """Take a token from the bucket, waiting for it if the allowance has run dry."""
        if interval <= 0:
            return
        with self._lock:
            now = self._monotonic()
            tokens = _tokens(buckets, name, now, interval, burst) - 1
            buckets[name] = (tokens, now)
        if tokens < 0:
            # The token is spoken for; wait until the allowance has refilled it.
            self._sleep(-tokens * interval)

    @staticmethod
    def _call(method: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            # chat_postMessage -> chat.postMessage, as Slack names its methods.
            name = getattr(method, "__name__", "unknown").replace("_", ".", 1)
            metrics.SLACK_ERRORS.labels(name, str(exc.response.get("error") or f"http_{status}")).inc()
            if status >= 500:
                # Slack may have posted before failing: only its history can tell.
                raise PostUncertain(f"Slack answered HTTP {status}") from None
            error = str(exc.response.get("error") or f"HTTP {status}")
            if status == 429:
                raise PostRefused(
                    error,
                    permanent=False,
                    retry_after=_retry_after(exc.response.headers),
                    workspace_wide=name not in PER_CHANNEL_LIMITED,
                ) from None
            permanent = error in PERMANENT_ERRORS
            raise PostRefused(error, permanent=permanent) from None
        except OSError as exc:
            # Connection reset, timeout, DNS: slack_sdk's retry handlers already tried again.
            raise PostUncertain(f"no answer from Slack: {exc}") from None


def _metadata(key: str, job_ids: Sequence[str]) -> dict[str, Any]:
    """The metadata on every message jobbot posts or edits: its ledger key and the jobs it names."""
    return {"event_type": METADATA_EVENT, "event_payload": {"key": key, "job_ids": list(job_ids)}}


def _tokens(
    buckets: dict[str, tuple[float, float]], name: str, now: float, interval: float, burst: int
) -> float:
    """The tokens in a bucket now: what was left when last counted plus one per `interval` since, up to
    the burst."""
    tokens, counted = buckets.get(name, (float(burst), now))
    return min(float(burst), tokens + (now - counted) / interval)


def _retry_after(headers: Any) -> float:
    """Seconds from a 429's Retry-After header (delta-seconds; header names in any case)."""
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                seconds = float(str(raw).strip())
            except ValueError:
                break
            if seconds >= 0 and seconds == seconds:  # not negative, not NaN
                return seconds
            break
    return DEFAULT_RETRY_AFTER_SECONDS
