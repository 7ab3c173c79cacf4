"""The Interactive admin API emulator, exercised over loopback HTTP the way a client sees it."""

from __future__ import annotations

import json
import os
import select
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import httpx
import pytest

from jobbot.emulator import (
    CANCEL_FAILED_AT_ONCE,
    CANCEL_FAILED_LATER,
    CANCEL_JOB,
    CANCEL_STAYS,
    GET_JOB,
    LIST_JOBS,
    PID_GONE,
    PID_OTHER_USER,
    PID_REUSED,
    DemoRunner,
    Emulator,
    Quirks,
    UnknownJob,
)
from tests.support import FakeClock

ROOT = Path(__file__).resolve().parent.parent
# The emulator is plain HTTP; one shared TLS context spares each client ~70 ms of loading CA certificates.
_TLS = ssl.create_default_context()
FIELDS = {"id", "type", "status", "start_time", "end_time", "log", "detail"}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def http_client(url: str) -> httpx.Client:
    """A client for the emulator at `url`, with a timeout so no test can hang."""
    return httpx.Client(base_url=url, timeout=5.0, verify=_TLS)


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    with http_client(emu.url) as http:
        yield http


def started(quirks: Quirks) -> Emulator:
    """An emulator of an older (or odder) server, already serving."""
    return Emulator(quirks=quirks).start()


def in_background(call: Callable[[], httpx.Response]) -> tuple[ThreadPoolExecutor, Future[httpx.Response]]:
    """Send a request from another thread, so the test can watch it wait."""
    pool = ThreadPoolExecutor(max_workers=1)
    return pool, pool.submit(call)


# Listing and reading jobs.


def test_list_returns_every_job_with_the_seven_fields_and_full_log(
    emu: Emulator, client: httpx.Client
) -> None:
    """GET /v1/job answers a JSON array of every job, each with all seven fields and its whole log."""
    long_log = "line\n" * 5000
    ids = {emu.add_job(status="SUCCESS", log=long_log), emu.add_job(), emu.add_job(status="FAILED")}
    response = client.get("/v1/job")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    jobs = response.json()
    assert {job["id"] for job in jobs} == ids
    assert all(set(job) == FIELDS for job in jobs)
    assert long_log in [job["log"] for job in jobs]


def test_list_is_not_sorted_by_id(emu: Emulator, client: httpx.Client) -> None:
    """The listing is in a scrambled (directory-like) order, neither ascending nor descending by id."""
    for _ in range(8):
        emu.add_job(status="SUCCESS")
    ids = [int(job["id"]) for job in client.get("/v1/job").json()]
    assert sorted(ids) == list(range(1, 9))
    assert ids not in (sorted(ids), sorted(ids, reverse=True))


def test_empty_list_is_an_array_and_an_object_on_old_servers(client: httpx.Client) -> None:
    """An empty job list is `[]`, or `{}` with the empty_list_as_object quirk."""
    assert client.get("/v1/job").content == b"[]"
    with started(Quirks(empty_list_as_object=True)) as old, http_client(old.url) as http:
        assert http.get("/v1/job").content == b"{}"


def test_get_job_sends_exact_field_types(emu: Emulator, client: httpx.Client) -> None:
    """GET /v1/job/{id} sends a decimal-string id, epoch-ms ints, BULK_LOADING and a graph/pid detail."""
    job_id = emu.add_job(
        status="SUCCESS",
        graph_id="2",
        process_id=4242,
        start_time_ms=1718000000123,
        end_time_ms=1718000065432,
    )
    job = client.get(f"/v1/job/{job_id}").json()
    assert job == {
        "id": job_id,
        "type": "BULK_LOADING",
        "status": "SUCCESS",
        "start_time": 1718000000123,
        "end_time": 1718000065432,
        "log": emu.get(job_id).log,
        "detail": {"graph_id": "2", "process_id": 4242},
    }


def test_running_job_end_time_is_meaningless_and_extra_fields_pass_through(
    emu: Emulator, client: httpx.Client
) -> None:
    """A RUNNING job sends whatever its unwritten end_time holds (the same on every run for a seed), or
    any garbage given, and `extra` adds unknown fields."""
    ends = [client.get(f"/v1/job/{emu.add_job()}").json()["end_time"] for _ in range(20)]
    assert 0 in ends and len(set(ends)) > 3 and all(isinstance(end, int) for end in ends)
    assert any(end < 0 for end in ends) and any(end > 2**42 for end in ends)
    with Emulator() as again, http_client(again.url) as http:
        zeros = [http.get(f"/v1/job/{again.add_job()}").json()["end_time"] == 0 for _ in range(20)]
        assert zeros == [end == 0 for end in ends]
    garbage = emu.add_job(end_time_ms=-1, extra={"progress": 40})
    odd = client.get(f"/v1/job/{garbage}").json()
    assert (odd["end_time"], odd["progress"]) == (-1, 40)


def test_running_end_time_zero_is_the_kind_option() -> None:
    """With running_end_time_zero, a RUNNING job (added or loading) sends end_time 0."""
    with started(Quirks(running_end_time_zero=True)) as kind, http_client(kind.url) as http:
        added = kind.add_job()
        loading = http.post("/v1/graph/2/dataloading", json={}).json()["job_id"]
        assert [http.get(f"/v1/job/{i}").json()["end_time"] for i in (added, loading)] == [0, 0]


