"""An in-memory Slack workspace: people, channels, messages, and what Slack's Web API does with them."""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jobbot.errors import WebApiRefusal
from jobbot.slack_ids import BOT_SCOPES

TEAM_ID = "T0PLAY"
TEAM_NAME = "jobbot playground"
BOT_USER_ID = "U0JOBBOT"
BOT_ID = "B0JOBBOT"
ALICE = "U0ALICE"
BOB = "U0BOB"
JOBS_CHANNEL = "C0PLAYJOBS"
NOTICE_CHANNEL = "C0PLAYNOTICE"


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    note: str


PEOPLE = (Person(ALICE, "alice", "may cancel"), Person(BOB, "bob", "may not cancel"))
CHANNELS = {JOBS_CHANNEL: "jobs", NOTICE_CHANNEL: "job-notices"}
NAMES = {p.id: p.name for p in PEOPLE} | {BOT_USER_ID: "jobbot"}

# Slack's own limits, so that the playground refuses what Slack would refuse.
MAX_TEXT = 40_000
MAX_BLOCKS = 50
# Bounds on what the playground keeps: it runs for hours in a browser tab, not forever.
MAX_MESSAGES = 2_000
MAX_FILE_BYTES = 5 << 20
MAX_PENDING_UPLOADS = 100
# What the page is given of a file: enough of a log to read, never megabytes per poll.
FILE_PREVIEW_BYTES = 64 << 10
# A response_url takes a few posts within 30 minutes (as Slack's does); a few more do no harm here.
RESPONSE_URL_USES = 5
RESPONSE_URL_SECONDS = 30 * 60
MAX_RESPONSE_URLS = 1_000


@dataclass
class SharedFile:
    id: str
    name: str
    title: str
    content: bytes

    def as_state(self) -> dict[str, Any]:
        text = self.content[:FILE_PREVIEW_BYTES].decode("utf-8", errors="replace")
        return {"name": self.name, "title": self.title, "text": text}


@dataclass
class Message:
    """One message as the workspace holds it (whoever may see it)."""

    id: str
    channel: str
    ts: str
    user: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None = None
    ephemeral_to: str | None = None
    metadata: dict[str, Any] | None = None
    reply_broadcast: bool = False
    edited: bool = False
    # How many times a response_url replaced it (replace_original), as a page may want to flash it.
    replaced: int = 0
    files: list[SharedFile] = field(default_factory=list)

    def visible_to(self, user: str) -> bool:
        if self.ephemeral_to is not None:
            return self.ephemeral_to == user
        return not self.channel.startswith("D") or self.channel == dm_channel(user)

    def as_state(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "ts": self.ts,
            "thread_ts": self.thread_ts,
            "user": self.user,
            "text": self.text,
            "blocks": self.blocks,
            "ephemeral_to": self.ephemeral_to,
            "edited": self.edited,
            "replaced": self.replaced,
            "files": [f.as_state() for f in self.files],
        }

    def as_history(self, with_metadata: bool) -> dict[str, Any]:
        """The message as conversations.history and .replies list it."""
        found: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text, "user": self.user}
        if self.user == BOT_USER_ID:
            found["bot_id"] = BOT_ID
        if self.blocks is not None:
            found["blocks"] = self.blocks
        if self.thread_ts:
            found["thread_ts"] = self.thread_ts
        if self.reply_broadcast:
            found["subtype"] = "thread_broadcast"
        if self.files:
            found["files"] = [{"id": f.id, "name": f.name, "title": f.title} for f in self.files]
        if self.edited:
            found["edited"] = {"user": self.user, "ts": self.ts}
        if with_metadata and self.metadata:
            found["metadata"] = self.metadata
        return found


@dataclass
class _ResponseUrl:
    """Where a response_url's posts go: the channel and person of the request, and the message clicked."""

    channel: str
    user: str
    message_id: str | None
    expires: float
    uses: int = 0


def dm_channel(user: str) -> str:
    """The id of jobbot's direct-message channel with `user` (U0ALICE -> D0ALICE)."""
    return "D" + user[1:]


