"""Liveness, readiness and metrics answers for load balancers, Kubernetes and Prometheus."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from jobbot.app import Bot
from jobbot.notifier import Notifier

log = logging.getLogger(__name__)

# auth.test is rate limited (tier 4); probes come every few seconds, so remember its answer a while.
SLACK_CHECK_SECONDS = 60.0


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        failing = [f"{name}: {state}" for name, state in self.checks.items() if not state.startswith("ok")]
        return {
            "ready": self.ready,
            "checks": self.checks,
            **({"reason": "; ".join(failing)} if failing else {}),
        }


class Probes:
    """Answers /readyz from the bot's parts: Slack auth, the store, each server's notifier's last poll
    and, in Socket Mode, the connection (`connection` says its state: "ok (connected)" or what is wrong).

    One server has one check named "notifier"; several have one each, "notifier <server>", so a server
    whose notifier stopped polling is named in the reason. The replica is ready only when all pass."""

    def __init__(
        self,
        bot: Bot,
        *,
        connection: Callable[[], str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bot = bot
        self._connection = connection
        self._monotonic = monotonic
        self._started = monotonic()
        self._slack: tuple[float, str] | None = None
        self._store_failing = False
        self._lock = threading.Lock()

    def readiness(self) -> Readiness:
        checks = {
            "slack": self._slack_state(),
            "store": self._store_state(),
            **({"socket_mode": self._connection()} if self._connection is not None else {}),
            **self._notifier_checks(),
        }
        return Readiness(all(state.startswith("ok") for state in checks.values()), checks)

    def _notifier_checks(self) -> dict[str, str]:
        notifiers = self._bot.notifiers
        if not notifiers:
            return {"notifier": "ok (switched off)"}
        if not self._bot.servers.shown:
            return {"notifier": self._notifier_state(next(iter(notifiers.values())))}
        return {f"notifier {name}": self._notifier_state(notifier) for name, notifier in notifiers.items()}

    def _slack_state(self) -> str:
        now = self._monotonic()
        with self._lock:
            if self._slack and now - self._slack[0] < SLACK_CHECK_SECONDS:
                return self._slack[1]
        try:
            self._bot.app.client.auth_test()
            state = "ok"
        except SlackApiError as exc:
            state = f"auth.test failed: {exc.response.get('error', 'unknown error')}"
        except OSError as exc:
            state = f"Slack unreachable: {type(exc).__name__}"
        with self._lock:
            self._slack = (now, state)
        return state

    def _store_state(self) -> str:
        """The store's state as the probe shows it, "ok" or "unavailable": anyone who reaches PORT reads
        it, and the store's own error names its host, port and database. That error goes to the log
        instead, once each time the state turns."""
        try:
            self._bot.store.high_water()
        except Exception as exc:
            with self._lock:
                turned, self._store_failing = not self._store_failing, True
            if turned:
                log.warning("readiness: the store is unavailable: %s: %s", type(exc).__name__, exc)
            return "unavailable"
        with self._lock:
            turned, self._store_failing = self._store_failing, False
        if turned:
            log.info("readiness: the store is available again")
        return "ok"

    def _notifier_state(self, notifier: Notifier) -> str:
        if not notifier.is_leader:
            return "ok (standby)"
        window = 3 * notifier.poll_interval
        now = self._monotonic()
        last = notifier.last_success
        if last is None:
            return "ok (starting)" if now - self._started < window else "no successful poll yet"
        age = now - last
        return (
            "ok (leader)" if age <= window else f"last successful poll {age:.0f} s ago (limit {window:.0f} s)"
        )