def test_any_status_but_the_four_real_ones_reads_back_as_unknown(emu: Emulator, client: httpx.Client) -> None:
    """A record holding UNKNOWN, WAITING or any other text reads back as UNKNOWN, however it was stored;
    the four real statuses read back as they are."""
    job_id = emu.add_job(status="SUCCESS")
    emu.set_status(job_id, "UNKNOWN")
    assert client.get(f"/v1/job/{job_id}").json()["status"] == "UNKNOWN"
    odd = [emu.add_job(status="WAITING"), emu.add_job(status="PAUSED")]
    emu.set_status(odd[0], "Paused")
    emu.finish_job(odd[1], "STOPPED")
    client.post("/_emulator/jobs", json={"status": "QUEUED"})
    statuses = {job["id"]: job["status"] for job in client.get("/v1/job").json()}
    assert statuses == {job_id: "UNKNOWN", odd[0]: "UNKNOWN", odd[1]: "UNKNOWN", "4": "UNKNOWN"}
    for status in ("RUNNING", "SUCCESS", "FAILED", "CANCELLED"):
        emu.set_status(job_id, status)
        assert client.get(f"/v1/job/{job_id}").json()["status"] == status


def test_raw_status_text_is_the_kind_option() -> None:
    """With raw_status_text, any status text is stored and sent as is."""
    with started(Quirks(raw_status_text=True)) as kind, http_client(kind.url) as http:
        job_id = kind.add_job(status="WAITING")
        assert http.get(f"/v1/job/{job_id}").json()["status"] == "WAITING"


def test_ids_come_from_a_counter_that_only_grows() -> None:
    """Ids are decimal strings counting up from first_id across every way of creating a job."""
    with Emulator(first_id=41) as emulator, http_client(emulator.url) as http:
        first = emulator.add_job()
        second = http.post("/v1/graph/2/dataloading", json={}).json()["job_id"]
        third = emulator.seed_history(1)[0]
    assert [first, second, third] == ["41", "42", "43"]


# Errors, exactly as the server words (and mis-escapes) them.


def test_unknown_job_is_404_code_4(emu: Emulator, client: httpx.Client) -> None:
    """An unknown id answers 404 with code 4 and the server's JOB_META message (and get() raises)."""
    with pytest.raises(UnknownJob):
        emu.get("999")
    response = client.get("/v1/job/999")
    assert response.status_code == 404
    assert response.json() == {"code": 4, "message": "key 999 not found for :JOB_META"}


def test_quote_in_job_id_is_echoed_unescaped_into_invalid_json(client: httpx.Client) -> None:
    """A `"` in the id is copied into the error body unescaped, which makes the body invalid JSON."""
    response = client.get('/v1/job/1"2')
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.text == '{"code": 4, "message": "key 1"2 not found for :JOB_META"}'
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_slashes_around_the_job_id_are_trimmed(emu: Emulator, client: httpx.Client) -> None:
    """The server trims slashes from the id, so `/v1/job/3/` reads job 3."""
    for _ in range(3):
        job_id = emu.add_job()
    assert client.get(f"/v1/job/{job_id}/").json()["id"] == job_id


def test_legacy_errors_are_bare_text() -> None:
    """With legacy_errors, error bodies are the message text alone (servers before Aug 2024)."""
    with started(Quirks(legacy_errors=True)) as old, http_client(old.url) as http:
        response = http.get("/v1/job/7")
        assert (response.status_code, response.text) == (404, "key 7 not found for :JOB_META")


def test_other_methods_and_paths_get_the_servers_odd_answers(client: httpx.Client) -> None:
    """Unsupported methods and a DELETE without id get plain-text 400s, unknown paths 404; all typed JSON."""
    answers = [
        client.put("/v1/job/1"),
        client.post("/v1/job"),
        client.get("/v1/graph/1/dataloading"),
        client.delete("/v1/job"),
        client.get("/v1/graphs"),
    ]
    assert [(r.status_code, r.text) for r in answers] == [
        (400, "Unsupported method: PUT"),
        (400, "Unsupported method: POST"),
        (400, "Unsupported method: GET"),
        (400, "job_id not given"),
        (404, '{"message": "Not found", "code": 404}'),
    ]
    assert {r.headers["content-type"] for r in answers} == {"application/json"}


# Cancelling.


def test_cancel_is_not_idempotent() -> None:
    """A first DELETE cancels (200 object body); a second answers 400 `Job already CANCELLED`."""
    # The kind race (CANCELLED stays), so the second answer is certain; the real race is tested below.
    with started(Quirks(cancel_ends_failed=0.0)) as emu, http_client(emu.url) as client:
        _cancel_twice(emu, client)


def _cancel_twice(emu: Emulator, client: httpx.Client) -> None:
    job_id = emu.add_job()
    first = client.delete(f"/v1/job/{job_id}")
    assert (first.status_code, first.json()) == (200, {"message": f"Successfully cancel job: {job_id}"})
    job = emu.get(job_id)
    assert job.status == "CANCELLED" and job.end_time_ms > 0
    second = client.delete(f"/v1/job/{job_id}")
    assert (second.status_code, second.json()) == (
        400,
        {"code": 102, "message": f"Job already CANCELLED: {job_id}"},
    )


