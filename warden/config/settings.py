"""Every environment setting of Warden, read once at start (prefix ``WARDEN_``).

No other module reads ``os.environ``: build ``Settings()`` in the entry point and pass it
down. Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"

StructuredOutput = Literal["json_schema", "json_object_schema", "prompt_only"]
"""How the openai provider asks a model for the proposal's shape (README, local models)."""


def _split_pairs(value: object) -> dict[str, str]:
    """Parse ``"a:x,b:y"`` into ``{"a": "x", "b": "y"}`` (an empty string gives ``{}``)."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    pairs: dict[str, str] = {}
    for item in str(value or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, rest = item.partition(":")
        if not sep or not name.strip() or not rest.strip():
            raise ValueError(f"expected NAME:VALUE pairs separated by commas, got {item!r}")
        pairs[name.strip()] = rest.strip()
    return pairs


class Role(StrEnum):
    """What an API token may do: each role may do everything the ones before it may."""

    VIEWER = "viewer"  # read incidents, reports, the console
    APPROVER = "approver"  # and give verdicts (the policy's lists still decide which tiers)
    ADMIN = "admin"  # and reload the policy, lift a freeze

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True, slots=True)
class ApiToken:
    """One entry of ``WARDEN_API_TOKENS``: a secret and the role it grants."""

    secret: SecretStr
    role: Role = Role.APPROVER


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request comes from, as its credentials prove."""

    name: str
    role: Role


def _api_tokens(value: object) -> dict[str, ApiToken]:
    """``"name:token[:role],..."``: the role is the last colon-separated part when it
    names a role (so a token may itself hold colons), else ``approver``."""
    if isinstance(value, dict):
        return {str(k): v if isinstance(v, ApiToken)
                else ApiToken(v if isinstance(v, SecretStr) else SecretStr(str(v)))
                for k, v in value.items()}
    roles = {role.value: role for role in Role}
    tokens: dict[str, ApiToken] = {}
    for name, rest in _split_pairs(value).items():
        secret, sep, role = rest.rpartition(":")
        if sep and role.strip() in roles and secret.strip():
            tokens[name] = ApiToken(SecretStr(secret.strip()), roles[role.strip()])
        else:
            tokens[name] = ApiToken(SecretStr(rest))
    return tokens


def _split_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


