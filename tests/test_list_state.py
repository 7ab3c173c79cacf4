"""The list-state codec: what a navigation button carries, and how a garbled value is read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobbot.models import KNOWN_STATUSES
from jobbot.slack_ids import decode_list_state, encode_list_state


@pytest.mark.parametrize(
    ("value", "state"),
    [
        ('{"p":3,"s":["FAILED"]}', (("FAILED",), 3)),
        ('{"p":2,"s":["failed","bogus","FAILED","RUNNING"]}', (("FAILED", "RUNNING"), 2)),
        ("", ((), 1)),
        ("null", ((), 1)),
        ("[1, 2]", ((), 1)),
        ("not json", ((), 1)),
        ('{"p": true}', ((), 1)),
        ('{"p": "2"}', ((), 1)),
        ('{"p": -4}', ((), 1)),
        ('{"p": 1e9}', ((), 1)),
        ('{"p": 99999999999}', ((), 1)),
        ('{"s": "FAILED"}', ((), 1)),
        ('{"s": [1, null, {"x": 1}, "SUCCESS"]}', (("SUCCESS",), 1)),
        ("[" * 5000 + "]" * 5000, ((), 1)),
        ("[" * 1900, ((), 1)),
        ('{"p": 2, "s": []}' + " " * 3000, ((), 1)),
    ],
)
def test_decode_list_state_tolerates_garbage(value: str, state: tuple[tuple[str, ...], int]) -> None:
    """Button values decode to (statuses, page); anything malformed or forged gives the defaults."""
    assert decode_list_state(value) == state


@given(st.lists(st.sampled_from(KNOWN_STATUSES)), st.integers(min_value=1, max_value=1_000_000))
def test_list_state_round_trips(statuses: list[str], page: int) -> None:
    """decode_list_state is the inverse of encode_list_state (with statuses deduplicated in order)."""
    value = encode_list_state(statuses, page)
    assert len(value) < 2000
    assert decode_list_state(value) == (tuple(dict.fromkeys(statuses)), page)
