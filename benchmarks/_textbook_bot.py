"""The baseline for benchmarks.ack_latency: a textbook sync bolt app that calls the API *before* it acks.

    python -m benchmarks._textbook_bot --endpoint URL --slack-api-url URL --signing-secret S

This is the shape most bolt examples have: the `/jobs` listener does its work, then calls `ack()`.
It is served the way jobbot is (bolt's WSGI adapter under waitress, 8 threads, bolt's default listener
pool) and prints `listening on PORT` once it accepts connections. SIGTERM ends it.
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from waitress.server import BaseWSGIServer, create_server


def build_app(endpoint: str, slack_api_url: str, signing_secret: str, *, ack_only: bool = False) -> App:
    app = App(
        client=WebClient(token="xoxb-benchmark", base_url=slack_api_url),
        signing_secret=signing_secret,
        token_verification_enabled=False,
    )
    interactive = httpx.Client(base_url=endpoint, timeout=30)

    if ack_only:

        @app.command("/jobs")
        def floor(ack: Ack) -> None:
            ack()

        return app

    @app.command("/jobs")
    def jobs(ack: Ack, respond: Respond, command: dict[str, Any]) -> None:
        listing = interactive.get("/v1/job").json()  # the work first...
        ack()  # ...then the ack: the textbook mistake this benchmark measures
        respond(text=f"{len(listing)} jobs")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoint", required=True, help="the Interactive admin API (loopback)")
    parser.add_argument("--slack-api-url", required=True, help="the fake Slack Web API (loopback)")
    parser.add_argument("--signing-secret", required=True)
    parser.add_argument(
        "--ack-only", action="store_true", help="the floor: a listener that only acks and does nothing"
    )
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (jobbot's default: 8)")
    args = parser.parse_args()
    app = build_app(args.endpoint, args.slack_api_url, args.signing_secret, ack_only=args.ack_only)
    server = create_server(SlackRequestHandler(app), host="127.0.0.1", port=0, threads=args.threads)
    assert isinstance(server, BaseWSGIServer)
    print(f"listening on {server.getsockname()[1]}", flush=True)
    server.run()


if __name__ == "__main__":
    main()
