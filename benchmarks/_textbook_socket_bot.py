"""The baseline for benchmarks.socket_reconnect: a textbook bolt app in Socket Mode.

    python -m benchmarks._textbook_socket_bot --slack-api-url URL --app-token T

The shape of bolt's Socket Mode examples: `SocketModeHandler(app, app_token).start()`, every setting at
its default (the built-in client, ping_interval 10, auto-reconnect on). Its `/jobs` listener acks and
answers at once, so only the connection is measured. Prints `connected` once the handler has connected;
SIGTERM ends it.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slack-api-url", required=True, help="the fake Slack Web API (loopback)")
    parser.add_argument("--app-token", required=True)
    args = parser.parse_args()
    app = App(
        client=WebClient(token="xoxb-benchmark", base_url=args.slack_api_url),
        token_verification_enabled=False,
    )

    @app.command("/jobs")
    def jobs(ack: Ack, respond: Respond, command: dict[str, Any]) -> None:
        ack()
        respond(text="ok")

    handler = SocketModeHandler(app, args.app_token)
    handler.connect()
    print("connected", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    handler.close()


if __name__ == "__main__":
    main()
