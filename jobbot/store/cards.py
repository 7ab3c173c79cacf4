"""Live cards, written once for both engines: jobs grouped into cards, the cards' versions, and the
follow-ups (ending, log, full log, long-running alert) each posted once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from jobbot.models import FinishedJob
from jobbot.store.base import (
    Card,
    CardJob,
    CardState,
    FollowUp,
    FollowUpKind,
    FollowUpRow,
    FollowUpState,
    job_key,
    with_their_jobs,
)
from jobbot.store.database import GENERATION, SERVER, SERVER_GENERATIONS, Database, Transaction

# Read by every delivery pass, named so a test can check their plans: each reads through a partial
# index, never through the finished cards and follow-ups that pile up.
UNGROUPED_CARD_JOBS_SQL = (
    "SELECT job_json, destination, generation FROM card_jobs WHERE card_id IS NULL "
    f"AND generation IN {SERVER_GENERATIONS} ORDER BY created_at, job_id"
)
OPEN_CARD = "(c.state IN ('pending', 'posting') OR (c.state = 'posted' AND c.shown < c.version))"
OPEN_CARDS_SQL = (
    "SELECT c.id, c.destination, c.channel, c.state, c.ts, c.attempts, c.version, c.shown, c.created_at, "
    "j.job_json FROM cards AS c {indexed_by} LEFT JOIN card_jobs AS j ON j.card_id = c.id "
    f"WHERE {OPEN_CARD} AND c.server = {SERVER} ORDER BY c.id, j.job_id"
)
OPEN_FOLLOWUPS_SQL = (
    "SELECT f.generation, f.kind, f.job_json, f.destination, f.state, f.attempts, f.channel, f.created_at, "
    "f.detail, c.id, c.channel, c.ts, c.state FROM followups AS f {indexed_by} "
    "LEFT JOIN card_jobs AS j ON j.generation = f.generation AND j.job_id = f.job_id "
    "AND j.destination = f.destination LEFT JOIN cards AS c ON c.id = j.card_id "
    f"WHERE f.state IN ('pending', 'posting') AND f.generation IN {SERVER_GENERATIONS} "
    "ORDER BY f.created_at, f.job_id, f.kind"
)


def record_card_jobs(tx: Transaction, rows: Sequence[CardJob], at: object) -> None:
    """Record each job as its live destinations' cards are to show it. A job new to a destination waits
    to be grouped into a card; a changed job moves its card's version on, so the card is edited."""
    for row in rows:
        key = job_key(row.job.id)
        changed = tx.execute(
            "INSERT INTO card_jobs (generation, job_id, destination, job_json, created_at) "
            f"VALUES ({GENERATION}, ?, ?, ?, ?) "
            "ON CONFLICT (generation, job_id, destination) DO UPDATE SET job_json = excluded.job_json "
            "WHERE card_jobs.job_json <> excluded.job_json",
            (key, row.destination, row.job.model_dump_json(), at),
        ).rowcount
        if changed:
            tx.execute(
                "UPDATE cards SET version = version + 1, updated_at = ? WHERE id = (SELECT card_id FROM "
                f"card_jobs WHERE generation = {GENERATION} AND job_id = ? AND destination = ?)",
                (at, key, row.destination),
            )


def cards_show_watchers(tx: Transaction, job_id: str) -> None:
    """The job's watchers changed: the live cards showing it (and its watchers) are edited."""
    tx.execute(
        "UPDATE cards SET version = version + 1 WHERE id IN (SELECT card_id FROM card_jobs "
        f"WHERE generation = {GENERATION} AND job_id = ? AND card_id IS NOT NULL)",
        (job_key(job_id),),
    )


def record_followups(tx: Transaction, rows: Sequence[FollowUpRow], at: object) -> None:
    """Add follow-ups; one already recorded (same job, destination and kind) is left as it is."""
    if rows:
        tx.executemany(
            "INSERT INTO followups (generation, job_id, destination, kind, state, job_json, detail, "
            f"created_at, updated_at) VALUES ({GENERATION}, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                (
                    job_key(r.job.id),
                    r.destination,
                    r.kind.value,
                    FollowUpState.PENDING.value,
                    r.job.model_dump_json(),
                    r.detail,
                    at,
                    at,
                )
                for r in rows
            ],
        )


