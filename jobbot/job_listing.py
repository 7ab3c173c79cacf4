"""Reading `GET /v1/job` as it arrives: body chunks in, `Job`s out, never the whole body in memory.

The server puts every job's full loader log in its list, so a long history is tens of megabytes of
which a listing needs a few hundred bytes a job. The body is cut into runs of whole entries as it
arrives, and pydantic-core validates each run straight from its bytes: the logs are skipped in Rust and
never become Python strings.

Cutting needs no parser. A run ends at a `}` followed by `,{"`; a cut anywhere else (inside a
log line, inside an entry) leaves a string or an object open, so the run is not valid JSON and the
validation says so. The reader then counts quotes to find a `}` outside every string. Whatever the
fast path cannot vouch for (a body that is not an array, an entry nesting objects in an array, an
entry of an unusual shape, an entry of megabytes) goes to the standard `json` module and
`Job.from_server` instead, so the jobs that come out never depend on which path read them. That path
too reads the body as it arrives: its logs are dropped on the way (`jobbot.bounded_body`), and only
the rest, a few hundred bytes a job, is parsed at the end.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from jobbot.bounded_body import JsonSkeleton
from jobbot.errors import ListingError, SkeletonTooLarge
from jobbot.models import Job

# A run is cut once this much has arrived. Small runs keep the text, the parse tree and the buffer in
# the CPU's cache: at 64 KiB a listing of 10,000 jobs took 66-75 ms here, at 256 KiB 95-105 ms, at
# 1 MiB 150 ms. Below about 16 KiB the cost of each call starts to show.
RUN_BYTES = 64 * 1024
# `}` tried from the end of the buffer for the quick cut in JSON with spaces: the newest entry's
# `detail` object closes just before its `type`, so the second `}` from the end usually ends an entry.
MAX_CANDIDATES = 4
JSON_SPACE = b" \t\n\r"
MAX_QUOTED = 500
# Entries the fast path has not been able to cut after this much go to the exact path, which holds no
# log: one job with a log of hundreds of megabytes must not be buffered whole.
MAX_PENDING_BYTES = 4 * 2**20
# The exact path keeps no log at all and cuts any other string past this (no field of a listed job
# needs more); what it keeps grows with the number of jobs, less than the jobs themselves.
EXACT_STRING_BYTES = 64 * 1024
MAX_EXACT_BYTES = 64 * 2**20

_JOBS = TypeAdapter(list[Job])


class JobListing:
    """Feed the body's chunks in order, then call `finish()` for the jobs.

    `odd` counts entries that needed `Job.from_server`; `skipped` gives why each entry with no job in
    it was left out. `empty_as_object` says the server sent `{}` for an empty list (as servers before
    Oct 2024 do). `cuts` counts the attempts to cut runs and `exact` says whether the body (or its
    rest) went to the exact path: what the reader did, not only what it found.
    """

    def __init__(self, run_bytes: int = RUN_BYTES) -> None:
        self.jobs: list[Job] = []
        self.odd = 0
        self.skipped: list[str] = []
        self.empty_as_object = False
        self.cuts = 0
        self._run_bytes = run_bytes
        self._buffer = bytearray()
        self._opened = False  # the array's `[` has been read
        self._first = True  # no entry has been read yet, so no `,` is due
        self._exact: JsonSkeleton | None = None  # the rest of the body, for the json module at the end
        self._next_cut_at = run_bytes
        self._separators = [b'},{"', b'}, {"']

    def feed(self, chunk: bytes) -> None:
        if self._exact is not None:
            self._feed_exactly(chunk)
            return
        self._buffer += chunk
        if not self._opened and not self._open():
            return
        if self._exact is None and len(self._buffer) >= self._next_cut_at:
            self._cut()

    @property
    def exact(self) -> bool:
        return self._exact is not None

    def finish(self) -> list[Job]:
        if self._exact is None:
            if self._opened or self._open():
                self._last_run()
            else:
                self._go_exact()  # only whitespace came: json says what is wrong with that
        if self._exact is not None:
            self._read_exactly(self._exact)
        return self.jobs

    # The fast path.

    def _open(self) -> bool:
        """Consume the `[` that starts the body; False while only whitespace has come."""
        start = _skip_space(self._buffer, 0)
        if start == len(self._buffer):
            return False
        if self._buffer[start] != ord("["):
            # `{}` (an empty list from servers before Oct 2024) or not a list at all.
            self._go_exact()
            return False
        del self._buffer[: start + 1]
        self._opened = True
        return True

    def _cut(self) -> None:
        self.cuts += 1
        # The newest `}` before `,{"` nearly always ends an entry. When it is inside a log line instead,
        # the run is not valid JSON and validation says so; only then are quotes counted.
        for find_end in (self._newest_entry_end, self._counted_entry_end):
            end = find_end()
            if end is not None and self._take_run(end + 1):
                self._next_cut_at = len(self._buffer) + self._run_bytes
                return
            if self._exact is not None:
                return
        if end is not None or len(self._buffer) >= MAX_PENDING_BYTES:
            # Even a cut outside strings was not valid JSON (nested arrays of objects, or a broken
            # body), or an entry is too large to hold whole.
            self._go_exact()
            return
        # Wait until the buffer has doubled, so a huge entry costs linear time, not quadratic.
        self._next_cut_at = min(2 * len(self._buffer), MAX_PENDING_BYTES)

    def _newest_entry_end(self) -> int | None:
        """The newest `}` followed by `,{"`: one search in compact JSON (what servers send) or in
        Python's default spacing, else among the last few `}`."""
        for separator in self._separators:
            end = self._buffer.rfind(separator)
            if end >= 0:
                # A body keeps its spacing: a search that fails scans the whole buffer, so the one
                # that found something goes first next time.
                if separator is not self._separators[0]:
                    self._separators.reverse()
                return end
        end = len(self._buffer)
        for _ in range(MAX_CANDIDATES):
            end = self._buffer.rfind(b"}", 0, end)
            if end < 0:
                return None
            if self._before_next_entry(end):
                return end
        return None

    def _counted_entry_end(self) -> int | None:
        """The newest `}` followed by `,{"` that is outside strings: the quotes before it that are not
        escaped are even in number. They are counted once, then only between candidates."""
        quotes, later = 0, None  # unescaped quotes before `later`, the candidate tried last
        end = len(self._buffer)
        while (end := self._buffer.rfind(b"}", 0, end)) >= 0:
            if not self._before_next_entry(end):
                continue
            if later is None:
                quotes = _unescaped_quotes(self._buffer, 0, end)
            else:
                quotes -= _unescaped_quotes(self._buffer, end, later)
            if quotes % 2 == 0:
                return end
            later = end
        return None

    def _before_next_entry(self, end: int) -> bool:
        """Whether `}` at `end` is followed by `,`, `{` and `"` (JSON space allowed), all arrived.

        The quote is what tells entries apart from log lines: in a string it would be escaped, so
        `},{"` is inside one only where a string ends in `},{`.
        """
        comma = _skip_space(self._buffer, end + 1)
        brace = _skip_space(self._buffer, comma + 1)
        quote = _skip_space(self._buffer, brace + 1)
        return (
            quote < len(self._buffer)
            and self._buffer[comma] == ord(",")
            and self._buffer[brace] == ord("{")
            and self._buffer[quote] == ord('"')
        )

    def _last_run(self) -> None:
        """The body has ended: what is left must be the last entries, then `]`."""
        close = self._buffer.rfind(b"]")
        if close < 0 or _skip_space(self._buffer, close + 1) != len(self._buffer):
            self._go_exact()
        elif _skip_space(self._buffer, 0) == close or self._take_run(close):
            self._buffer.clear()
        else:
            self._go_exact()

    def _take_run(self, stop: int) -> bool:
        """Read the entries in `buffer[:stop]` and drop them from the buffer; False, leaving the buffer
        as it was, when they are not valid JSON."""
        start = _skip_space(self._buffer, 0)
        if not self._first:
            if self._buffer[start] != ord(","):
                self._go_exact()
                return False
            start += 1
            if _skip_space(self._buffer, start) == stop:
                return False  # `,]`: json will say what is wrong with it
        text = bytearray(b"[")
        with memoryview(self._buffer) as view:
            text += view[start:stop]
        text += b"]"
        try:
            jobs = _JOBS.validate_json(text)
        except ValidationError as exc:
            if any(error["type"] == "json_invalid" for error in exc.errors()):
                return False
            # Valid JSON, but some entry is unusual: this run is read entry by entry.
            jobs = []
            for entry in json.loads(text):
                self._take(entry)
        self.jobs += jobs
        self._first = False
        del self._buffer[:stop]
        return True

    # The exact path.

    def _go_exact(self) -> None:
        """Send the rest of the body, from what is buffered on, to the exact path."""
        body = self._buffer
        del body[: _skip_space(body, 0)]
        if self._opened:
            if not self._first:
                if not body.startswith((b",", b"]")):
                    raise ListingError(f"the job list is not valid JSON near: {_quoted(body, 0)}")
                if body.startswith(b","):
                    del body[:1]
            body[:0] = b"["
        self._exact = JsonSkeleton(string_bytes=EXACT_STRING_BYTES, log_bytes=0, max_bytes=MAX_EXACT_BYTES)
        self._buffer = bytearray()
        # In pieces, so that no second copy of a large buffer is made.
        for start in range(0, len(body), RUN_BYTES):
            self._feed_exactly(bytes(body[start : start + RUN_BYTES]))

    def _feed_exactly(self, chunk: bytes) -> None:
        assert self._exact is not None
        try:
            self._exact.feed(chunk)
        except SkeletonTooLarge as exc:
            raise ListingError(str(exc)) from None

    def _read_exactly(self, skeleton: JsonSkeleton) -> None:
        body = skeleton.finish()
        try:
            value = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ListingError(
                f"the server sent a body that is not JSON ({exc.msg}): {_quoted(body, exc.pos)}"
            ) from None
        except UnicodeDecodeError:
            raise ListingError("the server sent a body that is not UTF-8 text") from None
        if value == {}:  # servers before Oct 2024 answer an empty list with `{}`
            self.empty_as_object = True
            return
        if not isinstance(value, list):
            raise ListingError("the job list is not a JSON array")
        for entry in value:
            self._take(entry)

    def _take(self, entry: Any) -> None:
        try:
            self.jobs.append(Job.model_validate(entry))
            return
        except ValidationError:
            pass
        try:
            self.jobs.append(Job.from_server(entry))
        except ValueError as exc:
            self.skipped.append(str(exc))
            return
        self.odd += 1


def _skip_space(buffer: bytearray, at: int) -> int:
    while at < len(buffer) and buffer[at] in JSON_SPACE:
        at += 1
    return at


def _unescaped_quotes(buffer: bytearray, start: int, end: int) -> int:
    """How many quotes in `buffer[start:end]` are not escaped, given that `buffer[start]` is not part
    of an escape (the callers' bounds are `}` characters).

    In a JSON string `\\\\` is an escaped backslash and any other backslash escapes the next
    character, so once the pairs are removed `\\"` is exactly an escaped quote. (Outside strings,
    valid JSON has no backslashes.)
    """
    if buffer.find(b"\\\\", start, end) < 0:
        return buffer.count(b'"', start, end) - buffer.count(b'\\"', start, end)
    text = bytes(buffer[start:end]).replace(b"\\\\", b"")
    return text.count(b'"') - text.count(b'\\"')


def _quoted(text: bytes | bytearray, at: int) -> str:
    """Some of `text` from just before `at`, for an error message."""
    start = max(0, at - 40)
    shown = bytes(text[start : start + MAX_QUOTED]).decode("utf-8", "replace").strip()
    return ("…" if start else "") + shown + ("…" if len(text) > start + MAX_QUOTED else "")