class Workspace:
    """The messages of one workspace, changed by the Web API (`call`), response_urls (`respond`) and the
    person at the page (`post_typed`). Thread-safe; `version` goes up with every change."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.version = 0
        self.me = ALICE
        # Set by the server once it listens: upload URLs point at it.
        self.public_url = ""
        self._messages: list[Message] = []
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._uploads: dict[str, tuple[str, bytes | None]] = {}
        self._dms: set[str] = set()

    # The page's side.

    def set_me(self, user: str) -> None:
        if user not in {p.id for p in PEOPLE}:
            raise ValueError(f"no such person: {user[:40]!r} (one of {', '.join(p.id for p in PEOPLE)})")
        with self._lock:
            self.me = user
            self._changed()

    def post_typed(self, channel: str, user: str, text: str) -> Message:
        """What a person typed (a slash command): shown to them only, as Slack shows nobody else."""
        with self._lock:
            return self._add(channel, user, text, None, ephemeral_to=user)

    def message(self, message_id: str) -> Message | None:
        with self._lock:
            return next((m for m in self._messages if m.id == message_id), None)

    def state(self, since: int | None = None) -> dict[str, Any]:
        with self._lock:
            me = self.me
            messages = (
                None if since == self.version else [m.as_state() for m in self._messages if m.visible_to(me)]
            )
            channels: list[dict[str, Any]] = [{"id": cid, "name": name} for cid, name in CHANNELS.items()]
            if me in self._dms:
                channels.append({"id": dm_channel(me), "name": "jobbot", "im": True})
            return {
                "version": self.version,
                "me": me,
                "users": [{"id": p.id, "name": p.name, "note": p.note} for p in PEOPLE],
                "channels": channels,
                "messages": messages,
            }

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until `predicate()` holds (checked at every change); False when `timeout` passes first."""
        with self._lock:
            return bool(self._lock.wait_for(predicate, timeout))

    def messages(self) -> list[Message]:
        with self._lock:
            return list(self._messages)

    # response_url.

    def new_response_url(self, channel: str, user: str, message_id: str | None) -> str:
        """The id of a response_url for a request from `user` in `channel` (about `message_id`, a click's)."""
        response_id = secrets.token_urlsafe(12)
        with self._lock:
            if len(self._response_urls) >= MAX_RESPONSE_URLS:
                oldest = next(iter(self._response_urls))
                del self._response_urls[oldest]
            self._response_urls[response_id] = _ResponseUrl(
                channel, user, message_id, time.time() + RESPONSE_URL_SECONDS
            )
        return response_id

    def respond(self, response_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A post to a response_url, as Slack treats it: ephemeral (the default) or in_channel; with
        replace_original the message clicked is replaced (for a command, a new message is posted);
        with delete_original it is deleted."""
        with self._lock:
            target = self._response_urls.get(response_id)
            if target is None or target.expires < time.time():
                raise WebApiRefusal("expired_url")
            if target.uses >= RESPONSE_URL_USES:
                raise WebApiRefusal("used_url")
            target.uses += 1
            original = next((m for m in self._messages if m.id == target.message_id), None)
            if _flag(body.get("delete_original")):
                if original is not None:
                    self._messages.remove(original)
                    self._changed()
                return {"ok": True}
            text, blocks = _content(body)
            if _flag(body.get("replace_original")) and original is not None:
                original.text, original.blocks = text, blocks
                original.replaced += 1
                self._changed()
                return {"ok": True}
            in_channel = body.get("response_type") == "in_channel"
            thread_ts = original.thread_ts if original is not None else None
            self._add(
                target.channel,
                BOT_USER_ID,
                text,
                blocks,
                thread_ts=thread_ts,
                ephemeral_to=None if in_channel else target.user,
            )
            return {"ok": True}

    # The Web API.

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """One Web API call made with the bot's token: Slack's answer, {"ok": false, ...} for a refusal."""
        handler = _METHODS.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        try:
            with self._lock:
                return handler(self, params)
        except WebApiRefusal as exc:
            return {"ok": False, "error": exc.code}

    def receive_upload(self, file_id: str, data: bytes) -> bool:
        """The bytes POSTed to an upload URL; False for a file id not handed out (or already sent)."""
        with self._lock:
            pending = self._uploads.get(file_id)
            if pending is None or pending[1] is not None or len(data) > MAX_FILE_BYTES:
                return False
            self._uploads[file_id] = (pending[0], data)
            return True

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "http://playground.invalid/",
            "team": TEAM_NAME,
            "user": "jobbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
        }

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        text, blocks = _content(params)
        thread_ts = _optional(params, "thread_ts")
        if thread_ts is not None:
            self._find(channel, thread_ts, error="thread_not_found")
        message = self._add(
            channel,
            BOT_USER_ID,
            text,
            blocks,
            thread_ts=thread_ts,
            metadata=_json_field(params, "metadata"),
            reply_broadcast=_flag(params.get("reply_broadcast")),
        )
        return {"ok": True, "channel": channel, "ts": message.ts, "message": message.as_history(True)}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        message = self._find(channel, str(params.get("ts") or ""), error="message_not_found")
        if message.user != BOT_USER_ID:
            raise WebApiRefusal("cant_update_message")
        if "text" in params or "blocks" in params:
            message.text, message.blocks = _content(
                {"text": params.get("text", message.text), "blocks": params.get("blocks", message.blocks)}
            )
        if "metadata" in params:
            message.metadata = _json_field(params, "metadata")
        message.edited = True
        self._changed()
        return {
            "ok": True,
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": message.as_history(True),
        }

    def _post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        user = str(params.get("user") or "")
        if user not in NAMES or user == BOT_USER_ID:
            raise WebApiRefusal("user_not_in_channel")
        text, blocks = _content(params)
        message = self._add(
            channel, BOT_USER_ID, text, blocks, thread_ts=_optional(params, "thread_ts"), ephemeral_to=user
        )
        return {"ok": True, "message_ts": message.ts}

    def _open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users") or "")
        if users not in NAMES or users == BOT_USER_ID:
            raise WebApiRefusal("user_not_found")
        self._dms.add(users)
        self._changed()
        return {"ok": True, "channel": {"id": dm_channel(users)}}

    def _info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        info: dict[str, Any] = {"id": channel, "is_member": True, "is_private": False, "is_archived": False}
        if channel in CHANNELS:
            info |= {"name": CHANNELS[channel], "is_channel": True}
        else:
            info |= {"is_im": True, "user": next(u for u in NAMES if dm_channel(u) == channel)}
        return {"ok": True, "channel": info}

    def _history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        oldest = _number(params, "oldest", 0.0)
        latest = _number(params, "latest", float("inf"))
        found = [
            m
            for m in self._messages
            if m.channel == channel
            and m.ephemeral_to is None
            and (not m.thread_ts or m.thread_ts == m.ts or m.reply_broadcast)
            and oldest <= float(m.ts) <= latest
        ]
        found.reverse()  # newest first, as Slack answers
        return self._page(found, params)

    def _replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        parent = self._find(channel, str(params.get("ts") or ""), error="thread_not_found")
        root = parent.thread_ts or parent.ts
        oldest = _number(params, "oldest", 0.0)
        found = [
            m
            for m in self._messages
            if m.channel == channel
            and m.ephemeral_to is None
            and (m.ts == root or m.thread_ts == root)
            and (m.ts == root or float(m.ts) >= oldest)
        ]
        return self._page(found, params)

    def _page(self, found: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        """One page of messages, with Slack's cursor (here: the offset of the next page)."""
        limit = max(1, min(int(_number(params, "limit", 100)), 1000))
        cursor = str(params.get("cursor") or "")
        start = int(cursor) if cursor.isdigit() else 0
        page = found[start : start + limit]
        with_metadata = _flag(params.get("include_all_metadata"))
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": [m.as_history(with_metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _usergroup_users(self, params: dict[str, Any]) -> dict[str, Any]:
        # The playground's workspace has no user groups: its cancellers are named one by one.
        raise WebApiRefusal("no_such_subteam")

    def _upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = str(params.get("filename") or "")
        if not filename:
            raise WebApiRefusal("invalid_arguments")
        if _number(params, "length", 0) > MAX_FILE_BYTES:
            raise WebApiRefusal("file_too_large")
        file_id = f"F{next(self._ids):08d}"
        if len(self._uploads) >= MAX_PENDING_UPLOADS:
            del self._uploads[next(iter(self._uploads))]  # the oldest upload never completed
        self._uploads[file_id] = (filename[:255], None)
        return {"ok": True, "upload_url": f"{self.public_url}/play/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        requested = _json_field(params, "files")
        if not isinstance(requested, list) or not requested:
            raise WebApiRefusal("invalid_arguments")
        ids = [str(f.get("id")) if isinstance(f, dict) else "" for f in requested]
        if not all(self._uploads.get(i, ("", None))[1] is not None for i in ids):
            raise WebApiRefusal("file_not_found")
        channel = self._channel({"channel": params.get("channel_id")}) if params.get("channel_id") else None
        shared = []
        for f, file_id in zip(requested, ids, strict=True):
            name, content = self._uploads.pop(file_id)
            shared.append(SharedFile(file_id, name, str(f.get("title") or name)[:255], content or b""))
        if channel is not None:
            comment = str(params.get("initial_comment") or "")[:MAX_TEXT]
            message = self._add(channel, BOT_USER_ID, comment, None, thread_ts=_optional(params, "thread_ts"))
            message.files = shared
        return {"ok": True, "files": [{"id": f.id, "name": f.name, "title": f.title} for f in shared]}

    # Helpers, called with the lock held.

    def _channel(self, params: dict[str, Any]) -> str:
        channel = str(params.get("channel") or "")
        if channel in CHANNELS or (channel.startswith("D") and "U" + channel[1:] in NAMES):
            return channel
        raise WebApiRefusal("channel_not_found")

    def _find(self, channel: str, ts: str, *, error: str) -> Message:
        found = next(
            (m for m in self._messages if m.channel == channel and m.ts == ts and m.ephemeral_to is None),
            None,
        )
        if found is None:
            raise WebApiRefusal(error)
        return found

    def _add(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        *,
        thread_ts: str | None = None,
        ephemeral_to: str | None = None,
        metadata: dict[str, Any] | None = None,
        reply_broadcast: bool = False,
    ) -> Message:
        # Message ts are real time and strictly increasing, as Slack's are.
        self._last_ts = max(self._last_ts + 0.000001, time.time())
        message = Message(
            id=f"m{next(self._ids)}",
            channel=channel,
            ts=f"{self._last_ts:.6f}",
            user=user,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            ephemeral_to=ephemeral_to,
            metadata=metadata if isinstance(metadata, dict) else None,
            reply_broadcast=reply_broadcast,
        )
        self._messages.append(message)
        del self._messages[:-MAX_MESSAGES]
        self._changed()
        return message

    def _changed(self) -> None:
        self.version += 1
        self._lock.notify_all()


_METHODS = {
    "auth.test": Workspace._auth_test,
    "chat.postMessage": Workspace._post_message,
    "chat.update": Workspace._update,
    "chat.postEphemeral": Workspace._post_ephemeral,
    "conversations.open": Workspace._open,
    "conversations.info": Workspace._info,
    "conversations.history": Workspace._history,
    "conversations.replies": Workspace._replies,
    "usergroups.users.list": Workspace._usergroup_users,
    "files.getUploadURLExternal": Workspace._upload_url,
    "files.completeUploadExternal": Workspace._complete_upload,
}

# What auth.test's x-oauth-scopes header names: the scopes jobbot asks for in its manifest.
SCOPES = ",".join(BOT_SCOPES)


def _content(params: dict[str, Any]) -> tuple[str, list[dict[str, Any]] | None]:
    """A message's text and blocks, checked as Slack checks them."""
    text = params.get("text")
    blocks = _json_field(params, "blocks")
    if text is not None and not isinstance(text, str):
        raise WebApiRefusal("invalid_arguments")
    if blocks is not None and (
        not isinstance(blocks, list)
        or len(blocks) > MAX_BLOCKS
        or not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks)
    ):
        raise WebApiRefusal("invalid_blocks")
    if not text and not blocks:
        raise WebApiRefusal("no_text")
    if text is not None and len(text) > MAX_TEXT:
        raise WebApiRefusal("msg_too_long")
    # Slack gives every block an id of its own when the app sets none, and sends it back with a click.
    for block in blocks or []:
        block.setdefault("block_id", secrets.token_urlsafe(4))
    return text or "", blocks or None


def _json_field(params: dict[str, Any], name: str) -> Any:
    """A field sent as JSON (a JSON body) or as a JSON string (a form body), as Slack accepts either."""
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value) if value else None
        except ValueError:
            raise WebApiRefusal("invalid_arguments") from None
    return value


def _optional(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    return str(value) if value not in (None, "") else None


def _number(params: dict[str, Any], name: str, default: float) -> float:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise WebApiRefusal("invalid_arguments") from None


def _flag(value: Any) -> bool:
    """A boolean argument, sent as JSON (true) or as a form field ("true", "1")."""
    return value is True or str(value).lower() in ("1", "true")