@pytest.mark.parametrize("status", ["SUCCESS", "FAILED", "CANCELLED"])
def test_cancel_of_a_job_not_running_names_its_status(
    emu: Emulator, client: httpx.Client, status: str
) -> None:
    """Cancelling a job that is not RUNNING answers 400 code 102 naming the status it has."""
    job_id = emu.add_job(status=status)
    response = client.delete(f"/v1/job/{job_id}")
    assert (response.status_code, response.json()["message"]) == (400, f"Job already {status}: {job_id}")


def test_cancel_of_an_unknown_status_job_kills_its_pid(emu: Emulator, client: httpx.Client) -> None:
    """UNKNOWN is not in the server's finished set: a cancel kills the stored pid and answers 200 (the
    job then ends as its cancel's race says), or 500 when that pid is nobody's."""
    live = emu.add_job(status="UNKNOWN")
    response = client.delete(f"/v1/job/{live}")
    assert (response.status_code, response.json()) == (200, {"message": f"Successfully cancel job: {live}"})
    assert emu.wait_until(lambda: emu.get(live).status in ("CANCELLED", "FAILED"))
    stale = emu.add_job(status="UNKNOWN", process_id=4242, stale_pid=True, pid_fate=PID_GONE)
    response = client.delete(f"/v1/job/{stale}")
    assert (response.status_code, response.json()) == (
        500,
        {"code": 103, "message": "Fail to kill process: 4242, error message: No such process"},
    )
    assert emu.get(stale).status == "UNKNOWN"


@pytest.mark.parametrize("pid", [0, -7])
def test_cancel_of_a_job_with_no_valid_pid_is_500_before_its_status_is_read(
    emu: Emulator, client: httpx.Client, pid: int
) -> None:
    """A stored pid <= 0 answers 500 code 103 "Invalid process id", whatever the job's status."""
    for status in ("RUNNING", "SUCCESS"):
        job_id = emu.add_job(status=status, process_id=pid)
        response = client.delete(f"/v1/job/{job_id}")
        assert (response.status_code, response.json()) == (
            500,
            {"code": 103, "message": f"Invalid process id: {pid}"},
        )
        assert emu.get(job_id).status == status


def test_a_job_that_ends_between_the_cancels_status_read_and_its_kill_gives_500(
    emu: Emulator, client: httpx.Client
) -> None:
    """When the loader ends after the cancel read RUNNING but before its kill, no process has the pid:
    500 code 103 "No such process", and the job keeps the status its loader wrote."""
    job_id = emu.add_job(process_id=4242)
    emu.between_read_and_kill(lambda ending: emu.finish_job(ending, "SUCCESS"))
    response = client.delete(f"/v1/job/{job_id}")
    assert (response.status_code, response.json()) == (
        500,
        {"code": 103, "message": "Fail to kill process: 4242, error message: No such process"},
    )
    assert emu.get(job_id).status == "SUCCESS"


def test_cancel_unknown_job_is_404(client: httpx.Client) -> None:
    """Cancelling an unknown id answers the same 404 as reading it."""
    response = client.delete("/v1/job/5")
    assert (response.status_code, response.json()["code"]) == (404, 4)


@pytest.mark.parametrize(
    ("fate", "reason"), [(PID_GONE, "No such process"), (PID_OTHER_USER, "Operation not permitted")]
)
def test_cancel_of_a_stale_pid_nobody_or_another_user_has_is_500_and_the_job_stays_running(
    emu: Emulator, client: httpx.Client, fate: str, reason: str
) -> None:
    """A stale pid that is nobody's, or another user's, cannot be killed: 500 code 103 in the server's
    words, and the job stays RUNNING forever."""
    job_id = emu.add_job(process_id=4242)
    emu.mark_stale(job_id, fate)
    response = client.delete(f"/v1/job/{job_id}")
    assert (response.status_code, response.json()) == (
        500,
        {"code": 103, "message": f"Fail to kill process: 4242, error message: {reason}"},
    )
    assert emu.get(job_id).status == "RUNNING" and emu.killed_strangers == []


def test_cancel_of_a_stale_pid_the_server_reused_succeeds_and_kills_a_stranger(
    emu: Emulator, client: httpx.Client
) -> None:
    """A stale pid now held by one of the server's own processes is killed: 200, CANCELLED (no loader
    is left to write FAILED), and an unrelated process died."""
    job_id = emu.add_job(process_id=4242, stale_pid=True, pid_fate=PID_REUSED)
    assert client.delete(f"/v1/job/{job_id}").status_code == 200
    assert emu.get(job_id).status == "CANCELLED"
    assert emu.killed_strangers == [(job_id, 4242)]


