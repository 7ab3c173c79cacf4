"""Headless Chromium for the browser tests: Debian's `chromium` driven by playwright (which cannot download
its own browsers here). Missing, the tests skip with the reason; under CI (JOBBOT_REQUIRE_BROWSER=1, set by
.ci/run) they fail instead, as the PostgreSQL tests do."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# Read at import time: the autouse fixture in conftest.py clears JOBBOT_* variables before each test.
REQUIRE_BROWSER = os.environ.get("JOBBOT_REQUIRE_BROWSER") == "1"
CHROMIUM = os.environ.get("JOBBOT_CHROMIUM") or shutil.which("chromium")


def unavailable(reason: str) -> NoReturn:
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason}, and JOBBOT_REQUIRE_BROWSER=1 asks for the browser tests")
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium, or the test's skip (or failure) naming what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (the `test` extra installs it)")
    if CHROMIUM is None:
        unavailable("no chromium on PATH (Debian: apt-get install chromium; or set JOBBOT_CHROMIUM)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()
