"""The shared job client: the real server's quirks, its errors, retries and timeouts."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import tracemalloc
from collections.abc import Callable, Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobbot import job_listing
from jobbot.emulator import GET_JOB, PID_GONE, PID_OTHER_USER, PID_REUSED, Emulator, Quirks
from jobbot.errors import (
    InteractiveServerError,
    InteractiveUnavailable,
    InvalidJobId,
    JobAlreadyFinished,
    JobNotFound,
)
from jobbot.jobs_api import JobClient, parse_error_body
from jobbot.models import FULL_LOG_MAX_BYTES, LOG_TAIL_CHARS, FullLog, Job, JobWithLog, log_tail
from jobbot.render import cards
from tests.server_json import JOB
from tests.support import FakeClock


def client_for(
    handler: Callable[[httpx.Request], httpx.Response], **kwargs: object
) -> tuple[JobClient, list[str]]:
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url}")
        return handler(request)

    http = httpx.Client(transport=httpx.MockTransport(record))
    return JobClient("http://gs:7777/", http=http, sleep=lambda _s: None, **kwargs), seen  # type: ignore[arg-type]


def test_lists_jobs_with_epoch_millisecond_times_and_server_fields() -> None:
    """A list entry keeps the id, status, graph and process ids and reads times as epoch milliseconds."""
    client, seen = client_for(lambda r: httpx.Response(200, json=[JOB]))
    [job] = client.list_jobs()
    assert (job.id, job.status, job.graph_id, job.process_id) == ("7", "SUCCESS", "2", 4242)
    assert job.started_at is not None and job.started_at.year == 2024
    assert job.duration_seconds(job.started_at) == pytest.approx(65.309)
    assert seen == ["GET http://gs:7777/v1/job"]


def test_empty_list_answered_as_object_is_an_empty_list() -> None:
    """Servers before Oct 2024 answer `{}` for no jobs; that is an empty list, not an error."""
    client, _ = client_for(lambda r: httpx.Response(200, json={}))
    assert client.list_jobs() == []


def test_unknown_status_is_kept_and_running_end_time_ignored() -> None:
    """UNKNOWN and never-seen statuses survive parsing, and a running job's end_time is not trusted."""
    running = {**JOB, "id": "8", "status": "RUNNING", "end_time": 99}
    odd = {**JOB, "id": "9", "status": "REBALANCING"}
    unknown = {**JOB, "id": "10", "status": "UNKNOWN"}
    client, _ = client_for(lambda r: httpx.Response(200, json=[running, odd, unknown]))
    jobs = {j.id: j for j in client.list_jobs()}
    assert jobs["8"].ended_at is None and jobs["8"].is_active
    assert jobs["9"].status == "REBALANCING" and not jobs["9"].is_terminal and not jobs["9"].is_active
    assert jobs["10"].status == "UNKNOWN"


def test_malformed_entries_are_skipped_not_fatal() -> None:
    """One entry with a broken shape does not hide every other job."""
    client, _ = client_for(
        lambda r: httpx.Response(200, json=[JOB, {"status": "RUNNING"}, "junk", {**JOB, "id": 11}])
    )
    assert [j.id for j in client.list_jobs()] == ["7", "11"]


def test_only_a_bounded_tail_of_each_log_is_kept() -> None:
    """A megabyte log is cut to its last characters and marked as truncated."""
    big = {**JOB, "log": "line\n" * 300_000 + "the end"}
    client, _ = client_for(lambda r: httpx.Response(200, json=big))
    job = client.get_job("7")
    assert len(job.log) <= LOG_TAIL_CHARS and job.log.endswith("the end") and job.log_truncated


def test_unknown_job_is_not_found() -> None:
    """A 404 with the server's `{code: 4}` body becomes JobNotFound."""
    body = {"code": 4, "message": "key 999 not found for :JOB_META"}
    client, _ = client_for(lambda r: httpx.Response(404, json=body))
    with pytest.raises(JobNotFound) as caught:
        client.get_job("999")
    assert caught.value.job_id == "999"
    assert caught.value.code == 4