def test_a_stale_pids_fate_is_decided_per_job_and_the_same_on_every_run() -> None:
    """Without a chosen fate, who has a stale pid is drawn from the seed and the job id: all three
    fates happen, and the same job gets the same one in a second emulator."""
    fates = []
    for _ in range(2):
        emulator = Emulator()
        ids = [emulator.add_job(stale_pid=True) for _ in range(40)]
        fates.append([emulator.get(job_id).pid_fate for job_id in ids])
    assert fates[0] == fates[1]
    assert set(fates[0]) == {PID_GONE, PID_OTHER_USER, PID_REUSED}


def test_cancel_reply_as_string_quirk() -> None:
    """With cancel_reply_as_string the 200 body is a bare JSON string, as the spec says."""
    with started(Quirks(cancel_reply_as_string=True)) as spec, http_client(spec.url) as http:
        job_id = spec.add_job()
        assert http.delete(f"/v1/job/{job_id}").json() == f"Successfully cancel job: {job_id}"


def test_a_cancelled_job_often_ends_failed_decided_per_job() -> None:
    """By default the loader's thread races the cancel: some cancelled jobs stay CANCELLED, some read
    FAILED before the cancel's reply, some a moment after; which is fixed per job and seed."""
    with Emulator() as emu, http_client(emu.url) as http:
        ids = [emu.add_job() for _ in range(24)]
        fates = {job_id: emu.cancel_fate(job_id) for job_id in ids}
        assert set(fates.values()) == {CANCEL_STAYS, CANCEL_FAILED_AT_ONCE, CANCEL_FAILED_LATER}
        right_after = {}
        for job_id in ids:
            assert http.delete(f"/v1/job/{job_id}").status_code == 200
            right_after[job_id] = http.get(f"/v1/job/{job_id}").json()["status"]
        for job_id, fate in fates.items():
            assert right_after[job_id] == ("FAILED" if fate == CANCEL_FAILED_AT_ONCE else "CANCELLED")
        ending = {CANCEL_STAYS: "CANCELLED", CANCEL_FAILED_AT_ONCE: "FAILED", CANCEL_FAILED_LATER: "FAILED"}
        assert emu.wait_until(lambda: all(emu.get(i).status == ending[f] for i, f in fates.items()))
    assert {job_id: Emulator().cancel_fate(job_id) for job_id in ids} == fates


def test_cancel_overwritten_by_failed_at_once() -> None:
    """With no overwrite delay, the job reads FAILED as soon as the cancel has answered 200."""
    with (
        started(Quirks(cancel_ends_failed=1.0, cancel_overwrite_delay=0.0)) as odd,
        http_client(odd.url) as http,
    ):
        job_id = odd.add_job()
        assert http.delete(f"/v1/job/{job_id}").status_code == 200
        assert http.get(f"/v1/job/{job_id}").json()["status"] == "FAILED"


def test_cancel_overwritten_by_failed_shows_cancelled_first() -> None:
    """With an overwrite delay, a re-read shows CANCELLED first and FAILED once the loader catches up."""
    quirks = Quirks(cancel_ends_failed=1.0, cancel_overwrite_delay=0.3)
    with started(quirks) as odd, http_client(odd.url) as http:
        job_id = odd.add_job()
        http.delete(f"/v1/job/{job_id}")
        assert http.get(f"/v1/job/{job_id}").json()["status"] == "CANCELLED"
        assert odd.wait_until(lambda: odd.get(job_id).status == "FAILED", timeout=5)
        assert http.delete(f"/v1/job/{job_id}").json()["message"] == f"Job already FAILED: {job_id}"


# Creating jobs.


def test_dataloading_starts_a_running_job_with_a_loader_log(emu: Emulator, client: httpx.Client) -> None:
    """POST .../dataloading answers {"job_id"} and the job is RUNNING on that graph, logging its labels."""
    mapping = {
        "vertex_mappings": [{"type_name": "person"}],
        "edge_mappings": [{"type_triplet": {"edge": "knows"}}],
    }
    response = client.post("/v1/graph/2/dataloading", json=mapping)
    assert response.status_code == 200
    job_id = response.json()["job_id"]
    job = client.get(f"/v1/job/{job_id}").json()
    assert (job["status"], job["detail"]["graph_id"]) == ("RUNNING", "2")
    assert "Loading graph 2" in job["log"] and "1 vertex labels, 1 edge labels" in job["log"]


def test_dataloading_accepts_a_chunked_body(client: httpx.Client) -> None:
    """A streamed (chunked) SchemaMapping is read like any other body."""
    response = client.post("/v1/graph/3/dataloading", content=iter([b'{"vertex_', b'mappings": []}']))
    assert response.status_code == 200 and response.json()["job_id"] == "1"


def test_dataloading_refuses_unknown_served_and_busy_graphs(emu: Emulator, client: httpx.Client) -> None:
    """An unknown graph is 404 code 4; the served graph and one already loading are 400 code 111; once
    the load has ended, the graph loads again."""
    unknown = client.post("/v1/graph/7/dataloading", json={})
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"code": 4, "message": "key 7 not found for :GRAPH_META"},
    )
    served = client.post("/v1/graph/1/dataloading", json={})
    first = client.post("/v1/graph/2/dataloading", json={}).json()["job_id"]
    busy = client.post("/v1/graph/2/dataloading", json={})
    for refused, graph in ((served, "1"), (busy, "2")):
        assert (refused.status_code, refused.json()) == (
            400,
            {
                "code": 111,
                "message": f"Fail to acquire lock for graph indices dir: {graph}, "
                "maybe the graph is already running",
            },
        )
    assert [job.id for job in emu.jobs] == [first]
    emu.finish_job(first)
    assert client.post("/v1/graph/2/dataloading", json={}).status_code == 200


