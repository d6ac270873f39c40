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
    except (ZoneInfoNotFoundError, ValueError):
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
        if v is not None and not Path(v).is_dir():
            raise ValueError(f"no folder at {v!r}; create it or remove the key")
        return v
    post_to_platforms: bool = Field(False, description="allow 'Post reply' to publish through the source's API")


class PolicyConfig(_Section):
    """What replies may offer. A reply never promises a remedy that is off here."""

    refund: bool = False
    replacement: bool = False
    voucher: bool = False


class SlackChannel(_Section):
    name: str = Field(min_length=1)
    webhook_url: str = Field(min_length=1)


class AlertsConfig(_Section):
    min_priority: Priority = "high"
    max_age_hours: float = Field(24, gt=0, description="posts older than this open cases without alerting")
    source_down_minutes: float = Field(60, gt=0, description="alert when a source has failed for this long")
    dashboard_url: str = "http://localhost:8501"
    max_attempts: int = Field(8, ge=1)
    slack: list[SlackChannel] = Field(default_factory=list)


class SchedulerConfig(_Section):
    collect_seconds: int = Field(300, ge=1)
    score_seconds: int = Field(60, ge=1)
    cases_seconds: int = Field(60, ge=1)
    dispatch_seconds: int = Field(30, ge=1)


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


class DashboardConfig(_Section):
    port: int = Field(8501, ge=1, le=65535)
    address: str = "localhost"
    timezone: str = "UTC"
    users: list[DashboardUser] = Field(default_factory=list, description="with any user, the dashboard asks to log in")

    @model_validator(mode="after")
    def _login_beyond_localhost(self):
        if self.address not in ("localhost", "127.0.0.1", "::1") and not self.users:
            raise ValueError(f"address {self.address!r} exposes the dashboard beyond this machine, which needs "
                             "login: add [[dashboard.users]] (see `repmon user add`) or use address = \"localhost\"")
        names = [u.name for u in self.users]
        if len(names) != len(set(names)):
            raise ValueError("users: each name may appear once")
        return self

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
        return f"{key}: {err['msg'].removeprefix('Value error, ')}"
    shown = repr(got)
    if any(w in str(loc[-1]).lower() for w in ("password", "token", "secret", "key", "webhook")):
        shown = "a value, not shown: it may be a secret"  # errors reach terminals and logs
    return f"{key}: {err['msg'].removeprefix('Value error, ')} (got {shown})"


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


def parse(data: dict, origin: str = "config") -> Config:
    data = _expand_env(data, "")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors()]
        raise ConfigError(f"{origin}: " + "; ".join(lines)) from None
    if not cfg.brands:
        raise ConfigError(f"{origin}: brands: at least one [[brands]] table is required")
    names = [b.name for b in cfg.brands]
    for src_name, src in cfg.sources.items():
        if src.brand is not None and src.brand not in names:
            raise ConfigError(f"{origin}: sources.{src_name}.brand: unknown brand {src.brand!r}; expected one of {names}")
    return cfg


def load(explicit: Optional[str] = None) -> Config:
    path = find_config_path(explicit)
    data: dict = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    cfg = parse(data, str(path) if path else "built-in defaults")
    if os.environ.get("REPMON_DATABASE_URL"):
        cfg.database.url = os.environ["REPMON_DATABASE_URL"]
    cfg.path = str(path) if path else None
    return cfg
