"""The delivery machine's one table: every delivery ends, a notice in Slack is never posted again, and
both stores move and list deliveries as the table says."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobbot.models import FinishedJob
from jobbot.notifier.transitions import (
    NOTICE_DUE,
    REPLY_DUE,
    TRANSITIONS,
    DeliveryEvent,
    next_state,
)
from jobbot.store import DeliveryState, NoticeRow, Store, open_store

S = DeliveryState
E = DeliveryEvent
FINAL = {S.DONE, S.FAILED}
UNFINISHED = set(S) - FINAL


def reachable(start: Iterable[DeliveryState]) -> set[DeliveryState]:
    """Every state some run of events leads to from `start` (the start included)."""
    seen = set(start)
    frontier = list(seen)
    while frontier:
        state = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is state and target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


def test_every_delivery_can_end_done_or_failed_and_an_ended_one_never_moves() -> None:
    """From each unfinished state both DONE and FAILED are reachable; DONE and FAILED take no event."""
    assert {state for state, _ in TRANSITIONS} == UNFINISHED
    for state in UNFINISHED:
        assert reachable([state]) >= FINAL, state


def test_a_notice_in_slack_is_never_posted_again() -> None:
    """Once the notice is out (POSTED, THREADING, DONE), no run of events makes it due again."""
    assert not reachable([S.POSTED, S.THREADING, S.DONE]) & NOTICE_DUE


def test_a_refusal_puts_the_delivery_back_where_its_attempt_started() -> None:
    """Slack refusing a post (nothing is in Slack) undoes the attempt, and only an attempt is refused."""
    assert next_state(next_state(S.PENDING, E.CLAIMED), E.REFUSED) is S.PENDING
    assert next_state(next_state(S.POSTED, E.REPLYING), E.REFUSED) is S.POSTED
    assert {state for state, event in TRANSITIONS if event is E.REFUSED} == {S.POSTING, S.THREADING}


def test_a_refusal_for_good_fails_the_delivery_at_any_step() -> None:
    """An archived channel ends the delivery as FAILED wherever it stood, its log reply included."""
    for state in UNFINISHED:
        assert next_state(state, E.REFUSED_FOR_GOOD) is S.FAILED


def test_only_a_failure_notice_waits_for_its_log_reply() -> None:
    """A notice without failures is done once out; one with a failure waits in a state a reply starts from."""
    assert next_state(S.POSTING, E.NOTICE_OUT) is S.DONE
    assert next_state(S.POSTING, E.FAILURE_NOTICE_OUT) in REPLY_DUE
    assert next_state(S.THREADING, E.REPLY_OUT) is S.DONE
    assert {S.PENDING, S.POSTING} == NOTICE_DUE
    assert {S.POSTED, S.THREADING} == REPLY_DUE


def test_a_move_the_table_lacks_is_refused_as_a_bug() -> None:
    """A delivery already done cannot be claimed: the error names the state and the event."""
    with pytest.raises(ValueError, match="state done cannot take the event claimed"):
        next_state(S.DONE, E.CLAIMED)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/s.db"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    opened = open_store(url)
    yield opened
    opened.close()


NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_the_store_claims_into_the_tables_state_and_lists_only_unfinished_deliveries(store: Store) -> None:
    """A new delivery is PENDING, the store's claim leaves it where the table's CLAIMED leads, and the
    open deliveries are exactly those in an unfinished state."""
    notice = NoticeRow(FinishedJob(id="1", status="SUCCESS"), "C0AAA", offline=False)
    store.record_poll([], [notice], now=NOW, reconciled=False)
    store.group_notices([store.ungrouped_notices()], NOW)
    [delivery] = store.open_deliveries()
    assert delivery.state is S.PENDING
    assert store.claim_delivery(delivery.id, attempts=delivery.attempts, channel="C0AAA", now=NOW)
    [claimed] = store.open_deliveries()
    assert claimed.state is next_state(S.PENDING, E.CLAIMED)
    for state in S:
        store.set_delivery_state(delivery.id, state, now=NOW)
        listed = [d.state for d in store.open_deliveries()]
        assert listed == ([state] if state in UNFINISHED else []), state