def test_graphs_and_the_served_one_can_be_chosen() -> None:
    """Emulator(graphs=..., serving=None) accepts loads of those graphs, the first one included."""
    with Emulator(graphs=("1", "7"), serving=None) as emu, http_client(emu.url) as http:
        assert [http.post(f"/v1/graph/{g}/dataloading", json={}).status_code for g in "173"] == [
            200,
            200,
            404,
        ]


def test_a_lost_counter_file_makes_every_new_job_fail(emu: Emulator, client: httpx.Client) -> None:
    """After the counter's file is lost, every new load answers 500 "got an existing key" and no job is
    created or changed."""
    first = client.post("/v1/graph/2/dataloading", json={}).json()["job_id"]
    emu.finish_job(first)
    client.post("/_emulator/lose_counter")
    for _ in range(2):
        response = client.post("/v1/graph/2/dataloading", json={})
        assert (response.status_code, response.json()) == (
            500,
            {"code": 103, "message": "got an existing key"},
        )
    assert [(job.id, job.status) for job in emu.jobs] == [(first, "SUCCESS")]


def test_a_lost_log_file_reads_as_empty(emu: Emulator, client: httpx.Client) -> None:
    """A job whose log file was cleaned away sends log "" (and later loader output is lost too); a
    restart that loses /tmp empties every log."""
    job_id, other = emu.add_job(log="a\n"), emu.add_job(status="SUCCESS", log="b\n")
    client.post(f"/_emulator/jobs/{job_id}/lose_log")
    emu.append_log(job_id, "more\n")
    assert [client.get(f"/v1/job/{i}").json()["log"] for i in (job_id, other)] == ["", "b\n"]
    emu.restart(lose_logs=True)
    with http_client(emu.url) as http:
        assert http.get(f"/v1/job/{other}").json()["log"] == ""
        assert all(job["log"] == "" for job in http.get("/v1/job/").json())


def test_dataloading_rejects_invalid_json(emu: Emulator, client: httpx.Client) -> None:
    """A body that is not a JSON object answers 400 (code 14) and creates no job."""
    response = client.post("/v1/graph/1/dataloading", content=b"{not json")
    assert response.status_code == 400
    assert response.text.startswith('{"code": 14, "message": "Fail to parse json: ')
    assert emu.job_count == 0


# Faults.


def test_delay_applies_to_the_chosen_route_only(emu: Emulator, client: httpx.Client) -> None:
    """set_delay on one route slows that route and leaves the others fast."""
    job_id = emu.add_job()
    emu.faults.set_delay(0.4, route=LIST_JOBS)
    began = time.monotonic()
    client.get("/v1/job")
    assert time.monotonic() - began >= 0.4
    began = time.monotonic()
    client.get(f"/v1/job/{job_id}")
    assert time.monotonic() - began < 0.4


def test_fail_next_answers_n_failures_then_recovers(emu: Emulator, client: httpx.Client) -> None:
    """fail_next(2) turns exactly the next two answers into the given failure."""
    emu.faults.fail_next(2, status=503, body=b"busy")
    answers = [client.get("/v1/job") for _ in range(3)]
    assert [(r.status_code, r.content) for r in answers] == [(503, b"busy"), (503, b"busy"), (200, b"[]")]


def test_fail_next_can_target_one_route(emu: Emulator, client: httpx.Client) -> None:
    """A failure aimed at the cancel route leaves reads alone and hits the cancel."""
    job_id = emu.add_job()
    emu.faults.fail_next(1, route=CANCEL_JOB)
    assert client.get(f"/v1/job/{job_id}").status_code == 200
    response = client.delete(f"/v1/job/{job_id}")
    assert (response.status_code, response.json()["code"]) == (500, 999)
    assert emu.get(job_id).status == "RUNNING"


def test_drop_next_closes_the_connection_without_an_answer(emu: Emulator, client: httpx.Client) -> None:
    """drop_next makes the server hang up without any response, once."""
    emu.faults.drop_next(1)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/v1/job")
    assert client.get("/v1/job").status_code == 200


def test_hang_holds_requests_until_released(emu: Emulator, client: httpx.Client) -> None:
    """A hung server accepts the request but answers only once released; the control API still answers."""
    emu.faults.hang(route=GET_JOB)
    job_id = emu.add_job()
    pool, answer = in_background(lambda: client.get(f"/v1/job/{job_id}"))
    with pool:
        assert emu.wait_until(lambda: ("GET", f"/v1/job/{job_id}") in emu.requests)
        with pytest.raises(FutureTimeout):
            answer.result(timeout=0.2)
        with http_client(emu.url) as other:
            assert other.get("/_emulator/stats").status_code == 200
            assert other.get("/v1/job").status_code == 200  # only the chosen route hangs
        emu.faults.release()
        assert answer.result(timeout=5).status_code == 200


