"""Command line: `python -m jobbot.emulator --port 7777 [--demo] [--servers prod,staging] ...` serves until
Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from jobbot.emulator.model import Emulator
from jobbot.emulator.quirks import Quirks

# jobbot's rule for a server name (the emulator imports nothing of jobbot, so it is written again here):
# what --servers accepts is what JOBBOT_SERVERS accepts.
_SERVER_NAME = re.compile(r"[a-z0-9-]{1,20}")


def server_names(text: str) -> list[str]:
    """The names of `--servers prod,staging`: each a jobbot server name, none twice."""
    names = [name.strip() for name in text.split(",")]
    for name in names:
        if not _SERVER_NAME.fullmatch(name):
            raise argparse.ArgumentTypeError(
                f"{name[:40]!r} is not a server name (lowercase letters, digits and dashes, at most 20)"
            )
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError("a server is named twice")
    return names


def _share(text: str) -> float:
    """A share between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("a share is between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobbot.emulator",
        description=(
            "Serve an in-memory emulator of the GraphScope Interactive admin API (the /v1/job routes and "
            "POST /v1/graph/{graph_id}/dataloading), with the real server's quirks, plus a control API "
            "under /_emulator/ (stats, jobs, history, faults, quirks, and POST /_emulator/redeploy "
            '{"downtime": S} to act out a redeploy that lost the metadata volume: ids start again at 1; '
            'POST /_emulator/jobs/ID/stale {"fate": "gone|other_user|reused"}, '
            "/_emulator/jobs/ID/lose_log, /_emulator/lose_logs, /_emulator/lose_counter)."
        ),
        epilog=(
            "By default it behaves as the real server does: a cancel of an UNKNOWN job kills its stored "
            "pid; a pid <= 0 is 500 'Invalid process id'; a cancelled job often ends FAILED (the loader's "
            "thread races the cancel; per job, from --seed); a job left RUNNING by a restart has a pid "
            "that is nobody's (500 No such process), another user's (500 Operation not permitted) or "
            "the server's own (200, an unrelated process dies); a RUNNING job's end_time is any value; "
            "any status text but RUNNING/SUCCESS/FAILED/CANCELLED reads as UNKNOWN; a lost log file "
            "reads as ''; data loading refuses an unknown graph (404), the served graph and a graph "
            "already loading (400, code 111); GET /v1/job/ lists. The quirk and kinder options above "
            "turn parts off."
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
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed for logs, pids, the demo, the cancel race and stale pids",
    )
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
        "--cancel-ends-failed",
        type=_share,
        default=0.5,
        metavar="SHARE",
        help=(
            "share of cancelled jobs the loader then records as FAILED, decided per job from --seed; "
            "0 keeps CANCELLED (kinder than a real server), 1 always FAILED (default: %(default)s)"
        ),
    )
    quirks.add_argument(
        "--cancel-overwrite-delay",
        type=float,
        default=None,
        metavar="SECONDS",
        help=(
            "how long after a cancel's reply that FAILED lands, 0 for before the reply (default: per "
            "job, before the reply or 0.1 s after it)"
        ),
    )
    kinder = parser.add_argument_group("kinder than a real server")
    kinder.add_argument(
        "--raw-status-text",
        action="store_true",
        help="send any stored status text as is (a real server reads it as UNKNOWN)",
    )
    kinder.add_argument(
        "--running-end-time-zero",
        action="store_true",
        help="a RUNNING job's end_time is 0 (a real server sends whatever the unwritten field holds)",
    )
    kinder.add_argument(
        "--graphs",
        type=lambda text: tuple(name.strip() for name in text.split(",") if name.strip()),
        default=("1", "2", "3"),
        metavar="ID,ID",
        help="the graphs data loading accepts; others are 404 (default: 1,2,3)",
    )
    kinder.add_argument(
        "--serving",
        default="1",
        metavar="ID",
        help="the graph being served, which data loading refuses (400); '' for none (default: %(default)s)",
    )
    parser.add_argument("--log-requests", action="store_true", help="print each request to stderr")
    parser.add_argument(
        "--servers",
        type=server_names,
        metavar="NAME,NAME",
        help=(
            "serve several independent servers, one per name, on consecutive ports from --port (with "
            "--port 0 each picks a free one), each with the options above, so the same job ids exist on "
            "each; the demo's seed is --seed plus the server's position, so their jobs then differ. Prints "
            "a JOBBOT_SERVERS line to paste"
        ),
    )
    return parser


def build_emulator(args: argparse.Namespace, *, seed: int) -> Emulator:
    """One server as the options describe it (not yet serving)."""
    emulator = Emulator(
        quirks=Quirks(
            legacy_errors=args.legacy_errors,
            empty_list_as_object=args.empty_list_as_object,
            cancel_reply_as_string=args.cancel_reply_as_string,
            cancel_ends_failed=args.cancel_ends_failed,
            cancel_overwrite_delay=args.cancel_overwrite_delay,
            raw_status_text=args.raw_status_text,
            running_end_time_zero=args.running_end_time_zero,
        ),
        first_id=args.first_id,
        seed=seed,
        log_requests=args.log_requests,
        graphs=args.graphs,
        serving=args.serving or None,
    )
    if args.history:
        emulator.seed_history(args.history, log_bytes=args.log_bytes)
    if args.delay > 0:
        emulator.faults.set_delay(args.delay)
    if args.trickle > 0:
        emulator.faults.trickle(args.trickle, headers=args.trickle_headers)
    return emulator


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    names: list[str] | None = args.servers
    if names and args.port and args.port + len(names) - 1 > 65535:
        parser.error(f"--servers needs {len(names)} ports from --port {args.port}; the last port is 65535")
    # Without --servers, one unnamed server, printed as it always was.
    emulators = {name: build_emulator(args, seed=args.seed + i) for i, name in enumerate(names or [""])}

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    started: list[Emulator] = []
    for i, emulator in enumerate(emulators.values()):
        port = args.port + i if args.port else 0
        try:
            started.append(emulator.start(args.host, port))
        except OSError as exc:
            print(f"cannot listen on {args.host}:{port}: {exc}", file=sys.stderr)
            for running in started:
                running.stop()
            return 1
    for i, (name, emulator) in enumerate(emulators.items()):
        if args.demo:
            emulator.start_demo(speed=args.speed, seed=args.seed + i)
        print(f"jobbot emulator {name + ' ' if name else ''}listening on {emulator.url}", flush=True)
    if names:
        pairs = ",".join(f"{name}={emulator.url}" for name, emulator in emulators.items())
        print(f"JOBBOT_SERVERS={pairs}", flush=True)
    # A timeout keeps the wait responsive to signals on every platform.
    while not stopping.wait(0.5):
        pass
    for emulator in started:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
