"""The delivery machine: one table of the state a delivery moves to on each thing that happens to it."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from jobbot.store import DeliveryState


class DeliveryEvent(StrEnum):
    """What happens to one delivery (one Slack message of the ledger) on its way to Slack."""

    CLAIMED = "claimed"  # this replica took the notice to post it; the store's claim writes the state
    REFUSED = "refused"  # Slack answered without posting: nothing is in Slack, a plain retry is safe
    NOTICE_OUT = "notice out"  # the notice is in Slack (posted, or found in history); no job failed
    FAILURE_NOTICE_OUT = "failure notice out"  # the same, and a job failed: its log reply is to come
    REPLYING = "replying"  # the failures' log reply is about to be posted in the notice's thread
    REPLY_OUT = "reply out"  # the log reply is in Slack (posted, or found in the thread)
    REFUSED_FOR_GOOD = "refused for good"  # Slack refuses the destination or the message for good


_S = DeliveryState
_E = DeliveryEvent

# (state, event) -> next state. A pair not here is a bug: the delivery code never asks for it.
TRANSITIONS: Mapping[tuple[DeliveryState, DeliveryEvent], DeliveryState] = MappingProxyType(
    {
        # The notice. POSTING means "an attempt began, its outcome unknown": after a crash or a lost
        # answer the history is searched first, and only a message not found there is claimed again.
        (_S.PENDING, _E.CLAIMED): _S.POSTING,
        (_S.POSTING, _E.CLAIMED): _S.POSTING,
        (_S.POSTING, _E.REFUSED): _S.PENDING,
        (_S.POSTING, _E.NOTICE_OUT): _S.DONE,
        (_S.POSTING, _E.FAILURE_NOTICE_OUT): _S.POSTED,
        # The failures' log reply, in the notice's thread; THREADING is its "outcome unknown".
        (_S.POSTED, _E.REPLYING): _S.THREADING,
        (_S.THREADING, _E.REPLYING): _S.THREADING,
        (_S.THREADING, _E.REFUSED): _S.POSTED,
        (_S.THREADING, _E.REPLY_OUT): _S.DONE,
        # Refused for good at any step (an archived channel, a bot not invited): reported once, and
        # never tried again, the log reply included.
        (_S.PENDING, _E.REFUSED_FOR_GOOD): _S.FAILED,
        (_S.POSTING, _E.REFUSED_FOR_GOOD): _S.FAILED,
        (_S.POSTED, _E.REFUSED_FOR_GOOD): _S.FAILED,
        (_S.THREADING, _E.REFUSED_FOR_GOOD): _S.FAILED,
    }
)

# The states whose notice is still to be posted (a claim starts from them), and the states whose
# failures' log reply is still to be posted (a reply starts from them): read off the table.
NOTICE_DUE = frozenset(state for state, event in TRANSITIONS if event is _E.CLAIMED)
REPLY_DUE = frozenset(state for state, event in TRANSITIONS if event is _E.REPLYING)


def next_state(state: DeliveryState, event: DeliveryEvent) -> DeliveryState:
    """The state a delivery in `state` moves to on `event`; ValueError for a move the table lacks."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise ValueError(f"a delivery in state {state} cannot take the event {event}") from None
