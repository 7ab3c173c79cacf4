"""Imports point one way: domain -> client/renderers/parser -> handlers -> app -> entry point."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jobbot"

# What each module may import, beyond the standard library and its own layer's helpers.
FORBIDDEN = {
    "models": {"httpx", "slack_bolt", "slack_sdk", "jobbot.jobs_api", "jobbot.render", "jobbot.handlers"},
    "errors": {"httpx", "slack_bolt", "slack_sdk", "jobbot.models"},
    "jobs_api": {"slack_bolt", "slack_sdk", "jobbot.render", "jobbot.handlers", "jobbot.config"},
    "slack_ids": {"httpx", "slack_bolt", "slack_sdk", "jobbot.jobs_api", "jobbot.render", "jobbot.config"},
    "render": {
        "httpx",
        "slack_bolt",
        "jobbot.jobs_api",
        "jobbot.store",
        "jobbot.handlers",
        "jobbot.notifier",
        "jobbot.app",
        "jobbot.config",
    },
    "commands": {"httpx", "slack_bolt", "slack_sdk", "jobbot.jobs_api", "jobbot.config"},
    "render/mrkdwn": {"httpx", "slack_bolt", "slack_sdk", "jobbot.jobs_api", "jobbot.config"},
    "handlers": {"jobbot.config", "jobbot.app", "jobbot.web", "os"},
    "emulator": {"jobbot.jobs_api", "slack_bolt", "slack_sdk", "httpx", "jobbot.config"},
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_files(name: str) -> list[Path]:
    path = PACKAGE / name
    return sorted(path.glob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_module_does_not_import_upward(module: str) -> None:
    """Lower layers never import higher ones (or the network/Slack libraries they must not know)."""
    for path in module_files(module):
        bad = {
            name
            for name in imported(path)
            for banned in FORBIDDEN[module]
            if name == banned or name.startswith(banned + ".")
        }
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_only_config_reads_the_environment() -> None:
    """Settings come from one place: no other module touches os.environ or getenv."""
    offenders = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name != "config.py" and ("os.environ" in path.read_text() or "getenv" in path.read_text())
    ]
    assert offenders == []
