"""Settings: defaults, the one-line errors for each mistake, `.env.example`, and secrets kept hidden."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobbot.config import load_settings
from jobbot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SOCKET = {"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_APP_TOKEN": "xapp-1-abc"}


def test_defaults_apply_when_only_tokens_are_set() -> None:
    """Socket Mode with just the two tokens uses the documented defaults."""
    settings = load_settings(SOCKET, env_file=None)
    assert settings.socket_mode
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.interactive_admin_endpoint == "http://127.0.0.1:7777"
    assert settings.port == 3000
    assert settings.jobbot_cancel_users == frozenset()
    assert settings.jobbot_log_level == "INFO"
    assert settings.jobbot_interactive_deadline == 15.0


def test_trailing_slashes_are_normalised() -> None:
    """The endpoint loses a trailing slash and the Slack API URL gains one."""
    settings = load_settings(
        {
            **SOCKET,
            "INTERACTIVE_ADMIN_ENDPOINT": "http://gs:7777/",
            "SLACK_API_URL": "https://slack-gov.com/api",
        },
        env_file=None,
    )
    assert settings.interactive_admin_endpoint == "http://gs:7777"
    assert settings.slack_api_url == "https://slack-gov.com/api/"


def test_cancel_users_are_parsed_from_a_comma_list() -> None:
    """Spaces and empty items are tolerated in JOBBOT_CANCEL_USERS."""
    settings = load_settings({**SOCKET, "JOBBOT_CANCEL_USERS": " U012ABC, ,W0456DEF "}, env_file=None)
    assert settings.jobbot_cancel_users == {"U012ABC", "W0456DEF"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "SLACK_BOT_TOKEN is not set; expected a bot token starting with xoxb-"),
        (
            {"SLACK_BOT_TOKEN": "xoxp-user"},
            "SLACK_BOT_TOKEN is invalid; expected a bot token starting with xoxb-",
        ),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET is required in HTTP mode"),
        (
            {**SOCKET, "SLACK_APP_TOKEN": "xoxb-wrong"},
            "SLACK_APP_TOKEN is invalid; expected an app-level token",
        ),
        ({**SOCKET, "PORT": "eighty"}, "PORT is invalid"),
        ({**SOCKET, "PORT": "70000"}, "PORT is invalid"),
        ({**SOCKET, "INTERACTIVE_ADMIN_ENDPOINT": "gs:7777"}, "INTERACTIVE_ADMIN_ENDPOINT is invalid"),
        (
            {**SOCKET, "JOBBOT_CANCEL_USERS": "alice"},
            "JOBBOT_CANCEL_USERS is invalid (not Slack user IDs: alice)",
        ),
        ({**SOCKET, "JOBBOT_LOG_LEVEL": "LOUD"}, "JOBBOT_LOG_LEVEL is invalid"),
        (
            {**SOCKET, "JOBBOT_INTERACTIVE_DEADLINE": "soon"},
            "JOBBOT_INTERACTIVE_DEADLINE is invalid (Input should be a valid number, unable to parse string"
            " as a number); expected seconds for one whole request to the Interactive server",
        ),
        ({**SOCKET, "JOBBOT_INTERACTIVE_DEADLINE": "0"}, "JOBBOT_INTERACTIVE_DEADLINE is invalid"),
        ({**SOCKET, "JOBBOT_INTERACTIVE_DEADLINE": "100000"}, "JOBBOT_INTERACTIVE_DEADLINE is invalid"),
    ],
)
def test_each_mistake_gets_one_line_naming_the_variable(environ: dict[str, str], expected: str) -> None:
    """A missing or malformed value is one line that names the variable and what is expected."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, env_file=None)
    message = str(caught.value)
    assert message.startswith(expected) and "\n" not in message


def test_a_secret_in_the_wrong_variable_is_never_echoed() -> None:
    """Errors about token variables never repeat the value that was given."""
    with pytest.raises(ConfigError) as caught:
        load_settings({"SLACK_BOT_TOKEN": "xapp-very-secret-value"}, env_file=None)
    assert "very-secret" not in str(caught.value)


def test_settings_repr_hides_secrets() -> None:
    """Printing or logging the settings object shows no token."""
    settings = load_settings({**SOCKET, "SLACK_SIGNING_SECRET": "s3cr3t-signing"}, env_file=None)
    text = repr(settings) + str(settings)
    assert "xoxb-1-abc" not in text and "xapp-1-abc" not in text and "s3cr3t-signing" not in text


