"""The playground's page in headless Chromium: Block Kit, mrkdwn, buttons, the dialog and the message box.

The page is served from the package's static directory by a stub of the playground's JSON API, so these
tests prove the page alone: what it draws from a state, and what it POSTs back.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser import chromium
from tests.support import wait_until

if TYPE_CHECKING:
    # Imported when the browser fixture runs, so a machine without playwright skips instead of failing.
    from playwright.sync_api import Browser, ConsoleMessage, ElementHandle, Page

GOLDEN_DIR = Path(__file__).parent / "golden"
# Not UTC, so a date shown in UTC instead of the browser's zone fails the date test.
BROWSER_ZONE = "Asia/Tokyo"
TIMEOUT_S = 10.0

STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}

USERS = [
    {"id": "U0ALICE", "name": "alice", "note": "may cancel"},
    {"id": "U0BOB", "name": "bob", "note": "may not cancel"},
]
CHANNELS = [{"id": "C0PLAYJOBS", "name": "jobs"}, {"id": "C0PLAYNOTICE", "name": "job-notices"}]


def message(message_id: str, **fields: Any) -> dict[str, Any]:
    """A message as /play/state lists it: a bot message in #jobs unless `fields` say otherwise."""
    return {
        "id": message_id,
        "channel": "C0PLAYJOBS",
        "ts": "1733040000.000100",
        "thread_ts": None,
        "user": "U0JOBBOT",
        "text": "",
        "blocks": None,
        "ephemeral_to": None,
        "edited": False,
        "replaced": 0,
        "files": [],
    } | fields


