"""Configuration: one validated model, loaded once.

The file is found via --config, then $REPMON_CONFIG, then ./repmon.toml; with none of them,
the built-in defaults run the offline demo. Any string value may be written as "${ENV_VAR}"
so secrets stay out of the file; $REPMON_DATABASE_URL overrides database.url.
Every error names the key and what is expected there.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from repmon.errors import ConfigError

Priority = Literal["critical", "high", "medium", "low"]
DEFAULT_DB_URL = "sqlite:///repmon.db"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseConfig(_Section):
    url: str = Field(DEFAULT_DB_URL, description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db")
    retention_days_raw: int = Field(
        90, ge=0, description="clear mentions' raw source payloads older than this many days; 0 keeps them")
    retention_days: int = Field(0, ge=0, description="delete whole mentions older than this many days; 0 keeps them")

    @field_validator("url")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        if not (v.startswith("sqlite") or v.startswith("postgresql")):
            raise ValueError("expected a sqlite:/// or postgresql+psycopg:// URL")
        return v


class BrandConfig(_Section):
    name: str = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)
    handles: list[str] = Field(default_factory=list)
    all_of: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=lambda: ["en"])
    competitors: list[str] = Field(default_factory=list)


class SourceConfig(BaseModel):
    """A collector's section. `kind` picks the collector class (default: the section name);
    the other keys are the collector's own options, which its own model validates."""

    model_config = ConfigDict(extra="allow")
    kind: Optional[str] = None
    enabled: bool = True
    brand: Optional[str] = None


class ScoringConfig(_Section):
    scorer: Literal["triage", "rules", "vader"] = Field(
        "triage", description="triage (lexicons + learned model), rules (lexicons only) or vader (baseline)")
    negative_bias: float = Field(0.0, ge=-3, le=3, description="triage: > 0 flags more posts, < 0 fewer")
    negative_threshold: float = Field(-0.05, ge=-1, le=0)
    positive_threshold: float = Field(0.05, ge=0, le=1)
    high_reach: int = Field(10_000, ge=0, description="authors with at least this many followers raise priority")


class SlaConfig(_Section):
    critical: int = Field(30, gt=0)
    high: int = Field(60, gt=0)
    medium: int = Field(240, gt=0)
    low: int = Field(1440, gt=0)


class ResolutionSlaConfig(SlaConfig):
    critical: int = Field(240, gt=0)
    high: int = Field(480, gt=0)
    medium: int = Field(1440, gt=0)
    low: int = Field(4320, gt=0)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _zone(v: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        raise ValueError("expected an IANA time zone such as 'Europe/Bucharest'") from None
    return v


class BusinessHoursConfig(_Section):
    """When set, SLA clocks only run inside these hours (the team's working week)."""

    enabled: bool = False
    timezone: str = "UTC"
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    start: str = Field("09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, 24-hour clock")
    end: str = Field("18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$", description="HH:MM, 24-hour clock")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        return _zone(v)

    @model_validator(mode="after")
    def _start_before_end(self):
        if self.enabled and self.start >= self.end:
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
        if self.enabled and not self.days:
            raise ValueError("days must name at least one weekday")
        return self


class CasesConfig(_Section):
    join_window_hours: float = Field(48, gt=0)
    first_response_minutes: SlaConfig = Field(default_factory=SlaConfig)
    resolution_minutes: ResolutionSlaConfig = Field(default_factory=ResolutionSlaConfig)
    business_hours: BusinessHoursConfig = Field(default_factory=BusinessHoursConfig)
    assignees: list[str] = Field(default_factory=list, description="who new cases can be assigned to")
    round_robin: bool = Field(False, description="assign each new case to the next of `assignees`")
    escalate_to: Optional[str] = Field(None, description="who owns abuse, threat and critical cases")

    @model_validator(mode="after")
    def _round_robin_needs_people(self):
        if self.round_robin and not self.assignees:
            raise ValueError("round_robin needs at least one name in assignees")
        return self


class GeneratorConfig(_Section):
    """An OpenAI-compatible chat completions endpoint (e.g. a local model server) that drafts
    replies; its draft is used only when it passes the same playbook checks as a template."""

    enabled: bool = False
    base_url: str = "http://localhost:11434/v1"
    model: str = ""
    api_key: str = ""
    timeout_seconds: float = Field(20, gt=0)

    @model_validator(mode="after")
    def _model_when_enabled(self):
        if self.enabled and not self.model:
            raise ValueError("model must name the model to ask, e.g. 'llama3.1:8b'")
        return self


class RepliesConfig(_Section):
    templates_dir: Optional[str] = Field(
        None, description="a folder of <lang>.toml (and <brand>/<lang>.toml) with the team's own reply wording")
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)

    @field_validator("templates_dir")
    @classmethod
    def _folder_exists(cls, v: Optional[str]) -> Optional[str]:
        try:
            found = v is None or Path(v).is_dir()
        except OSError:  # a path too long for the file system
            found = False
        if not found:
            raise ValueError(f"no folder at {v!r}; create it or remove the key")
        return v
    post_to_platforms: bool = Field(False, description="allow 'Post reply' to publish through the source's API")


