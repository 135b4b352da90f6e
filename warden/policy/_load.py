"""Reading the policy file: YAML -> pydantic (shape) -> frozen ``Policy`` (meaning).

The file is refused whole, with the path, the key and why (``PolicyLoadError``); nothing
is ever partly applied. Unknown keys anywhere are refused, duplicate YAML keys too
(PyYAML would silently keep the last one, which is how a second ``rollback:`` entry
would replace the first unseen).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.functional_validators import BeforeValidator

from warden.domain import ApprovalChannel
from warden.errors import PolicyLoadError
from warden.policy._model import (
    DEFAULT_CATEGORIES,
    ActionSpec,
    ExecutorSpec,
    FreezeWindow,
    Limits,
    Policy,
    SecurityRules,
    VerifySpec,
)

_DEFAULT_POLICY_FILE = "default_policy.yaml"
# A service key that is not already lower-case ASCII from this set could never be looked
# up (policy.md looks names up after ASCII lower-casing), so it is refused, not ignored.
_SERVICE_KEY = re.compile(r"[a-z0-9._-]+|\*")


class UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key repeated in one mapping."""


def _construct_unique_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode) -> Any:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key; construct_mapping reports it
            duplicate = False
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _instant(value: object) -> object:
    """ISO-8601 text (or a YAML timestamp) with a UTC offset; naive times are not instants."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"not an ISO-8601 time: {value!r}") from exc
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise ValueError("the time needs a UTC offset (e.g. Z or +01:00)")
    return value


_Name = Annotated[str, Field(min_length=1)]
_Instant = Annotated[datetime, BeforeValidator(_instant)]
_Timeout = Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _ServiceFile(_Strict):
    tier: _Name


class _VerifyFile(_Strict):
    type: Literal["http", "command"]
    url: _Name | None = None
    expected_status: Annotated[int, Field(ge=100, le=599)] = 200
    argv: Annotated[list[str], Field(min_length=1)] | None = None
    timeout_s: _Timeout | None = None

    @model_validator(mode="after")
    def _fields_of_type(self) -> _VerifyFile:
        if self.type == "http" and (self.url is None or self.argv is not None):
            raise ValueError("an http check needs url (and expected_status), not argv")
        if self.type == "command" and (
            self.argv is None or self.url is not None or "expected_status" in self.model_fields_set
        ):
            raise ValueError("a command check needs argv, not url or expected_status")
        return self


class _ExecutorFile(_Strict):
    type: Literal["http", "command", "notify"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    url: _Name | None = None
    headers: dict[str, str] | None = None
    argv: Annotated[list[str], Field(min_length=1)] | None = None
    message: str | None = None
    timeout_s: _Timeout | None = None
    verify: _VerifyFile | None = None

    @model_validator(mode="after")
    def _fields_of_type(self) -> _ExecutorFile:
        allowed = {
            "http": {"method", "url", "headers"},
            "command": {"argv"},
            "notify": {"message"},
        }[self.type]
        required = {"http": {"method", "url"}, "command": {"argv"}, "notify": set()}[self.type]
        given = self.model_fields_set - {"type", "timeout_s", "verify"}
        if not_here := sorted(given - allowed):
            raise ValueError(f"{', '.join(not_here)} does not apply to a {self.type} executor")
        if missing := sorted(required - given):
            raise ValueError(f"a {self.type} executor needs {', '.join(missing)}")
        return self


class _GroundedParamFile(_Strict):
    """A param whose value must also be a recorded earlier version (policy.md, "Grounded
    params"); ``deployed_versions`` is the only source of truth for now."""

    pattern: str
    source: Literal["deployed_versions"] = Field(alias="from")


class _ActionFile(_Strict):
    auto_tiers: list[_Name] = []
    approval_tiers: list[_Name] = []
    # A bare pattern, or the grounded mapping; told apart in _param so that an error
    # names the param's own key rather than a branch of a union.
    params: dict[_Name, Any] = {}
    auto_requires_precedent: bool = False
    shadow: bool = False
    executor: _ExecutorFile | None = None


class _SecurityFile(_Strict):
    labels: dict[_Name, list[str]] = {}
    patterns: list[str] = []


_DEFAULT_LIMITS = Limits()


class _LimitsFile(_Strict):
    per_service_per_hour: Annotated[int, Field(ge=0)] = _DEFAULT_LIMITS.per_service_per_hour
    global_per_hour: Annotated[int, Field(ge=0)] = _DEFAULT_LIMITS.global_per_hour
    cooldown_minutes: Annotated[float, Field(ge=0)] = _DEFAULT_LIMITS.cooldown_minutes


class _FreezeFile(_Strict):
    start: _Instant = Field(alias="from")
    end: _Instant = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> _FreezeFile:
        if self.start >= self.end:
            raise ValueError("'from' must be before 'to'")
        return self


class _PolicyFile(_Strict):
    version: Literal[1]
    mode: Literal["dry_run", "live", "shadow"] = "dry_run"
    grounding_days: Annotated[float, Field(gt=0)] = 30
    services: dict[str, _ServiceFile]
    actions: dict[_Name, _ActionFile]
    security: _SecurityFile = _SecurityFile()
    limits: _LimitsFile = _LimitsFile()
    # Tier -> approver names, plus the integer ``critical_quorum``; checked in _approvers.
    approvers: dict[str, Any] = {}
    freeze: list[_FreezeFile] = []
    categories: list[_Name] = []
    approval_channels: dict[_Name, list[Literal["console", "cli", "slack", "api"]]] = {}


def load_policy(path: str | Path) -> Policy:
    """Read and validate the policy file at ``path``.

    Raises ``PolicyLoadError(path, key, reason)`` when the file cannot be read or does not
    validate; ``key`` is a dotted path such as ``actions.rollback.params.version``.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(name, "(file)", f"cannot read it: {exc}") from exc
    return load_policy_text(text, name)


def load_policy_text(text: str, source_name: str = "<text>") -> Policy:
    """Validate policy YAML ``text``; errors name ``source_name`` as the path."""
    try:
        raw = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise PolicyLoadError(source_name, *_yaml_problem(exc)) from exc
    if not isinstance(raw, dict):
        raise PolicyLoadError(source_name, "(root)", "the policy must be a YAML mapping")
    try:
        parsed = _PolicyFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(root)"
        reason = first["msg"]
        if first["type"] == "extra_forbidden":
            reason = "unknown key"
        if exc.error_count() > 1:
            reason += f" (and {exc.error_count() - 1} more problems)"
        raise PolicyLoadError(source_name, key, reason) from exc
    return _to_policy(parsed, source_name)


def _yaml_problem(exc: yaml.YAMLError) -> tuple[str, str]:
    """Where (``line L, column C``, 1-based) and what, from a YAML error: PyYAML's own
    text names a ``<unicode string>`` and spreads over several lines."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    where = "(yaml)" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"
    return where, f"{problem} ({context})" if context else str(problem)


@cache
def default_policy() -> Policy:
    """The contract's example policy (dry run), shipped as ``default_policy.yaml``."""
    text = resources.files("warden.policy").joinpath(_DEFAULT_POLICY_FILE).read_text("utf-8")
    return load_policy_text(text, f"<package>/{_DEFAULT_POLICY_FILE}")


def _to_policy(parsed: _PolicyFile, source: str) -> Policy:
    services: dict[str, str] = {}
    for name, service in parsed.services.items():
        if _SERVICE_KEY.fullmatch(name) is None:
            raise PolicyLoadError(
                source,
                f"services.{name}",
                "a service key must be lower-case [a-z0-9._-] or '*': names are looked up "
                "after ASCII lower-casing, so this entry could never apply",
            )
        services[name] = service.tier
    actions = {name: _action(name, spec, source) for name, spec in parsed.actions.items()}
    approvers, quorum = _approvers(parsed.approvers, source)
    categories = dict.fromkeys((*DEFAULT_CATEGORIES, *parsed.categories))
    return Policy(
        version=parsed.version,
        mode=parsed.mode,
        services=MappingProxyType(services),
        actions=MappingProxyType(actions),
        security=SecurityRules(
            labels=MappingProxyType({k: frozenset(v) for k, v in parsed.security.labels.items()}),
            patterns=tuple(
                _compile(p, 0, source, f"security.patterns.{i}")
                for i, p in enumerate(parsed.security.patterns)
            ),
        ),
        limits=Limits(
            per_service_per_hour=parsed.limits.per_service_per_hour,
            global_per_hour=parsed.limits.global_per_hour,
            cooldown_minutes=parsed.limits.cooldown_minutes,
        ),
        approvers=MappingProxyType(approvers),
        critical_quorum=quorum,
        freeze=tuple(FreezeWindow(start=w.start, end=w.end) for w in parsed.freeze),
        categories=tuple(categories),
        approval_channels=MappingProxyType(
            {
                tier: frozenset(ApprovalChannel(c) for c in channels)
                for tier, channels in parsed.approval_channels.items()
            }
        ),
        grounding_days=parsed.grounding_days,
        source=source,
    )


def _action(name: str, spec: _ActionFile, source: str) -> ActionSpec:
    declared = {
        param: _param(value, source, f"actions.{name}.params.{param}")
        for param, value in spec.params.items()
    }
    # ASCII semantics: \d is [0-9] and \w is [A-Za-z0-9_], so full-width digits never pass.
    params = {
        param: _compile(
            pattern,
            re.ASCII,
            source,
            f"actions.{name}.params.{param}" + (".pattern" if grounded else ""),
        )
        for param, (pattern, grounded) in declared.items()
    }
    return ActionSpec(
        name=name,
        auto_tiers=tuple(spec.auto_tiers),
        approval_tiers=tuple(spec.approval_tiers),
        params=MappingProxyType(params),
        executor=None if spec.executor is None else _executor(spec.executor),
        grounded_params=frozenset(param for param, (_, grounded) in declared.items() if grounded),
        auto_requires_precedent=spec.auto_requires_precedent,
        shadow=spec.shadow,
    )


def _param(value: Any, source: str, key: str) -> tuple[str, bool]:
    """A declared param: its pattern, and whether it is grounded (``from:``)."""
    if isinstance(value, str):
        return value, False
    if not isinstance(value, dict):
        raise PolicyLoadError(
            source, key, "must be a pattern or a mapping {pattern, from: deployed_versions}"
        )
    try:
        grounded = _GroundedParamFile.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in (key, *first["loc"]))
        reason = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise PolicyLoadError(source, where, reason) from exc
    return grounded.pattern, True