class Settings(BaseSettings):
    """Warden's settings; see the README for each one."""

    model_config = SettingsConfigDict(env_prefix="WARDEN_", extra="ignore")

    database_url: str = "sqlite:///./warden.db"
    policy: Path | None = None
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    log_level: str = "INFO"
    # auto: human-readable lines on a terminal, JSON lines otherwise (files, journald).
    log_format: Literal["auto", "console", "json"] = "auto"
    # Where `warden serve` listens; the public URL (links in notifications and Slack) is
    # derived from them unless WARDEN_PUBLIC_URL says how people reach it (a proxy).
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str = ""

    # Ingest authentication per source: SOURCE:SECRET pairs.
    source_tokens: Annotated[dict[str, SecretStr], NoDecode] = Field(default_factory=dict)
    source_basic_auth: Annotated[dict[str, SecretStr], NoDecode] = Field(default_factory=dict)
    source_hmac_secrets: Annotated[dict[str, SecretStr], NoDecode] = Field(default_factory=dict)
    hmac_signature_header: str = "X-Grafana-Alerting-Signature"
    hmac_timestamp_header: str = "X-Warden-Timestamp"
    # Once any source has credentials, a source without its own answers 401 unless named
    # here: a credential on one source must not leave the others open by accident.
    open_sources: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Change events (issue 17): GitHub's webhook secret (X-Hub-Signature-256), PagerDuty
    # routing keys mapped to services (ROUTING_KEY:SERVICE pairs), and how long before an
    # incident's first alert its service's changes are shown as evidence.
    github_webhook_secret: SecretStr | None = None
    pagerduty_routing_keys: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    change_lookback_minutes: float = Field(default=120, gt=0)

    # Evidence before proposals (issue 18): the whole investigation's deadline, each item's
    # size cap, and the Prometheus whose HTTP API answers the alert rules' expressions.
    evidence_timeout_s: float = Field(default=5.0, gt=0)
    evidence_max_item_bytes: int = Field(default=8192, ge=256)
    prometheus_url: str | None = None
    prometheus_timeout_s: float = Field(default=4.0, gt=0)
    # Runbooks are read only from these URL prefixes or this directory; others are links.
    runbook_url_prefixes: Annotated[list[str], NoDecode] = Field(default_factory=list)
    runbook_dir: Path | None = None

    # People and programs: NAME:TOKEN[:ROLE] for the API, the console and the CLI. Once
    # any is set, reads need a token (or a console session) too.
    api_tokens: Annotated[dict[str, ApiToken], NoDecode] = Field(default_factory=dict)
    approval_ttl_minutes: float = Field(default=30, gt=0)
    # Failed sign-ins and unknown bearer tokens a client may send per minute; then 429.
    auth_failures_per_minute: int = Field(default=10, ge=1)
    # The CLI's state-changing commands call this server's API with this token.
    cli_url: str = Field(default="http://127.0.0.1:8080", validation_alias="WARDEN_URL")
    cli_token: SecretStr | None = Field(default=None, validation_alias="WARDEN_TOKEN")

    # Triage.
    triage_provider: Literal["rules", "openai"] = "rules"
    llm_base_url: str = OPENROUTER_BASE_URL
    llm_api_key: SecretStr | None = None
    llm_models: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["openai/gpt-4o-mini"]
    )
    llm_timeout_s: float = Field(default=20.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0)
    llm_breaker_failures: int = Field(default=3, ge=1)
    llm_breaker_reset_s: float = Field(default=60.0, gt=0)
    llm_structured_output: Annotated[dict[str, StructuredOutput], NoDecode] = Field(
        default_factory=dict
    )
    # Models whose chat format drops system messages (gemma): instructions go in the user turn.
    llm_instructions_in_user: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Send OpenRouter's extra fields (models, provider, usage) even when the base URL's host
    # is not openrouter.ai (a proxy in front of it, or a test server).
    llm_openrouter_extras: bool = False
    llm_retry_backoff_s: float = Field(default=0.5, ge=0)
    llm_retry_backoff_max_s: float = Field(default=8.0, ge=0)
    # Cap on a reply's tokens. A proposal needs a few hundred; on a CPU a small local model
    # that rambles runs to this cap, and the server keeps generating after a timed-out call.
    llm_max_tokens: int = Field(default=1024, ge=1)
    redact_patterns: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Flood control and spend.
    model_calls_per_minute: int = Field(default=60, ge=1)
    model_calls_per_minute_per_service: int = Field(default=6, ge=1)
    budget_daily_usd: float = Field(default=10.0, ge=0)
    budget_monthly_usd: float = Field(default=200.0, ge=0)
    budget_incident_usd: float = Field(default=0.50, ge=0)
    # What a model call is booked at while in flight, before any call's real cost is known.
    llm_call_estimate_usd: float = Field(default=0.01, ge=0)
    queue_max_pending: int = Field(default=10_000, ge=1)
    worker_enabled: bool = True
    worker_poll_s: float = Field(default=0.2, gt=0)
    # Incidents one process works on at once (model calls and executors overlap).
    worker_concurrency: int = Field(default=16, ge=1, le=64)
    lease_s: float = Field(default=30.0, gt=0)

    # The audit chain's HMAC key and its anchor file, both outside the database (README,
    # "The audit log"). Unset, both live beside a SQLite database file.
    audit_key: SecretStr | None = None
    audit_key_file: Path | None = None
    audit_anchor: Path | None = None

    # Notifications and post-mortems.
    notify_webhook_url: str | None = None
    postmortem_dir: Path | None = None

    # Executors and health checks: the timeout when the policy gives none, and the PATH
    # that `command` executors run with (their environment holds nothing else, so
    # Warden's secrets never reach a command).
    executor_timeout_s: float = Field(default=10.0, gt=0)
    command_path: str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    # Slack.
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_users: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    slack_channel: str | None = None
    # Where notifications go per service or tier, SERVICE_OR_TIER:CHANNEL_ID pairs; a
    # service's entry wins over its tier's, and slack_channel is the fallback.
    slack_channels: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    slack_alert_channels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    slack_alert_bot_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator(
        "source_tokens", "source_basic_auth", "source_hmac_secrets", mode="before"
    )
    @classmethod
    def _secret_pairs(cls, value: object) -> dict[str, SecretStr]:
        if isinstance(value, dict):
            return {str(k): SecretStr(str(v)) if not isinstance(v, SecretStr) else v
                    for k, v in value.items()}
        return {k: SecretStr(v) for k, v in _split_pairs(value).items()}

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _token_roles(cls, value: object) -> dict[str, ApiToken]:
        return _api_tokens(value)

    @field_validator("slack_users", "slack_channels", "pagerduty_routing_keys", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> dict[str, str]:
        return _split_pairs(value)

    @field_validator("llm_structured_output", mode="before")
    @classmethod
    def _model_modes(cls, value: object) -> dict[str, str]:
        """``MODEL:MODE,...``; split at the last colon, as model names may hold colons
        (``google/gemma-3-4b-it:free:prompt_only``)."""
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        pairs: dict[str, str] = {}
        for item in filter(None, (i.strip() for i in str(value or "").split(","))):
            model, sep, mode = item.rpartition(":")
            if not sep or not model.strip():
                raise ValueError(f"expected MODEL:MODE pairs separated by commas, got {item!r}")
            pairs[model.strip()] = mode.strip()
        return pairs

    @field_validator(
        "llm_models", "redact_patterns", "slack_alert_channels", "slack_alert_bot_ids",
        "llm_instructions_in_user", "open_sources", "runbook_url_prefixes", mode="before",
    )
    @classmethod
    def _lists(cls, value: object) -> list[str]:
        return _split_list(value)

    @model_validator(mode="after")
    def _derive_public_url(self) -> Settings:
        if not self.public_url:
            self.public_url = f"http://{_url_host(self.host)}:{self.port}"
        return self

    @model_validator(mode="after")
    def _openai_needs_a_key(self) -> Settings:
        if self.triage_provider == "openai" and self.llm_api_key is None:
            raise ValueError(
                "WARDEN_TRIAGE_PROVIDER=openai needs WARDEN_LLM_API_KEY (any value for a "
                "local server that does not check it)"
            )
        return self

    def identify(self, token: str) -> Identity | None:
        """Whom a bearer token belongs to, compared in constant time, else None."""
        import hmac

        found = None
        for name, entry in self.api_tokens.items():
            if hmac.compare_digest(entry.secret.get_secret_value().encode(), token.encode()):
                found = Identity(name, entry.role)
        return found


def _url_host(host: str) -> str:
    """The host part of a URL reaching ``host``: a wildcard bind is reached at localhost
    from this machine (others need WARDEN_PUBLIC_URL); IPv6 goes in brackets."""
    if host in ("0.0.0.0", "::", ""):
        return "localhost"
    return f"[{host}]" if ":" in host else host


# Read outside ``Settings``: the test suite's PostgreSQL server (tests/conftest.py).
_OTHER_VARIABLES = frozenset({"WARDEN_TEST_DATABASE_URL"})


def known_variables() -> frozenset[str]:
    """Every ``WARDEN_*`` environment variable Warden reads."""
    return frozenset(
        str(field.validation_alias) if isinstance(field.validation_alias, str)
        else f"WARDEN_{name.upper()}"
        for name, field in Settings.model_fields.items()
    ) | _OTHER_VARIABLES


def unknown_variables(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """The ``WARDEN_*`` names in ``environ`` that Warden does not read, each with the
    nearest known name (or None): a mistyped variable is otherwise silently ignored."""
    known = known_variables()
    return [
        (name, next(iter(difflib.get_close_matches(name, known, n=1, cutoff=0.6)), None))
        for name in sorted(environ)
        if name.upper().startswith("WARDEN_") and name.upper() not in known
    ]
