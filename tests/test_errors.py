"""The exception tree: every class in one module, and an internal error's detail kept from Slack users."""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

import jobbot
from jobbot.authz import Access
from jobbot.emulator import Emulator
from jobbot.errors import InternalError, JobbotError, StoreError, UserFacingError
from jobbot.jobs_api import JobClient
from jobbot.models import Subscription
from jobbot.store.sqlite import SqliteStore
from tests.desk import CANCELLER, CHANNEL, Desk
from tests.fakes import TEAM_ID, FakeSlack

# What a PostgreSQL store's error can hold: where the database lives and what it is called.
WHERE = "host=db.internal port=5432 dbname=jobbot"


class StoreDown(SqliteStore):
    """A store whose reads and cancel claims fail the way an unreachable PostgreSQL does."""

    def every_subscription(self) -> list[Subscription]:
        raise StoreError(f"cannot connect to the PostgreSQL store at {WHERE}: connection refused")

    def claim_cancel(self, job_id: str, user_id: str, now: datetime, *, stale_after: float) -> str | None:
        raise StoreError(f"cannot connect to the PostgreSQL store at {WHERE}: connection refused")


@pytest.fixture
def desk(emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Desk]:
    store = StoreDown(str(tmp_path / "jobbot.db"))
    access = Access(
        cancel_users=(CANCELLER,),
        cancel_usergroups=(),
        allowed_channels=(),
        client=WebClient(token="xoxb-test", base_url=fake_slack.api_url, retry_handlers=[]),
        workspace_team=lambda: TEAM_ID,
    )
    with JobClient(emulator.url, retries=0) as jobs:
        yield Desk(jobs, store, access=access)
    store.close()


def shown(reply: dict[str, Any]) -> str:
    return str(reply["text"]) + json.dumps(reply["blocks"], ensure_ascii=False)


def assert_hidden_but_logged(reply: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    for detail in ("db.internal", "dbname=jobbot", "5432", "PostgreSQL"):
        assert detail not in shown(reply)
    assert "store is not answering" in shown(reply)
    assert any(WHERE in record.getMessage() and record.levelno == logging.ERROR for record in caplog.records)


def test_a_store_error_answering_a_command_hides_where_the_database_lives(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    """`/jobs subscriptions` on a store that fails shows a fixed sentence; the host and database name
    in the store's error go to the log only."""
    body = {"user_id": CANCELLER, "team_id": TEAM_ID, "channel_id": CHANNEL, "text": "subscriptions"}
    with caplog.at_level(logging.INFO, logger="jobbot"):
        reply = desk.command(body)
    assert_hidden_but_logged(reply, caplog)


def test_a_store_error_answering_a_click_hides_where_the_database_lives(
    desk: Desk, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A Cancel click whose claim the store cannot take shows a fixed sentence, not the store's error."""
    job_id = emulator.add_job(status="RUNNING")
    with caplog.at_level(logging.INFO, logger="jobbot"):
        reply = desk.click_cancel(job_id)
    assert_hidden_but_logged(reply, caplog)
    assert emulator.get(job_id).status == "RUNNING"


def _package_exceptions() -> list[type[BaseException]]:
    """Every exception class defined in jobbot's modules, the emulator (a product of its own) aside."""
    found: list[type[BaseException]] = []
    for module_info in pkgutil.walk_packages(jobbot.__path__, "jobbot."):
        if module_info.name.startswith("jobbot.emulator"):
            continue
        module = importlib.import_module(module_info.name)
        found += [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, BaseException)
            and value.__module__ == module_info.name
        ]
    return found


def test_every_exception_of_the_package_lives_in_errors() -> None:
    """No module but jobbot.errors defines an exception class."""
    outside = [
        f"{e.__module__}.{e.__qualname__}" for e in _package_exceptions() if e.__module__ != "jobbot.errors"
    ]
    assert outside == []


def test_every_error_is_either_user_facing_or_internal() -> None:
    """Each error of the tree is on exactly one side: facts a Slack user may read, or the log's only."""
    for error in _package_exceptions():
        assert issubclass(error, JobbotError), error
        if error in (JobbotError, UserFacingError, InternalError):
            continue
        assert issubclass(error, UserFacingError) != issubclass(error, InternalError), error
