"""The job list, the job card and the cancel prompt: content, buttons, and limits under hostile data."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobbot import slack_ids
from jobbot.models import KNOWN_STATUSES, LOG_TAIL_CHARS, JobWithLog
from jobbot.render.jobs import MAX_PAGE_SIZE, cancel_button, cancel_prompt, job_card, job_list
from jobbot.render.kit import Message
from jobbot.render.notices import completion_digest, completion_notice
from jobbot.slack_ids import decode_list_state
from tests.render_fixtures import (
    END_MS,
    HOSTILE_TEXTS,
    NOW,
    all_buttons,
    all_text,
    button_ids,
    make_finished,
    make_job,
    mixed_jobs,
    server_text,
)
from tests.slack_limits import check_limits, check_safe

# --- the job list ---------------------------------------------------------------------------


def test_list_is_newest_first_by_numeric_id() -> None:
    """Jobs are sorted by the number in their id, not as text, whatever order the server sent."""
    message = job_list([make_job(9), make_job(100), make_job(10)], now=NOW, may_cancel=True)
    details = [b for b in button_ids(message) if b.startswith(slack_ids.JOB_DETAILS)]
    assert details == [slack_ids.action_id(slack_ids.JOB_DETAILS, n) for n in ("100", "10", "9")]


def test_list_filters_by_status_and_says_so() -> None:
    """Only jobs with the requested statuses are listed, and the context line names the filter."""
    message = job_list(mixed_jobs(23), statuses=("failed",), now=NOW, may_cancel=True)
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert sections and all(":x: FAILED" in text for text in sections)
    assert "Jobs 1\u20134 of 4 · status: FAILED" in message.blocks[1]["elements"][0]["text"]


def test_list_offers_cancel_for_every_job_not_finished() -> None:
    """Every listed job has Details; RUNNING, WAITING and UNKNOWN jobs (the server's DELETE kills an
    UNKNOWN job's process too) also get a Cancel button, finished ones do not."""
    jobs = [make_job(1, "RUNNING"), make_job(2, "WAITING"), make_job(3, "SUCCESS"), make_job(4, "PAUSED")]
    ids = button_ids(job_list(jobs, now=NOW, may_cancel=True))
    assert [i for i in ids if i.startswith(slack_ids.JOB_CANCEL)] == [
        slack_ids.action_id(slack_ids.JOB_CANCEL, "4"),
        slack_ids.action_id(slack_ids.JOB_CANCEL, "2"),
        slack_ids.action_id(slack_ids.JOB_CANCEL, "1"),
    ]
    assert len([i for i in ids if i.startswith(slack_ids.JOB_DETAILS)]) == 4


def cancel_buttons(message: Message) -> list[dict[str, Any]]:
    return [b for b in all_buttons(message) if b["action_id"].startswith(slack_ids.JOB_CANCEL)]


def test_the_list_warns_before_cancelling_an_unknown_job_and_its_button_says_so() -> None:
    """The dialog of an UNKNOWN job's Cancel says the server kills the stored process id, naming it, and
    its value says the dialog warned; a fresh RUNNING job's dialog and value do neither."""
    jobs = [make_job(1, "RUNNING"), make_job(4, "UNKNOWN", detail={"graph_id": "2", "process_id": 5150})]
    unknown, running = cancel_buttons(job_list(jobs, now=NOW, may_cancel=True))
    said = unknown["confirm"]["text"]["text"]
    assert "status UNKNOWN" in said and "kills process 5150" in said and "no longer be the loader" in said
    assert unknown["confirm"]["text"]["type"] == "plain_text" and len(said) <= 300
    assert slack_ids.decode_cancel_ref(unknown["value"]) == (None, "4", True)
    assert "process" not in running["confirm"]["text"]["text"]
    assert slack_ids.decode_cancel_ref(running["value"]) == (None, "1", False)


def test_no_cancel_button_for_someone_who_may_not_cancel() -> None:
    """A list and a card drawn for someone who may not cancel have no Cancel button; every other button
    (Details, Refresh, Full log, paging) is still there."""
    jobs = [make_job(1, "RUNNING"), make_job(2, "WAITING"), make_job(3, "SUCCESS")]
    listed = button_ids(job_list(jobs, now=NOW, may_cancel=False))
    assert not [i for i in listed if i.startswith(slack_ids.JOB_CANCEL)]
    assert len([i for i in listed if i.startswith(slack_ids.JOB_DETAILS)]) == 3
    card = button_ids(job_card(make_job(1, "RUNNING"), now=NOW, may_cancel=False))
    assert card == [
        slack_ids.action_id(slack_ids.JOB_REFRESH, "1"),
        slack_ids.action_id(slack_ids.JOB_FULL_LOG, "1"),
    ]


def test_cancel_button_carries_the_danger_confirmation_dialog() -> None:
    """The Cancel button asks for confirmation in a danger dialog, within Slack's dialog limits."""
    [cancel] = [
        b
        for b in all_buttons(job_list([make_job(7)], now=NOW, may_cancel=True))
        if b.get("style") == "danger"
    ]
    assert cancel["value"] == "7"
    assert cancel["action_id"] == slack_ids.action_id(slack_ids.JOB_CANCEL, "7")
    confirm = cancel["confirm"]
    assert confirm["title"]["text"] == "Cancel job 7?"
    assert confirm["text"]["type"] == "plain_text"
    assert "cannot be undone" in confirm["text"]["text"]
    assert (confirm["confirm"]["text"], confirm["deny"]["text"], confirm["style"]) == (
        "Cancel job",
        "Keep running",
        "danger",
    )
    longest = cancel_button("9" * 20).to_dict()["confirm"]
    assert len(longest["title"]["text"]) <= 100 and len(longest["text"]["text"]) <= 300


@pytest.mark.parametrize(
    ("page", "shown", "nav"),
    [
        (1, 1, ["next", "refresh"]),
        (2, 2, ["prev", "next", "refresh"]),
        (3, 3, ["prev", "refresh"]),
        (99, 3, ["prev", "refresh"]),
        (0, 1, ["next", "refresh"]),
        (-5, 1, ["next", "refresh"]),
    ],
)
def test_pagination_clamps_pages_and_shows_only_existing_neighbours(
    page: int, shown: int, nav: list[str]
) -> None:
    """Out-of-range pages are clamped, and Prev / Next appear only when those pages exist."""
    message = job_list(mixed_jobs(23), statuses=(), page=page, now=NOW, may_cancel=True)
    nav_block = message.blocks[-1]["elements"]
    assert [button["action_id"].rsplit(":", 1)[1] for button in nav_block] == nav
    refresh = nav_block[-1]
    assert refresh["action_id"] == slack_ids.action_id(slack_ids.LIST_REFRESH, "refresh")
    assert decode_list_state(refresh["value"]) == ((), shown)
    for button in nav_block[:-1]:
        assert button["action_id"].startswith(slack_ids.LIST_PAGE + ":")
        step = -1 if button["action_id"].endswith("prev") else 1
        assert decode_list_state(button["value"]) == ((), shown + step)


def test_nav_buttons_keep_the_status_filter() -> None:
    """Next carries the filter and the next page number as compact JSON under 2000 characters."""
    message = job_list(mixed_jobs(80), statuses=("SUCCESS", "FAILED"), page=1, now=NOW, may_cancel=True)
    [next_button] = [b for b in message.blocks[-1]["elements"] if b["action_id"].endswith("next")]
    assert next_button["value"] == '{"p":2,"s":["SUCCESS","FAILED"]}'
    assert decode_list_state(next_button["value"]) == (("SUCCESS", "FAILED"), 2)


@pytest.mark.parametrize(
    ("statuses", "text"),
    [
        ((), "No jobs yet."),
        (("FAILED",), "No jobs with status FAILED."),
        (("FAILED", "WAITING"), "or WAITING"),
    ],
)
def test_empty_results_say_so_kindly(statuses: tuple[str, ...], text: str) -> None:
    """An empty page says there are no jobs (with the filter) and still offers Refresh."""
    message = job_list([], statuses=statuses, now=NOW, may_cancel=True)
    assert text in message.text and text in all_text(message)
    assert button_ids(message) == [slack_ids.action_id(slack_ids.LIST_REFRESH, "refresh")]
    check_limits(message)


def test_page_size_is_clamped_to_what_fits_a_message() -> None:
    """A caller asking for 500 jobs a page gets MAX_PAGE_SIZE; asking for 0 gets one."""
    jobs = mixed_jobs(600)
    big = job_list(jobs, now=NOW, page_size=500, may_cancel=True)
    assert sum(b["type"] == "section" for b in big.blocks) == MAX_PAGE_SIZE
    check_limits(big)
    one = job_list(jobs, now=NOW, page_size=0, may_cancel=True)
    assert sum(b["type"] == "section" for b in one.blocks) == 1


def test_unknown_filter_statuses_are_ignored() -> None:
    """A status outside KNOWN_STATUSES cannot reach the message or a button value."""
    message = job_list(mixed_jobs(5), statuses=("<!channel>", "failed"), now=NOW, may_cancel=True)
    assert "channel" not in all_text(message)
    check_safe(message)


# --- one job --------------------------------------------------------------------------------


def card_fields(message: Message) -> dict[str, str]:
    [fields_block] = [b for b in message.blocks if b["type"] == "section" and "fields" in b]
    pairs = (field["text"].split("\n", 1) for field in fields_block["fields"])
    return {label.strip("*"): value for label, value in pairs}


def test_running_card_never_trusts_end_time() -> None:
    """A running job shows how long it has run so far and no end, whatever end_time holds."""
    message = job_card(make_job(8, "RUNNING", end_time=END_MS), now=NOW, may_cancel=True)
    fields = card_fields(message)
    assert "Ended" not in fields
    assert fields["Running for"] == "46m 39s"
    assert button_ids(message) == [
        slack_ids.action_id(slack_ids.JOB_REFRESH, "8"),
        slack_ids.action_id(slack_ids.JOB_CANCEL, "8"),
        slack_ids.action_id(slack_ids.JOB_FULL_LOG, "8"),
    ]


def test_finished_card_shows_end_and_duration_without_cancel() -> None:
    """A terminal job shows its end time and total duration, and Refresh and Full log buttons (no Cancel)."""
    message = job_card(make_job(7, "SUCCESS"), now=NOW, may_cancel=True)
    fields = card_fields(message)
    assert fields["Ended"].startswith("<!date^1718000065^")
    assert fields["Duration"] == "1m 05s"
    assert fields["Graph"] == "`2`" and fields["Process"] == "4242" and fields["Type"] == "BULK_LOADING"
    assert button_ids(message) == [
        slack_ids.action_id(slack_ids.JOB_REFRESH, "7"),
        slack_ids.action_id(slack_ids.JOB_FULL_LOG, "7"),
    ]
    [full_log] = [b for b in all_buttons(message) if b["action_id"].startswith(slack_ids.JOB_FULL_LOG)]
    assert full_log["value"] == "7" and full_log["text"]["text"] == "Full log"


def test_list_has_no_full_log_buttons() -> None:
    """The list keeps to Details and Cancel: a Full log per row would crowd it (and its JSON budget)."""
    message = job_list(mixed_jobs(10), now=NOW, may_cancel=True)
    assert not any(i.startswith(slack_ids.JOB_FULL_LOG) for i in button_ids(message))


def test_card_with_no_times_or_detail_still_renders() -> None:
    """A job with only an id and a status renders, leaving out what the server did not send."""
    message = job_card(JobWithLog.from_server({"id": "3"}), now=NOW, may_cancel=True)
    assert set(card_fields(message)) == {"Status", "Type"}
    assert "_(empty log)_" in all_text(message)
    check_limits(message)


def test_card_notice_comes_first_and_is_not_escaped() -> None:
    """The caller's notice (bot-written mrkdwn) is the first section, mentions intact."""
    message = job_card(make_job(8, "CANCELLED"), now=NOW, notice="<@U1> cancelled job 8.", may_cancel=True)
    assert message.blocks[1]["text"]["text"] == "<@U1> cancelled job 8."


def test_log_truncated_by_jobbot_is_noted() -> None:
    """When only the log's tail was kept, the card says so, and the log still ends with its last line."""
    log = "".join(f"row {n}\n" for n in range(100_000)) + "LAST LINE\n"
    message = job_card(make_job(9, "FAILED", log=log), now=NOW, may_cancel=True)
    text = all_text(message)
    assert "Log truncated by jobbot" in text
    assert "LAST LINE\\n```" in text
    assert "earlier lines not shown" in text
    check_limits(message)


def test_cancel_prompt_for_running_job_asks_to_confirm() -> None:
    """`/jobs cancel 8` on a running job explains the next step and offers the Cancel button."""
    message = cancel_prompt(make_job(8, "RUNNING"), now=NOW)
    assert "press *Cancel* below and confirm" in message.blocks[1]["text"]["text"]
    assert slack_ids.action_id(slack_ids.JOB_CANCEL, "8") in button_ids(message)


@pytest.mark.parametrize("status", ["SUCCESS", "FAILED", "CANCELLED"])
def test_cancel_prompt_for_finished_job_has_nothing_to_cancel(status: str) -> None:
    """`/jobs cancel 7` on a finished job says so and offers no Cancel button."""
    message = cancel_prompt(make_job(7, status), now=NOW)
    assert "has already finished" in message.text
    assert not any(i.startswith(slack_ids.JOB_CANCEL) for i in button_ids(message))


def test_cancel_prompt_for_unknown_status_warns_and_offers_cancel() -> None:
    """A job in an unknown state can still be cancelled (the server kills its process): the prompt says
    the status and warns first, naming the process id, as does the Cancel dialog."""
    message = cancel_prompt(make_job(7, "<!here>"), now=NOW)
    lead = message.blocks[1]["text"]["text"]
    assert lead.startswith(":rotating_light: *Check first:*")
    # Plain words in the dialog: the angle brackets are shown as look-alikes, so nothing can ping.
    assert "status \u2039!HERE\u203a" in lead and "kills process 4242" in lead and "press *Cancel*" in lead
    [cancel] = cancel_buttons(message)
    assert "kills process 4242" in cancel["confirm"]["text"]["text"]
    assert slack_ids.decode_cancel_ref(cancel["value"])[2] is True
    check_limits(message)
    check_safe(message)


def test_the_unknown_warning_without_a_process_id_still_says_what_is_killed() -> None:
    """A job the server lists with no process id: the warning says its recorded process is killed."""
    message = cancel_prompt(make_job(7, "UNKNOWN", detail={"graph_id": "2"}), now=NOW)
    [cancel] = cancel_buttons(message)
    assert "kills its recorded process" in cancel["confirm"]["text"]["text"]


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXTS))
def test_the_unknown_warning_of_a_hostile_job_fits_the_dialog_and_names_the_process(kind: str) -> None:
    """The longest id, a hostile status and a huge pid: the dialog stays within 300 characters and still
    names the process id in full."""
    job = make_job(2**63 - 1, HOSTILE_TEXTS[kind], detail={"graph_id": "2", "process_id": 2**62})
    for message in (cancel_prompt(job, now=NOW), job_card(job, now=NOW, may_cancel=True)):
        [cancel] = cancel_buttons(message)
        said = cancel["confirm"]["text"]["text"]
        assert len(said) <= 300 and f"process {2**62}" in said
        check_limits(message)
        check_safe(message)


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXTS))
def test_list_of_hostile_jobs_stays_within_limits(kind: str) -> None:
    """Ten active jobs with 20-digit ids, 10 kB graph ids and statuses of hostile text still fit."""
    hostile = HOSTILE_TEXTS[kind]
    jobs = [
        make_job(
            10**19 + n, "RUNNING" if n % 2 else hostile, detail={"graph_id": hostile, "process_id": 2**62}
        )
        for n in range(30)
    ]
    message = job_list(jobs, page=2, now=NOW, may_cancel=True)
    assert sum(b["type"] == "section" for b in message.blocks) == 10
    check_limits(message)
    check_safe(message)


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXTS))
def test_card_of_hostile_job_stays_within_limits(kind: str) -> None:
    """A card whose log, graph id, type and status are hostile text fits and pings no one."""
    hostile = HOSTILE_TEXTS[kind]
    job = make_job(
        10**19, "RUNNING", log=hostile * 20, type=hostile, detail={"graph_id": hostile, "process_id": 1}
    )
    for message in (job_card(job, now=NOW, notice="x" * 5000, may_cancel=True), cancel_prompt(job, now=NOW)):
        check_limits(message)
        check_safe(message)
        assert all(
            b["type"] != "section" or b.get("text", {}).get("text", "").count("```") in (0, 2)
            for b in message.blocks
        )