class LiveCardsSql:
    """Cards waiting to be posted or edited, and follow-ups waiting to be posted."""

    _db: Database

    def ungrouped_card_jobs(self) -> list[CardJob]:
        rows = self._db.transaction(lambda tx: tx.execute(UNGROUPED_CARD_JOBS_SQL).fetchall(), write=False)
        return [CardJob(FinishedJob.model_validate_json(j), str(d), int(g)) for j, d, g in rows]

    def group_card_jobs(self, groups: Sequence[Sequence[CardJob]], now: datetime) -> list[int]:
        at = self._db.to_db(now)

        def work(tx: Transaction) -> list[int]:
            ids = []
            for group in groups:
                if not group:
                    continue
                (card_id,) = tx.execute(
                    "INSERT INTO cards (destination, state, created_at, updated_at, server) "
                    f"VALUES (?, ?, ?, ?, {SERVER}) RETURNING id",
                    (group[0].destination, CardState.PENDING.value, at, at),
                ).fetchone()
                tx.executemany(
                    "UPDATE card_jobs SET card_id = ? WHERE job_id = ? AND destination = ? "
                    f"AND card_id IS NULL AND generation = COALESCE(?, {GENERATION})",
                    [(card_id, job_key(r.job.id), r.destination, r.generation) for r in group],
                )
                ids.append(int(card_id))
            return ids

        return self._db.transaction(work)

    def open_cards(self) -> list[Card]:
        query = OPEN_CARDS_SQL.format(indexed_by=self._db.indexed_by("cards_open"))
        rows = self._db.transaction(lambda tx: tx.execute(query).fetchall(), write=False)
        return [
            Card(
                id=card_id,
                destination=str(row[1]),
                channel=row[2],
                state=CardState(row[3]),
                ts=row[4],
                attempts=int(row[5]),
                version=int(row[6]),
                shown=int(row[7]),
                created_at=self._db.from_db(row[8]),
                jobs=tuple(jobs),
            )
            for card_id, (row, jobs) in with_their_jobs(rows, job_column=9).items()
        ]

    def claim_card(self, card_id: int, *, attempts: int, channel: str, now: datetime) -> bool:
        """Mark a card POSTING if it is still as the caller read it; False: another replica moved it."""
        rows = self._db.transaction(
            lambda tx: (
                tx.execute(
                    "UPDATE cards SET state = ?, channel = ?, attempts = attempts + 1, updated_at = ? "
                    "WHERE id = ? AND attempts = ? AND state IN (?, ?)",
                    (
                        CardState.POSTING.value,
                        channel,
                        self._db.to_db(now),
                        card_id,
                        attempts,
                        CardState.PENDING.value,
                        CardState.POSTING.value,
                    ),
                ).rowcount
            )
        )
        return rows == 1

    def set_card_state(
        self,
        card_id: int,
        state: CardState,
        *,
        now: datetime,
        ts: str | None = None,
        shown: int | None = None,
        error: str | None = None,
    ) -> None:
        """Move a card to `state`; `shown` records the version Slack now shows (it never goes back)."""
        self._db.transaction(
            lambda tx: tx.execute(
                "UPDATE cards SET state = ?, ts = COALESCE(?, ts), error = COALESCE(?, error), "
                "shown = CASE WHEN ? > shown THEN ? ELSE shown END, updated_at = ? WHERE id = ?",
                (state.value, ts, error, shown or 0, shown or 0, self._db.to_db(now), card_id),
            )
        )

    def open_followups(self) -> list[FollowUp]:
        query = OPEN_FOLLOWUPS_SQL.format(indexed_by=self._db.indexed_by("followups_open"))
        rows = self._db.transaction(lambda tx: tx.execute(query).fetchall(), write=False)
        return [
            FollowUp(
                generation=int(row[0]),
                kind=FollowUpKind(row[1]),
                job=FinishedJob.model_validate_json(row[2]),
                destination=str(row[3]),
                state=FollowUpState(row[4]),
                attempts=int(row[5]),
                channel=row[6],
                created_at=self._db.from_db(row[7]),
                detail=row[8],
                card_id=None if row[9] is None else int(row[9]),
                card_channel=row[10],
                card_ts=row[11],
                card_state=None if row[12] is None else CardState(row[12]),
            )
            for row in rows
        ]

    def claim_followup(self, followup: FollowUp, *, channel: str, now: datetime) -> bool:
        """Mark a follow-up POSTING if it is still as the caller read it; False: another replica moved it."""
        rows = self._db.transaction(
            lambda tx: (
                tx.execute(
                    "UPDATE followups SET state = ?, channel = ?, attempts = attempts + 1, updated_at = ? "
                    "WHERE generation = ? AND job_id = ? AND destination = ? AND kind = ? AND attempts = ? "
                    "AND state IN (?, ?)",
                    (
                        FollowUpState.POSTING.value,
                        channel,
                        self._db.to_db(now),
                        followup.generation,
                        job_key(followup.job.id),
                        followup.destination,
                        followup.kind.value,
                        followup.attempts,
                        FollowUpState.PENDING.value,
                        FollowUpState.POSTING.value,
                    ),
                ).rowcount
            )
        )
        return rows == 1

    def set_followup_state(
        self,
        followup: FollowUp,
        state: FollowUpState,
        *,
        now: datetime,
        ts: str | None = None,
        error: str | None = None,
    ) -> None:
        self._db.transaction(
            lambda tx: tx.execute(
                "UPDATE followups SET state = ?, ts = COALESCE(?, ts), error = COALESCE(?, error), "
                "updated_at = ? WHERE generation = ? AND job_id = ? AND destination = ? AND kind = ?",
                (
                    state.value,
                    ts,
                    error,
                    self._db.to_db(now),
                    followup.generation,
                    job_key(followup.job.id),
                    followup.destination,
                    followup.kind.value,
                ),
            )
        )