def test_env_example_is_parseable_by_the_settings_class() -> None:
    """The shipped `.env.example`, its two tokens filled in, loads (it describes Socket Mode) with every
    documented default."""
    tokens = {"SLACK_BOT_TOKEN": "xoxb-1-filled-in", "SLACK_APP_TOKEN": "xapp-1-filled-in"}
    settings = load_settings(tokens, env_file=str(ROOT / ".env.example"))
    assert settings.socket_mode and settings.port == 3000
    # Copied as it is, it binds no port in Socket Mode, and nothing in it is warned about.
    assert settings.probe_port is None and settings.warnings == ()


def test_env_example_documents_every_variable() -> None:
    """Every setting has a line in `.env.example`, and nothing there is unknown to the settings class.
    A setting best left unset is there as a commented-out example (`# PORT=3000`)."""
    from jobbot.config import Settings

    names = {
        line.removeprefix("# ").split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if re.match(r"^(# )?[A-Z][A-Z_]*=\S*$", line)
    }
    # The per-server variables have no fixed names: the comment above JOBBOT_SERVERS describes them.
    assert names == {name.upper() for name in Settings.model_fields} - {"JOBBOT_SERVER_OPTIONS"}


def test_env_example_keeps_oauth_variables_out() -> None:
    """bolt switches to OAuth mode when SLACK_CLIENT_ID/SECRET exist, so the example never sets them."""
    text = (ROOT / ".env.example").read_text()
    assert "SLACK_CLIENT_ID" not in text and "SLACK_CLIENT_SECRET" not in text


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    """A real environment variable overrides the same name in `.env`."""
    env = tmp_path / ".env"
    env.write_text("SLACK_BOT_TOKEN=xoxb-from-file\nSLACK_APP_TOKEN=xapp-from-file\nPORT=4000\n")
    settings = load_settings({"PORT": "5000"}, env_file=str(env))
    assert settings.port == 5000 and settings.slack_bot_token.get_secret_value() == "xoxb-from-file"


def test_oauth_variables_in_the_environment_stop_start_up() -> None:
    """SLACK_CLIENT_ID and SLACK_CLIENT_SECRET would silently switch bolt to OAuth mode: refuse clearly."""
    with pytest.raises(ConfigError, match="SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set"):
        load_settings({**SOCKET, "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "abc"}, env_file=None)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("JOBBOT_CANCEL_USERS", "U" + "0" * 31),
        ("JOBBOT_CANCEL_USERGROUPS", "S" + "0" * 31),
        ("JOBBOT_ALLOWED_CHANNELS", "C" + "0" * 31),
        ("JOBBOT_NOTIFY_CHANNEL", "C" + "0" * 31),
    ],
)
def test_an_id_longer_than_any_slack_id_stops_start_up(variable: str, value: str) -> None:
    """A Slack id setting over 31 characters is refused at start-up, as requests refuse such ids."""
    with pytest.raises(ConfigError) as caught:
        load_settings({**SOCKET, variable: value}, env_file=None)
    assert str(caught.value).startswith(f"{variable} is invalid")
    assert load_settings({**SOCKET, variable: value[:31]}, env_file=None)


def test_without_jobbot_servers_the_endpoint_is_the_one_unnamed_server() -> None:
    """JOBBOT_SERVERS unset (or empty): one server, named nowhere, with the global cancellers."""
    for extra in ({}, {"JOBBOT_SERVERS": ""}):
        settings = load_settings(
            {**SOCKET, "INTERACTIVE_ADMIN_ENDPOINT": "http://gs:7777/", "JOBBOT_CANCEL_USERS": "U0AAAAAA"}
            | extra,
            env_file=None,
        )
        assert settings.servers.names == ("default",) and not settings.servers.shown
        assert settings.servers.first.url == "http://gs:7777"
        [own] = settings.server_settings
        assert own.cancel_users == frozenset({"U0AAAAAA"})