def test_trickle_sends_the_answer_a_byte_at_a_time_until_released(emu: Emulator) -> None:
    """A trickling server sends its headers, then one body byte per interval; released, it sends the rest."""
    job_id = emu.add_job(status="SUCCESS")
    emu.faults.trickle(0.05, route=GET_JOB)
    with http_client(emu.url) as client, client.stream("GET", f"/v1/job/{job_id}") as response:
        assert response.status_code == 200
        chunks = response.iter_raw()
        first, second = next(chunks), next(chunks)
        assert (len(first), len(second)) == (1, 1)
        emu.faults.release()
        assert first + second + b"".join(chunks) == emu.job_json(job_id)


def test_trickled_headers_keep_a_request_waiting_for_its_status(emu: Emulator) -> None:
    """With headers trickled too, no status line is complete until the trickle is released."""
    emu.faults.trickle(0.05, headers=True)
    with http_client(emu.url) as client:
        pool, answer = in_background(lambda: client.get("/v1/job"))
        with pool:
            assert emu.wait_until(lambda: ("GET", "/v1/job") in emu.requests)
            with pytest.raises(FutureTimeout):
                answer.result(timeout=0.3)
            emu.faults.release()
            assert answer.result(timeout=5).text == "[]"


def test_stop_ends_a_trickle_without_the_rest_of_the_answer(emu: Emulator) -> None:
    """Stopping the server cuts a trickling answer short instead of waiting for its last byte."""
    job_id = emu.add_job(status="SUCCESS")
    emu.faults.trickle(0.05)
    with http_client(emu.url) as client, client.stream("GET", f"/v1/job/{job_id}") as response:
        chunks = response.iter_raw()
        next(chunks)
        emu.stop()
        with pytest.raises(httpx.RemoteProtocolError):
            for _ in chunks:
                pass


def test_stop_drops_hung_requests_and_then_refuses_connections(emu: Emulator, client: httpx.Client) -> None:
    """Stopping ends a hang without an answer, and afterwards connections are refused."""
    emu.faults.hang()
    pool, answer = in_background(lambda: client.get("/v1/job"))
    with pool:
        assert emu.wait_until(lambda: len(emu.requests) == 1)
        emu.stop()
        with pytest.raises(httpx.TransportError):
            answer.result(timeout=5)
    with pytest.raises(httpx.ConnectError):
        client.get("/v1/job")


def test_stop_cuts_idle_keep_alive_connections(emu: Emulator, client: httpx.Client) -> None:
    """A pooled keep-alive connection is not served after stop: the next request fails."""
    assert client.get("/v1/job").status_code == 200
    emu.stop()
    with pytest.raises(httpx.TransportError):
        client.get("/v1/job")


def test_restart_keeps_jobs_and_leaves_running_ones_stale(emu: Emulator) -> None:
    """After restart the same URL answers, and a job that was RUNNING keeps a pid whose fate was drawn
    per job: a cancel then does what that fate says."""
    job_id = emu.add_job()
    url = emu.url
    emu.restart()
    assert emu.url == url
    fate = emu.get(job_id).pid_fate
    assert fate == emu.pid_fate(job_id)
    with http_client(url) as http:
        assert http.get(f"/v1/job/{job_id}").json()["status"] == "RUNNING"
        assert http.delete(f"/v1/job/{job_id}").status_code == (200 if fate == PID_REUSED else 500)


def test_get_with_a_trailing_slash_lists_jobs(emu: Emulator, client: httpx.Client) -> None:
    """GET /v1/job/ lists like GET /v1/job (the server's router strips the slash)."""
    emu.add_job()
    assert client.get("/v1/job/").content == client.get("/v1/job").content
    assert emu.stats()["routes"][LIST_JOBS]["requests"] == 2


def test_a_redeploy_without_metadata_goes_down_and_comes_back_with_ids_from_1(emu: Emulator) -> None:
    """POST /_emulator/redeploy answers, stops serving for the downtime, then serves the same URL with no
    jobs and a counter started again at 1, as a server that lost its metadata volume."""
    old = [emu.add_job(status="SUCCESS") for _ in range(3)]
    with http_client(emu.url) as http:
        answer = http.post("/_emulator/redeploy", json={"downtime": 0.5}).json()
        assert answer == {"dropped": 3, "downtime": 0.5, "first_id": 1}
        deadline = time.monotonic() + 5
        while emu.job_count or not emu.running:  # dropped first, then served again
            assert time.monotonic() < deadline, "the emulator did not come back"
            time.sleep(0.02)
        assert http.get("/v1/job").json() == []
        assert http.get(f"/v1/job/{old[2]}").status_code == 404
    assert emu.add_job() == "1"


def test_a_job_can_be_stored_under_any_id_and_the_counter_is_left_alone(
    emu: Emulator, client: httpx.Client
) -> None:
    """A job under an odd id ("job-3", "007") is listed and served under exactly that id."""
    client.post("/_emulator/jobs", json={"status": "SUCCESS", "job_id": "job-3"}).raise_for_status()
    emu.add_job(status="SUCCESS", job_id="007")
    assert emu.add_job() == "1"
    assert sorted(job["id"] for job in client.get("/v1/job").json()) == ["007", "1", "job-3"]
    assert client.get("/v1/job/job-3").json()["id"] == "job-3"
    assert client.get("/v1/job/7").status_code == 404, "the server keys jobs by their text"


