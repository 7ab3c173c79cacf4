"""The one Settings class: reads the environment and `.env`; the only module that does."""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from jobbot.commands import RESERVED_WORDS
from jobbot.errors import ConfigError
from jobbot.models import NOTICE_STATUSES, NoticeStyle
from jobbot.servers import (
    DEFAULT_SERVER,
    EVERY_SERVER_WORD,
    MAX_NAME_CHARS,
    Server,
    Servers,
    is_server_name,
)
from jobbot.slack_ids import is_channel_id, is_conversation_id, is_user_id, is_usergroup_id


def _id_list(value: Any, is_valid: Callable[[str], bool], what: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    ids = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
    bad = [i[:40] for i in ids if not is_valid(i)]
    if bad:
        raise ValueError(f"not Slack {what}: {', '.join(bad)}")
    return ids


_SECRETS = frozenset({"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"})
# `.env.example`'s token values, and where the real ones are: copied unfilled, a token is named as such
# before Slack is asked (offline, Slack would only be unreachable).
_PLACEHOLDERS = {
    "SLACK_BOT_TOKEN": ("xoxb-your-bot-token", "paste the Bot User OAuth Token (Slack app > Install App)"),
    "SLACK_APP_TOKEN": (
        "xapp-your-app-level-token",
        "paste an app-level token with connections:write (Slack app > Basic Information > App-Level "
        "Tokens), or leave it empty for HTTP mode",
    ),
}
_PLACEHOLDER = "placeholder"
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")

# What each variable should look like, for the one-line start-up error.
_EXPECTED = {
    "SLACK_BOT_TOKEN": "a bot token starting with xoxb-",
    "SLACK_APP_TOKEN": "an app-level token starting with xapp- (or unset for HTTP mode)",
    "SLACK_SIGNING_SECRET": "the app's signing secret (Basic Information > App Credentials)",
    "SLACK_API_URL": "an http(s) URL such as https://slack.com/api/",
    "INTERACTIVE_ADMIN_ENDPOINT": "the server's http(s) URL with no path, such as http://127.0.0.1:7777",
    "PORT": "a TCP port number between 1 and 65535",
    "JOBBOT_CANCEL_USERS": "comma-separated Slack user IDs such as U012ABCDEF,U045GHIJKL",
    "JOBBOT_LOG_LEVEL": "one of " + ", ".join(_LOG_LEVELS),
    "JOBBOT_CANCEL_USERGROUPS": "comma-separated Slack user group IDs such as S012ABCDEF",
    "JOBBOT_ALLOWED_CHANNELS": (
        "comma-separated Slack channel or direct message IDs such as C012ABCDEF,D045GHIJKL, or empty"
    ),
    "JOBBOT_NOTIFIER": "on or off",
    "JOBBOT_LOG_FORMAT": "text or json",
    "JOBBOT_HEALTH_PORT": "a TCP port number between 1 and 65535, or empty",
    "JOBBOT_POLL_INTERVAL": "seconds between polls, a number from 0.1 to 3600",
    "JOBBOT_RECONCILE_INTERVAL": "seconds between full reconciles, a number from 10 to 86400",
    "JOBBOT_NOTIFY_CHANNEL": "a Slack channel ID such as C0123ABCDEF (not a #name), or empty",
    "JOBBOT_NOTIFY_STATUSES": "comma-separated statuses from " + ", ".join(NOTICE_STATUSES),
    "JOBBOT_NOTIFY_STYLE": "final (one notice when a job ends) or live (a card per job, edited as it runs)",
    "JOBBOT_LONG_RUNNING_AFTER": "seconds a job may run before an alert, from 0 (no alerts) to 31536000",
    "JOBBOT_DATABASE_URL": "a database URL such as sqlite:///jobbot.db",
    "JOBBOT_INTERACTIVE_DEADLINE": "seconds for one whole request to the Interactive server, from 1 to 600",
    "JOBBOT_STALE_RUNNING_HOURS": "hours before a RUNNING job is called stale, a number from 0.1 to 8760",
    "JOBBOT_SERVERS": "comma-separated NAME=URL pairs such as prod=http://gs-prod:7777,staging=http://gs-staging:7777",
}

# Settings of one server, `JOBBOT_SERVER_<NAME>_<SETTING>` (the name upper-cased, dashes as underscores):
# each, when set (even to nothing), replaces the setting of the same name for that server alone.
SERVER_SETTING_PREFIX = "JOBBOT_SERVER_"
SERVER_SETTINGS = ("CANCEL_USERS", "CANCEL_USERGROUPS", "NOTIFY_CHANNEL", "POLL_INTERVAL")


@dataclass(frozen=True)
class ServerSettings:
    """What one server's notifier and cancels use: the global settings, or its own where it has them."""

    server: Server
    cancel_users: frozenset[str]
    cancel_usergroups: tuple[str, ...]
    notify_channel: str | None
    poll_interval: float = 10.0
    # The variables that decide who may cancel there: the global ones, or the server's own.
    cancel_settings: tuple[str, str] = ("JOBBOT_CANCEL_USERS", "JOBBOT_CANCEL_USERGROUPS")


def _poll_interval(value: Any) -> float:
    """A poll interval as JOBBOT_POLL_INTERVAL takes it: seconds, from 0.1 to 3600."""
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"not a number: {str(value)[:40]}") from None
    if not 0.1 <= seconds <= 3600:
        raise ValueError("seconds between polls, from 0.1 to 3600")
    return seconds


