"""Settings come from one place; the import direction is checked by `lint-imports` (pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "jobbot"


def test_only_config_reads_the_environment() -> None:
    """Settings come from one place: no other module touches os.environ or getenv."""
    offenders = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name != "config.py" and ("os.environ" in path.read_text() or "getenv" in path.read_text())
    ]
    assert offenders == []
