"""Log lines name the server they are about, and a one-server deployment's lines read as before."""

from __future__ import annotations

import json
import logging

import pytest

from jobbot import logs, servers


def _record(message: str = "polled") -> logging.LogRecord:
    """A record passed through the context filter, as the configured handler does."""
    record = logging.LogRecord("jobbot.test", logging.INFO, __file__, 1, message, None, None)
    assert logs.ContextFields().filter(record)
    return record


def test_a_text_line_names_its_server_first_in_the_bracket() -> None:
    """Inside `acting_on("staging")` the text line ends `[server=staging request_id=r1 job_id=7]`."""
    with servers.acting_on("staging"), logs.context(request_id="r1", job_id="7"):
        line = logs.Text().format(_record())
    assert line.endswith("polled [server=staging request_id=r1 job_id=7]")


def test_a_json_line_carries_the_server() -> None:
    """Inside `acting_on("prod")` the JSON line has `"server": "prod"` beside the ids."""
    with servers.acting_on("prod"), logs.context(job_id="3"):
        entry = json.loads(logs.JsonLines().format(_record()))
    assert entry["server"] == "prod" and entry["job_id"] == "3"


@pytest.mark.parametrize("server", [None, servers.DEFAULT_SERVER])
def test_no_server_or_the_single_servers_internal_name_is_not_printed(server: str | None) -> None:
    """Outside any server, or on the one unnamed server ("default"), lines look as they did before."""
    with servers.acting_on(server):
        plain = logs.Text().format(_record())
        with logs.context(request_id="r2"):
            with_id = logs.Text().format(_record())
        entry = json.loads(logs.JsonLines().format(_record()))
    assert plain.endswith("polled")
    assert with_id.endswith("polled [request_id=r2]")
    assert "server" not in entry


def test_the_configured_handler_adds_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    """Through `logs.configure`, a line logged while acting on a server names it; the next one does not."""
    logs.configure(logging.INFO, json_lines=True)
    try:
        with servers.acting_on("eu-west"):
            logging.getLogger("jobbot.test").info("inside")
        logging.getLogger("jobbot.test").info("outside")
    finally:
        logging.getLogger().handlers.clear()
    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert inside["server"] == "eu-west" and "server" not in outside
