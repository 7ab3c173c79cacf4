"""Peak memory of reading one job (`/jobs status`) against the size of its log: it should not grow.

    python -m benchmarks.log_memory [--sizes 1,10,100,300] [--whole]

A small loopback server streams `GET /v1/job/{id}` for a job whose log is --sizes megabytes of loader
lines (plain ones and ones full of quotes, braces and backslashes), made as it is sent, so the server
holds none of it. Each size is read by jobbot's `JobClient.get_job()` in a fresh process: peak RSS during
the call (VmHWM, reset through /proc/self/clear_refs just before it), its rise over the RSS before, and
the wall time. The last line gives the peak at the largest size over the peak at the smallest (target:
about x1.0). With --whole, each size is also read the way jobbot did before (the whole body, then
`json.loads`), for comparison.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks.common import machine, table

ROOT = Path(__file__).resolve().parent.parent
WORKER_TIMEOUT = 600
MB = 1_000_000
LINES = (
    "I1017 22:45:14.004163 1036746 bulk_loader.cc:109] Loading graph 1, parallelism: 4\n",
    'I1017 22:45:14.004170 1036746 loading_config.cc:452] config: [{"label": "person"},{"label": '
    '"knows"}] from C:\\data\\\n',
)
LAST_LINE = "E1017 22:59:59.000001 1036746 bulk_loader.cc:420] the real error is here\n"
# About 1 MiB of escaped log text, sent again and again.
_BLOCK = json.dumps("".join(LINES) * (2**20 // len("".join(LINES))))[1:-1].encode()
_HEAD = (
    json.dumps(
        {
            "id": "7",
            "status": "FAILED",
            "start_time": 1718000000123,
            "end_time": 1718000065432,
            "detail": {"graph_id": "2", "process_id": 4242},
            "type": "BULK_LOADING",
        }
    )[:-1].encode()
    + b', "log": "'
)
_TAIL = json.dumps(LAST_LINE)[1:].encode() + b"}"


def blocks_for(megabytes: int) -> int:
    return max(1, round(megabytes * MB / len(_BLOCK)))


class _JobServer(BaseHTTPRequestHandler):
    """`GET /v1/job/N`: a job whose log is about N megabytes, streamed."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        count = blocks_for(int(self.path.rsplit("/", 1)[-1]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(_HEAD) + count * len(_BLOCK) + len(_TAIL)))
        self.end_headers()
        self.wfile.write(_HEAD)
        for _ in range(count):
            self.wfile.write(_BLOCK)
        self.wfile.write(_TAIL)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,10,100,300", help="log sizes in MB, comma-separated")
    parser.add_argument("--whole", action="store_true", help="also read each body whole, as before")
    parser.add_argument("--worker", nargs=3, metavar=("HOW", "ENDPOINT", "MB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    ways = ["jobbot"] + (["whole"] if args.whole else [])

    server = ThreadingHTTPServer(("127.0.0.1", 0), _JobServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    results: dict[tuple[str, int], dict[str, Any]] = {}
    try:
        for size in sizes:
            for way in ways:
                results[way, size] = run_worker(way, endpoint, size)
    finally:
        server.shutdown()
        server.server_close()

    names = {"jobbot": "JobClient.get_job()", "whole": "whole body + json.loads (before)"}
    rows = []
    for way in ways:
        for size in sizes:
            result = results[way, size]
            rows.append(
                [
                    names[way],
                    size,
                    f"{result['body_bytes'] / 2**20:,.1f}",
                    f"{result['wall_s']:.2f}",
                    f"{result['rss_before_mib']:.1f}",
                    f"{result['peak_rss_mib']:.1f}",
                    f"{result['peak_rss_mib'] - result['rss_before_mib']:.1f}",
                    result["log_chars"],
                ]
            )
    print(f"Reading one job by its log size ({machine()}; one fresh process per row)\n")
    print(
        table(
            [
                "reader",
                "log MB",
                "body MiB",
                "wall s",
                "RSS before MiB",
                "peak RSS MiB",
                "rise MiB",
                "log chars kept",
            ],
            rows,
        )
    )
    print()
    for way in ways:
        small, large = results[way, sizes[0]], results[way, sizes[-1]]
        ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
        print(f"{names[way]}: peak RSS at {sizes[-1]} MB / at {sizes[0]} MB = x{ratio:.2f}")


def run_worker(way: str, endpoint: str, size: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.log_memory", "--worker", way, endpoint, str(size)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{way} worker failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def worker(way: str, endpoint: str, size: str) -> None:
    """In a fresh process: read job `size` once and print what it cost."""
    import httpx

    from benchmarks._list_worker import reset_peak_rss, rss_kib
    from jobbot.jobs_api import JobClient
    from jobbot.models import JobWithLog

    client = JobClient(endpoint, deadline=WORKER_TIMEOUT)
    http = httpx.Client(timeout=WORKER_TIMEOUT)
    url = f"{endpoint}/v1/job/{size}"
    rss_before = rss_kib("VmRSS")
    if not reset_peak_rss():
        raise SystemExit("needs /proc/self/clear_refs (Linux 4.0+) to measure the peak of one call")
    started = time.perf_counter()
    if way == "jobbot":
        job = client.get_job(size)
    else:
        response = http.get(url)
        job = JobWithLog.model_validate(json.loads(response.content))
    wall = time.perf_counter() - started
    peak = rss_kib("VmHWM")
    assert job.log.endswith(LAST_LINE), "the log's end was lost"
    result = {
        "wall_s": wall,
        "rss_before_mib": rss_before / 1024,
        "peak_rss_mib": peak / 1024,
        "log_chars": len(job.log),
        "body_bytes": len(_HEAD) + blocks_for(int(size)) * len(_BLOCK) + len(_TAIL),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