def _executor(spec: _ExecutorFile) -> ExecutorSpec:
    verify = spec.verify
    return ExecutorSpec(
        type=spec.type,
        method=spec.method,
        url=spec.url,
        headers=MappingProxyType(dict(spec.headers or {})),
        argv=tuple(spec.argv or ()),
        message=spec.message,
        timeout_s=spec.timeout_s,
        verify=None
        if verify is None
        else VerifySpec(
            type=verify.type,
            url=verify.url,
            expected_status=verify.expected_status,
            argv=tuple(verify.argv or ()),
            timeout_s=verify.timeout_s,
        ),
    )


def _approvers(raw: dict[str, Any], source: str) -> tuple[dict[str, tuple[str, ...]], int]:
    quorum = 2  # the contract's example; two distinct people for a critical service
    approvers: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        if key == "critical_quorum":
            if type(value) is not int or value < 1:
                raise PolicyLoadError(
                    source, "approvers.critical_quorum", "must be an integer of at least 1"
                )
            quorum = value
        elif isinstance(value, list) and all(isinstance(v, str) and v for v in value):
            # Listing someone twice must not let one person make a quorum of two.
            approvers[key] = tuple(dict.fromkeys(value))
        else:
            raise PolicyLoadError(source, f"approvers.{key}", "must be a list of approver names")
    return approvers, quorum


def _compile(pattern: str, flags: int, source: str, key: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    # re.error for bad syntax; ValueError for (?u) under ASCII; the others for huge or
    # deeply nested patterns.
    except (re.error, ValueError, OverflowError, RecursionError) as exc:
        raise PolicyLoadError(source, key, f"not a valid regular expression: {exc}") from exc