# Recording, control API, performance.


def test_requests_and_bytes_are_recorded_per_route(emu: Emulator, client: httpx.Client) -> None:
    """Every admin request is recorded with its method and path, and bytes sent are counted per route."""
    emu.add_job()
    listed = client.get("/v1/job?x=1")
    client.get("/v1/job/1")
    client.get("/_emulator/stats")
    assert emu.requests == [("GET", "/v1/job?x=1"), ("GET", "/v1/job/1")]
    stats = emu.stats()
    assert stats["routes"][LIST_JOBS] == {"requests": 1, "bytes": len(listed.content)}
    assert stats["requests"] == 2
    emu.reset_stats()
    assert emu.requests == [] and emu.stats()["requests"] == 0


def test_control_api_drives_jobs_faults_quirks_and_stats(emu: Emulator, client: httpx.Client) -> None:
    """The /_emulator/ routes create, end, re-status and stale jobs, seed history, set faults and quirks."""
    created = client.post("/_emulator/jobs", json={"status": "RUNNING", "graph_id": "3", "log": "hello\n"})
    job_id = created.json()["job_id"]
    assert emu.get(job_id).log == "hello\n"
    finished = client.post(f"/_emulator/jobs/{job_id}/finish", json={"status": "FAILED", "log": "boom\n"})
    assert (finished.json()["status"], finished.json()["log"]) == ("FAILED", "hello\nboom\n")
    client.post(f"/_emulator/jobs/{job_id}/status", json={"status": "UNKNOWN"})
    other = client.post("/_emulator/jobs", json={}).json()["job_id"]
    client.post(f"/_emulator/jobs/{other}/stale")
    client.post(f"/_emulator/jobs/{other}/log", json={"text": "more\n"})
    assert (emu.get(job_id).status, emu.get(other).stale_pid) == ("UNKNOWN", True)
    assert emu.get(other).log.endswith("more\n")
    assert client.post("/_emulator/history", json={"count": 3, "log_bytes": 100}).json() == {
        "first": "3",
        "last": "5",
    }
    client.post("/_emulator/faults", json={"fail_next": 1, "status": 502, "body": "x", "route": LIST_JOBS})
    assert client.get("/v1/job").status_code == 502
    client.put("/_emulator/quirks", json={"legacy_errors": True})
    assert client.get("/v1/job/99").text == "key 99 not found for :JOB_META"
    stats = client.get("/_emulator/stats").json()
    assert (stats["jobs"], stats["quirks"]["legacy_errors"], stats["requests"]) == (5, True, 2)
    assert client.get("/_emulator/requests").json() == [["GET", "/v1/job"], ["GET", "/v1/job/99"]]
    assert len(client.get("/_emulator/jobs").json()) == 5


def test_control_api_hang_and_release_over_http(emu: Emulator, client: httpx.Client) -> None:
    """A hang set over the control API is released over it too."""
    client.post("/_emulator/faults", json={"hang": True})
    pool, answer = in_background(lambda: client.get("/v1/job"))
    with pool:
        assert emu.wait_until(lambda: len(emu.requests) == 1)
        with http_client(emu.url) as other:
            assert other.post("/_emulator/faults", json={"release": True}).json()["hanging"] == []
        assert answer.result(timeout=5).status_code == 200


def test_control_api_sets_a_trickle(emu: Emulator, client: httpx.Client) -> None:
    """A trickle set over the control API shows in the faults and is released with the others."""
    described = client.post("/_emulator/faults", json={"trickle": 0.5, "route": GET_JOB}).json()
    assert described["trickle"] == {GET_JOB: {"seconds": 0.5, "headers": False}}
    assert client.post("/_emulator/faults", json={"release": True}).json()["trickle"] == {}


def test_control_api_rejects_bad_requests(client: httpx.Client) -> None:
    """The control API answers proper JSON errors: 404 for unknown jobs, 400 for bad input or routes."""
    assert client.post("/_emulator/jobs/42/finish", json={}).status_code == 404
    assert client.post("/_emulator/jobs", json={"process_id": "x"}).status_code == 400
    assert client.post("/_emulator/jobs", content=b"[1]").status_code == 400
    assert client.put("/_emulator/quirks", json={"no_such_quirk": True}).status_code == 400
    assert client.get("/_emulator/nothing").json()["error"].startswith("no control route")


def test_seeded_history_is_finished_ordered_in_time_and_listing_is_cached(emu: Emulator) -> None:
    """seed_history makes finished jobs with ~log_bytes logs, oldest first; the listing stays cached."""
    began = time.monotonic()
    emu.seed_history(5000, log_bytes=1500)
    assert time.monotonic() - began < 5
    jobs = emu.jobs
    assert {job.status for job in jobs} <= {"SUCCESS", "FAILED", "CANCELLED"}
    assert all(job.start_time_ms < job.end_time_ms < emu.clock() * 1000 for job in jobs)
    assert [job.start_time_ms for job in jobs] == sorted(job.start_time_ms for job in jobs)
    assert 1000 < sum(len(job.log) for job in jobs) / len(jobs) < 2000
    assert len({job.log for job in jobs}) == len(jobs)
    assert emu.listing() is emu.listing()
    before = emu.listing()
    emu.append_log("1", "x")
    assert emu.listing() is not before
    with http_client(emu.url) as http:
        assert len(http.get("/v1/job").json()) == 5000