class PolicyConfig(_Section):
    """What replies may offer. A reply never promises a remedy that is off here."""

    refund: bool = False
    replacement: bool = False
    voucher: bool = False


SLACK_API_URL = "https://slack.com/api/"


class SlackChannel(_Section):
    """An incoming webhook (`webhook_url`), or a Slack app's bot token and a channel ID, which
    adds one thread per case, in-place updates, exact redelivery checks and file uploads."""

    name: str = Field(min_length=1)
    webhook_url: Optional[str] = Field(None, min_length=1)
    bot_token: Optional[str] = Field(None, min_length=1, repr=False)
    channel: Optional[str] = Field(None, description="channel ID (C0123ABCD), from the channel's About tab")
    api_url: str = Field(SLACK_API_URL, description="Slack Web API base URL; only tests change it")

    @field_validator("channel")
    @classmethod
    def _channel_id(cls, v: Optional[str]) -> Optional[str]:
        # chat.update, conversations.history and file uploads take IDs, and names change
        if v is not None and not re.fullmatch(r"[CGD][A-Z0-9]{6,}", v):
            raise ValueError("expected a channel ID such as C0123ABCD (channel details, About tab), not a name")
        return v

    @model_validator(mode="after")
    def _one_way_in(self):
        if self.webhook_url and (self.bot_token or self.channel):
            raise ValueError("set either webhook_url, or bot_token and channel, not both: remove one of them")
        if not self.webhook_url and not (self.bot_token and self.channel):
            missing = "channel" if self.bot_token else "bot_token" if self.channel else "webhook_url, or bot_token and channel"
            raise ValueError(f"missing {missing}: a channel is an incoming webhook (webhook_url) "
                             "or a Slack app (bot_token = \"${SLACK_BOT_TOKEN}\" and channel = \"C0123ABCD\")")
        return self

    @property
    def is_bot(self) -> bool:
        return self.bot_token is not None


class AlertRoute(_Section):
    """Sends matching alerts to `channels`. Empty `brands` / `kinds` match any."""

    brands: list[str] = Field(default_factory=list)
    min_priority: Optional[Priority] = Field(
        None, description="alerts without a priority (source down) never match a route that sets one")
    kinds: list[Literal["case_opened", "sla_at_risk", "sla_breached", "source_down", "spike"]] = Field(
        default_factory=list)
    channels: list[str] = Field(min_length=1)


class SpikesConfig(_Section):
    """Volume or negative share far above the usual for that hour of the week (alerts.spikes)."""

    enabled: bool = True
    baseline_weeks: int = Field(4, ge=1, le=12, description="the same hour in this many earlier weeks is the usual")
    volume_ratio: float = Field(3.0, gt=1, description="alert when an hour has at least this many times the usual")
    min_volume: int = Field(20, ge=1, description="and at least this many mentions")
    negative_share_points: float = Field(25, gt=0, le=100, description="alert when the negative share is this many points above the usual")
    min_negative: int = Field(10, ge=1, description="and at least this many negative mentions")


