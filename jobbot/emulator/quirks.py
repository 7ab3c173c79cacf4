"""Which server behaviours the emulator imitates: by default a current real server, harsh parts too."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quirks:
    """Which server generation to imitate; the defaults are a current real server (upstream 41c16144).

    The fields after the first three turn a real-server behaviour into a kinder one. Each exists for
    a test that needs certainty; a test that sets one says why.
    """

    # Servers before Aug 2024 sent the bare message text as an error body, not {"code", "message"}.
    legacy_errors: bool = False
    # Servers before Oct 2024 answered an empty job list with `{}` instead of `[]`.
    empty_list_as_object: bool = False
    # The OpenAPI spec says a cancel answers a bare JSON string; current servers send an object.
    cancel_reply_as_string: bool = False
    # The share of cancels whose killed loader's thread records FAILED over the CANCELLED the cancel
    # wrote (the real server races the two writes: a cancelled job often ends FAILED). Decided per job
    # from the emulator's seed and the job id, so a test sees the same outcome on every run
    # (`Emulator.cancel_fate` tells it in advance). 0 is the kind server: CANCELLED stays; 1 always.
    cancel_ends_failed: float = 0.5
    # How long after the cancel's reply the overwrite lands; 0 puts it before the reply. None (the
    # default): decided per job with the rest of its fate, before the reply or 0.1 s after it.
    cancel_overwrite_delay: float | None = None
    # Store and send any status text as is. The real server reads anything but RUNNING, SUCCESS,
    # FAILED and CANCELLED back as UNKNOWN; a test of a status jobbot has never seen needs this.
    raw_status_text: bool = False
    # A RUNNING job's end_time is 0. The real server never writes it: any value, garbage included.
    running_end_time_zero: bool = False