def test_5_mb_log_is_cut_to_a_bounded_tail() -> None:
    """A 5 MB log, even one that skipped the model's tail, renders as a bounded block with its end."""
    log = "<!channel> `x` & progress\r" * 200_000 + "final line"
    parsed = make_job(9, "FAILED", log=log)
    assert parsed.log_truncated and len(parsed.log) <= LOG_TAIL_CHARS
    unparsed = parsed.model_copy(update={"log": log})  # as if built without the model's validators
    for job in (parsed, unparsed):
        message = job_card(job, now=NOW, may_cancel=True)
        check_limits(message)
        check_safe(message)
        assert "final line\\n```" in all_text(message)


def test_100000_jobs_render_one_valid_page() -> None:
    """The server's unbounded list (100,000 jobs, shuffled) gives one valid page, newest first."""
    templates = mixed_jobs(6)
    # model_copy keeps building the fixture fast; the renderer sees ordinary Job objects.
    jobs = [templates[n % 6].model_copy(update={"id": str(n)}) for n in range(1, 100_001)]
    random.Random(7).shuffle(jobs)  # the server lists jobs in no order
    message = job_list(jobs, statuses=("SUCCESS", "FAILED"), page=3, now=NOW, may_cancel=True)
    matching = sum(job.status in ("SUCCESS", "FAILED") for job in jobs)
    assert f"Jobs 21\u201330 of {matching:,} ·" in message.blocks[1]["elements"][0]["text"]
    newest = sorted((job.sort_key for job in jobs if job.status in ("SUCCESS", "FAILED")), reverse=True)
    details = [b["value"] for b in all_buttons(message) if b["action_id"].startswith(slack_ids.JOB_DETAILS)]
    assert details == [str(n) for n in newest[20:30]]
    check_limits(message)