class AlertsConfig(_Section):
    min_priority: Priority = "high"
    max_age_hours: float = Field(24, gt=0, description="posts older than this open cases without alerting")
    source_down_minutes: float = Field(60, gt=0, description="alert when a source has failed for this long")
    dashboard_url: str = "http://localhost:8501"
    max_attempts: int = Field(10, ge=1, description="sends of an alert before it is marked failed; with the "
                              "backoff (30 s doubling, at most 1 h, ±20%) 10 span at least 2.4 h, so an hour-long "
                              "Slack outage loses nothing (8 could give up after 51 min)")
    send_timeout_seconds: float = Field(10, gt=0, description="per Slack request; a send is presumed dead after 3x this")
    cooldown_minutes: float = Field(15, gt=0, description="the window digest_after counts new-case alerts in")
    digest_after: int = Field(5, ge=0, description="new-case alerts per channel and cooldown window sent one by one; "
                                                   "later ones join one digest message. 0: never digest")
    slack: list[SlackChannel] = Field(default_factory=list)
    routes: list[AlertRoute] = Field(default_factory=list, description="none: every channel gets every alert")
    spike_check_minutes: float = Field(10, gt=0, description="how often `repmon run` looks for a spike")
    spikes: SpikesConfig = Field(default_factory=SpikesConfig)

    @model_validator(mode="after")
    def _routes_name_channels(self):
        names = [ch.name for ch in self.slack]
        if len(names) != len(set(names)):
            raise ValueError("slack: each channel name may appear once")
        for i, route in enumerate(self.routes):
            for name in route.channels:
                if name not in names:
                    raise ValueError(f"routes[{i}].channels: unknown channel {name!r}; "
                                     f"expected the name of an [[alerts.slack]] table: {names}")
        return self


class SchedulerConfig(_Section):
    collect_seconds: int = Field(300, ge=1)
    score_seconds: int = Field(60, ge=1)
    cases_seconds: int = Field(60, ge=1)
    dispatch_seconds: int = Field(30, ge=1)
    themes_seconds: int = Field(900, ge=1, description="how often the Themes page's phrase cache is refreshed")


class ReportScheduleConfig(_Section):
    """When `repmon run` builds and delivers last week's report."""

    enabled: bool = False
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, 24-hour clock")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        return _zone(v)


class EmailConfig(_Section):
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password: str = Field("", repr=False)
    sender: str = Field(min_length=3, description="the From address")
    to: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(30, gt=0)

    @model_validator(mode="after")
    def _no_password_in_clear(self):
        # A password over a plain connection to another machine can be read on the way.
        if self.security == "none" and self.password and self.host not in ("localhost", "127.0.0.1", "::1"):
            raise ValueError("security = \"none\" would send the password unencrypted; use starttls or ssl")
        return self


class ReportsConfig(_Section):
    format: Literal["pdf", "html"] = "pdf"
    weekly: ReportScheduleConfig = Field(default_factory=ReportScheduleConfig)
    email: Optional[EmailConfig] = None
    slack_channels: list[str] = Field(default_factory=list, description="[[alerts.slack]] names to upload to")

    @model_validator(mode="after")
    def _somewhere_to_send(self):
        if self.weekly.enabled and self.email is None and not self.slack_channels:
            raise ValueError("weekly.enabled needs [reports.email] or slack_channels to deliver to")
        return self


class DashboardUser(_Section):
    name: str = Field(min_length=1, max_length=100)
    password_hash: str = Field(min_length=1, repr=False, description="from `repmon user add NAME`")
    role: Literal["viewer", "agent", "admin"] = "agent"

    @field_validator("password_hash")
    @classmethod
    def _scrypt(cls, v: str) -> str:
        from repmon.auth import valid_hash

        if not valid_hash(v):
            raise ValueError("expected a hash made by `repmon user add NAME` (scrypt$...), never a plain password")
        return v