def test_jobbot_servers_names_each_server_and_finds_the_old_one_by_its_url() -> None:
    """`prod=URL,staging=URL`, in order; the store's old rows go to the server whose URL was
    INTERACTIVE_ADMIN_ENDPOINT, else to the first."""
    servers = "prod=http://gs-prod:7777, staging-eu=http://gs-eu:7777/"
    settings = load_settings(
        {**SOCKET, "JOBBOT_SERVERS": servers, "INTERACTIVE_ADMIN_ENDPOINT": "http://gs-eu:7777"},
        env_file=None,
    )
    assert [(s.name, s.url) for s in settings.servers] == [
        ("prod", "http://gs-prod:7777"),
        ("staging-eu", "http://gs-eu:7777"),
    ]
    assert settings.servers.shown and settings.servers.legacy == "staging-eu"
    assert load_settings({**SOCKET, "JOBBOT_SERVERS": servers}, env_file=None).servers.legacy == "prod"


def test_a_server_setting_replaces_the_global_one_for_that_server_alone() -> None:
    """JOBBOT_SERVER_<NAME>_...: set (even empty) it replaces the global setting; dashes are underscores."""
    settings = load_settings(
        {
            **SOCKET,
            "JOBBOT_SERVERS": "prod=http://a:1,staging-eu=http://b:1",
            "JOBBOT_CANCEL_USERS": "U0GLOBAL1",
            "JOBBOT_CANCEL_USERGROUPS": "S0GLOBAL1",
            "JOBBOT_NOTIFY_CHANNEL": "C0GLOBAL1",
            "JOBBOT_SERVER_PROD_CANCEL_USERS": "",
            "jobbot_server_staging_eu_cancel_usergroups": "S0EUROPE1",
            "JOBBOT_SERVER_STAGING_EU_NOTIFY_CHANNEL": "C0EUROPE1",
            "JOBBOT_POLL_INTERVAL": "5",
            "JOBBOT_SERVER_STAGING_EU_POLL_INTERVAL": "30",
        },
        env_file=None,
    )
    prod, staging = settings.server_settings
    assert (prod.cancel_users, prod.cancel_usergroups, prod.notify_channel) == (
        frozenset(),
        ("S0GLOBAL1",),
        "C0GLOBAL1",
    )
    assert (staging.cancel_users, staging.cancel_usergroups, staging.notify_channel) == (
        frozenset({"U0GLOBAL1"}),
        ("S0EUROPE1",),
        "C0EUROPE1",
    )
    assert (prod.poll_interval, staging.poll_interval) == (5.0, 30.0)
    # Refusals name the variable to change: the server's own where it has one.
    assert prod.cancel_settings == ("JOBBOT_SERVER_PROD_CANCEL_USERS", "JOBBOT_CANCEL_USERGROUPS")
    assert staging.cancel_settings == ("JOBBOT_CANCEL_USERS", "JOBBOT_SERVER_STAGING_EU_CANCEL_USERGROUPS")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"JOBBOT_SERVERS": "prod"}, "JOBBOT_SERVERS is invalid ('prod' is not NAME=URL)"),
        ({"JOBBOT_SERVERS": "Prod=http://a:1"}, "JOBBOT_SERVERS is invalid ('Prod' is not a server name"),
        ({"JOBBOT_SERVERS": "list=http://a:1"}, "'list' is a /jobs word and cannot name a server"),
        ({"JOBBOT_SERVERS": "all=http://a:1"}, "'all' is a /jobs word"),
        ({"JOBBOT_SERVERS": "default=http://a:1"}, "'default' is jobbot's name for a lone server"),
        ({"JOBBOT_SERVERS": "a=http://x:1,a=http://y:1"}, "'a' is named twice"),
        ({"JOBBOT_SERVERS": "a=http://x:1/v1"}, "the URL of 'a' is not an http(s) URL with no path"),
        ({"JOBBOT_SERVERS": "a" * 21 + "=http://x:1"}, "at most 20"),
        (
            {"JOBBOT_SERVERS": "prod=http://a:1", "JOBBOT_SERVER_PRDO_CANCEL_USERS": "U0AAAAAA"},
            "JOBBOT_SERVER_PRDO_CANCEL_USERS names no configured server (JOBBOT_SERVERS has prod)",
        ),
        (
            {"JOBBOT_SERVERS": "prod=http://a:1", "JOBBOT_SERVER_PROD_CANCEL_USER": "U0AAAAAA"},
            "JOBBOT_SERVER_PROD_CANCEL_USER is not a setting jobbot knows",
        ),
        (
            {"JOBBOT_SERVERS": "prod=http://a:1", "JOBBOT_SERVER_PROD_NOTIFY_CHANNEL": "#ops"},
            "JOBBOT_SERVER_PROD_NOTIFY_CHANNEL is invalid (not a channel ID: #ops)",
        ),
        (
            {"JOBBOT_SERVERS": "prod=http://a:1", "JOBBOT_SERVER_PROD_POLL_INTERVAL": "0"},
            "JOBBOT_SERVER_PROD_POLL_INTERVAL is invalid (seconds between polls, from 0.1 to 3600)",
        ),
        (
            {"JOBBOT_SERVERS": "prod=http://a:1", "JOBBOT_SERVER_PROD_POLL_INTERVAL": "often"},
            "JOBBOT_SERVER_PROD_POLL_INTERVAL is invalid (not a number: often)",
        ),
        (
            {"JOBBOT_SERVER_PROD_CANCEL_USERS": "U0AAAAAA"},
            "JOBBOT_SERVER_PROD_CANCEL_USERS is set but JOBBOT_SERVERS is not",
        ),
    ],
)
def test_each_mistake_in_the_servers_is_one_line(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**SOCKET, **environ}, env_file=None)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_server_setting_in_the_env_file_counts_too(tmp_path: Path) -> None:
    """Per-server variables are read from `.env` as every other one is, the environment winning."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        "JOBBOT_SERVERS=prod=http://a:1\nJOBBOT_SERVER_PROD_CANCEL_USERS=U0FROMFILE\n", encoding="utf-8"
    )
    [own] = load_settings(SOCKET, env_file=str(env_file)).server_settings
    assert own.cancel_users == frozenset({"U0FROMFILE"})
    [own] = load_settings(
        {**SOCKET, "JOBBOT_SERVER_PROD_CANCEL_USERS": "U0FROMENV1"}, env_file=str(env_file)
    ).server_settings
    assert own.cancel_users == frozenset({"U0FROMENV1"})


def test_an_empty_bot_token_is_not_set() -> None:
    """`SLACK_BOT_TOKEN=` (left empty from an example) says "is not set", as if the line were missing."""
    with pytest.raises(ConfigError) as caught:
        load_settings({"SLACK_BOT_TOKEN": "", "SLACK_APP_TOKEN": "xapp-1"}, env_file=None)
    assert str(caught.value) == "SLACK_BOT_TOKEN is not set; expected a bot token starting with xoxb-"


def test_an_empty_variable_in_the_env_file_is_not_set(tmp_path: Path) -> None:
    """An empty line in `.env` means not set there too: the default applies rather than an error."""
    env_file = tmp_path / ".env"
    env_file.write_text("SLACK_BOT_TOKEN=xoxb-1\nSLACK_APP_TOKEN=xapp-1\nPORT=\nJOBBOT_LOG_LEVEL=\n")
    settings = load_settings({}, env_file=str(env_file))
    assert (settings.port, settings.jobbot_log_level, settings.probe_port) == (3000, "INFO", None)


# A value each variable refuses; a new setting without one here fails the test that uses them.
BAD_VALUES = {
    "SLACK_BOT_TOKEN": "xoxp-user",
    "SLACK_APP_TOKEN": "xoxb-wrong",
    "SLACK_SIGNING_SECRET": None,
    "SLACK_API_URL": "slack.com",
    "INTERACTIVE_ADMIN_ENDPOINT": "gs:7777",
    "PORT": "eighty",
    "JOBBOT_CANCEL_USERS": "alice",
    "JOBBOT_CANCEL_USERGROUPS": "ops",
    "JOBBOT_ALLOWED_CHANNELS": "#ops",
    "JOBBOT_LOG_LEVEL": "LOUD",
    "JOBBOT_LOG_FORMAT": "xml",
    "JOBBOT_HEALTH_PORT": "0",
    "JOBBOT_NOTIFIER": "maybe",
    "JOBBOT_POLL_INTERVAL": "often",
    "JOBBOT_RECONCILE_INTERVAL": "1",
    "JOBBOT_NOTIFY_CHANNEL": "#ops",
    "JOBBOT_NOTIFY_STATUSES": "DONE",
    "JOBBOT_NOTIFY_STYLE": "loud",
    "JOBBOT_LONG_RUNNING_AFTER": "-1",
    "JOBBOT_DATABASE_URL": "jobbot.db",
    "JOBBOT_INTERACTIVE_DEADLINE": "0",
    "JOBBOT_STALE_RUNNING_HOURS": "never",
    "JOBBOT_SERVERS": "prod",
}


def test_every_setting_has_a_bad_value_to_try() -> None:
    """BAD_VALUES covers every variable, so the next test checks each message."""
    from jobbot.config import setting_names

    assert set(BAD_VALUES) == set(setting_names())


@pytest.mark.parametrize("variable", [name for name, value in BAD_VALUES.items() if value is not None])
def test_each_refusal_says_what_is_expected_once(variable: str) -> None:
    """A bad value gets one line naming the variable that says "expected ..." once, not twice."""
    with pytest.raises(ConfigError) as caught:
        load_settings({**SOCKET, variable: str(BAD_VALUES[variable])}, env_file=None)
    message = str(caught.value)
    assert message.startswith(f"{variable} is invalid") and "\n" not in message
    assert message.lower().count("expected") == 1, message


@pytest.mark.parametrize("endpoint", ["http://gs:7777/v1", "http://gs:7777/v1/job", "http://gs:7777/?x=1"])
def test_an_endpoint_with_a_path_stops_start_up_with_the_fix(endpoint: str) -> None:
    """INTERACTIVE_ADMIN_ENDPOINT with a path (every answer would be wrong) is refused, saying to remove it,
    as JOBBOT_SERVERS refuses a URL with a path."""
    with pytest.raises(ConfigError) as caught:
        load_settings({**SOCKET, "INTERACTIVE_ADMIN_ENDPOINT": endpoint}, env_file=None)
    extra = endpoint.removeprefix("http://gs:7777")
    assert str(caught.value) == (
        f"INTERACTIVE_ADMIN_ENDPOINT is invalid (has a path {extra!r}; jobbot adds /v1/... itself, so remove "
        "it); expected the server's http(s) URL with no path, such as http://127.0.0.1:7777"
    )


def test_a_direct_message_id_is_an_allowed_channel() -> None:
    """JOBBOT_ALLOWED_CHANNELS takes D... ids (the refusal in a DM suggests adding one) beside C and G ids."""
    settings = load_settings(
        {**SOCKET, "JOBBOT_ALLOWED_CHANNELS": "C0OPS0001, G0OLDPRIV1,D0DIRECT1"}, env_file=None
    )
    assert settings.jobbot_allowed_channels == ("C0OPS0001", "G0OLDPRIV1", "D0DIRECT1")


@pytest.mark.parametrize(
    ("variable", "warning"),
    [
        (
            "JOBBOT_NOTIFY_CHANEL",
            "JOBBOT_NOTIFY_CHANEL is not a jobbot setting and is ignored; did you mean "
            "JOBBOT_NOTIFY_CHANNEL?",
        ),
        (
            "SLACK_APP_TOKN",
            "SLACK_APP_TOKN is not a jobbot setting and is ignored; did you mean SLACK_APP_TOKEN?",
        ),
        (
            "jobbot_healthport",
            "JOBBOT_HEALTHPORT is not a jobbot setting and is ignored; did you mean JOBBOT_HEALTH_PORT?",
        ),
        (
            "JOBBOT_COLOUR",
            "jobbot does not know JOBBOT_COLOUR; it is ignored (.env.example lists every setting)",
        ),
    ],
)
def test_a_variable_jobbot_does_not_read_is_warned_about(variable: str, warning: str) -> None:
    """A mistyped JOBBOT_ (or SLACK_) variable is named with the closest setting; unknown JOBBOT_ ones too."""
    assert load_settings({**SOCKET, variable: "C0NOTICES"}, env_file=None).warnings == (warning,)


def test_variables_of_other_programs_and_per_server_settings_are_not_warned_about() -> None:
    """SLACK_ and INTERACTIVE_ variables unlike any setting, and JOBBOT_SERVER_<NAME>_..., pass quietly."""
    settings = load_settings(
        {
            **SOCKET,
            "SLACK_WEBHOOK_URL": "https://hooks.slack.com/x",
            "INTERACTIVE_STORED_PROC_ENDPOINT": "http://gs:10000",
            "JOBBOT_SERVERS": "prod=http://a:1",
            "JOBBOT_SERVER_PROD_CANCEL_USERS": "U0AAAAAA",
            "HOME": "/root",
        },
        env_file=None,
    )
    assert settings.warnings == ()


def test_a_typo_in_the_env_file_is_warned_about_with_the_file_named(tmp_path: Path) -> None:
    """The warning says the variable came from the env file."""
    env_file = tmp_path / "prod.env"
    env_file.write_text("JOBBOT_NOTIFY_CHANEL=C0NOTICES\n")
    [warning] = load_settings(SOCKET, env_file=str(env_file)).warnings
    assert warning.startswith(f"JOBBOT_NOTIFY_CHANEL (in {env_file}) is not a jobbot setting")


def test_live_cards_without_a_notify_channel_are_warned_about() -> None:
    """JOBBOT_NOTIFY_STYLE=live with no JOBBOT_NOTIFY_CHANNEL (global or a server's) warns that cards go
    only to channels that subscribe live; with a channel, no warning."""
    live = {**SOCKET, "JOBBOT_NOTIFY_STYLE": "live"}
    assert load_settings(live, env_file=None).warnings == (
        "JOBBOT_NOTIFY_STYLE=live does nothing without JOBBOT_NOTIFY_CHANNEL: live cards go only to channels "
        "that run `/jobs subscribe live`; set JOBBOT_NOTIFY_CHANNEL to post them in one channel",
    )
    assert load_settings({**live, "JOBBOT_NOTIFY_CHANNEL": "C0NOTICES"}, env_file=None).warnings == ()
    per_server = {"JOBBOT_SERVERS": "prod=http://a:1", "JOBBOT_SERVER_PROD_NOTIFY_CHANNEL": "C0NOTICES"}
    assert load_settings({**live, **per_server}, env_file=None).warnings == ()


def test_socket_mode_serves_the_probes_on_port_only_when_it_is_given() -> None:
    """JOBBOT_HEALTH_PORT first; else PORT when it is given (as Heroku-style platforms do); else none."""
    assert load_settings(SOCKET, env_file=None).probe_port is None
    assert load_settings({**SOCKET, "PORT": "5000"}, env_file=None).probe_port == (5000, "PORT")
    both = {**SOCKET, "PORT": "5000", "JOBBOT_HEALTH_PORT": "9000"}
    assert load_settings(both, env_file=None).probe_port == (9000, "JOBBOT_HEALTH_PORT")


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("SLACK_BOT_TOKEN", "paste the Bot User OAuth Token (Slack app > Install App)"),
        (
            "SLACK_APP_TOKEN",
            "paste an app-level token with connections:write (Slack app > Basic Information > "
            "App-Level Tokens), or leave it empty for HTTP mode",
        ),
    ],
)
def test_a_token_left_as_the_examples_placeholder_says_so(name: str, fix: str) -> None:
    """`.env.example` copied without filling in a token is named as such before anything asks Slack (which,
    offline, would only say it cannot be reached)."""
    placeholders = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.startswith(("SLACK_BOT_TOKEN=", "SLACK_APP_TOKEN="))
    }
    environ = {"SLACK_BOT_TOKEN": "xoxb-1-real", "SLACK_APP_TOKEN": "xapp-1-real", name: placeholders[name]}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, env_file=None)
    assert str(caught.value) == f"{name} is still the placeholder from .env.example; {fix}"


def test_secrets_are_the_tokens_the_signing_secret_and_the_database_password() -> None:
    """What logs and `jobbot check` scrub: every Slack credential set, and the database URL's password."""
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-1-bot",
            "SLACK_APP_TOKEN": "xapp-1-app",
            "SLACK_SIGNING_SECRET": "signing",
            "JOBBOT_DATABASE_URL": "postgresql://jobbot:db-pass@db:5432/jobbot",
        },
        env_file=None,
    )
    assert settings.secrets == ("xoxb-1-bot", "xapp-1-app", "signing", "db-pass")
    bare = load_settings({"SLACK_BOT_TOKEN": "xoxb-1-bot", "SLACK_SIGNING_SECRET": "s"}, env_file=None)
    assert bare.secrets == ("xoxb-1-bot", "s")


def test_a_given_mapping_is_all_that_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `environ` given, neither the process environment nor a `.env` in the working directory adds
    anything: the playground builds its bot from its own mapping, whatever the shell or folder holds."""
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-from-the-shell")
    monkeypatch.setenv("JOBBOT_NOTIFY_STYLE", "live")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SLACK_APP_TOKEN=xapp-1-from-dotenv\nJOBBOT_POLL_INTERVAL=99\n")
    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, env_file=None)
    assert settings.slack_app_token is None
    assert (settings.jobbot_notify_style.value, settings.jobbot_poll_interval) == ("final", 10.0)
