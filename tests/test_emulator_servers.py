"""`python -m jobbot.emulator --servers prod,staging`: several independent servers in one process."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from jobbot.emulator.__main__ import build_parser
from tests.support import ENDED_BY_A_CANCEL

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def emulator_process(*options: str) -> Iterator[list[str]]:
    """The emulator as a child with `options`; yields the lines it printed up to its JOBBOT_SERVERS line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "jobbot.emulator", *options]
    # Unbuffered bytes: a buffered reader would take several lines at once and leave select() nothing.
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, bufsize=0) as proc:
        try:
            assert proc.stdout is not None
            printed = b""
            while b"JOBBOT_SERVERS=" not in printed or not printed.endswith(b"\n"):
                ready, _, _ = select.select([proc.stdout], [], [], 15)
                assert ready, f"the emulator stopped printing after {printed!r}"
                chunk = os.read(proc.stdout.fileno(), 4096)
                assert chunk, f"the emulator exited after {printed!r}"
                printed += chunk
            yield printed.decode().splitlines()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def two_free_ports() -> int:
    """A loopback port that, with the next one, nothing listens on (a moment ago)."""
    for _ in range(20):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")


@pytest.mark.slow
def test_two_servers_serve_the_same_job_ids_on_consecutive_ports() -> None:
    """`--demo --servers prod,staging --port P` serves prod on P and staging on P+1, each with the demo's
    jobs (the same ids on both), prints a line each and a JOBBOT_SERVERS line, and stops on SIGTERM."""
    port = two_free_ports()
    prod, staging = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    with emulator_process("--demo", "--servers", "prod,staging", "--port", str(port)) as lines:
        assert lines == [
            f"jobbot emulator prod listening on {prod}",
            f"jobbot emulator staging listening on {staging}",
            f"JOBBOT_SERVERS=prod={prod},staging={staging}",
        ]
        ids = {}
        for url in (prod, staging):
            with httpx.Client(base_url=url, timeout=5.0) as http:
                ids[url] = {job["id"] for job in http.get("/v1/job").json()}
        assert ids[prod] and {str(n) for n in range(1, 10)} <= ids[prod] & ids[staging]


@pytest.mark.slow
def test_the_servers_are_independent() -> None:
    """With `--port 0` each server picks a port; a job cancelled on one is still running on the other."""
    with emulator_process("--demo", "--speed", "0.01", "--servers", "a,b", "--port", "0") as lines:
        urls = dict(pair.split("=", 1) for pair in lines[-1].removeprefix("JOBBOT_SERVERS=").split(","))
        assert set(urls) == {"a", "b"} and urls["a"] != urls["b"]
        with (
            httpx.Client(base_url=urls["a"], timeout=5.0) as a,
            httpx.Client(base_url=urls["b"], timeout=5.0) as b,
        ):
            running = next(job["id"] for job in a.get("/v1/job").json() if job["status"] == "RUNNING")
            assert a.delete(f"/v1/job/{running}").status_code == 200
            assert a.get(f"/v1/job/{running}").json()["status"] in ENDED_BY_A_CANCEL
            assert b.get(f"/v1/job/{running}").json()["status"] == "RUNNING"


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("Prod", "'Prod' is not a server name"),
        ("prod,", "'' is not a server name"),
        ("prod,prod", "a server is named twice"),
    ],
)
def test_server_names_follow_jobbots_rule(
    value: str, complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--servers takes what JOBBOT_SERVERS takes: lowercase names, digits and dashes, none twice."""
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--servers", value])
    assert exit_.value.code == 2 and complaint in capsys.readouterr().err


def test_without_servers_there_is_one_unnamed_server() -> None:
    """Without --servers the option is unset: the emulator serves one server and prints as before."""
    assert build_parser().parse_args([]).servers is None
    assert build_parser().parse_args(["--servers", "eu-1,us-2"]).servers == ["eu-1", "us-2"]
