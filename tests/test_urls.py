"""Credentials in configured URLs are never shown."""

from __future__ import annotations

import pytest

from jobbot.urls import without_credentials


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://admin:pass@gs:7777", "http://***@gs:7777"),
        ("http://admin@gs:7777/", "http://***@gs:7777/"),
        ("postgresql://jobbot:s3cret@db.internal:5432/jobbot", "postgresql://***@db.internal:5432/jobbot"),
        ("http://u:p@[::1]:7777", "http://***@[::1]:7777"),
        ("http://127.0.0.1:7777", "http://127.0.0.1:7777"),
        ("sqlite:///jobbot.db", "sqlite:///jobbot.db"),
    ],
)
def test_credentials_are_replaced_and_the_rest_kept(url: str, shown: str) -> None:
    """User name and password become `***`; scheme, host, port and path stay readable."""
    assert without_credentials(url) == shown


def test_a_url_that_does_not_parse_is_not_echoed() -> None:
    """A malformed URL may still hold a password, so none of it is returned."""
    assert "secret" not in without_credentials("http://u:secret@host:notaport")