def test_unknown_job_from_an_old_server_has_no_code() -> None:
    """Servers before Aug 2024 answer a 404 with the bare message: JobNotFound carries no code, which is
    how `jobbot check` tells the error format apart."""
    client, _ = client_for(lambda r: httpx.Response(404, text="key 999 not found for :JOB_META"))
    with pytest.raises(JobNotFound) as caught:
        client.get_job("999")
    assert caught.value.code is None


def test_cancel_of_finished_job_is_already_finished_with_its_status() -> None:
    """The server's 400 `Job already SUCCESS: 7` becomes JobAlreadyFinished carrying SUCCESS."""
    client, _ = client_for(
        lambda r: httpx.Response(400, json={"code": 102, "message": "Job already SUCCESS: 7"})
    )
    with pytest.raises(JobAlreadyFinished) as caught:
        client.cancel_job("7")
    assert caught.value.status == "SUCCESS"


def test_old_server_plain_text_already_finished_is_recognised() -> None:
    """Servers before Aug 2024 send the bare message; it is still recognised."""
    client, _ = client_for(lambda r: httpx.Response(400, text="Job already CANCELLED: 8"))
    with pytest.raises(JobAlreadyFinished) as caught:
        client.cancel_job("8")
    assert caught.value.status == "CANCELLED"


@pytest.mark.parametrize("body", [{"message": "Successfully cancel job: 8"}, "Successfully cancel job: 8"])
def test_cancel_accepts_an_object_or_a_string(body: object) -> None:
    """The server answers an object and the spec a bare string; both give the message."""
    client, seen = client_for(lambda r: httpx.Response(200, json=body))
    assert client.cancel_job("8") == "Successfully cancel job: 8"
    assert seen == ["DELETE http://gs:7777/v1/job/8"]


def test_error_message_with_unescaped_quotes_is_recovered() -> None:
    """The server does not escape messages; the text is recovered from the broken JSON."""
    raw = '{"code": 999, "message": "bad "quoted" thing\nsecond line"}'
    assert parse_error_body(raw) == (999, 'bad "quoted" thing\nsecond line')
    client, _ = client_for(lambda r: httpx.Response(500, text=raw), retries=0)
    with pytest.raises(InteractiveServerError) as caught:
        client.get_job("1")
    assert (caught.value.http_status, caught.value.code) == (500, 999)
    assert 'bad "quoted" thing' in caught.value.message


def test_stale_pid_cancel_failure_is_a_server_error_with_code() -> None:
    """A 500 `Fail to kill process` keeps the server's code and message; DELETE is not retried."""
    body = {"code": 103, "message": "Fail to kill process: 4242, error message: No such process"}
    client, seen = client_for(lambda r: httpx.Response(500, json=body))
    with pytest.raises(InteractiveServerError) as caught:
        client.cancel_job("3")
    assert caught.value.code == 103 and "Fail to kill" in caught.value.message
    assert len(seen) == 1


def test_gets_are_retried_on_5xx_then_succeed() -> None:
    """Two 503s then a 200: the GET succeeds after backing off twice."""
    answers = iter(
        [httpx.Response(503, text="busy"), httpx.Response(503, text="busy"), httpx.Response(200, json=JOB)]
    )
    client, seen = client_for(lambda r: next(answers))
    assert client.get_job("7").id == "7"
    assert len(seen) == 3


