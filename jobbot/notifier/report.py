"""What one poll did: the record the loop, the logs, the tests and the metrics read."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PollReport:
    """What one poll did, for logs, tests and metrics."""

    finished: list[str] = field(default_factory=list)
    new_notices: int = 0
    posted: int = 0
    failed: int = 0
    reconciled: bool = False
    interactive_error: str | None = None
    slack_error: str | None = None
    # Deliveries left for later because their destination is waiting out an error or a Retry-After.
    waiting: int = 0
