"""The checklist `jobbot check` prints: one item per check, each bounded in time, no secret shown."""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO


class Outcome(enum.Enum):
    """How one check came out."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not checked, because a check it depends on failed


_MARKS = {Outcome.PASSED: "✓", Outcome.FAILED: "✗", Outcome.SKIPPED: "-"}
_ASCII_MARKS = {Outcome.PASSED: "[ok]", Outcome.FAILED: "[FAIL]", Outcome.SKIPPED: "[skip]"}


@dataclass(frozen=True)
class Item:
    """One line of the checklist: what was checked, what was found, and for a failure the fix."""

    outcome: Outcome
    what: str
    found: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is not Outcome.FAILED


def passed(what: str, found: str) -> Item:
    return Item(Outcome.PASSED, what, found)


def failed(what: str, found: str, fix: str = "") -> Item:
    return Item(Outcome.FAILED, what, found, fix)


def skipped(what: str, found: str) -> Item:
    return Item(Outcome.SKIPPED, what, found)


class Checklist:
    """Prints each item as it is known, with no secret in it, and remembers whether all passed."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.items: list[Item] = []
        self.secrets: list[str] = []
        # A terminal that cannot show ✓ and ✗ (an ASCII locale) gets words; a text buffer has no encoding.
        encoding = getattr(out, "encoding", None)
        try:
            "".join(_MARKS.values()).encode(encoding or "utf-8")
            self.marks = _MARKS
        except (UnicodeEncodeError, LookupError):
            self.marks = _ASCII_MARKS

    def add(self, item: Item) -> None:
        self.items.append(item)
        line = f"{self.marks[item.outcome]} {item.what}: {item.found}"
        if item.fix:
            line += f". Fix: {item.fix}"
        for secret in self.secrets:
            line = line.replace(secret, "***")
        print(line, file=self.out, flush=True)

    def run(self, what: str, seconds: float, check: Callable[[], Item]) -> bool:
        """Add the item `check` gives, or a failure if it takes longer than `seconds` (it is left running
        on a daemon thread, and nothing it does later is printed) or stops on an error. True if it passed."""
        outcome = _within(seconds, check)
        if outcome is None:
            item = failed(what, f"no result within {seconds:g} s", "check the network path to it")
        elif isinstance(outcome, Exception):
            item = failed(what, f"the check stopped: {type(outcome).__name__}: {one_line(outcome)}")
        else:
            item = outcome
        self.add(item)
        return item.ok

    def finish(self) -> int:
        failures = sum(not item.ok for item in self.items)
        if failures:
            print(f"{failures} of {len(self.items)} checks failed.", file=self.out)
            return 1
        print(f"All {len(self.items)} checks passed.", file=self.out)
        return 0


def _within(seconds: float, check: Callable[[], Item]) -> Item | Exception | None:
    """What `check` returned or raised within `seconds`, else None."""
    outcome: list[Item | Exception] = []

    def run() -> None:
        try:
            outcome.append(check())
        except Exception as exc:  # one check's own bug must not hide the others' results
            outcome.append(exc)

    thread = threading.Thread(target=run, name="jobbot-check", daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome[0] if outcome else None


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
