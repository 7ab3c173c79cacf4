"""Reads a Dockerfile and its .dockerignore as Docker does, enough to run an image's build steps without
Docker: stages, their instructions (continuation lines joined, comments dropped), and the build context."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    keyword: str
    arguments: str

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction (`CMD ["a", "b"]`), or None for the shell form."""
        text = self.arguments
        if text.startswith("--"):
            # HEALTHCHECK's options come before its CMD.
            text = text.split(" CMD ", 1)[1] if " CMD " in text else text
        try:
            value = json.loads(text.strip())
        except ValueError:
            return None
        return [str(item) for item in value] if isinstance(value, list) else None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        [found] = self.all(keyword)
        return found

    def env(self) -> dict[str, str]:
        """The stage's ENV, from `ENV A=1 B=2` instructions (the only form jobbot's Dockerfile uses)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.arguments):
                name, _, value = pair.partition("=")
                values[name] = value
        return values


def parse(path: Path) -> list[Stage]:
    """The stages of a Dockerfile, in order."""
    stages: list[Stage] = []
    for keyword, arguments in _instructions(path.read_text(encoding="utf-8")):
        if keyword == "FROM":
            words = arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            stages[-1].instructions.append(Instruction(keyword, arguments))
    return stages


def _instructions(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].strip() + " "
            continue
        whole = (pending + stripped).strip()
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        found.append((keyword.upper(), re.sub(r"\s+", " ", arguments).strip()))
    return found


def context_files(root: Path) -> list[Path]:
    """The files Docker sends as the build context under `.dockerignore` (its last matching line wins)."""
    patterns = [
        line.strip()
        for line in (root / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sent = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(root).as_posix()
        included = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            if _matches(relative, pattern.removeprefix("!")):
                included = negated
        if included:
            sent.append(path.relative_to(root))
    return sent


def _matches(relative: str, pattern: str) -> bool:
    """Whether a path, or one of the directories it is in, matches a .dockerignore pattern."""
    pattern = pattern.rstrip("/")
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    if pattern.startswith("**/"):
        return any(fnmatch.fnmatchcase(part, pattern.removeprefix("**/")) for part in parts)
    return any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)
