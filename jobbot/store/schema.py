"""The store's DDL, each schema version written once for both engines, in placeholders where they differ."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ColumnTypes:
    """How one engine spells the column types the schema leaves open (`{bigint}` and so on)."""

    bigint: str  # job ids, generations, and the delivery ids notices point to
    boolean: str
    time: str  # a moment, as the engine's to_db stores it
    # A generated row id, spelt two ways because PostgreSQL's versions 1 (deliveries) and 3 (audit) were.
    identity_key: str
    serial_key: str


# Each entry moves the schema one version up. `{bigint}`-style placeholders are column types; a line that
# is only `{a_step}` is where each engine does a thing its own way (that engine's text, or no line at all).
# The texts are what deployed databases ran: never edit a version that has shipped (a test pins them).
VERSIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE jobs (
        id {bigint} PRIMARY KEY,
        status TEXT NOT NULL,
        terminal {boolean} NOT NULL
    );
    {jobs_indexes}
    CREATE TABLE deliveries (
        id {identity_key},
        destination TEXT NOT NULL,
        channel TEXT,
        state TEXT NOT NULL,
        ts TEXT,
        offline {boolean} NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at {time} NOT NULL,
        updated_at {time} NOT NULL
    );
    {deliveries_indexes}
    CREATE TABLE notices (
        job_id {bigint} NOT NULL,
        status TEXT NOT NULL,
        destination TEXT NOT NULL,
        job_json TEXT NOT NULL,
        offline {boolean} NOT NULL,
        delivery_id {bigint} REFERENCES deliveries (id),
        created_at {time} NOT NULL,
        PRIMARY KEY (job_id, status, destination)
    );
    {notices_indexes}
    CREATE TABLE subscriptions (
        channel_id TEXT PRIMARY KEY,
        statuses TEXT NOT NULL,
        added_by TEXT NOT NULL,
        added_at {time} NOT NULL
    );
    CREATE TABLE watches (
        job_id {bigint} NOT NULL,
        user_id TEXT NOT NULL,
        added_at {time} NOT NULL,
        PRIMARY KEY (job_id, user_id)
    );
    CREATE TABLE cancels (job_id {bigint} PRIMARY KEY, user_id TEXT NOT NULL, at {time} NOT NULL);
    """,
    """
    CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at {time} NOT NULL);
    """,
    """
    {notices_delivery_index}
    CREATE TABLE audit (
        id {serial_key},
        at {time} NOT NULL,
        user_id TEXT NOT NULL,
        team_id TEXT,
        channel_id TEXT,
        job_id {bigint} NOT NULL,
        status_before TEXT,
        outcome TEXT NOT NULL,
        message TEXT
    );
    CREATE INDEX audit_by_job ON audit (job_id, id);
    """,
    # Server generations: a redeployed Interactive server numbers its jobs from 1 again, so everything
    # keyed by a job id is keyed by (generation, job id). What was stored before is generation 1.
    """
    CREATE TABLE generations (number {bigint} PRIMARY KEY, started_at {time});
    INSERT INTO generations (number, started_at) VALUES (1, NULL);
    {key_by_generation}
    """,
    """
    ALTER TABLE audit ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE audit ADD COLUMN last_at {time};
    CREATE TABLE subscription_audit (
        id {serial_key},
        at {time} NOT NULL,
        user_id TEXT NOT NULL,
        team_id TEXT,
        channel_id TEXT NOT NULL,
        action TEXT NOT NULL,
        statuses TEXT NOT NULL,
        repeats INTEGER NOT NULL DEFAULT 1,
        last_at {time}
    );
    CREATE INDEX subscription_audit_by_channel ON subscription_audit (channel_id, id);
    """,
    # The indexes the shared queries read through, named and shaped the same on both engines from here on.
    """
    {read_indexes}
    """,
    # Live cards: one Slack message per job (or per burst of jobs) and destination, edited in place, and
    # the posts that follow a job (its ending, its log, its full log as a file, a long-running alert).
    # The jobs table learns each job's graph and end, so a graph's usual duration is known.
    """
    ALTER TABLE subscriptions ADD COLUMN style TEXT NOT NULL DEFAULT 'final';
    ALTER TABLE jobs ADD COLUMN graph_id TEXT;
    ALTER TABLE jobs ADD COLUMN end_time_ms {bigint};
    ALTER TABLE jobs ADD COLUMN alerted_at {time};
    CREATE INDEX jobs_by_graph ON jobs (graph_id, id) WHERE status = 'SUCCESS';
    CREATE TABLE cards (
        id {serial_key},
        destination TEXT NOT NULL,
        channel TEXT,
        state TEXT NOT NULL,
        ts TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        version INTEGER NOT NULL DEFAULT 1,
        shown INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at {time} NOT NULL,
        updated_at {time} NOT NULL
    );
    CREATE INDEX cards_open ON cards (id)
        WHERE state IN ('pending', 'posting') OR (state = 'posted' AND shown < version);
    CREATE TABLE card_jobs (
        generation {bigint} NOT NULL,
        job_id {bigint} NOT NULL,
        destination TEXT NOT NULL,
        card_id {bigint} REFERENCES cards (id),
        job_json TEXT NOT NULL,
        created_at {time} NOT NULL,
        PRIMARY KEY (generation, job_id, destination)
    );
    CREATE INDEX card_jobs_ungrouped ON card_jobs (created_at, job_id) WHERE card_id IS NULL;
    CREATE INDEX card_jobs_by_card ON card_jobs (card_id, job_id) WHERE card_id IS NOT NULL;
    CREATE TABLE followups (
        generation {bigint} NOT NULL,
        job_id {bigint} NOT NULL,
        destination TEXT NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        channel TEXT,
        ts TEXT,
        error TEXT,
        job_json TEXT NOT NULL,
        detail TEXT,
        created_at {time} NOT NULL,
        updated_at {time} NOT NULL,
        PRIMARY KEY (generation, job_id, destination, kind)
    );
    CREATE INDEX followups_open ON followups (created_at, job_id) WHERE state IN ('pending', 'posting');
    """,
    # Several Interactive servers: each has its own generations (so everything keyed by a generation is
    # kept apart by server), and its own deliveries, cards, baseline, subscriptions and audit entries.
    # What was stored before belongs to the one server of a single-server jobbot, 'default' (see
    # SqlStore.serve, which hands it to a named server when JOBBOT_SERVERS is set). A subscription is
    # to one server or to every server ('*'); a channel may pick its default server.
    """
    ALTER TABLE generations ADD COLUMN server TEXT NOT NULL DEFAULT 'default';
    CREATE INDEX generations_by_server ON generations (server, number);
    ALTER TABLE deliveries ADD COLUMN server TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE cards ADD COLUMN server TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE audit ADD COLUMN server TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE subscription_audit ADD COLUMN server TEXT NOT NULL DEFAULT 'default';
    CREATE TABLE server_meta (
        server TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (server, key)
    );
    INSERT INTO server_meta (server, key, value)
        SELECT 'default', key, value FROM meta WHERE key IN ('baseline_at', 'reconciled_at');
    DELETE FROM meta WHERE key IN ('baseline_at', 'reconciled_at');
    CREATE TABLE subscriptions_by_server (
        channel_id TEXT NOT NULL,
        server TEXT NOT NULL,
        statuses TEXT NOT NULL,
        style TEXT NOT NULL DEFAULT 'final',
        added_by TEXT NOT NULL,
        added_at {time} NOT NULL,
        PRIMARY KEY (channel_id, server)
    );
    INSERT INTO subscriptions_by_server (channel_id, server, statuses, style, added_by, added_at)
        SELECT channel_id, 'default', statuses, style, added_by, added_at FROM subscriptions;
    DROP TABLE subscriptions;
    ALTER TABLE subscriptions_by_server RENAME TO subscriptions;
    CREATE TABLE channel_servers (
        channel_id TEXT PRIMARY KEY,
        server TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at {time} NOT NULL
    );
    """,
)

_STEP = re.compile(r"^( *)\{(\w+)\}\n", re.MULTILINE)  # a line that is only `{a_step}`


def migrations(types: ColumnTypes, steps: Mapping[str, str]) -> tuple[str, ...]:
    """Every version's DDL as one engine runs it: in its column types, with its text for each step."""
    if unknown := steps.keys() - {name for version in VERSIONS for _, name in _STEP.findall(version)}:
        raise ValueError(f"no schema version has the steps {sorted(unknown)}")
    spelling = asdict(types)

    def spell(line: str) -> str:
        step = _STEP.fullmatch(line)
        if step is None:
            return line.format_map(spelling)
        indent, name = step.groups()
        return "".join(indent + text + "\n" for text in textwrap.dedent(steps[name]).strip().splitlines())

    return tuple("".join(map(spell, version.splitlines(keepends=True))) for version in VERSIONS)
