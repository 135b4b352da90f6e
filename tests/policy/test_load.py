"""Loading the policy file: refused whole with path, key and reason; frozen once loaded."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from warden.domain import ApprovalChannel, Category
from warden.errors import PolicyLoadError
from warden.policy import CRITICAL_TIER, default_policy, load_policy, load_policy_text

from .factories import PARAM_POLICY_YAML, benign, incident, param_policy, v2_policy

SHARED_POLICY = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "policy.yaml"


def _with(**top: object) -> str:
    """The example policy with top-level keys replaced (None removes one)."""
    doc = yaml.safe_load(PARAM_POLICY_YAML)
    for key, value in top.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return yaml.safe_dump(doc)


def test_default_policy_is_the_contracts_example_in_dry_run() -> None:
    policy = default_policy()
    assert policy.mode == "dry_run"
    assert list(policy.actions) == ["clear_cache", "restart_canary", "notify_on_call", "rollback"]
    rollback = policy.actions["rollback"]
    assert rollback.auto_tiers == ()
    assert rollback.approval_tiers == ("standard", "critical")
    assert rollback.executor is not None
    assert rollback.executor.argv == ("deployctl", "rollback", "{service}", "{version}")
    assert policy.limits.per_service_per_hour == 3
    assert policy.limits.global_per_hour == 20
    assert policy.limits.cooldown_minutes == 30
    assert policy.approvers_for("critical") == ("alice", "carol")
    assert policy.quorum_for("critical") == 2
    assert policy.quorum_for("standard") == 1
    assert policy.freeze == ()
    assert policy.categories == tuple(Category)


def test_the_shared_policy_file_loads() -> None:
    policy = load_policy(SHARED_POLICY)
    assert policy.tier_of("payment-gateway") == "critical"
    assert policy.source == str(SHARED_POLICY)


@pytest.mark.parametrize(
    ("service", "tier"),
    [
        ("payment-gateway", "critical"),
        ("Payment-Gateway", "critical"),  # ASCII lower-casing finds the entry
        ("PAYMENT-GATEWAY", "critical"),
        ("checkout-web", "standard"),  # the "*" fallback
        ("svc_1.eu", "standard"),
        ("", CRITICAL_TIER),  # empty: fail closed
        ("payment gateway", CRITICAL_TIER),  # a space
        ("checkout/web", CRITICAL_TIER),
        ("*", CRITICAL_TIER),  # the fallback key is not a service name
        ("pаyment-gateway", CRITICAL_TIER),  # Cyrillic а
        ("\u212aafka", CRITICAL_TIER),  # the Kelvin sign lower-cases to "k" outside ASCII
        ("checkout-web\n", CRITICAL_TIER),
    ],
)
def test_tier_of_looks_up_after_ascii_lower_casing_and_fails_closed(
    service: str, tier: str
) -> None:
    assert default_policy().tier_of(service) == tier


def test_without_a_fallback_unknown_services_are_critical() -> None:
    policy = load_policy_text(_with(services={"web": {"tier": "standard"}}))
    assert policy.tier_of("web") == "standard"
    assert policy.tier_of("other") == CRITICAL_TIER


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        (_with(surprise=1), "surprise", "unknown key"),
        (_with(limits={"per_service_per_hour": 3, "burst": 9}), "limits.burst", "unknown key"),
        (
            _with(actions={"x": {"auto_tiers": ["standard"], "timeout": 3}}),
            "actions.x.timeout",
            "unknown key",
        ),
        (
            _with(actions={"x": {"executor": {"type": "notify", "channel": "#ops"}}}),
            "actions.x.executor.channel",
            "unknown key",
        ),
        (
            _with(actions={"rollback": {"params": {"version": "^v(\\d+$"}}}),
            "actions.rollback.params.version",
            "not a valid regular expression",
        ),
        (
            _with(actions={"x": {"params": {"v": "(?u)\\d+"}}}),  # ASCII cannot be undone
            "actions.x.params.v",
            "not a valid regular expression",
        ),
        (_with(security={"patterns": ["(unclosed"]}), "security.patterns.0", "regular"),
        (_with(version=2), "version", "1"),
        (_with(version=None), "version", "Field required"),
        (_with(mode="yolo"), "mode", "dry_run"),
        (_with(limits={"global_per_hour": True}), "limits.global_per_hour", "integer"),
        (_with(limits={"global_per_hour": "20"}), "limits.global_per_hour", "integer"),
        (_with(limits={"cooldown_minutes": -1}), "limits.cooldown_minutes", "greater"),
        (_with(services={"Payment-Gateway": {"tier": "critical"}}), "services.Payment-Gateway", ""),
        (_with(services={"web": {"tier": ""}}), "services.web.tier", "at least 1"),
        (_with(approvers={"critical_quorum": 0}), "approvers.critical_quorum", "at least 1"),
        (_with(approvers={"standard": "alice"}), "approvers.standard", ""),
        (
            _with(freeze=[{"from": "2026-12-24T00:00:00", "to": "2026-12-27T00:00:00Z"}]),
            "freeze.0.from",
            "UTC offset",
        ),
        (
            _with(freeze=[{"from": "2026-12-27T00:00:00Z", "to": "2026-12-24T00:00:00Z"}]),
            "freeze.0",
            "before",
        ),
        (_with(freeze=[{"from": "soon", "to": "2026-12-24T00:00:00Z"}]), "freeze.0.from", "ISO"),
        (_with(approval_channels={"critical": ["email"]}), "approval_channels.critical.0", ""),
        (
            _with(actions={"x": {"executor": {"type": "http", "url": "http://h/"}}}),
            "actions.x.executor",
            "needs method",
        ),
        (
            _with(actions={"x": {"executor": {"type": "command", "argv": []}}}),
            "actions.x.executor.argv",
            "",
        ),
        (
            _with(actions={"x": {"executor": {"type": "notify", "argv": ["rm"]}}}),
            "actions.x.executor",
            "does not apply",
        ),
        (
            _with(
                actions={
                    "x": {
                        "executor": {
                            "type": "notify",
                            "verify": {"type": "http", "argv": ["true"]},
                        }
                    }
                }
            ),
            "actions.x.executor.verify",
            "needs url",
        ),
        (
            _with(actions={"rb": {"params": {"v": {"pattern": "^v\\d$", "from": "git_tags"}}}}),
            "actions.rb.params.v.from",
            "deployed_versions",
        ),
        (
            _with(actions={"rb": {"params": {"v": {"from": "deployed_versions"}}}}),
            "actions.rb.params.v.pattern",
            "Field required",
        ),
        (
            _with(actions={"rb": {"params": {"v": {"pattern": "(", "from": "deployed_versions"}}}}),
            "actions.rb.params.v.pattern",
            "not a valid regular expression",
        ),
        (
            _with(actions={"rb": {"params": {"v": {"pattern": "x", "from": "deployed_versions",
                                                   "max_age_days": 3}}}}),
            "actions.rb.params.v.max_age_days",
            "unknown key",
        ),
        (_with(actions={"rb": {"params": {"v": 3}}}), "actions.rb.params.v", "a pattern or"),
        (_with(actions={"x": {"shadow": "yes"}}), "actions.x.shadow", "boolean"),
        (
            _with(actions={"x": {"auto_requires_precedent": 1}}),
            "actions.x.auto_requires_precedent",
            "boolean",
        ),
        (_with(grounding_days=0), "grounding_days", "greater"),
        (_with(mode="Shadow"), "mode", "shadow"),
        ("- a list\n", "(root)", "mapping"),
        ("version: 1\nversion: 1\n", "line 2, column 1", "duplicate key 'version'"),
        ("version: [1\n", "line 2, column 1", "expected ',' or ']'"),
    ],
)
def test_a_bad_file_is_refused_with_key_and_reason(text: str, key: str, reason: str) -> None:
    with pytest.raises(PolicyLoadError) as caught:
        load_policy_text(text, "team.yaml")
    assert caught.value.path == "team.yaml"
    assert caught.value.key == key
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"team.yaml: {key}: ")


def test_a_duplicate_action_is_refused_not_silently_replaced() -> None:
    text = PARAM_POLICY_YAML.replace(
        "  scale_out:", "  clear_cache:\n    auto_tiers: [standard, critical]\n  scale_out:"
    )
    with pytest.raises(PolicyLoadError, match="duplicate key 'clear_cache'"):
        load_policy_text(text)


def test_a_missing_file_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(tmp_path / "nope.yaml")
    assert caught.value.key == "(file)"
    assert caught.value.path.endswith("nope.yaml")


def test_param_patterns_are_ascii_and_security_patterns_are_compiled() -> None:
    policy = default_policy()
    version = policy.actions["rollback"].params["version"]
    assert version.flags & re.ASCII
    assert version.fullmatch("v1.2.3")
    assert not version.fullmatch("v1.\uff12.3")  # full-width 2
    assert not version.fullmatch("v1.2.3\n")
    assert policy.is_security(incident(description="401 Unauthorized from the edge"))
    assert policy.is_security(incident(labels={"team": "security"}))
    assert not policy.is_security(incident(labels={"team": "Security"}))  # values are exact
    assert not policy.is_security(incident())


def test_optional_parts_extend_the_contract() -> None:
    doc = yaml.safe_load(PARAM_POLICY_YAML)
    doc["categories"] = ["security_breach", "latency"]
    doc["approval_channels"] = {"critical": ["console", "slack"]}
    doc["freeze"] = [{"from": datetime(2026, 12, 24, tzinfo=UTC), "to": "2026-12-27T00:00:00Z"}]
    doc["actions"]["clear_cache"]["executor"]["timeout_s"] = 2.5
    doc["actions"]["clear_cache"]["executor"]["verify"] = {
        "type": "http",
        "url": "http://127.0.0.1:9000/health/{service}",
        "expected_status": 204,
    }
    policy = load_policy_text(yaml.safe_dump(doc))
    assert policy.categories == (*Category, "security_breach")
    assert policy.channels_for("critical") == {ApprovalChannel.CONSOLE, ApprovalChannel.SLACK}
    assert policy.channels_for("standard") == set(ApprovalChannel)
    executor = policy.actions["clear_cache"].executor
    assert executor is not None and executor.timeout_s == 2.5
    assert executor.verify is not None and executor.verify.expected_status == 204
    assert policy.freeze_at(datetime(2026, 12, 25, tzinfo=UTC)) is not None
    assert policy.freeze_at(datetime(2026, 12, 27, tzinfo=UTC)) is None  # the end is exclusive
    assert policy.mode == "dry_run"


def test_a_loaded_policy_cannot_be_changed() -> None:
    policy = param_policy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.mode = "live"  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.actions["rm_rf"] = policy.actions["clear_cache"]  # type: ignore[index]
    with pytest.raises(TypeError):
        policy.services["payment-gateway"] = "standard"  # type: ignore[index]
    with pytest.raises(TypeError):
        policy.actions["scale_out"].params["extra"] = re.compile(".*")  # type: ignore[index]


def test_the_second_part_of_the_contract_loads() -> None:
    policy = v2_policy()
    rollback, clear_cache = policy.actions["rollback"], policy.actions["clear_cache"]
    assert rollback.grounded_params == {"version"}
    assert rollback.params["version"].flags & re.ASCII  # the mapping form keeps its meaning
    assert not rollback.params["version"].fullmatch("v1.\uff12.3")
    assert clear_cache.grounded_params == frozenset()
    assert clear_cache.auto_requires_precedent
    assert not policy.actions["purge_cdn"].auto_requires_precedent
    assert policy.grounding_days == 14
    assert param_policy().grounding_days == 30  # the default


def test_shadow_per_action_and_for_the_whole_policy() -> None:
    policy = v2_policy()
    assert policy.is_shadow("purge_cdn")
    assert not policy.is_shadow("clear_cache")
    assert not policy.is_shadow("not_an_action")
    whole = load_policy_text(V2_SHADOW_YAML)
    assert whole.mode == "shadow"
    assert whole.is_shadow("clear_cache") and whole.is_shadow("not_an_action")


V2_SHADOW_YAML = _with(mode="shadow")


def test_the_security_rules_read_every_alert_of_an_incident() -> None:
    policy = v2_policy()
    group = (benign(), benign("Account takeover on /login"), benign("DiskFull"))
    assert policy.incident_security_match(incident(alerts=group)) == (
        "alert 2 of 3: title matches 'Account takeover'"
    )
    assert policy.incident_security_match(incident(alerts=group[::2])) is None
    # The incident's own fields count even when its alerts were not read.
    assert policy.incident_security_match(incident(labels={"team": "security"})) is not None