def _server_pairs(value: Any) -> tuple[Server, ...]:
    if not isinstance(value, str):
        return tuple(value)
    servers: list[Server] = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, url = (part.strip() for part in item.partition("="))
        if not sep or not name or not url:
            raise ValueError(f"{item[:40]!r} is not NAME=URL")
        if not is_server_name(name):
            raise ValueError(
                f"{name[:40]!r} is not a server name (lowercase letters, digits and dashes, "
                f"at most {MAX_NAME_CHARS})"
            )
        if name in RESERVED_WORDS or name == EVERY_SERVER_WORD:
            raise ValueError(f"{name!r} is a /jobs word and cannot name a server")
        if name == DEFAULT_SERVER:
            raise ValueError(f"{name!r} is jobbot's name for a lone server; choose another")
        if any(server.name == name for server in servers):
            raise ValueError(f"{name!r} is named twice")
        if not re.match(r"^https?://[^/\s]+/?$", url):
            raise ValueError(f"the URL of {name!r} is not an http(s) URL with no path")
        servers.append(Server(name, url.rstrip("/")))
    return tuple(servers)


class Settings(BaseSettings):
    """jobbot's configuration; see `.env.example` for every variable."""

    model_config = SettingsConfigDict(
        # An empty variable (`SLACK_BOT_TOKEN=` copied from an example) is not set: its default applies.
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
    )

    slack_bot_token: SecretStr
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    interactive_admin_endpoint: str = "http://127.0.0.1:7777"
    port: int = Field(default=3000, ge=1, le=65535)
    jobbot_cancel_users: Annotated[frozenset[str], NoDecode] = frozenset()
    jobbot_cancel_usergroups: Annotated[tuple[str, ...], NoDecode] = ()
    jobbot_allowed_channels: Annotated[tuple[str, ...], NoDecode] = ()
    jobbot_log_level: str = "INFO"
    jobbot_log_format: str = "text"
    jobbot_health_port: int | None = Field(default=None, ge=1, le=65535)
    jobbot_notifier: bool = True
    jobbot_poll_interval: float = Field(default=10.0, ge=0.1, le=3600)
    jobbot_reconcile_interval: float = Field(default=600.0, ge=10, le=86400)
    jobbot_notify_channel: str | None = None
    jobbot_notify_statuses: Annotated[tuple[str, ...], NoDecode] = NOTICE_STATUSES
    jobbot_notify_style: NoticeStyle = NoticeStyle.FINAL
    # Two hours: past the usual bulk load of a graph that fits one Interactive machine (minutes to an
    # hour), early enough in a shift for someone to act on it. Jobs that run well past their graph's
    # usual duration are alerted about sooner (see notifier/observe.py).
    jobbot_long_running_after: float = Field(default=7200.0, ge=0, le=31_536_000)
    jobbot_database_url: str = "sqlite:///jobbot.db"
    # One whole request to the Interactive server (retries, headers and body included), in seconds.
    jobbot_interactive_deadline: float = Field(default=15.0, ge=1, le=600)
    jobbot_stale_running_hours: float = Field(default=24.0, ge=0.1, le=8760)
    jobbot_servers: Annotated[tuple[Server, ...], NoDecode] = ()
    # The JOBBOT_SERVER_<NAME>_<SETTING> variables, gathered by load_settings (their names are not fixed).
    jobbot_server_options: dict[str, str] = Field(default_factory=dict)
    _server_settings: tuple[ServerSettings, ...] = PrivateAttr(default=())
    _unknown_variables: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() == _PLACEHOLDERS["SLACK_BOT_TOKEN"][0]:
            raise ValueError(_PLACEHOLDER)
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("not a bot token")
        return value

    @field_validator("slack_app_token", "slack_signing_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() == _PLACEHOLDERS["SLACK_APP_TOKEN"][0]:
            raise ValueError(_PLACEHOLDER)
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("not an app-level token")
        return value

    @field_validator("slack_api_url", "interactive_admin_endpoint")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("not an http(s) URL")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_trailing_slash(cls, value: str) -> str:
        # slack_sdk joins method names onto the base URL, so it must end with a slash.
        return value if value.endswith("/") else value + "/"

    @field_validator("interactive_admin_endpoint")
    @classmethod
    def _endpoint_without_path(cls, value: str) -> str:
        # jobbot adds /v1/job itself: a path here (http://host:7777/v1) would make every answer wrong.
        parts = urlsplit(value)
        if parts.path.strip("/") or parts.query or parts.fragment:
            extra = value[len(f"{parts.scheme}://{parts.netloc}") :]
            raise ValueError(f"has a path {extra[:40]!r}; jobbot adds /v1/... itself, so remove it")
        return value.rstrip("/")

    @field_validator("jobbot_cancel_users", mode="before")
    @classmethod
    def _user_ids(cls, value: Any) -> frozenset[str]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        ids = frozenset(part for part in value if part)
        bad = sorted(part for part in ids if not is_user_id(part))
        if bad:
            raise ValueError(f"not Slack user IDs: {', '.join(bad)}")
        return ids

    @field_validator("jobbot_cancel_usergroups", mode="before")
    @classmethod
    def _usergroup_ids(cls, value: Any) -> tuple[str, ...]:
        return _id_list(value, is_usergroup_id, "user group IDs")

    @field_validator("jobbot_allowed_channels", mode="before")
    @classmethod
    def _channel_ids(cls, value: Any) -> tuple[str, ...]:
        # A direct message's D... id is accepted too: the refusal in a DM tells admins to add it here.
        return _id_list(value, is_conversation_id, "channel IDs")

    @field_validator("jobbot_log_format", mode="before")
    @classmethod
    def _log_format(cls, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in ("text", "json"):
            raise ValueError(f"unknown format {text[:20]!r}")
        return text

    @field_validator("jobbot_health_port", mode="before")
    @classmethod
    def _optional_port(cls, value: Any) -> Any:
        return None if value is None or not str(value).strip() else value

    @field_validator("jobbot_notifier", mode="before")
    @classmethod
    def _on_off(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if text in ("on", "true", "1", "yes"):
            return True
        if text in ("off", "false", "0", "no"):
            return False
        raise ValueError(f"neither on nor off: {text[:20]!r}")

    @field_validator("jobbot_notify_channel", mode="before")
    @classmethod
    def _channel_id(cls, value: Any) -> str | None:
        if value is None or not str(value).strip():
            return None
        channel = str(value).strip()
        if not is_channel_id(channel):
            raise ValueError(f"not a channel ID: {channel[:40]}")
        return channel

    @field_validator("jobbot_notify_statuses", mode="before")
    @classmethod
    def _notice_statuses(cls, value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else list(value)
        statuses = tuple(dict.fromkeys(str(item).strip().upper() for item in items if str(item).strip()))
        bad = [s for s in statuses if s not in NOTICE_STATUSES]
        if bad or not statuses:
            raise ValueError(f"unknown statuses: {', '.join(bad)}" if bad else "no status given")
        return statuses

    @field_validator("jobbot_notify_style", mode="before")
    @classmethod
    def _notify_style(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if text not in {style.value for style in NoticeStyle}:
            raise ValueError(f"unknown style {text[:20]!r}")
        return text

    @field_validator("jobbot_servers", mode="before")
    @classmethod
    def _servers(cls, value: Any) -> tuple[Server, ...]:
        return _server_pairs(value)

    @field_validator("jobbot_database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^[a-z][a-z0-9+]*://", value, re.IGNORECASE):
            raise ValueError("not a URL")
        return value

    @field_validator("jobbot_log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> str:
        level = str(value).strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError("unknown log level")
        return level

    @model_validator(mode="after")
    def _http_mode_needs_secret(self) -> Settings:
        if self.slack_app_token is None and self.slack_signing_secret is None:
            raise ValueError("SLACK_SIGNING_SECRET is required in HTTP mode (when SLACK_APP_TOKEN is unset)")
        return self

    @model_validator(mode="after")
    def _per_server(self) -> Settings:
        self._server_settings = tuple(self._settings_of(server) for server in self.servers)
        return self

    def _settings_of(self, server: Server) -> ServerSettings:
        own = self._options_by_server().get(server.name, {})
        prefix = f"{SERVER_SETTING_PREFIX}{_env_name(server.name)}_"

        def read(setting: str, parse: Callable[[Any], Any], default: Any) -> Any:
            if setting not in own:
                return default
            try:
                return parse(own[setting])
            except ValueError as exc:
                raise ValueError(f"{prefix}{setting} is invalid ({exc})") from None

        return ServerSettings(
            server,
            cancel_users=read("CANCEL_USERS", Settings._user_ids, self.jobbot_cancel_users),
            cancel_usergroups=read(
                "CANCEL_USERGROUPS", Settings._usergroup_ids, self.jobbot_cancel_usergroups
            ),
            notify_channel=read("NOTIFY_CHANNEL", Settings._channel_id, self.jobbot_notify_channel),
            poll_interval=read("POLL_INTERVAL", _poll_interval, self.jobbot_poll_interval),
            cancel_settings=(
                prefix + "CANCEL_USERS" if "CANCEL_USERS" in own else "JOBBOT_CANCEL_USERS",
                prefix + "CANCEL_USERGROUPS" if "CANCEL_USERGROUPS" in own else "JOBBOT_CANCEL_USERGROUPS",
            ),
        )

    def _options_by_server(self) -> dict[str, dict[str, str]]:
        """JOBBOT_SERVER_<NAME>_<SETTING> values by server name; an unknown name or setting stops start-up."""
        env_names = {_env_name(server.name): server.name for server in self.servers}
        found: dict[str, dict[str, str]] = {}
        for key, value in sorted(self.jobbot_server_options.items()):
            variable = key.upper()
            rest = variable.removeprefix(SERVER_SETTING_PREFIX)
            setting = next((s for s in SERVER_SETTINGS if rest.endswith("_" + s)), None)
            if setting is None:
                known = ", ".join(f"{SERVER_SETTING_PREFIX}<NAME>_{s}" for s in SERVER_SETTINGS)
                raise ValueError(
                    f"{variable[:60]} is not a setting jobbot knows; per-server settings are {known}"
                )
            name = rest.removesuffix("_" + setting)
            if not self.jobbot_servers:
                raise ValueError(f"{variable[:60]} is set but JOBBOT_SERVERS is not; name the servers there")
            if name not in env_names:
                configured = ", ".join(self.servers.names)
                raise ValueError(
                    f"{variable[:60]} names no configured server (JOBBOT_SERVERS has {configured})"
                )
            found.setdefault(env_names[name], {})[setting] = value
        return found

    @property
    def servers(self) -> Servers:
        """The servers jobbot speaks to: JOBBOT_SERVERS, or INTERACTIVE_ADMIN_ENDPOINT alone."""
        if not self.jobbot_servers:
            return Servers.single(self.interactive_admin_endpoint)
        # A store written before JOBBOT_SERVERS was set belongs to the server it spoke to then.
        endpoint = self.interactive_admin_endpoint
        legacy = next((s for s in self.jobbot_servers if s.url == endpoint), self.jobbot_servers[0])
        return Servers(self.jobbot_servers, legacy=legacy.name)

    @property
    def server_settings(self) -> tuple[ServerSettings, ...]:
        """Each server's settings, in the order of `servers`."""
        return self._server_settings

    @property
    def probe_port(self) -> tuple[int, str] | None:
        """Where Socket Mode serves /healthz, /readyz and /metrics, and the variable that says so:
        JOBBOT_HEALTH_PORT, else PORT when it is given (platforms such as Heroku set PORT and stop a web
        process that does not listen on it), else nowhere."""
        if self.jobbot_health_port is not None:
            return self.jobbot_health_port, "JOBBOT_HEALTH_PORT"
        if "port" in self.model_fields_set:
            return self.port, "PORT"
        return None

    @property
    def warnings(self) -> tuple[str, ...]:
        """What start-up warns about: variables jobbot ignores, and settings that do less than they seem."""
        found = list(self._unknown_variables)
        channels = [own.notify_channel for own in self.server_settings if own.notify_channel]
        if self.jobbot_notifier and self.jobbot_notify_style is NoticeStyle.LIVE and not channels:
            found.append(
                "JOBBOT_NOTIFY_STYLE=live does nothing without JOBBOT_NOTIFY_CHANNEL: live cards go only to "
                "channels that run `/jobs subscribe live`; set JOBBOT_NOTIFY_CHANNEL to post them in one "
                "channel"
            )
        return tuple(found)

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never be shown or logged: the tokens, the signing secret, and the password in the
        database URL (the endpoint's is never shown whole either: see jobbot.urls)."""
        values = [self.slack_bot_token, self.slack_app_token, self.slack_signing_secret]
        found = [value.get_secret_value() for value in values if value is not None]
        try:
            password = urlsplit(self.jobbot_database_url).password
        except ValueError:
            password = None
        return tuple(secret for secret in [*found, password] if secret)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def log_level(self) -> int:
        return int(logging.getLevelName(self.jobbot_log_level))


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | None = ".env") -> Settings:
    """Read settings, turning any validation problem into one ConfigError line (never a traceback).

    With `environ`, only that mapping (and `env_file`) is read: tests pass their own environment.
    """
    source = os.environ if environ is None else environ
    options = _server_options(source, env_file)
    if source.get("SLACK_CLIENT_ID") and source.get("SLACK_CLIENT_SECRET"):
        # slack-bolt reads these from the process environment and silently ignores the bot token.
        raise ConfigError(
            "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set: slack-bolt would switch to OAuth installs and "
            "ignore SLACK_BOT_TOKEN; jobbot serves one workspace, so unset them"
        )
    try:
        if environ is None:
            settings = Settings(_env_file=env_file, jobbot_server_options=options)
        else:
            settings = _settings_from_mapping(environ, env_file, options)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    settings._unknown_variables = _unknown_variables(source, env_file)
    return settings


# The settings `jobbot playground` takes from the environment: where the Interactive servers are. It makes
# every other setting itself (Slack is its own, and a .env meant for a real deployment is not read).
PLAYGROUND_PASSED_ON = ("INTERACTIVE_ADMIN_ENDPOINT", "JOBBOT_SERVERS")


def playground_servers(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The PLAYGROUND_PASSED_ON variables that are set (none: the playground runs its own emulator)."""
    source = os.environ if environ is None else environ
    return {name: source[name] for name in PLAYGROUND_PASSED_ON if source.get(name)}


# Prefixes of the variables jobbot reads. Any other JOBBOT_ variable is a mistake; a SLACK_ or INTERACTIVE_
# one may belong to another program, so it is only named when it looks like a misspelt setting of jobbot's.
_OWN_PREFIX = "JOBBOT_"
_SHARED_PREFIXES = ("SLACK_", "INTERACTIVE_")
# slack-bolt's OAuth variables, refused on their own by load_settings.
_NOT_TYPOS = frozenset({"SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"})


def setting_names() -> tuple[str, ...]:
    """Every variable of the Settings class, as it is written in the environment."""
    return tuple(name.upper() for name in Settings.model_fields if name != "jobbot_server_options")


def _unknown_variables(source: Mapping[str, str], env_file: str | None) -> tuple[str, ...]:
    """A warning for each variable that looks meant for jobbot but that it does not read (a typo is
    otherwise silently ignored), naming the closest setting it knows."""
    known = setting_names()
    given = {name.upper(): "" for name in source}
    if env_file:
        given |= {
            name.upper(): f" (in {env_file})" for name in _env_file_values(env_file) if name not in source
        }
    found = []
    for name, where in sorted(given.items()):
        if name in known or name in _NOT_TYPOS or name.startswith(SERVER_SETTING_PREFIX):
            continue
        if not name.startswith((_OWN_PREFIX, *_SHARED_PREFIXES)):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        if close:
            found.append(
                f"{name[:60]}{where} is not a jobbot setting and is ignored; did you mean {close[0]}?"
            )
        elif name.startswith(_OWN_PREFIX):
            found.append(
                f"jobbot does not know {name[:60]}{where}; it is ignored (.env.example lists every setting)"
            )
    return tuple(found)


def _settings_from_mapping(
    environ: Mapping[str, str], env_file: str | None, options: dict[str, str]
) -> Settings:
    values: dict[str, Any] = {}
    if env_file:
        values.update({k.lower(): v for k, v in _env_file_values(env_file).items()})
    values.update({k.lower(): v for k, v in environ.items()})
    # As Settings' own sources do (env_ignore_empty): an empty variable is not set.
    values = {k: v for k, v in values.items() if v != ""}
    known = {name for name in Settings.model_fields}
    return _MappedSettings.model_validate(
        {k: v for k, v in values.items() if k in known} | {"jobbot_server_options": options}
    )


class _MappedSettings(Settings):
    """Settings from the given values alone: pydantic-settings would otherwise add the process
    environment and a `.env` in the working directory to them."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _env_file_values(env_file: str) -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(env_file).items() if v is not None}


def _server_options(source: Mapping[str, str], env_file: str | None) -> dict[str, str]:
    """The JOBBOT_SERVER_<NAME>_<SETTING> variables, from the environment over the env file."""
    values = _env_file_values(env_file) if env_file else {}
    values.update(source)
    return {k.upper(): v for k, v in values.items() if k.upper().startswith(SERVER_SETTING_PREFIX)}


def _env_name(server_name: str) -> str:
    """How a server's name appears in variable names: upper-cased, dashes as underscores."""
    return server_name.upper().replace("-", "_")


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = error.get("loc") or ()
    if not loc:
        # Model-level checks already name the variable in their message.
        return str(error["msg"]).removeprefix("Value error, ")
    name = str(loc[0]).upper()
    if error["type"] == "missing":
        return f"{name} is not set; expected {_EXPECTED.get(name, 'a value')}"
    expected = _EXPECTED.get(name, "a valid value")
    detail = str(error["msg"]).removeprefix("Value error, ")
    if name in _PLACEHOLDERS and detail == _PLACEHOLDER:
        return f"{name} is still the placeholder from .env.example; {_PLACEHOLDERS[name][1]}"
    if name in _SECRETS or "expected" in detail.lower():
        # Never echo anything about a secret's value; and say what is expected once.
        return f"{name} is invalid; expected {expected}"
    return f"{name} is invalid ({detail}); expected {expected}"
