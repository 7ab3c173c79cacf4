"""Reading the job list as it arrives: the fast path gives exactly what the json module would."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from jobbot.errors import ListingError
from jobbot.job_listing import JobListing
from jobbot.models import Job
from tests.server_json import JOB


def read(body: bytes, *, chunk: int = 65_536, run_bytes: int = 64 * 1024) -> JobListing:
    listing = JobListing(run_bytes=run_bytes)
    for start in range(0, len(body), chunk):
        listing.feed(body[start : start + chunk])
    listing.finish()
    return listing


def by_the_json_module(body: bytes) -> tuple[list[Job], int, int]:
    """(jobs, odd, skipped) from the whole body parsed at once, each entry as the client takes it."""
    value = json.loads(body)
    if value == {}:
        return [], 0, 0
    jobs: list[Job] = []
    odd = skipped = 0
    for entry in value:
        try:
            jobs.append(Job.model_validate(entry))
            continue
        except ValidationError:
            pass
        try:
            jobs.append(Job.from_server(entry))
            odd += 1
        except ValueError:
            skipped += 1
    return jobs, odd, skipped


# Log text made of what could fool a cut: quotes, backslashes before quotes, braces, the server's own
# separators and keys, and characters that are several bytes in UTF-8.
log_text = st.lists(
    st.sampled_from(
        [
            '"',
            "\\",
            '\\"',
            "\\\\",
            "{",
            "}",
            "},{",
            "}, {",
            '"log":"',
            ",",
            "[",
            "]",
            "\n",
            "x",
            "é",
            "\u2028",
            "🙂",
        ]
    ),
    max_size=30,
).map("".join)

well_formed = st.builds(
    lambda job_id, status, log: {**JOB, "id": str(job_id), "status": status, "log": log},
    st.integers(min_value=1, max_value=10**6),
    st.sampled_from(["RUNNING", "SUCCESS", "FAILED", "CANCELLED", "UNKNOWN", "success "]),
    log_text,
)
odd = st.one_of(
    st.builds(lambda n: {**JOB, "id": n}, st.integers(min_value=1, max_value=99)),  # an integer id
    st.builds(lambda t: {**JOB, "start_time": t}, st.sampled_from(["1718000000123", "soon", None])),
    st.builds(lambda key: {k: v for k, v in JOB.items() if k != key}, st.sampled_from(sorted(JOB))),
    st.just({**JOB, "status": "   "}),
)
junk: st.SearchStrategy[object] = st.sampled_from(["junk", None, 3, [], {"status": "RUNNING"}, {"id": True}])
# Objects in an array inside an entry: `},{` outside strings that does not end an entry.
nested = st.builds(
    lambda log: {
        **JOB,
        "log": log,
        "detail": {"graph_id": "2", "process_id": 1, "parts": [{"a": 1}, {"b": 2}]},
    },
    log_text,
)
entries = st.lists(st.one_of(well_formed, well_formed, well_formed, odd, junk, nested), max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=entries,
    compact=st.booleans(),
    indent=st.sampled_from([None, None, 2]),
    ensure_ascii=st.booleans(),
    chunk=st.integers(min_value=1, max_value=400),
    run_bytes=st.integers(min_value=1, max_value=600),
)
def test_any_body_cut_anywhere_reads_as_the_json_module_reads_it(
    entries: list[Any], compact: bool, indent: int | None, ensure_ascii: bool, chunk: int, run_bytes: int
) -> None:
    """Whatever the entries, spacing and chunking, the jobs, odd and skipped counts are json's."""
    separators = (",", ":") if compact else (", ", ": ")
    body = json.dumps(entries, separators=separators, indent=indent, ensure_ascii=ensure_ascii).encode()
    listing = read(body, chunk=chunk, run_bytes=run_bytes)
    assert (listing.jobs, listing.odd, len(listing.skipped)) == by_the_json_module(body)