def test_job_with_a_mangled_id_gets_no_buttons() -> None:
    """A job id that is not a short run of digits is shown (escaped) but never put in a button."""
    job = make_job("../1<!here>", "RUNNING")
    for message in (job_list([job], now=NOW, may_cancel=True), job_card(job, now=NOW, may_cancel=True)):
        assert not any(
            i.startswith((slack_ids.JOB_CANCEL, slack_ids.JOB_DETAILS)) for i in button_ids(message)
        )
        check_safe(message)
        check_limits(message)


server_jobs = st.builds(
    lambda job_id, status, graph_id, log, start, end: make_job(
        job_id,
        status,
        log=log,
        start_time=start,
        end_time=end,
        detail={"graph_id": graph_id, "process_id": 1},
    ),
    job_id=st.integers(min_value=0, max_value=10**20 - 1) | st.text(max_size=30),
    status=st.sampled_from(KNOWN_STATUSES) | server_text,
    graph_id=server_text,
    log=server_text,
    start=st.integers(min_value=-(2**40), max_value=2**45),
    end=st.integers(min_value=-(2**40), max_value=2**45),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(server_jobs, max_size=25), st.integers(min_value=-3, max_value=5))
def test_any_server_data_gives_a_valid_list_and_cards(jobs: list[JobWithLog], page: int) -> None:
    """Whatever the server sends, every list page and card is valid Block Kit that pings no one."""
    check_limits(message := job_list(jobs, page=page, now=NOW, may_cancel=True))
    check_safe(message)
    for job in jobs[:3]:
        check_limits(message := job_card(job, now=NOW, may_cancel=True))
        check_safe(message)


def test_a_graph_id_with_a_bidi_override_reads_as_what_it_is() -> None:
    """A graph id hiding a right-to-left override is shown with the override spelled out, everywhere
    it appears: list, card, cancel prompt and the Cancel dialog, notice and digest."""
    graph = "prod\u202e1-tset"  # reads as "prodtest-1" in Slack if the override is kept
    job = make_job(8, "RUNNING", detail={"graph_id": graph, "process_id": 1})
    finished = make_finished(8, "FAILED", graph_id=graph)
    for message in (
        job_list([job], now=NOW, may_cancel=True),
        job_card(job, now=NOW, may_cancel=True),
        cancel_prompt(job, now=NOW),
        completion_notice(finished),
        completion_digest([finished, make_finished(9)], offline=False),
    ):
        check_safe(message)
        assert "prod\\u202e1-tset" in "\n".join([message.text, *strings_in(message.blocks)])


def strings_in(value: Any) -> list[str]:
    """Every string inside a block structure, as Slack will render it (not JSON-escaped)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return []
