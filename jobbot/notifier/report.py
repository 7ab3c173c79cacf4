"""What one poll did: the record the loop, the logs, the tests and the metrics read."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PollReport:
    """What one poll did, for logs, tests and metrics."""

    finished: list[str] = field(default_factory=list)
    new_notices: int = 0
    posted: int = 0
    # Live cards posted and edited, and follow-ups (endings, logs, files, alerts) posted.
    cards_posted: int = 0
    cards_edited: int = 0
    followups_posted: int = 0
    failed: int = 0
    reconciled: bool = False
    # Why the poll did not go through: GraphScope could not be read, the store failed, or a bug raised.
    interactive_error: str | None = None
    store_error: str | None = None
    unexpected_error: str | None = None
    slack_error: str | None = None
    # Deliveries left for later because their destination is waiting out an error or a Retry-After.
    waiting: int = 0

    @property
    def poll_failed(self) -> bool:
        """The poll did not go through, whatever failed: the next one waits longer. A Slack error does
        not count: its destination waits on its own."""
        return bool(self.interactive_error or self.store_error or self.unexpected_error)
