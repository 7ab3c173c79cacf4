"""Behaviours of older or odder Interactive servers that the emulator can switch on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quirks:
    """Which server generation to imitate; the defaults are a current server."""

    # Servers before Aug 2024 sent the bare message text as an error body, not {"code", "message"}.
    legacy_errors: bool = False
    # Servers before Oct 2024 answered an empty job list with `{}` instead of `[]`.
    empty_list_as_object: bool = False
    # The OpenAPI spec says a cancel answers a bare JSON string; current servers send an object.
    cancel_reply_as_string: bool = False
    # The killed loader's thread may record FAILED over the CANCELLED the cancel just wrote.
    cancel_overwritten_by_failed: bool = False
    # How long after the cancel that overwrite lands; 0 means before the cancel's reply is sent.
    cancel_overwrite_delay: float = 0.0
