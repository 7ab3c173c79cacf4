"""The official SDK (gs-interactive 0.3, the `bench` extra's pin) against the emulator over loopback HTTP:
its job calls (list, get, cancel, and `GET /v1/job/` through its own client) work as they would on the
real server, and where the SDK itself fails, the failure is asserted here as the SDK's, by name.

The SDK pins pydantic<=2.8.2 and urllib3<2.1, so it runs in a venv of its own (`.venv-sdk`, built by the
first test that needs it from the pin in pyproject.toml, or the Python named by JOBBOT_SDK_PYTHON), through
tests/sdk_probe.py. It never skips: without the SDK the test fails, saying why.
"""

from __future__ import annotations

import ast
import fcntl
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobbot.emulator import Emulator

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).with_name("sdk_probe.py")
SDK_VENV = ROOT / ".venv-sdk"
INSTALL_TIMEOUT = 600
PROBE_TIMEOUT = 120

# The SDK's own limitations, not the emulator's (the real server answers the same):
# - its JobStatus model allows only RUNNING, SUCCESS, FAILED, CANCELLED and WAITING, and its error path
#   then reads `.body` off pydantic's ValidationError: a list or get meeting an UNKNOWN job raises
#   AttributeError out of the Session instead of returning a failed Result;
SDK_RAISES_ON_UNKNOWN = (
    "AttributeError: 'pydantic_core._pydantic_core.ValidationError' object has no attribute"
)
# - its cancel result is declared a string, so the server's `{"message": ...}` object comes back as the
#   dict's Python text (`"{'message': '...'}"`), not as the message.


def sdk_requirements() -> list[str]:
    """The SDK as the `bench` extra pins it: one place for the pin."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        return list(tomllib.load(file)["project"]["optional-dependencies"]["bench"])


def has_sdk(python: Path) -> bool:
    found = subprocess.run(
        [str(python), "-c", "import gs_interactive"], capture_output=True, timeout=PROBE_TIMEOUT, check=False
    )
    return found.returncode == 0


@pytest.fixture(scope="session")
def sdk_python() -> Iterator[Path]:
    """A Python with the SDK: JOBBOT_SDK_PYTHON's, else `.venv-sdk`, built once (a lock serializes the
    xdist workers; .ci/run removes it, so CI builds it from nothing)."""
    named = os.environ.get("JOBBOT_SDK_PYTHON")
    if named:
        yield Path(named)
        return
    python = SDK_VENV / "bin" / "python"
    with (ROOT / ".venv-sdk.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (python.exists() and has_sdk(python)):
            for step in (
                [sys.executable, "-m", "venv", "--clear", str(SDK_VENV)],
                [str(python), "-m", "pip", "install", "-q", *sdk_requirements()],
            ):
                built = subprocess.run(
                    step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
                )
                if built.returncode != 0:
                    pytest.fail(f"could not build the SDK's venv ({' '.join(step)}):\n{built.stderr[-3000:]}")
    yield python


def probe(python: Path, emulator: Emulator, *calls: list[str]) -> list[dict[str, Any]]:
    """What each SDK call gave (see tests/sdk_probe.py), in order."""
    ran = subprocess.run(
        [str(python), str(PROBE), emulator.url, json.dumps(list(calls))],
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    said: list[dict[str, Any]] = json.loads(ran.stdout)
    return said


def test_the_sdk_lists_gets_and_cancels_a_job_on_the_emulator(sdk_python: Path, emulator: Emulator) -> None:
    """The SDK's list and get read the emulator's jobs field for field as served; its cancel stops a
    running job (which then reads CANCELLED, or FAILED when the loader's exit wins the race, as on the
    real server); a second cancel and a missing job are failed Results carrying the server's words."""
    done = emulator.add_job(status="SUCCESS", process_id=555)
    running = emulator.add_job(process_id=777)
    served = {job["id"]: job for job in httpx.get(emulator.url + "/v1/job", timeout=10).json()}
    listed, got, missing, cancelled, after, again = probe(
        sdk_python,
        emulator,
        ["list"],
        ["get", running],
        ["get", "999"],
        ["cancel", running],
        ["get", running],
        ["cancel", running],
    )
    assert listed["ok"] is True and listed["raised"] is None
    assert {job["id"]: job for job in listed["value"]} == served and set(served) == {done, running}
    assert got["ok"] is True and got["value"] == served[running]
    assert got["value"]["detail"] == {"graph_id": "1", "process_id": 777}
    assert missing["ok"] is False and "999" in missing["message"] and missing["raised"] is None
    assert cancelled["ok"] is True and cancelled["raised"] is None
    # The SDK's limitation: the server's object comes back as its Python text.
    assert ast.literal_eval(cancelled["value"]) == {"message": f"Successfully cancel job: {running}"}
    assert after["ok"] is True and after["value"]["status"] in ("CANCELLED", "FAILED")
    assert again["ok"] is False and "Job already" in again["message"]


def test_the_sdks_trailing_slash_list_reads_the_same_jobs(sdk_python: Path, emulator: Emulator) -> None:
    """`GET /v1/job/` through the SDK's own client: the emulator lists there, as the real server's router
    does (it strips the slash), and the SDK reads the same jobs as from `/v1/job`."""
    emulator.add_job(status="SUCCESS")
    emulator.add_job()
    served = httpx.get(emulator.url + "/v1/job", timeout=10)
    [slashed] = probe(sdk_python, emulator, ["list_slash"])
    assert slashed["raised"] is None and slashed["ok"] is True
    assert sorted(job["id"] for job in slashed["value"]) == sorted(job["id"] for job in served.json())


def test_the_sdk_raises_on_an_unknown_job_that_the_emulator_serves_as_the_server_does(
    sdk_python: Path, emulator: Emulator
) -> None:
    """The emulator serves an UNKNOWN job as the real server does (200, status UNKNOWN); the SDK's list
    and get raise on it (its limitation, by name), while a list without one works."""
    known = emulator.add_job(status="SUCCESS")
    unknown = emulator.add_job(process_id=888)
    emulator.set_status(unknown, "UNKNOWN")
    served = httpx.get(f"{emulator.url}/v1/job/{unknown}", timeout=10)
    assert served.status_code == 200 and served.json()["status"] == "UNKNOWN"
    listed, got, other = probe(sdk_python, emulator, ["list"], ["get", unknown], ["get", known])
    for failed in (listed, got):
        assert failed["ok"] is None and str(failed["raised"]).startswith(SDK_RAISES_ON_UNKNOWN)
    assert other["ok"] is True and other["value"]["status"] == "SUCCESS"