Role = Literal["viewer", "agent", "admin"]
LOOPBACK = ("localhost", "127.0.0.1", "::1")
_MAKE_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def _http_url(v: str, *, tls_off_host: bool) -> str:
    from urllib.parse import urlsplit

    u = urlsplit(v)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError("expected an absolute http(s):// URL")
    if u.scheme == "http" and not tls_off_host and u.hostname not in LOOPBACK:
        raise ValueError("expected https:// (plain http only to this machine, e.g. a test provider)")
    return v


class DashboardOidc(_Section):
    """Sign-in through an OpenID Connect provider (Google, Microsoft Entra ID, Okta, Keycloak, ...),
    done by Streamlit's own st.login(); `repmon dashboard` hands these settings to Streamlit."""

    provider: str = Field("SSO", min_length=1, max_length=40, description="the name on the button: 'Sign in with ...'")
    server_metadata_url: str = Field(description="the provider's .../.well-known/openid-configuration")
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1, repr=False, description='write it as "${REPMON_OIDC_CLIENT_SECRET}"')
    cookie_secret: str = Field(repr=False, description=f"signs the sign-in cookie; make one with {_MAKE_SECRET}")
    redirect_uri: Optional[str] = Field(
        None, description="default http://localhost:<port>/oauth2callback; register the same URL at the provider")
    roles: dict[str, Role] = Field(default_factory=dict, description='email -> role: {"ana@example.com" = "admin"}')
    default_role: Optional[Role] = Field(None, description="the role of people not in roles; none: they are refused")
    allowed_domains: list[str] = Field(
        default_factory=list, description='whose email domain may get default_role; ["*"]: any account')

    @field_validator("server_metadata_url")
    @classmethod
    def _metadata_url(cls, v: str) -> str:
        return _http_url(v, tls_off_host=False)

    @field_validator("redirect_uri")
    @classmethod
    def _callback(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not _http_url(v, tls_off_host=True).rstrip("/").endswith("/oauth2callback"):
            raise ValueError("expected the dashboard's URL + /oauth2callback, e.g. https://repmon.example.com/oauth2callback")
        return v.rstrip("/") if v else v

    @field_validator("cookie_secret")
    @classmethod
    def _long_secret(cls, v: str) -> str:
        if len(v) < 32:
            raise ValueError(f"use at least 32 random characters; make them with {_MAKE_SECRET}")
        return v

    @field_validator("roles")
    @classmethod
    def _emails(cls, v: dict[str, str]) -> dict[str, str]:
        for email in v:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email.strip()):
                raise ValueError(f"{email!r} is not an email address; keys are the addresses people sign in "
                                 'with, e.g. roles = {"ana@example.com" = "admin"}')
        return {email.strip().lower(): r for email, r in v.items()}

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        out = [d.strip().lower().lstrip("@") for d in v]
        for d in out:
            if d != "*" and not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", d):
                raise ValueError(f"{d!r} is not a domain; expected e.g. [\"example.com\"], or [\"*\"] for any account")
        return out

    @model_validator(mode="after")
    def _who_gets_in(self):
        if self.default_role and not self.allowed_domains:
            raise ValueError("default_role would let in every account the provider signs in (with Google: anyone "
                             "with a Google account); limit it with allowed_domains = [\"example.com\"], or "
                             "write allowed_domains = [\"*\"] if that is what you mean")
        if self.allowed_domains and not self.default_role:
            raise ValueError("allowed_domains needs default_role, the role those people get, e.g. "
                             "default_role = \"viewer\"")
        if not self.roles and not self.default_role:
            raise ValueError("nobody could sign in: add roles = {\"you@example.com\" = \"admin\"} "
                             "and/or default_role with allowed_domains")
        return self


