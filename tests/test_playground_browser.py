"""The playground end to end in headless Chromium: the real bot, the emulator and the page, driven as a
person would (typing, clicking, confirming), with no JavaScript error on the page. The README's screenshot
is taken here (JOBBOT_UPDATE_SCREENSHOT=1 rewrites it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from jobbot.emulator import Emulator
from jobbot.playground import Playground
from jobbot.playground.workspace import BOB, JOBS_CHANNEL, NOTICE_CHANNEL
from jobbot.slack_ids import JOB_CANCEL, JOB_DETAILS, LIST_PAGE
from tests.browser import chromium
from tests.support import ENDED_BY_A_CANCEL

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Locator, Page

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "playground.png"
# Read at import time: the autouse fixture in conftest.py clears JOBBOT_* variables before each test.
UPDATE_SCREENSHOT = os.environ.get("JOBBOT_UPDATE_SCREENSHOT") == "1"
WAIT_MS = 20_000
# The list's range reads "Jobs 1\u201310", with an en dash.
EN_DASH = "\u2013"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


class Person:
    """The page open in a browser, and every console error or uncaught exception it reported."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console(self, entry: ConsoleMessage) -> None:
        if entry.type == "error":
            self.errors.append(entry.text)

    def channel(self, channel_id: str) -> Locator:
        return self.page.locator(f'.pane[data-channel="{channel_id}"]')

    def type(self, text: str, channel_id: str = JOBS_CHANNEL) -> None:
        box = self.channel(channel_id).locator("textarea.composer-input")
        box.fill(text)
        box.press("Enter")

    def message_with(self, text: str, channel_id: str = JOBS_CHANNEL, *also: str) -> Locator:
        """The newest message in the channel that shows `text` (and each of `also`)."""
        found = self.channel(channel_id).locator("[data-message-id]", has_text=text)
        for more in also:
            found = found.filter(has_text=more)
        found = found.last
        found.wait_for(timeout=WAIT_MS)
        return found

    def act_as(self, user: str) -> None:
        self.page.locator(f'[data-user="{user}"]').click()
        chosen = "user => document.querySelector(`[data-user=\"${user}\"]`).ariaChecked === 'true'"
        self.page.wait_for_function(chosen, arg=user, timeout=WAIT_MS)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """Twelve finished loads and two running ones: a list of two pages, with something to cancel."""
    emulator = Emulator().start()
    for _ in range(12):
        emulator.add_job(status="SUCCESS", graph_id="modern_graph")
    emulator.add_job(status="RUNNING", graph_id="modern_graph")
    emulator.add_job(status="RUNNING", graph_id="ldbc")
    yield emulator
    emulator.stop()


@pytest.fixture
def person(browser: Browser, emulator: Emulator) -> Iterator[Person]:
    with Playground(port=0, emulator=emulator, poll_interval=0.2) as playground:
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        opened = Person(context.new_page())
        opened.page.goto(playground.url)
        opened.page.wait_for_selector("body[data-version]")
        yield opened
        context.close()
    assert opened.errors == []


def test_a_person_lists_pages_opens_a_card_and_cancels_through_the_dialog(
    person: Person, emulator: Emulator
) -> None:
    """`/jobs` shows the newest ten jobs; Next edits the list in place; Details opens the card; Cancel asks
    with Slack's dialog and, confirmed, cancels the job on the server and shows the outcome."""
    person.type("/jobs")
    listing = person.message_with(f"Jobs 1{EN_DASH}10 of 14")
    assert listing.locator(f'button[data-action-id^="{JOB_CANCEL}"]').count() == 2
    listing.locator(f'button[data-action-id^="{LIST_PAGE}"]', has_text="Next").click()
    listing = person.message_with(f"Jobs 11{EN_DASH}14 of 14")
    assert (
        person.channel(JOBS_CHANNEL).locator("[data-message-id]", has_text=f"Jobs 1{EN_DASH}10").count() == 0
    )

    person.type("/jobs 13")
    card = person.message_with("Job 13")
    card.locator(f'button[data-action-id^="{JOB_CANCEL}"]').click()
    dialog = person.page.locator("#confirm-dialog")
    dialog.wait_for(state="visible")
    assert "Cancel job 13?" in dialog.inner_text()
    person.page.locator("#confirm-ok").click()
    person.message_with("cancelled job 13")
    assert emulator.get("13").status in ENDED_BY_A_CANCEL  # the loader may record FAILED


def test_denying_the_dialog_cancels_nothing(person: Person, emulator: Emulator) -> None:
    """Keep running closes the dialog and sends nothing: the job runs on."""
    person.type("/jobs cancel 14")
    prompt = person.message_with("To cancel job 14")
    prompt.locator(f'button[data-action-id^="{JOB_CANCEL}"]').click()
    person.page.locator("#confirm-deny").click()
    person.page.locator("#confirm-dialog").wait_for(state="hidden")
    assert emulator.get("14").status == "RUNNING"


def test_a_notice_arrives_beside_the_channel_and_its_details_open_the_card(
    person: Person, emulator: Emulator
) -> None:
    """When a job ends, its notice appears in #job-notices while #jobs stays as it was."""
    # The notifier's first poll records the jobs there are, announcing none: end the job after it.
    assert emulator.wait_until(lambda: ("GET", "/v1/job") in emulator.requests, timeout=20)
    emulator.finish_job("14", "FAILED")
    notice = person.message_with("#14", NOTICE_CHANNEL, "FAILED")
    notice.locator(f'button[data-action-id^="{JOB_DETAILS}"]').first.click()
    person.message_with("Job 14", NOTICE_CHANNEL)


def test_someone_who_may_not_cancel_sees_no_cancel_button_and_reads_the_refusal(
    person: Person, emulator: Emulator
) -> None:
    """As bob: the list has no Cancel button, and `/jobs cancel` answers why and what would allow it."""
    person.act_as(BOB)
    person.type("/jobs")
    listing = person.message_with(f"Jobs 1{EN_DASH}10 of 14")
    assert listing.locator(f'button[data-action-id^="{JOB_CANCEL}"]').count() == 0
    person.type("/jobs cancel 13")
    refusal = person.message_with("not allowed to cancel")
    assert "JOBBOT_CANCEL_USERS" in refusal.inner_text()
    assert emulator.get("13").status == "RUNNING"


def test_the_readme_shows_the_playground(person: Person, emulator: Emulator) -> None:
    """The README's picture of the playground: a list in #jobs and a notice beside it, taken here."""
    assert emulator.wait_until(lambda: ("GET", "/v1/job") in emulator.requests, timeout=20)
    emulator.finish_job("14", "SUCCESS")
    person.message_with("#14", NOTICE_CHANNEL, "SUCCESS")
    person.type("/jobs")
    person.message_with(f"Jobs 1{EN_DASH}10 of 14")
    if UPDATE_SCREENSHOT:
        SCREENSHOT.parent.mkdir(exist_ok=True)
        person.page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    assert "docs/playground.png" in (ROOT / "README.md").read_text(encoding="utf-8")
