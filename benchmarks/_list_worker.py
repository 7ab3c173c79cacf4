"""One measured `list_jobs()` in a fresh process, for benchmarks.client_vs_sdk.

    python -m benchmarks._list_worker {jobbot,sdk} ENDPOINT {time,trace,outcome}

`time`: wall and CPU time of the first call, peak RSS during it (VmHWM, reset through
/proc/self/clear_refs just before the call), and the wall time of a second call. `trace`:
tracemalloc's peak and what stays allocated after the call. `outcome`: what the call returns or
raises, in one line. The result is the last stdout line, after `RESULT `.
Imports only the standard library and the client under test, so the SDK can run from its own venv.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

MESSAGE_CHARS = 110


def jobbot_lister(endpoint: str) -> Callable[[], Any]:
    from jobbot.jobs_api import JobClient

    client = JobClient(endpoint)
    return client.list_jobs


def sdk_lister(endpoint: str) -> Callable[[], Any]:
    """The SDK's documented entry point: Driver() from the environment, then a session."""
    os.environ["INTERACTIVE_ADMIN_ENDPOINT"] = endpoint
    # Otherwise the session asks /v1/service/status for the query port, which no emulator serves.
    os.environ["INTERACTIVE_STORED_PROC_ENDPOINT"] = endpoint
    os.environ["INTERACTIVE_CYPHER_ENDPOINT"] = "neo4j://127.0.0.1:7687"  # unused; silences a print
    os.environ["INTERACTIVE_GREMLIN_ENDPOINT"] = "127.0.0.1:8182"  # unused; silences a print
    from gs_interactive.client.driver import Driver

    session = Driver().session()
    list_jobs: Callable[[], Any] = session.list_jobs
    return list_jobs


def rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> bool:
    """Make VmHWM start again from the current RSS (Linux 4.0+); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def count(value: Any) -> int | None:
    """Jobs in what list_jobs returned: a list (jobbot) or an SDK Result holding one."""
    if isinstance(value, list):
        return len(value)
    if hasattr(value, "is_ok") and value.is_ok():
        return len(value.get_value())
    return None


def describe(call: Callable[[], Any]) -> str:
    """What the call gave back, in one short line."""
    try:
        value = call()
    except BaseException as exc:
        return f"raises {type(exc).__name__}: {clip(str(exc))}"
    if isinstance(value, list):
        odd = [job for job in value if getattr(job, "status", None) not in ("SUCCESS", "FAILED", "CANCELLED")]
        shown = ", ".join(f"#{job.id} status {job.status!r}" for job in odd[:2])
        return f"returns {len(value)} jobs" + (f" ({shown})" if shown else "")
    if hasattr(value, "is_ok"):
        if value.is_ok():
            jobs = value.get_value()
            return f"returns Result OK with {len(jobs)} jobs"
        status = value.get_status()
        return f"returns Result error {sdk_code_name(status.get_code())}: {clip(str(status.get_message))}"
    return f"returns {type(value).__name__}: {clip(repr(value))}"


def sdk_code_name(code: int) -> str:
    try:
        from gs_interactive.client.generated.interactive_pb2 import Code

        return str(Code.Name(code))
    except (ImportError, ValueError):
        return f"code {code}"


def clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def main() -> None:
    client, endpoint, mode = sys.argv[1:4]
    listing = jobbot_lister(endpoint) if client == "jobbot" else sdk_lister(endpoint)
    result: dict[str, Any] = {}
    if mode == "time":
        rss_before = rss_kib("VmRSS")
        exact_peak = reset_peak_rss()
        cpu, started = time.process_time(), time.perf_counter()
        value = listing()
        result["wall_s"] = time.perf_counter() - started
        result["cpu_s"] = time.process_time() - cpu
        result["jobs"] = count(value)
        peak = rss_kib("VmHWM") if exact_peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result["rss_before_mib"] = rss_before / 1024
        result["peak_rss_mib"] = peak / 1024
        result["exact_peak"] = exact_peak
        # A running bot lists jobs again and again: the second call shows the steady-state time.
        del value
        gc.collect()
        started = time.perf_counter()
        listing()
        result["second_wall_s"] = time.perf_counter() - started
    elif mode == "trace":
        tracemalloc.start()
        value = listing()
        retained, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result.update(jobs=count(value), traced_peak_mib=peak / 2**20, traced_retained_mib=retained / 2**20)
    else:
        result["outcome"] = describe(listing)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