@pytest.mark.parametrize(
    "line",
    [
        "I1017 22:45:14.004163 bulk_loader.cc:109] Loading graph 1, parallelism: 4\n",
        # Lines that look like the list's own separators must not push the reader off the fast path.
        # A log ending in a backslash puts `\\"` (an escaped backslash, then the end) before its quote.
        '\nconfig: [{"label": "person"},{"label": "knows"}] in C:\\data\\',
    ],
    ids=["plain", "braces-and-backslashes"],
)
def test_the_servers_usual_list_is_read_without_holding_its_logs(line: str) -> None:
    """20 MB of logs in 2,000 entries: besides the jobs it returns, reading holds under 1 MB at a time."""
    jobs = [{**JOB, "id": str(n), "log": line * (11_000 // len(line))} for n in range(2000)]
    body = json.dumps(jobs, separators=(",", ":")).encode()
    assert len(body) > 20_000_000
    tracemalloc.start()
    try:
        listing = read(body)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [job.id for job in listing.jobs] == [str(n) for n in range(2000)]
    assert listing.odd == 0 and listing.skipped == []
    assert peak - kept < 1_000_000, f"peak {peak:,} bytes, {kept:,} kept, for a {len(body):,}-byte body"


def test_one_huge_entry_in_tiny_chunks_is_read_whole() -> None:
    """A 5 MB log arriving a kilobyte at a time: the entry is read once it is complete."""
    body = json.dumps([JOB, {**JOB, "id": "8", "log": "x\\n" * 2_500_000}, {**JOB, "id": "9"}]).encode()
    listing = read(body, chunk=1024)
    assert [job.id for job in listing.jobs] == ["7", "8", "9"]


@pytest.mark.parametrize("body", [b"[]", b" [ ]\n", b"\n[\r\n]\t", b"{}", b" {} "])
def test_empty_lists_in_every_spelling_are_empty(body: bytes) -> None:
    """`[]` with any spacing, and `{}` (servers before Oct 2024, which the reader notes), are no jobs."""
    listing = read(body, chunk=1)
    assert listing.jobs == []
    assert listing.empty_as_object is (b"{}" in body)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>proxy error</html>", "not JSON"),
        (b"", "not JSON"),
        (b'{"code": 999}', "not a JSON array"),
        (b'"jobs"', "not a JSON array"),
        (b'[{"id": "7"}, {"id": "8"', "not JSON"),  # the connection's end cut the list short
        (b'[{"id": "7"},]', "not"),
        (b'[{"id": "7"}]]', "not JSON"),
        (b'[{"id": "7"}] trailing', "not JSON"),
        (b'[{"id": "7"} {"id": "8"}]', "not"),
        (b"[\xff\xfe]", "not"),
    ],
)
def test_a_body_that_is_not_a_job_list_is_an_error_saying_so(body: bytes, says: str) -> None:
    """Broken or truncated bodies raise ListingError with a readable reason, never partial results."""
    for chunk in (1, 7, len(body) or 1):
        with pytest.raises(ListingError) as caught:
            read(body, chunk=chunk, run_bytes=4)
        assert says in str(caught.value)


def test_the_error_quotes_the_body_where_it_went_wrong() -> None:
    """The message shows the bytes around the problem, clipped, not the whole body."""
    entries = json.dumps([{**JOB, "id": str(n)} for n in range(2000)]).encode()
    body = entries[:-1] + b", oops]"
    with pytest.raises(ListingError) as caught:
        read(body, run_bytes=1024)
    message = str(caught.value)
    assert "oops" in message and len(message) < 700


def test_a_list_the_fast_path_cannot_vouch_for_is_read_without_holding_its_logs() -> None:
    """Entries nesting objects in arrays take the exact path: 20 MB of logs, under 4 MB held at a time."""
    entries = [
        {
            **JOB,
            "id": str(n),
            "log": "x\\" * 10_000,
            "detail": {"graph_id": "2", "parts": [{"a": 1}, {"b": 2}]},
        }
        for n in range(1000)
    ]
    body = json.dumps(entries).encode()
    assert len(body) > 20_000_000
    tracemalloc.start()
    try:
        listing = read(body)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (listing.jobs, listing.odd, len(listing.skipped)) == by_the_json_module(body)
    assert peak - kept < 4_000_000, f"peak {peak:,} bytes, {kept:,} kept, for a {len(body):,}-byte body"


def test_one_30_mb_entry_is_read_without_holding_it() -> None:
    """One job with a 30 MB log among small ones: the jobs are json's, and the log is never held whole."""
    body = json.dumps([JOB, {**JOB, "id": "8", "log": "line\\n" * 6_000_000}, {**JOB, "id": "9"}]).encode()
    tracemalloc.start()
    try:
        listing = read(body)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [job.id for job in listing.jobs] == ["7", "8", "9"]
    assert peak - kept < 12_000_000, f"peak {peak:,} bytes, {kept:,} kept, for a {len(body):,}-byte body"


def hostile_body(entries: int = 400) -> bytes:
    """Entries whose graph ids end in `},{` (so `},{"` closes a string) and whose logs end in a backslash
    (so `\\\\"` ends a string): what sends a cut that trusts the first `},{"` into a string."""
    jobs = [
        {
            **JOB,
            "id": str(n),
            "log": "step\\n" * 200 + "C:\\data\\",
            "detail": {"process_id": 4242, "graph_id": f"g{n}}},{{"},
        }
        for n in range(entries)
    ]
    return json.dumps(jobs, separators=(",", ":")).encode()


@pytest.mark.parametrize("chunk", [1000, 4096, 65_536])
def test_hostile_graph_ids_and_logs_stay_on_the_fast_path(chunk: int) -> None:
    """Graph ids ending in `},{` and logs ending in a backslash are cut by counting quotes, on the fast
    path: the exact path is never taken and the jobs are json's."""
    body = hostile_body()
    listing = read(body, chunk=chunk, run_bytes=4096)
    assert not listing.exact, "the fast path gave up on a list it can cut"
    assert (listing.jobs, listing.odd, len(listing.skipped)) == by_the_json_module(body)
    assert listing.jobs[-1].graph_id == "g399},{"


def test_a_body_in_many_small_chunks_is_cut_once_per_run_not_once_per_chunk() -> None:
    """Fed a kilobyte at a time, runs are tried about once per `run_bytes`, and one entry larger than
    a run is tried again only as it doubles: the work grows with the body, not with chunks times runs."""
    small = json.dumps(
        [{**JOB, "id": str(n), "log": "line\\n" * 100} for n in range(2000)], separators=(",", ":")
    ).encode()
    listing = read(small, chunk=1024, run_bytes=16 * 1024)
    assert not listing.exact and len(listing.jobs) == 2000
    runs = len(small) // (16 * 1024)
    assert runs <= listing.cuts <= runs + 2, f"{listing.cuts} cuts for {runs} runs"
    huge = json.dumps([JOB, {**JOB, "id": "8", "log": "x\\n" * 1_000_000}, {**JOB, "id": "9"}]).encode()
    listing = read(huge, chunk=1024, run_bytes=16 * 1024)
    assert [job.id for job in listing.jobs] == ["7", "8", "9"]
    # 3 MB waited for from 16 KiB by doubling: about eight tries, where a try per chunk would be 3,000.
    assert listing.cuts <= 12, f"{listing.cuts} cuts for one {len(huge):,}-byte entry"