# Demo mode.


def test_demo_history_has_the_promised_mix(emu: Emulator) -> None:
    """The demo's seeded history holds SUCCESS jobs, one FAILED, one CANCELLED and two RUNNING."""
    DemoRunner(emu, seed=3).seed_history()
    statuses = [job.status for job in emu.jobs]
    assert statuses.count("FAILED") == statuses.count("CANCELLED") == 1
    assert statuses.count("RUNNING") == 2 and statuses.count("SUCCESS") >= 3


def test_demo_steps_start_log_and_end_jobs_on_an_injected_clock() -> None:
    """With a fake clock, demo steps start a job, grow its log over time, and end it with an outcome."""
    clock = FakeClock()
    emulator = Emulator(clock=clock.time)
    demo = DemoRunner(emulator, seed=1, failure_rate=1.0)
    demo.step()
    assert emulator.job_count == 0
    clock.advance(45)
    demo.step()
    (job,) = emulator.jobs
    assert job.status == "RUNNING"
    sizes = []
    for _ in range(20):
        clock.advance(5)
        demo.step()
        sizes.append(len(emulator.get(job.id).log))
    ended = emulator.get(job.id)
    assert ended.status == "FAILED" and "Check failed" in ended.log
    assert ended.end_time_ms > ended.start_time_ms
    assert sizes == sorted(sizes) and len(set(sizes)) > 2  # the log grew over several steps


def test_demo_never_shows_two_running_loads_of_one_graph_nor_loads_the_served_graph() -> None:
    """Like a real server, the demo's past and present hold at most one RUNNING load per graph, and
    never one of the graph being served, however busy it gets."""
    clock = FakeClock()
    emulator = Emulator(clock=clock.time)
    demo = DemoRunner(emulator, seed=5, interval=(1.0, 2.0), duration=(30.0, 60.0))
    demo.seed_history()
    started = set()
    for _ in range(300):
        clock.advance(1)
        demo.step()
        running = [emulator.get(job_id).graph_id for job_id in emulator.running_job_ids()]
        assert len(running) == len(set(running)) and "1" not in running
        started.update(running)
    assert started == {"2", "3"}


def test_demo_runs_in_the_background_and_jobs_end_on_their_own() -> None:
    """At a high speed the demo thread starts new jobs and ends them, mostly with SUCCESS."""
    with Emulator() as emulator:
        emulator.start_demo(speed=500, seed=2, failure_rate=0.0)
        seeded = emulator.job_count
        assert emulator.wait_until(
            lambda: any(job.status == "SUCCESS" and int(job.id) > seeded for job in emulator.jobs), timeout=5
        )
        done = next(job for job in emulator.jobs if job.status == "SUCCESS" and int(job.id) > seeded)
        assert "Finished bulk loading" in done.log and done.end_time_ms >= done.start_time_ms


def test_demo_job_cancelled_over_http_stays_cancelled() -> None:
    """A demo job cancelled by DELETE is not later ended by the demo."""
    clock = FakeClock()
    with Emulator(clock=clock.time) as emulator, http_client(emulator.url) as http:
        demo = DemoRunner(emulator, seed=4, failure_rate=0.0)
        job_id = http.post("/v1/graph/2/dataloading", json={}).json()["job_id"]
        assert http.delete(f"/v1/job/{job_id}").status_code == 200
        assert emulator.wait_until(lambda: emulator.get(job_id).status in ("CANCELLED", "FAILED"))
        ended = emulator.get(job_id)
        for _ in range(30):
            clock.advance(10)
            demo.step()
        assert emulator.get(job_id) == ended


# The command line.


@pytest.mark.slow
def test_cli_serves_and_exits_cleanly_on_sigterm() -> None:
    """`python -m jobbot.emulator --port 0` prints its URL, answers requests, and exits 0 on SIGTERM."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "jobbot.emulator", "--port", "0", "--history", "3", "--legacy-errors"]
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 15)
            assert ready, "the emulator printed nothing"
            line = proc.stdout.readline().strip()
            url = line.rsplit(" ", 1)[-1]
            assert line.startswith("jobbot emulator listening on http://127.0.0.1:")
            with http_client(url) as http:
                assert len(http.get("/v1/job").json()) == 3
                assert http.get("/v1/job/9").text == "key 9 not found for :JOB_META"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.slow
def test_cli_help_lists_the_options() -> None:
    """--help documents the port, demo and quirk options."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "jobbot.emulator", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=15,
        check=True,
    )
    for option in (
        "--port",
        "--demo",
        "--history",
        "--delay",
        "--trickle",
        "--legacy-errors",
        "--empty-list-as-object",
        "--cancel-ends-failed",
        "--raw-status-text",
        "--running-end-time-zero",
        "--graphs",
        "--serving",
    ):
        assert option in result.stdout