class DashboardConfig(_Section):
    port: int = Field(8501, ge=1, le=65535)
    address: str = "localhost"
    timezone: str = "UTC"
    users: list[DashboardUser] = Field(default_factory=list, description="with any user, the dashboard asks to log in")
    oidc: Optional[DashboardOidc] = Field(None, description="sign-in through an OpenID Connect provider")

    @model_validator(mode="after")
    def _login_beyond_localhost(self):
        if self.address not in LOOPBACK and not self.users and self.oidc is None:
            raise ValueError(f"address {self.address!r} exposes the dashboard beyond this machine, which needs "
                             "login: add [[dashboard.users]] (see `repmon user add`) or [dashboard.oidc], "
                             "or use address = \"localhost\"")
        names = [u.name for u in self.users]
        if len(names) != len(set(names)):
            raise ValueError("users: each name may appear once")
        if self.oidc and self.oidc.redirect_uri is None and self.address in ("0.0.0.0", "::", ""):
            raise ValueError(f"oidc.redirect_uri: with address {self.address!r} (every interface) repmon cannot "
                             "tell the URL people open; set redirect_uri = \"https://<that address>/oauth2callback\" "
                             "and register it at the provider")
        return self

    def oidc_redirect_uri(self, port: Optional[int] = None) -> str:
        """Where the provider sends people back: the configured one, else this address and port."""
        if self.oidc and self.oidc.redirect_uri:
            return self.oidc.redirect_uri
        host = "localhost" if self.address in LOOPBACK else self.address
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port or self.port}/oauth2callback"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        return _zone(v)


def _default_brands() -> list[BrandConfig]:
    from repmon import demo

    return [BrandConfig(**demo.BRAND)]


def _default_sources() -> dict[str, SourceConfig]:
    return {"demo": SourceConfig(kind="demo")}


class Config(_Section):
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    brands: list[BrandConfig] = Field(default_factory=_default_brands)
    sources: dict[str, SourceConfig] = Field(default_factory=_default_sources)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    cases: CasesConfig = Field(default_factory=CasesConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    replies: RepliesConfig = Field(default_factory=RepliesConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    path: Optional[str] = Field(None, exclude=True, description="where it was loaded from")

    def brand(self, name: Optional[str]) -> BrandConfig:
        if name is None:
            return self.brands[0]
        for b in self.brands:
            if b.name == name:
                return b
        raise ConfigError(f"unknown brand {name!r}: expected one of {[b.name for b in self.brands]}")


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{key}.{k}" if key else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):
        def sub(m: re.Match) -> str:
            name = m.group(1)
            if name not in os.environ:
                raise ConfigError(f"{key}: environment variable {name} is not set; export it or write the value in the file")
            return os.environ[name]

        return _ENV_REF.sub(sub, value)
    return value


def _fields_at(loc: tuple) -> list[str]:
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        model = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return list(model.model_fields) if model is not None else []


def _describe(err: dict) -> str:
    loc = err["loc"]
    key = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    if err["type"] == "extra_forbidden":
        known = [k for k in _fields_at(loc) if k != "path"]
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"; did you mean '{guess[0]}'?" if guess else f"; known keys here: {', '.join(known)}"
        return f"{key}: unknown key{hint}"
    if err["type"] == "missing":
        return f"{key}: required key is missing"
    got = err.get("input")
    if isinstance(got, (dict, list)):  # a whole section's rule: the message names what is wrong
        return _CREDENTIALS.sub("***", f"{key}: {err['msg'].removeprefix('Value error, ')}")
    return _CREDENTIALS.sub("***", f"{key}: {err['msg'].removeprefix('Value error, ')} (got {_shown(got, loc, err['type'])})")


_SECRET_KEYS = ("password", "token", "secret", "key", "webhook")
# Credentials a value may carry wherever it was pasted: a URL's password, Slack tokens and
# webhook paths, common API key and JWT shapes. Errors reach terminals and logs.
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]*(?=@)|xox[a-z]-[\w-]+|(?<=hooks\.slack\.com/)\S+"
                          r"|\b(?:sk-|ghp_|glpat-|AIza)[\w-]{8,}|\beyJ[\w-]+\.[\w-]+\.[\w-]*")


