"""`jobbot check`'s look at each Interactive server: GET /v1/job read by the bot's own job client, and
the quirks of older servers named."""

from __future__ import annotations

from collections.abc import Callable

from jobbot.app import job_client
from jobbot.check.checklist import Item, failed, passed
from jobbot.config import Settings
from jobbot.errors import InteractiveUnavailable, JobApiError, JobNotFound
from jobbot.models import MAX_JOB_ID
from jobbot.servers import Server


def check_server(settings: Settings, server: Server, what: str) -> Item:
    """GET /v1/job answers with a job list (its size given), and the quirks of older servers are named.
    Read with the bot's own job client, so what passes here is what the bot will read."""
    single = not settings.servers.shown
    setting = "INTERACTIVE_ADMIN_ENDPOINT" if single else f"{server.name}'s URL in JOBBOT_SERVERS"
    with job_client(settings, server) as client:
        shown = client.shown_endpoint
        try:
            listing = client.listing()
        except InteractiveUnavailable as exc:
            return failed(
                what, f"{shown} is unavailable: {exc.reason}", f"start the server, or correct {setting}"
            )
        except JobApiError as exc:
            return failed(
                what,
                f"{shown} did not answer GET /v1/job as an Interactive server does ({exc})",
                f"check that {setting} is the Interactive admin API (port 7777 by default)",
            )
        notes = _listing_notes(listing.skipped, listing.odd, listing.empty_as_object)
        legacy = _legacy_errors(client.get_job)
    if legacy:
        notes.append("it sends errors as bare text (a server before Aug 2024); jobbot reads them")
    count = len(listing.jobs)
    found = f"{shown} answers GET /v1/job with {count} job{'s' if count != 1 else ''}"
    return passed(what, "; ".join([found, *notes]))


def _listing_notes(skipped: list[str], odd: int, empty_as_object: bool) -> list[str]:
    notes = []
    if empty_as_object:
        notes.append("it answers an empty list with {} (a server before Oct 2024); jobbot reads it")
    if skipped:
        notes.append(f"{len(skipped)} entries are not jobs and are skipped ({skipped[0]})")
    if odd:
        notes.append(f"{odd} jobs have missing or mistyped fields; shown as best jobbot can")
    return notes


def _legacy_errors(get_job: Callable[[str], object]) -> bool:
    """Whether the server's error bodies are bare text rather than {code, message}: asked for the one job
    id no server reaches, it answers 404 with its error format."""
    try:
        get_job(str(MAX_JOB_ID))
    except JobNotFound as exc:
        return exc.code is None
    except JobApiError:
        pass  # another error tells nothing certain about the format
    return False
