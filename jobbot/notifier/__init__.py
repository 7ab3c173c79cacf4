"""Completion notices: poll the Interactive server, remember what was told, post each notice once.

`loop` takes the lease and runs the schedule (`Notifier.poll_once()` is one poll); `observe` reads the
server's jobs and records the notices their endings cause; `deliver` groups the ledger's notices into
Slack messages and posts each once, moving each delivery as the table in `transitions` says;
`slack_poster` talks to Slack; `report` is what one poll did. Nothing here runs on import.

Exactly once rests on two things. Job statuses and the notices they cause are written in one
transaction, so a crash loses neither alone. Every delivery is marked "posting" before the post and
carries its ledger key as message metadata, so after a crash a delivery whose outcome is unknown is
looked up in the channel's history before it is posted again.
"""

from jobbot.errors import PostRefused, PostUncertain
from jobbot.notifier.loop import LEASE_NAME, Notifier
from jobbot.notifier.report import PollReport
from jobbot.notifier.slack_poster import SlackPoster

__all__ = ["LEASE_NAME", "Notifier", "PollReport", "PostRefused", "PostUncertain", "SlackPoster"]