def _secrets_in(data: Any, secret: bool = False) -> list[str]:
    """The values under secret-ish keys, and URL passwords, anywhere in the raw config."""
    if isinstance(data, dict):
        return [v for k, d in data.items()
                for v in _secrets_in(d, secret or bool(re.search(r"password|token|secret|webhook|(^|_)key$", str(k))))]
    if isinstance(data, list):
        return [v for d in data for v in _secrets_in(d, secret)]
    if isinstance(data, str):
        return ([data] if secret and len(data) >= 6 else []) + re.findall(r"://[^/@\s:]*:([^/@\s]{6,})@", data)
    return []


def _shown(got: Any, loc: tuple, kind: str) -> str:
    """How an error shows the value it refused: not at all under a secret-ish key, only its type
    where a table or list belongs (a secret pasted in the wrong place), else shortened."""
    named = next((str(p).lower() for p in reversed(loc) if not isinstance(p, int)), "")
    if any(w in named for w in _SECRET_KEYS):
        return "a value, not shown: it may be a secret"
    if kind in ("model_type", "model_attributes_type", "dict_type", "list_type"):
        return f"a {type(got).__name__}"
    shown = repr(got)
    return shown if len(shown) <= 120 else shown[:120] + "..."


def find_config_path(explicit: Optional[str] = None) -> Optional[Path]:
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise ConfigError(f"--config {explicit}: no such file")
        return p
    env = os.environ.get("REPMON_CONFIG")
    if env:
        p = Path(env)
        if not p.is_file():
            raise ConfigError(f"REPMON_CONFIG={env}: no such file")
        return p
    local = Path("repmon.toml")
    return local if local.is_file() else None


def _redacted(message: str, data: dict) -> str:
    """`message` without any secret of the raw config: one pasted under another key (a webhook
    URL given as a brand or a channel name) would otherwise be echoed back."""
    for secret in sorted(set(_secrets_in(data)), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def _check_references(cfg: Config) -> None:
    """Names that must point at something defined elsewhere in the config."""
    if not cfg.brands:
        raise ConfigError("brands: at least one [[brands]] table is required")
    names = [b.name for b in cfg.brands]
    for i, route in enumerate(cfg.alerts.routes):
        for b in route.brands:
            if b not in names:
                raise ConfigError(f"alerts.routes[{i}].brands: unknown brand {b!r}; expected one of {names}")
    for src_name, src in cfg.sources.items():
        if src.brand is not None and src.brand not in names:
            raise ConfigError(f"sources.{src_name}.brand: unknown brand {src.brand!r}; expected one of {names}")
    channels = {ch.name: ch for ch in cfg.alerts.slack}
    for name in cfg.reports.slack_channels:
        if name not in channels:
            raise ConfigError(f"reports.slack_channels: no [[alerts.slack]] channel named {name!r}; "
                              f"expected one of {list(channels)}")
        if not channels[name].is_bot:
            raise ConfigError(f"reports.slack_channels: {name!r} is an incoming webhook, which cannot "
                              "carry files; give it bot_token and channel instead (a Slack app with files:write)")


def parse(data: dict, origin: str = "config") -> Config:
    try:
        data = _expand_env(data, "")
    except ConfigError as exc:  # which file, then which key
        raise ConfigError(f"{origin}: {exc}") from None
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        message = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{origin}: {_redacted(message, data)}") from None
    try:
        _check_references(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {_redacted(str(exc), data)}") from None
    return cfg


def load(explicit: Optional[str] = None) -> Config:
    path = find_config_path(explicit)
    data: dict = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[:exc.start].count(b"\n") + 1
            raise ConfigError(f"{path}: not UTF-8 text (line {line}, byte {exc.start}); save it as UTF-8") from None
        except RecursionError:
            raise ConfigError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    cfg = parse(data, str(path) if path else "built-in defaults")
    if os.environ.get("REPMON_DATABASE_URL"):
        cfg.database.url = os.environ["REPMON_DATABASE_URL"]
    cfg.path = str(path) if path else None
    return cfg
