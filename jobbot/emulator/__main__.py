"""Command line: `python -m jobbot.emulator --port 7777 [--demo] ...` serves until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from jobbot.emulator.model import Emulator
from jobbot.emulator.quirks import Quirks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobbot.emulator",
        description=(
            "Serve an in-memory emulator of the GraphScope Interactive admin API (the /v1/job routes and "
            "POST /v1/graph/{graph_id}/dataloading), with the real server's quirks, plus a control API "
            "under /_emulator/ (stats, jobs, history, faults, quirks, and POST /_emulator/redeploy "
            '{"downtime": S} to act out a redeploy that lost the metadata volume: ids start again at 1).'
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=7777, help="port; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--demo", action="store_true", help="start, log and end jobs on their own, after a small history"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="demo time factor: 10 makes jobs run 10x faster"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed for logs, pids and the demo")
    parser.add_argument("--history", type=int, default=0, metavar="N", help="seed N finished jobs at start")
    parser.add_argument("--log-bytes", type=int, default=2048, help="approximate log size of each seeded job")
    parser.add_argument("--first-id", type=int, default=1, help="first job id the counter hands out")
    parser.add_argument(
        "--delay", type=float, default=0.0, metavar="SECONDS", help="wait before every answer"
    )
    parser.add_argument(
        "--trickle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="send every answer one byte at a time, SECONDS apart: a server that never finishes answering",
    )
    parser.add_argument(
        "--trickle-headers",
        action="store_true",
        help="with --trickle, trickle the status line and headers too",
    )
    quirks = parser.add_argument_group("quirks of older servers or of the spec")
    quirks.add_argument(
        "--legacy-errors", action="store_true", help="error bodies are bare text (before Aug 2024)"
    )
    quirks.add_argument(
        "--empty-list-as-object", action="store_true", help="an empty job list is {} (before Oct 2024)"
    )
    quirks.add_argument(
        "--cancel-reply-as-string",
        action="store_true",
        help="a cancel answers a bare JSON string, as the spec says",
    )
    quirks.add_argument(
        "--cancel-overwritten-by-failed",
        action="store_true",
        help="a cancelled job is later recorded as FAILED by its loader",
    )
    quirks.add_argument(
        "--cancel-overwrite-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how long after a cancel that FAILED lands (default: %(default)s)",
    )
    parser.add_argument("--log-requests", action="store_true", help="print each request to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    emulator = Emulator(
        quirks=Quirks(
            legacy_errors=args.legacy_errors,
            empty_list_as_object=args.empty_list_as_object,
            cancel_reply_as_string=args.cancel_reply_as_string,
            cancel_overwritten_by_failed=args.cancel_overwritten_by_failed,
            cancel_overwrite_delay=args.cancel_overwrite_delay,
        ),
        first_id=args.first_id,
        seed=args.seed,
        log_requests=args.log_requests,
    )
    if args.history:
        emulator.seed_history(args.history, log_bytes=args.log_bytes)
    if args.delay > 0:
        emulator.faults.set_delay(args.delay)
    if args.trickle > 0:
        emulator.faults.trickle(args.trickle, headers=args.trickle_headers)

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        emulator.start(args.host, args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    if args.demo:
        emulator.start_demo(speed=args.speed, seed=args.seed)
    print(f"jobbot emulator listening on {emulator.url}", flush=True)
    # A timeout keeps the wait responsive to signals on every platform.
    while not stopping.wait(0.5):
        pass
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