def test_connection_refused_names_the_endpoint_after_retries() -> None:
    """A refused connection is retried, then reported as unavailable with the endpoint and a hint."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    client, seen = client_for(refuse)
    with pytest.raises(InteractiveUnavailable) as caught:
        client.list_jobs()
    assert caught.value.endpoint == "http://gs:7777"
    assert "refused" in caught.value.reason and "INTERACTIVE_ADMIN_ENDPOINT" in caught.value.reason
    assert len(seen) == 3


def test_timeouts_are_not_retried() -> None:
    """A server that did not answer in time is reported at once, not asked again."""

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, seen = client_for(hang)
    with pytest.raises(InteractiveUnavailable) as caught:
        client.get_job("5")
    assert "did not answer in time" in caught.value.reason and len(seen) == 1


def test_listed_jobs_carry_no_log_and_a_read_job_does() -> None:
    """The list's logs are skipped unread (they are nearly all of its bytes); `get_job` keeps the tail."""
    client, _ = client_for(lambda r: httpx.Response(200, json=[JOB] if r.url.path == "/v1/job" else JOB))
    [listed] = client.list_jobs()
    assert type(listed) is Job and not hasattr(listed, "log")
    read = client.get_job("7")
    assert isinstance(read, JobWithLog) and read.log == JOB["log"]
    assert read.model_dump(exclude={"log", "log_truncated"}) == listed.model_dump()


class _BreaksHalfway(httpx.SyncByteStream):
    """A 200 body that stops with a dropped connection after its first chunk."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        yield self._body[: len(self._body) // 2]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def test_a_list_cut_off_halfway_is_asked_for_again() -> None:
    """A connection lost in the middle of the list's body is retried like any failed GET."""
    body = json.dumps([{**JOB, "id": str(n)} for n in range(1, 500)]).encode()
    answers = iter([httpx.Response(200, stream=_BreaksHalfway(body)), httpx.Response(200, content=body)])
    client, seen = client_for(lambda r: next(answers))
    assert len(client.list_jobs()) == 499 and len(seen) == 2


def test_a_list_cut_off_every_time_is_unavailable_not_partial() -> None:
    """When every attempt breaks off, the answer is 'unavailable', never the jobs read so far."""
    body = json.dumps([{**JOB, "id": str(n)} for n in range(1, 500)]).encode()
    client, seen = client_for(lambda r: httpx.Response(200, stream=_BreaksHalfway(body)))
    with pytest.raises(InteractiveUnavailable) as caught:
        client.list_jobs()
    assert "closed the connection" in caught.value.reason and len(seen) == 3


def test_a_list_too_wide_to_read_is_a_clear_server_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A list whose JSON besides its logs passes the reader's cap is a server error saying so, not a crash."""
    monkeypatch.setattr(job_listing, "MAX_EXACT_BYTES", 1_000_000)
    entry = b'{"id": "1", "status": "SUCCESS", "detail": {"parts": [{"a": 1}, {"b": 2}]}, "k": "v'
    body = _Generated(b"[" + entry, b'", "k": "v', 2 * 2**20, tail=b'"}]')
    # Reading 2 MiB is what is tested, not the deadline: on a machine busy with other work it can take
    # longer than the default 15 s.
    client, _ = client_for(lambda r: httpx.Response(200, stream=body), deadline=600)
    with pytest.raises(InteractiveServerError) as caught:
        client.list_jobs()
    assert "more than" in caught.value.message


def test_a_non_json_success_body_is_a_clear_server_error() -> None:
    """A 200 whose body is not JSON is an error naming what came back, never a crash."""
    client, _ = client_for(lambda r: httpx.Response(200, text="<html>proxy error</html>"))
    with pytest.raises(InteractiveServerError) as caught:
        client.list_jobs()
    assert "not JSON" in caught.value.message


@pytest.mark.parametrize(
    "bad", ["../graph/1", "1/../../v1/graph", "%2e%2e", "1?x=1", "1#x", "١٢", " 1", "", "9" * 10_000]
)
def test_malicious_ids_never_reach_the_network(bad: str) -> None:
    """Ids that are not plain ASCII digits are refused before any request is built."""
    client, seen = client_for(lambda r: httpx.Response(200, json=JOB))
    for call in (client.get_job, client.cancel_job):
        with pytest.raises(InvalidJobId):
            call(bad)
    assert seen == []


