"""/readyz with several servers: a notifier check per server, ready only when every one passes."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import cast

from jobbot.app import Bot
from jobbot.probes import Probes
from jobbot.servers import Server, Servers

NOW = 1000.0
POLL = 5.0


@dataclass
class FakeNotifier:
    """What the probe reads of a notifier."""

    is_leader: bool = True
    last_success: float | None = NOW - 1
    poll_interval: float = POLL


@dataclass
class FakeStore:
    def high_water(self) -> int:
        return 0


@dataclass
class FakeBot:
    notifiers: dict[str, FakeNotifier]
    servers: Servers
    store: FakeStore = field(default_factory=FakeStore)
    app: SimpleNamespace = field(
        default_factory=lambda: SimpleNamespace(client=SimpleNamespace(auth_test=dict))
    )


TWO = Servers(
    (Server("prod", "http://gs-prod:7777"), Server("staging", "http://gs-staging:7777")), legacy="prod"
)


def probes(notifiers: dict[str, FakeNotifier], servers: Servers) -> Probes:
    return Probes(cast(Bot, FakeBot(notifiers, servers)), monotonic=lambda: NOW)


def test_one_server_keeps_the_single_notifier_check() -> None:
    """A one-server bot reports "notifier", as before there could be several, with the same texts."""
    answer = probes({"default": FakeNotifier()}, Servers.single("http://gs:7777")).readiness()
    assert answer.ready and answer.checks == {"slack": "ok", "store": "ok", "notifier": "ok (leader)"}


def test_several_servers_get_a_check_each_in_their_order() -> None:
    """With prod and staging, the checks are "notifier prod" and "notifier staging" (leader, standby)."""
    notifiers = {"prod": FakeNotifier(), "staging": FakeNotifier(is_leader=False)}
    answer = probes(notifiers, TWO).readiness()
    assert answer.ready
    assert list(answer.checks) == ["slack", "store", "notifier prod", "notifier staging"]
    assert answer.checks["notifier prod"] == "ok (leader)"
    assert answer.checks["notifier staging"] == "ok (standby)"


def test_one_servers_stalled_notifier_makes_the_replica_unready_and_is_named() -> None:
    """Staging's leader without a good poll for three intervals fails its own check; prod's stays ok."""
    notifiers = {"prod": FakeNotifier(), "staging": FakeNotifier(last_success=NOW - 10 * POLL)}
    answer = probes(notifiers, TWO).readiness()
    assert not answer.ready
    assert answer.checks["notifier prod"] == "ok (leader)"
    assert answer.as_json()["reason"] == "notifier staging: last successful poll 50 s ago (limit 15 s)"


def test_notices_switched_off_is_one_check_whatever_the_servers() -> None:
    """With no notifiers, one "notifier" check says switched off, for one server or several."""
    for servers in (Servers.single("http://gs:7777"), TWO):
        answer = probes({}, servers).readiness()
        assert answer.ready and answer.checks["notifier"] == "ok (switched off)"
        assert not any(name.startswith("notifier ") for name in answer.checks)


def test_socket_mode_connection_state_is_a_check_of_its_own() -> None:
    """In Socket Mode /readyz carries the connection's state; a replica reconnecting is not ready, and the
    reason names how long it has been so."""
    bot = cast(Bot, FakeBot({"default": FakeNotifier()}, Servers.single("http://gs:7777")))
    connected = Probes(bot, connection=lambda: "ok (connected)", monotonic=lambda: NOW).readiness()
    assert connected.ready and connected.checks["socket_mode"] == "ok (connected)"
    down = Probes(bot, connection=lambda: "reconnecting for 7 s", monotonic=lambda: NOW).readiness()
    assert not down.ready
    assert down.as_json()["reason"] == "socket_mode: reconnecting for 7 s"
