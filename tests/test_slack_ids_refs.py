"""Button values that carry a server: a job's `server:id`, and a list's `"v"`, read back safely."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobbot.models import KNOWN_STATUSES
from jobbot.slack_ids import (
    MAX_BUTTON_VALUE_CHARS,
    decode_cancel_ref,
    decode_job_ref,
    decode_list_server,
    decode_list_state,
    encode_cancel_ref,
    encode_job_ref,
    encode_list_state,
)

SERVER_NAMES = st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True)


def test_a_job_ref_without_a_server_is_the_job_id_alone() -> None:
    """With one server, a button's value is exactly what it always was: the job id."""
    assert encode_job_ref(None, "42") == "42"
    assert encode_job_ref("staging", "42") == "staging:42"


@pytest.mark.parametrize(
    ("value", "ref"),
    [
        ("42", (None, "42")),
        ("staging:42", ("staging", "42")),
        ("eu-west-1:7", ("eu-west-1", "7")),
        ("staging:", ("staging", "")),
        ("staging:4:2", ("staging", "4:2")),
        ("Staging:42", (None, "Staging:42")),
        (":42", (None, ":42")),
        ("../x:42", (None, "../x:42")),
        ("a" * 21 + ":42", (None, "a" * 21 + ":42")),
        ("staging:" + "9" * MAX_BUTTON_VALUE_CHARS, (None, "staging:" + "9" * MAX_BUTTON_VALUE_CHARS)),
        ("", (None, "")),
    ],
)
def test_decode_job_ref_splits_only_a_server_name(value: str, ref: tuple[str | None, str]) -> None:
    """Only a well-formed server name before the colon is read as one; anything else stays in the id,
    where the job-id check explains it."""
    assert decode_job_ref(value) == ref


@given(st.one_of(st.none(), SERVER_NAMES), st.from_regex(r"[0-9]{1,19}", fullmatch=True))
def test_job_refs_round_trip(server: str | None, job_id: str) -> None:
    """decode_job_ref is the inverse of encode_job_ref."""
    assert decode_job_ref(encode_job_ref(server, job_id)) == (server, job_id)


@given(st.text(max_size=300))
def test_decode_job_ref_never_raises_and_names_only_server_names(value: str) -> None:
    """Whatever a forged button carries, the server read from it is None or a server name."""
    server, job_id = decode_job_ref(value)
    assert server is None or (f"{server}:{job_id}" == value and ":" not in server)


def test_list_state_without_a_server_is_unchanged() -> None:
    """With one server, the navigation value is byte for byte what it was."""
    assert encode_list_state(["FAILED"], 3) == '{"p":3,"s":["FAILED"]}'
    assert encode_list_state(["FAILED"], 3, server="staging") == '{"p":3,"s":["FAILED"],"v":"staging"}'


@pytest.mark.parametrize(
    ("value", "server"),
    [
        ('{"p":3,"s":["FAILED"],"v":"staging"}', "staging"),
        ('{"p":3,"s":["FAILED"]}', None),
        ('{"v":"Staging"}', None),
        ('{"v":"../etc"}', None),
        ('{"v":7}', None),
        ('{"v":"*"}', None),
        ('{"v":null}', None),
        ("[1]", None),
        ("not json", None),
        ('{"v":"staging"}' + " " * MAX_BUTTON_VALUE_CHARS, None),
        ("[" * 5000 + "]" * 5000, None),
    ],
)
def test_decode_list_server_tolerates_garbage(value: str, server: str | None) -> None:
    """Only a server name is read from a list button; anything malformed or forged means none."""
    assert decode_list_server(value) == server


@given(
    st.lists(st.sampled_from(KNOWN_STATUSES)),
    st.integers(min_value=1, max_value=1_000_000),
    st.one_of(st.none(), SERVER_NAMES),
)
def test_list_state_with_a_server_round_trips(statuses: list[str], page: int, server: str | None) -> None:
    """The server rides along with the page and statuses, which decode as before."""
    value = encode_list_state(statuses, page, server=server)
    assert decode_list_server(value) == server
    assert decode_list_state(value) == (tuple(dict.fromkeys(statuses)), page)


@given(
    server=st.none() | SERVER_NAMES,
    job_id=st.from_regex(r"[0-9]{1,19}", fullmatch=True),
    warned=st.booleans(),
)
def test_a_cancel_ref_reads_back_its_server_job_and_whether_the_dialog_warned(
    server: str | None, job_id: str, warned: bool
) -> None:
    """A Cancel button's value gives back the server, the job and whether its dialog warned."""
    assert decode_cancel_ref(encode_cancel_ref(server, job_id, warned=warned)) == (server, job_id, warned)


def test_a_cancel_button_drawn_before_the_warning_existed_reads_as_not_warned() -> None:
    """Old values (the job ref alone) are unwarned; an unwarned value is exactly the job ref."""
    assert decode_cancel_ref("42") == (None, "42", False)
    assert decode_cancel_ref("staging:42") == ("staging", "42", False)
    assert encode_cancel_ref("staging", "42", warned=False) == encode_job_ref("staging", "42")
    assert decode_cancel_ref("staging:42|warned") == ("staging", "42", True)