def test_error_bodies_are_clipped() -> None:
    """A huge error body is shortened before it can reach a Slack message."""
    code, message = parse_error_body(json.dumps({"code": 999, "message": "x" * 100_000}))
    assert code == 999 and len(message) < 600


class _Generated(httpx.SyncByteStream):
    """A body made as it is sent, `size` bytes in 64 KiB chunks, counting what the client took."""

    def __init__(self, head: bytes, filler: bytes, size: int, tail: bytes = b"") -> None:
        self.head, self.filler, self.size, self.tail = head, filler, size, tail
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        chunk = self.filler * (65_536 // len(self.filler))
        parts = [self.head]
        parts += [chunk] * (self.size // len(chunk))
        parts.append(self.tail)
        for part in parts:
            self.sent += len(part)
            yield part


def test_a_huge_log_is_read_holding_only_its_tail() -> None:
    """A 32 MB log streamed to `get_job`: besides the job it returns, reading holds well under 1 MB."""
    line = rb"I1017 22:45:14.004163 bulk_loader.cc:109] Loading \"quoted\" \u00e9 {},{ C:\\data\n"
    head = json.dumps({k: v for k, v in JOB.items() if k != "log"})[:-1].encode() + b', "log": "'
    body = _Generated(head, line, 32 * 2**20, tail=rb'the real error is here\n"}')
    client, _ = client_for(lambda r: httpx.Response(200, stream=body))
    tracemalloc.start()
    try:
        job = client.get_job("7")
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert body.sent > 30_000_000
    assert job.id == "7" and job.log_truncated and job.log.endswith("the real error is here\n")
    shown_line = json.loads(b'"' + line + b'"')
    assert job.log == log_tail(
        shown_line * (LOG_TAIL_CHARS // len(shown_line) + 2) + "the real error is here\n"
    )
    assert peak - kept < 1_000_000, f"peak {peak:,} bytes, {kept:,} kept, for a {body.sent:,}-byte body"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_huge_error_body_is_read_no_further_than_its_start(method: str) -> None:
    """A 500 with a 20 MB body: at most 64 KiB of it is read, and its start is the message."""
    body = _Generated(b'{"code": 999, "message": "disk full', b"x", 20 * 2**20)
    client, _ = client_for(lambda r: httpx.Response(500, stream=body), retries=0)
    call = client.get_job if method == "GET" else client.cancel_job
    with pytest.raises(InteractiveServerError) as caught:
        call("7")
    assert "disk full" in caught.value.message and len(caught.value.message) < 600
    assert body.sent <= 64 * 1024 + 65_536


def test_a_huge_cancel_answer_is_read_no_further_than_its_start() -> None:
    """A 200 to a cancel with a 20 MB body: at most 64 KiB is read, and the reply is clipped."""
    body = _Generated(b'"Successfully cancel job: 7', b"x", 20 * 2**20)
    client, _ = client_for(lambda r: httpx.Response(200, stream=body))
    assert client.cancel_job("7").startswith('"Successfully cancel job: 7')
    assert body.sent <= 64 * 1024 + 65_536


def test_an_endpoint_with_credentials_is_shown_without_them() -> None:
    """A user name and password in the endpoint never reach the error a person reads."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    client = JobClient("http://admin:s3cret-pass@gs:7777", http=http, sleep=lambda _s: None)
    with pytest.raises(InteractiveUnavailable) as caught:
        client.get_job("7")
    assert "s3cret" not in str(caught.value) and "admin" not in str(caught.value)
    assert caught.value.endpoint == "http://***@gs:7777"


def test_retries_never_wait_past_the_deadline() -> None:
    """5xx answers retried with a long backoff: the waits add up to less than the deadline, and it says so."""
    clock = FakeClock()
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503, text="busy")))
    client = JobClient(
        "http://gs:7777",
        http=http,
        retries=5,
        backoff=0.4,
        deadline=1.0,
        sleep=clock.sleep,
        clock=clock.monotonic,
    )
    with pytest.raises(InteractiveUnavailable) as caught:
        client.get_job("7")
    assert sum(clock.slept) <= 1.0 and clock.slept
    assert "did not finish answering in 1 s" in caught.value.reason


def call_in_thread(call: Callable[[], object], wait: float = 20.0) -> object:
    """What `call` returned or raised, from another thread, failing (not hanging) if it takes past `wait`."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=wait)
    assert outcome, f"still waiting after {wait} s"
    return outcome[0]


@pytest.mark.parametrize("headers", [False, True], ids=["body", "headers-too"])
def test_a_trickling_server_is_given_up_at_the_deadline(emulator: Emulator, headers: bool) -> None:
    """A server sending a byte every 50 ms never trips a read timeout; the overall deadline ends it."""
    job_id = emulator.add_job(status="RUNNING")
    emulator.faults.trickle(0.05, route=GET_JOB, headers=headers)
    with JobClient(emulator.url, deadline=0.5) as client:
        outcome = call_in_thread(lambda: client.get_job(job_id))
    assert isinstance(outcome, InteractiveUnavailable), outcome
    assert outcome.reason == "it did not finish answering in 0.5 s"


def test_requests_past_the_cap_fail_at_once_as_busy(emulator: Emulator) -> None:
    """With every allowed request waiting on a hung server, one more is refused as busy, not queued."""
    job_id = emulator.add_job(status="RUNNING")
    emulator.faults.hang(route=GET_JOB)
    with JobClient(emulator.url, max_in_flight=2, deadline=30) as client:
        held = [
            threading.Thread(target=lambda: call_in_thread(lambda: client.get_job(job_id))) for _ in range(2)
        ]
        for thread in held:
            thread.start()
        assert emulator.wait_until(lambda: emulator.requests.count(("GET", f"/v1/job/{job_id}")) == 2)
        outcome = call_in_thread(lambda: client.get_job(job_id))
        assert isinstance(outcome, InteractiveUnavailable), outcome
        assert "busy" in outcome.reason
        emulator.faults.release()
        for thread in held:
            thread.join(timeout=10)
        assert client.get_job(job_id).id == job_id


# Against the emulator over loopback HTTP: the client and the emulated server agree on every quirk.


def test_against_the_emulator_lists_reads_and_cancels(emulator: Emulator) -> None:
    """List, get and cancel over real HTTP; a second cancel is 'already finished' with CANCELLED."""
    done = emulator.add_job(status="SUCCESS", graph_id="ldbc")
    running = emulator.add_job(status="RUNNING")
    with JobClient(emulator.url + "/") as client:
        assert sorted(j.id for j in client.list_jobs()) == sorted([done, running])
        assert client.get_job(done).graph_id == "ldbc"
        assert "Successfully cancel job" in client.cancel_job(running)
        with pytest.raises(JobAlreadyFinished) as caught:
            client.cancel_job(running)
        assert caught.value.status == "CANCELLED"
        with pytest.raises(JobNotFound):
            client.get_job("999")


@pytest.mark.parametrize(
    "quirks",
    [
        Quirks(legacy_errors=True),
        Quirks(empty_list_as_object=True),
        Quirks(cancel_reply_as_string=True),
    ],
    ids=["legacy-errors", "empty-list-as-object", "cancel-reply-as-string"],
)
def test_against_old_server_quirks(quirks: Quirks) -> None:
    """Old servers' plain-text errors, `{}` lists and string cancel replies are all understood."""
    with Emulator(quirks=quirks).start() as emulator, JobClient(emulator.url) as client:
        assert client.list_jobs() == []
        job_id = emulator.add_job(status="RUNNING")
        assert client.cancel_job(job_id) == f"Successfully cancel job: {job_id}"
        with pytest.raises(JobAlreadyFinished):
            client.cancel_job(job_id)
        with pytest.raises(JobNotFound):
            client.get_job("424242")


@pytest.mark.parametrize("fate", [PID_GONE, PID_OTHER_USER])
def test_against_the_emulator_unknown_status_and_stale_pid(emulator: Emulator, fate: str) -> None:
    """UNKNOWN status is read, and a cancel of a stale pid that is nobody's or another user's is a
    server error with code 103 and the server's words."""
    job_id = emulator.add_job(status="RUNNING", stale_pid=True, pid_fate=fate, process_id=4242)
    odd = emulator.add_job(status="SUCCESS")
    emulator.set_status(odd, "UNKNOWN")
    with JobClient(emulator.url) as client:
        assert client.get_job(odd).status == "UNKNOWN"
        with pytest.raises(InteractiveServerError) as caught:
            client.cancel_job(job_id)
        assert caught.value.code == 103
        assert caught.value.message.startswith("Fail to kill process: 4242, error message: ")


def test_against_the_emulator_a_cancel_of_an_unknown_job_or_a_reused_pid_succeeds(emulator: Emulator) -> None:
    """The real server kills the stored pid of an UNKNOWN job, and of a stale job whose pid one of its
    own processes now has: both cancels answer as successful ones do."""
    unknown = emulator.add_job(status="UNKNOWN")
    reused = emulator.add_job(status="RUNNING", stale_pid=True, pid_fate=PID_REUSED)
    with JobClient(emulator.url) as client:
        for job_id in (unknown, reused):
            assert client.cancel_job(job_id) == f"Successfully cancel job: {job_id}"
    assert emulator.get(reused).status == "CANCELLED"


def test_against_the_emulator_failures_are_retried_then_reported(emulator: Emulator) -> None:
    """One injected 500 is retried away; a dropped connection on every try becomes 'unavailable'."""
    emulator.add_job(status="SUCCESS")
    with JobClient(emulator.url, backoff=0.01) as client:
        emulator.faults.fail_next(1, status=500)
        assert len(client.list_jobs()) == 1
        emulator.faults.drop_next(3)
        with pytest.raises(InteractiveUnavailable) as caught:
            client.list_jobs()
        assert "closed the connection" in caught.value.reason


# Property: whatever a person types or a button carries, only the job routes are ever requested.

JOB_PATH = re.compile(r"/v1/job(/[0-9]{1,20})?")
hostile_fragments = st.sampled_from(
    [
        "../",
        "..",
        "/",
        "%2e%2e",
        "%2F",
        "?x=1",
        "#x",
        "\\",
        "graph/1",
        "v1",
        " ",
        "\n",
        "\t",
        "\u0661",  # ARABIC-INDIC DIGIT ONE
        "\uff17",  # FULLWIDTH DIGIT SEVEN
        "\u00b9",  # SUPERSCRIPT ONE
        "0",
    ]
)
hostile_ids = st.one_of(
    st.text(),
    st.lists(st.one_of(hostile_fragments, st.text(alphabet="0123456789", max_size=25)), max_size=8).map(
        "".join
    ),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)


@settings(max_examples=400, deadline=None)
@given(raw=hostile_ids)
def test_no_job_id_builds_a_url_outside_the_job_routes(raw: str) -> None:
    """Any string given as a job id either is refused before a request or requests `/v1/job/<digits>`."""
    paths: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json=JOB)

    with JobClient("http://gs:7777", http=httpx.Client(transport=httpx.MockTransport(record))) as client:
        for call in (client.get_job, client.cancel_job):
            with contextlib.suppress(InvalidJobId):
                call(raw)
    assert all(JOB_PATH.fullmatch(path) for path in paths), paths


@settings(max_examples=400, deadline=None)
@given(
    text=st.one_of(
        st.text(),
        st.lists(
            st.one_of(
                hostile_fragments, st.sampled_from(["status", "cancel", "watch", "unwatch", "list", " "])
            ),
            max_size=8,
        ).map("".join),
    )
)
def test_no_command_text_reaches_another_path(text: str) -> None:
    """Whatever follows `/jobs`, the job id the parser hands on can only request a job route."""
    from jobbot import commands

    parsed = commands.parse(text)
    job_id = getattr(parsed, "job_id", None)
    if job_id is None:
        return
    paths: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json=JOB)

    with JobClient("http://gs:7777", http=httpx.Client(transport=httpx.MockTransport(record))) as client:
        client.get_job(job_id)
    assert [JOB_PATH.fullmatch(p) is not None for p in paths] == [True]


def test_a_full_log_is_read_whole_when_it_fits(emulator: Emulator) -> None:
    """A log under the cap comes back as the server holds it, not cut."""
    log = 'loading vertices\n\tper "person" \u00e9\nthe end\n'
    job_id = emulator.add_job(status="FAILED", log=log)
    with JobClient(emulator.url) as client:
        full = client.full_log(job_id)
    assert full == FullLog(job_id=job_id, text=log, cut=False)


def test_a_full_log_longer_than_the_cap_keeps_its_end(emulator: Emulator) -> None:
    """Only the last `max_bytes` (as sent, escapes included) are kept, and the log says it was cut."""
    log = "".join(f"line {n:06d} é\n" for n in range(20_000)) + "the real error\n"
    job_id = emulator.add_job(status="FAILED", log=log)
    with JobClient(emulator.url) as client:
        full = client.full_log(job_id, max_bytes=10_000)
    assert full.cut and full.job_id == job_id
    assert log.endswith(full.text) and full.text.endswith("the real error\n")
    # Sent as JSON, "é\n" is 8 bytes (`\u00e9\n`) and 3 in UTF-8: a line of 20 bytes is 15 in the file.
    assert 7_000 < len(full.text.encode()) <= 10_000


def test_a_full_log_exactly_at_the_cap_is_not_cut() -> None:
    """The cap counts the log as sent; a log of exactly that many bytes is whole."""
    log = "x" * 1000
    client, _ = client_for(lambda r: httpx.Response(200, json={**JOB, "log": log}))
    assert client.full_log("7", max_bytes=1000) == FullLog(job_id="7", text=log, cut=False)
    assert client.full_log("7", max_bytes=999).cut


def test_a_full_log_is_read_holding_only_the_part_it_keeps() -> None:
    """A 32 MB log read for a 1 MiB file holds about that much, never the whole body."""
    line = b"I1017 22:45:14.004163 bulk_loader.cc:109] Loading edges\\n"
    head = json.dumps({k: v for k, v in JOB.items() if k != "log"})[:-1].encode() + b', "log": "'
    body = _Generated(head, line, 32 * 2**20, tail=rb'the real error is here\n"}')
    client, _ = client_for(lambda r: httpx.Response(200, stream=body))
    tracemalloc.start()
    try:
        full = client.full_log("7")
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert full.cut and full.text.endswith("Loading edges\nthe real error is here\n")
    # Each line's `\n` is two bytes as sent and one in the text: 57 bytes kept for every 58 read.
    assert 0.98 * FULL_LOG_MAX_BYTES < len(full.text.encode()) <= FULL_LOG_MAX_BYTES
    assert peak - kept < 4 * FULL_LOG_MAX_BYTES, f"peak {peak:,} bytes, {kept:,} kept"


def test_the_full_log_cap_is_the_one_the_log_file_names() -> None:
    """The client's default cap and the file's note about it agree."""
    assert FULL_LOG_MAX_BYTES == cards.FULL_LOG_MAX_BYTES


def test_a_full_log_of_an_unknown_job_is_not_found(emulator: Emulator) -> None:
    """The same errors as reading the job: a 404 is JobNotFound, a bad id never reaches the network."""
    with JobClient(emulator.url) as client:
        with pytest.raises(JobNotFound):
            client.full_log("999")
        with pytest.raises(InvalidJobId):
            client.full_log("../etc")
    assert ("GET", "/v1/job/../etc") not in emulator.requests
