"""Reading server bodies in bounded memory: JSON with its long strings cut to their tails, error bodies cut.

The server puts a job's whole loader log in its JSON, and a log can be hundreds of megabytes. A
`JsonSkeleton` copies a document as it arrives but keeps only the last bytes of each long string (for a
log, its end is what a person reads), so the document the json module then parses is small whatever
the log's size. No parser is needed for that: outside strings JSON has no quotes or backslashes, and a
string ends at the first quote preceded by an even run of backslashes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from jobbot.errors import SkeletonTooLarge

_QUOTE = ord('"')
_BACKSLASH = ord("\\")
# Where a string's kept tail may start, it must not split an escape, a UTF-8 character or a surrogate pair.
_LOW_SURROGATE_ESCAPE_THIRD = frozenset(b"cdefCDEF")


class JsonSkeleton:
    """Feed a JSON body's chunks in order, then `finish()` for the same JSON with long strings cut.

    A string of more than `string_bytes` bytes (as sent, escapes included) is replaced by its last
    bytes, at most `string_bytes` of them, starting where a character starts. The values of `log` keys
    are cut past `log_bytes` instead, when given. `cut_strings` counts the strings cut, and `log_cut`
    says whether a `log` value was among them. More than
    `max_bytes` of output raises `SkeletonTooLarge`: a body of countless short values holds no log to cut.
    Bytes that are not valid JSON pass through, for the json module to report.
    """

    def __init__(self, *, string_bytes: int, max_bytes: int, log_bytes: int | None = None) -> None:
        self.cut_strings = 0
        self.log_cut = False
        self._string_bytes = string_bytes
        self._log_bytes = string_bytes if log_bytes is None else log_bytes
        self._max_bytes = max_bytes
        self._out = bytearray()
        self._in_string = False
        self._escaped_first = False  # the last chunk ended with an unpaired backslash
        self._pieces: deque[bytes] = deque()  # the current string's bytes, its oldest dropped when long
        self._string_size = 0  # bytes of the current string so far, dropped ones included
        self._kept_size = 0  # bytes in `_pieces`
        self._last_string = b""  # the previous string, if short: the key of the value that follows `:`
        self._after_colon = False

    def feed(self, chunk: bytes) -> None:
        at, end = 0, len(chunk)
        while at < end:
            if self._in_string:
                at = self._string_part(chunk, at)
            else:
                quote = chunk.find(b'"', at)
                stop = end if quote < 0 else quote
                if stop > at:
                    between = chunk[at:stop]
                    self._emit(between)
                    if between.strip():
                        self._after_colon = between.rstrip().endswith(b":")
                if quote < 0:
                    return
                self._emit(b'"')
                self._in_string, self._string_size, self._kept_size = True, 0, 0
                self._pieces.clear()
                at = quote + 1

    def finish(self) -> bytes:
        """The skeleton; an unterminated string is left open, so that parsing it fails as the body does."""
        if self._in_string:
            self._emit(b"".join(self._pieces))
        return bytes(self._out)

    def _string_part(self, chunk: bytes, at: int) -> int:
        """Take string bytes from `chunk[at:]`; returns where the string ended (after its quote) or len."""
        end = len(chunk)
        if self._escaped_first:
            self._escaped_first = False
            self._keep(chunk[at : at + 1])
            at += 1
        close = self._closing_quote(chunk, at)
        if close < 0:
            self._keep(chunk if at == 0 else chunk[at:])
            # A run of backslashes at the end starts where an escape may start (`at` at the latest): an odd
            # one escapes the next chunk's first byte.
            run = min(end - len(chunk.rstrip(b"\\")), end - at)
            self._escaped_first = run % 2 == 1
            return end
        self._keep(chunk[at:close])
        self._end_string()
        return close + 1

    def _closing_quote(self, chunk: bytes, at: int) -> int:
        """The first unescaped quote in `chunk[at:]`, where `at` is not inside an escape; -1 if none."""
        quote = chunk.find(b'"', at)
        if quote < 0:
            return -1
        if quote == at or chunk[quote - 1] != _BACKSLASH:
            return quote
        # Most chunks of a long string hold only escaped quotes; counting settles that at C speed. A quote
        # after no backslash ends the string; one after exactly one backslash is escaped; only quotes after
        # two or more need the backslash pairs taken out first.
        if chunk.count(b'"', at) == chunk.count(b'\\"', at):
            if chunk.find(b'\\\\"', at) < 0:
                return -1
            pairless = chunk[at:].replace(b"\\\\", b"")
            if pairless.count(b'"') == pairless.count(b'\\"'):
                return -1
        while True:
            run = 0
            while quote - run - 1 >= at and chunk[quote - run - 1] == _BACKSLASH:
                run += 1
            if run % 2 == 0:
                return quote
            quote = chunk.find(b'"', quote + 1)

    def _keep(self, part: bytes) -> None:
        if not part:
            return
        self._pieces.append(part)
        self._string_size += len(part)
        self._kept_size += len(part)
        # Only the last `string_bytes` can be kept; older pieces go once the newer ones cover that.
        limit = max(self._string_bytes, self._log_bytes)
        while self._kept_size - len(self._pieces[0]) >= limit:
            self._kept_size -= len(self._pieces.popleft())

    def _end_string(self) -> None:
        self._in_string = False
        is_log = self._after_colon and self._last_string == b"log"
        limit = self._log_bytes if is_log else self._string_bytes
        if self._string_size <= limit:
            text = b"".join(self._pieces)
        else:
            self.cut_strings += 1
            self.log_cut = self.log_cut or is_log
            text = kept_tail(b"".join(self._pieces)[-limit:] if limit else b"")
        self._pieces.clear()
        self._last_string = text if len(text) <= 8 else b""
        self._after_colon = False
        self._emit(text + b'"')

    def _emit(self, data: bytes) -> None:
        self._out += data
        if len(self._out) > self._max_bytes:
            raise SkeletonTooLarge(
                f"the server sent JSON with more than {self._max_bytes:,} bytes besides its long strings"
            )


def kept_tail(window: bytes) -> bytes:
    """`window`, the last bytes of a JSON string as sent, from the first place a character surely starts.

    The bytes before the window are unknown, so a leading run of backslashes may be escapes or escaped;
    the first backslash after that run begins an escape, and five bytes past the run clears a `\\uXXXX`
    that began before the window. A start in the middle of a UTF-8 character moves to the next one; a
    start at the second half of a surrogate pair skips it.
    """
    run = len(window) - len(window.lstrip(b"\\"))
    backslash = window.find(b"\\", run + 1)
    start = min(run + 5, len(window)) if backslash < 0 else min(backslash, run + 5)
    if start < len(window) and window[start] == _BACKSLASH:
        if (
            window[start + 1 : start + 2] in (b"u", b"U")
            and window[start + 2 : start + 3] in (b"d", b"D")
            and window[start + 3 : start + 4] != b""
            and window[start + 3] in _LOW_SURROGATE_ESCAPE_THIRD
        ):
            start += 6
    else:
        while start < len(window) and 0x80 <= window[start] <= 0xBF:
            start += 1
    return window[start:]


def read_at_most(chunks: Iterable[bytes], limit: int) -> bytes:
    """The first `limit` bytes of a body, asking for no chunk beyond them."""
    kept = bytearray()
    for chunk in chunks:
        kept += chunk[: limit - len(kept)]
        if len(kept) >= limit:
            break
    return bytes(kept)