def golden(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GOLDEN_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


class StubPlayground:
    """The playground's HTTP API with a state set by the test; every POST is recorded."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.static = resources.files("jobbot.playground") / "static"
        self.lock = threading.Lock()
        self.state: dict[str, Any] = {
            "version": 1,
            "me": "U0ALICE",
            "users": USERS,
            "channels": CHANNELS,
            "messages": messages,
        }
        self.posts: list[tuple[str, Any]] = []
        self.answers: dict[str, dict[str, Any]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def change(self, **fields: Any) -> None:
        """Change the state as the playground would: a new version the page must pick up."""
        with self.lock:
            self.state = self.state | fields | {"version": self.state["version"] + 1}

    def posted(self, path: str) -> list[Any]:
        with self.lock:
            return [body for where, body in self.posts if where == path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test output is for failures."""

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/play/state":
                    with stub.lock:
                        self._send(json.dumps(stub.state).encode(), "application/json")
                    return
                name = "index.html" if path == "/" else path.removeprefix("/static/")
                file = stub.static / name
                if "/" in name or not file.is_file():
                    self.send_error(404)
                    return
                self._send(file.read_bytes(), STATIC_TYPES.get(Path(name).suffix, "application/octet-stream"))

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.posts.append((self.path, body))
                    answer = stub.answers.get(self.path, {"ok": True})
                self._send(json.dumps(answer).encode(), "application/json")

            def _send(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def __enter__(self) -> StubPlayground:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@dataclass
class Browsing:
    """One page open on a stub playground, with every console error and uncaught exception it reported."""

    page: Page
    stub: StubPlayground
    errors: list[str] = field(default_factory=list)

    def open(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(self.stub.url)
        self.page.wait_for_selector("body[data-version]")

    def _console(self, entry: ConsoleMessage) -> None:
        if entry.type == "error":
            self.errors.append(entry.text)

    def render(self, shown: dict[str, Any]) -> ElementHandle:
        """The element renderMessage returns for `shown`, put in the page so it can be inspected."""
        handle = self.page.evaluate_handle(
            """message => {
                const node = window.jobbotPlayground.renderMessage(message);
                document.body.appendChild(node);
                return node;
            }""",
            shown,
        )
        element = handle.as_element()
        assert element is not None
        return element

    def markers(self, element: ElementHandle) -> list[str]:
        selector = "." + self.page.evaluate("window.jobbotPlayground.CANNOT_RENDER_CLASS")
        return [marker.inner_text() for marker in element.query_selector_all(selector)]


def text_of(element: ElementHandle, selector: str) -> str:
    """The text of the first element matching `selector` inside `element`, which must exist."""
    found = element.query_selector(selector)
    assert found is not None, f"nothing matches {selector}"
    return found.inner_text()


@pytest.fixture
def stub() -> Iterator[StubPlayground]:
    with StubPlayground([]) as running:
        yield running


@pytest.fixture
def browsing(browser: Browser, stub: StubPlayground) -> Iterator[Browsing]:
    context = browser.new_context(timezone_id=BROWSER_ZONE, locale="en-US")
    opened = Browsing(context.new_page(), stub)
    opened.open()
    yield opened
    context.close()


def test_every_golden_message_renders_without_a_marker(browsing: Browsing) -> None:
    """Each golden file renders block for block, with no "cannot render" marker."""
    files = sorted(GOLDEN_DIR.glob("*.json"))
    assert files
    for path in files:
        sent = json.loads(path.read_text(encoding="utf-8"))
        element = browsing.render(message("m1", text=sent["text"], blocks=sent["blocks"]))
        assert browsing.markers(element) == [], path.name
        assert len(element.query_selector_all("[data-block-type]")) == len(sent["blocks"]), path.name
        for block in sent["blocks"]:
            if block["type"] == "header":
                assert block["text"]["text"] in element.inner_text(), path.name
    assert browsing.errors == []


def test_what_cannot_be_rendered_is_marked_with_its_type(browsing: Browsing) -> None:
    """An unknown block, an unknown element and a malformed block each show a marker naming them."""
    element = browsing.render(
        message(
            "m1",
            blocks=[
                {"type": "video", "title": {"type": "plain_text", "text": "a film"}},
                {"type": "section"},
                {
                    "type": "actions",
                    "elements": [
                        {"type": "static_select"},
                        golden("card_running")["blocks"][4]["elements"][0],
                    ],
                },
                {"type": "section", "text": {"type": "mrkdwn", "text": "still *here*"}},
            ],
        )
    )
    markers = browsing.markers(element)
    assert len(markers) == 3
    assert "video" in markers[0]
    assert "section" in markers[1]
    assert "static_select" in markers[2]
    assert text_of(element, "button") == "\N{ANTICLOCKWISE DOWNWARDS AND UPWARDS OPEN CIRCLE ARROWS} Refresh"
    assert text_of(element, "strong") == "here"
    assert browsing.errors == []


def mrkdwn(browsing: Browsing, text: str) -> ElementHandle:
    """The rendered mrkdwn of a section holding `text`."""
    shown = message("m1", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
    rendered = browsing.render(shown).query_selector(".mrkdwn")
    assert rendered is not None
    return rendered


def test_mrkdwn_emphasis_code_and_emoji(browsing: Browsing) -> None:
    """Bold, italic, strike, inline code, fenced code, quotes and emoji render as Slack shows them."""
    element = mrkdwn(
        browsing,
        "*Status* _soon_ ~gone~ `a*b*c` :white_check_mark: :no_such_emoji:\n"
        "```\nline &lt;1&gt; *not bold*\n```\n&gt; quoted",
    )
    assert text_of(element, "strong") == "Status"
    assert text_of(element, "em") == "soon"
    assert text_of(element, "del") == "gone"
    assert text_of(element, "code") == "a*b*c"
    assert text_of(element, "pre") == "line <1> *not bold*"
    assert text_of(element, "blockquote") == "quoted"
    assert "\N{WHITE HEAVY CHECK MARK} :no_such_emoji:" in element.inner_text()
    assert len(element.query_selector_all("strong")) == 1
    assert browsing.errors == []


def test_mrkdwn_links_and_mentions(browsing: Browsing) -> None:
    """Links open only for http, https and mailto; user and channel mentions show names."""
    element = mrkdwn(
        browsing,
        "<https://example.com/a_b?x=1&amp;y=2|the docs> <mailto:ops@example.com> <javascript:alert(1)|bad> "
        "<@U0ALICE> <@U0NOBODY> <#C0PLAYNOTICE> <#C0OTHER|elsewhere> <!here>",
    )
    links = element.query_selector_all("a")
    assert [(link.get_attribute("href"), link.inner_text()) for link in links] == [
        ("https://example.com/a_b?x=1&y=2", "the docs"),
        ("mailto:ops@example.com", "mailto:ops@example.com"),
    ]
    text = element.inner_text()
    assert "bad" in text
    assert "@alice @U0NOBODY #job-notices #elsewhere @here" in text
    assert browsing.errors == []


def test_date_tokens_show_in_the_browsers_time_zone(browsing: Browsing) -> None:
    """A date token shows in the browser's zone; an unknown format token falls back."""
    epoch = 1718000000
    element = mrkdwn(
        browsing,
        f"<!date^{epoch}^{{date_num}} {{time}}|in UTC> / <!date^{epoch}^{{date_long}}|x> / "
        f"<!date^{epoch}^{{nonsense}}|the fallback>",
    )
    local = datetime.fromtimestamp(epoch, ZoneInfo(BROWSER_ZONE))
    expected = f"{local:%Y-%m-%d} {local.hour % 12 or 12}:{local:%M} {local:%p}"
    assert element.inner_text() == f"{expected} / {local:%A, %B} {local.day}th, {local.year} / the fallback"
    assert browsing.errors == []


def test_markup_in_message_text_stays_text(browsing: Browsing) -> None:
    """HTML in a message, escaped or not, never becomes an element of the page."""
    escaped = '&lt;script&gt;window.pwned = 1&lt;/script&gt; &lt;img src=x onerror="window.pwned = 1"&gt;'
    for shown in (
        message("m1", text=escaped),
        message("m2", text='<img src=x onerror="window.pwned = 1"> <script>window.pwned = 1</script>'),
        message("m3", blocks=[{"type": "header", "text": {"type": "plain_text", "text": "<b>bold?</b>"}}]),
        message(
            "m4", text="x", files=[{"name": "<img src=x onerror=alert(1)>", "text": "<script>1</script>"}]
        ),
    ):
        element = browsing.render(shown)
        assert element.query_selector("script, img, b") is None
    assert (
        '<script>window.pwned = 1</script> <img src=x onerror="window.pwned = 1">'
        in browsing.render(message("m5", text=escaped)).inner_text()
    )
    assert browsing.page.evaluate("window.pwned") is None
    assert browsing.errors == []


def test_channels_threads_ephemeral_edited_and_files(browsing: Browsing) -> None:
    """Both channels show side by side, replies under their parent, with Slack's marks and files."""
    parent = message("n1", channel="C0PLAYNOTICE", ts="1733040001.000100", text="Job 3 :x: FAILED")
    browsing.stub.change(
        messages=[
            message("m1", user="U0ALICE", text="/jobs list", ephemeral_to="U0ALICE"),
            message("m2", text="No jobs.", ephemeral_to="U0ALICE", edited=True),
            parent,
            message("n2", channel="C0PLAYNOTICE", thread_ts=parent["ts"], ts="1733040002.000100", text="log"),
            message(
                "n3",
                channel="C0PLAYNOTICE",
                thread_ts=parent["ts"],
                ts="1733040003.000100",
                text="the log",
                files=[{"name": "job-3.log", "title": "Job 3 log", "text": "E0610 failed <here>"}],
            ),
        ]
    )
    page = browsing.page
    page.wait_for_selector('body[data-version="2"]')
    jobs = page.locator('.pane[data-channel="C0PLAYJOBS"]')
    notices = page.locator('.pane[data-channel="C0PLAYNOTICE"]')
    assert jobs.locator(".pane-title").inner_text() == "#jobs"
    assert notices.locator(".pane-title").inner_text() == "#job-notices"
    assert jobs.locator(".message.ephemeral").count() == 2
    assert jobs.locator(".ephemeral-note").first.inner_text().endswith("Only visible to you")
    assert jobs.locator('[data-message-id="m1"] .author').inner_text() == "alice"
    assert jobs.locator('[data-message-id="m2"] .edited').inner_text() == "(edited)"
    assert notices.locator(".thread").count() == 1
    assert notices.locator(".reply-count").inner_text() == "2 replies"
    assert notices.locator(".replies .message").count() == 2
    assert notices.locator(".replies .file .file-name").inner_text().endswith("job-3.log")
    assert notices.locator(".replies .file pre").inner_text() == "E0610 failed <here>"
    assert page.locator(".channel-item").all_inner_texts() == ["#jobs", "#job-notices"]
    assert browsing.errors == []


def test_a_confirm_dialog_acts_only_on_confirm(browsing: Browsing) -> None:
    """Cancel opens Slack's dialog with the confirm object's texts; deny posts nothing, confirm posts once."""
    card = golden("card_running")
    confirm = card["blocks"][4]["elements"][1]["confirm"]
    browsing.stub.change(messages=[message("m7", text=card["text"], blocks=card["blocks"])])
    page = browsing.page
    cancel = page.locator('button[data-action-id="jobbot.job.cancel:8"]')
    cancel.click()
    dialog = page.locator("#confirm-dialog")
    assert dialog.is_visible()
    assert page.locator("#confirm-title").inner_text() == confirm["title"]["text"]
    assert page.locator("#confirm-text").inner_text() == confirm["text"]["text"]
    assert page.locator("#confirm-ok").inner_text() == confirm["confirm"]["text"]
    assert page.locator("#confirm-deny").inner_text() == confirm["deny"]["text"]
    assert "danger" in (page.locator("#confirm-ok").get_attribute("class") or "")
    page.locator("#confirm-deny").click()
    assert dialog.is_hidden()

    cancel.click()
    page.locator("#confirm-ok").click()
    assert dialog.is_hidden()
    wait_until(lambda: browsing.stub.posted("/play/action"), timeout=TIMEOUT_S, what="the action is posted")
    assert browsing.stub.posted("/play/action") == [
        {"message": "m7", "action_id": "jobbot.job.cancel:8", "block_id": "", "value": "8"}
    ]
    assert browsing.errors == []


def test_a_button_without_confirm_acts_at_once(browsing: Browsing) -> None:
    """Refresh posts its action, with the block's id, as soon as it is clicked."""
    blocks = copy.deepcopy(golden("card_running")["blocks"])
    blocks[4]["block_id"] = "job-8-actions"
    browsing.stub.change(messages=[message("m7", blocks=blocks)])
    browsing.page.locator('button[data-action-id="jobbot.job.refresh:8"]').click()
    wait_until(lambda: browsing.stub.posted("/play/action"), timeout=TIMEOUT_S, what="the action is posted")
    assert browsing.stub.posted("/play/action") == [
        {"message": "m7", "action_id": "jobbot.job.refresh:8", "block_id": "job-8-actions", "value": "8"}
    ]
    assert browsing.errors == []


def test_the_message_box_sends_jobs_commands_only(browsing: Browsing) -> None:
    """Text without /jobs gets a hint and is not sent; `/jobs list` + Enter posts the command's text."""
    page = browsing.page
    box = page.locator('.pane[data-channel="C0PLAYJOBS"] .composer-input')
    box.fill("list")
    box.press("Enter")
    hint = page.locator('.pane[data-channel="C0PLAYJOBS"] .composer-hint')
    assert hint.is_visible()
    assert "/jobs" in hint.inner_text()
    box.fill("/jobs list")
    box.press("Enter")
    wait_until(lambda: browsing.stub.posted("/play/command"), timeout=TIMEOUT_S, what="the command is posted")
    assert browsing.stub.posted("/play/command") == [{"channel": "C0PLAYJOBS", "text": "list"}]
    assert box.input_value() == ""
    assert browsing.errors == []


def test_an_api_error_shows_in_the_banner(browsing: Browsing) -> None:
    """A refusal from the API ({"ok": false}) is shown to the person, not swallowed."""
    browsing.stub.answers["/play/command"] = {"ok": False, "error": "jobbot did not answer"}
    box = browsing.page.locator('.pane[data-channel="C0PLAYJOBS"] .composer-input')
    box.fill("/jobs")
    box.press("Enter")
    banner = browsing.page.locator("#banner")
    banner.wait_for(state="visible")
    assert banner.inner_text().startswith("jobbot did not answer")
    assert browsing.stub.posted("/play/command") == [{"channel": "C0PLAYJOBS", "text": ""}]
    assert browsing.errors == []


def test_the_user_switcher_acts_as_someone_else(browsing: Browsing) -> None:
    """Choosing bob posts /play/user, and the page follows the state's new `me`."""
    page = browsing.page
    assert page.locator('.user-choice[aria-checked="true"]').get_attribute("data-user") == "U0ALICE"
    page.locator('.user-choice[data-user="U0BOB"]').click()
    wait_until(lambda: browsing.stub.posted("/play/user"), timeout=TIMEOUT_S, what="the switch is posted")
    assert browsing.stub.posted("/play/user") == [{"user": "U0BOB"}]
    browsing.stub.change(me="U0BOB")
    page.wait_for_selector('.user-choice[data-user="U0BOB"][aria-checked="true"]')
    assert browsing.errors == []
