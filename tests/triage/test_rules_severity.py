"""Severity families of the rules provider: examples written from labelling.md's severity
conventions (How to decide 4), not taken from the labelled data."""

from __future__ import annotations

import pytest

from warden.domain import Proposal, Severity
from warden.policy import DEFAULT_CATEGORIES, parse_proposal
from warden.promql import generator_url
from warden.triage import TriageRequest
from warden.triage.providers.rules import RulesProvider
from warden.triage.providers.rules.severity import SEVERITY_FAMILIES


def severity_of(title: str, description: str = "", expr: str | None = None) -> Severity:
    labels = {} if expr is None else {"generatorURL": generator_url(expr)}
    request = TriageRequest(
        service="ledger",
        title=title,
        description=description,
        labels=labels,
        severity=None,
        allowed_actions=("notify_on_call",),
        categories=DEFAULT_CATEGORIES,
    )
    parsed = parse_proposal(RulesProvider().propose(request).raw, categories=DEFAULT_CATEGORIES)
    assert isinstance(parsed, Proposal), parsed
    return parsed.severity


URGENT = (Severity.CRITICAL, Severity.HIGH)


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Ledger volume has run out of space", "the ledger volume has run out of space"),
        ("Build cache ran out of disk", "no bytes left on the build cache volume"),
        ("Subnet pool drained", "the VPC has no available addresses for new workers"),
        ("Worker node out of disk", "node-7 reports the OutOfDisk condition"),
        ("Payment gateway quota", "we are being rate-limited by the card network"),
    ],
)
def test_a_limit_already_reached_is_urgent(title: str, description: str) -> None:
    assert severity_of(title, description) in URGENT


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Ledger volume filling up", "the ledger volume is running out of space (85% used)"),
        ("Card network quota approaching", "80% of the daily rate limit is used"),
    ],
)
def test_a_limit_still_approached_is_a_warning(title: str, description: str) -> None:
    assert severity_of(title, description) == Severity.MEDIUM


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Orders table not vacuumed", "table orders has not been vacuumed for 9 days"),
        ("Invoices table not analysed", "table invoices has not been auto analysed for 12 days"),
    ],
)
def test_overdue_upkeep_is_a_warning(title: str, description: str) -> None:
    assert severity_of(title, description) == Severity.MEDIUM


FAILURE_TITLE = "Ledger export errors"
FAILURE_DESCRIPTION = "the ledger exporter reports export errors"


@pytest.mark.parametrize(
    "expr",
    [
        "increase(ledger_export_errors_total[10m]) > 0",
        'sum by (job) (rate(ledger_export_failures_total{job="ledger"}[5m])) > 0.05',
        "delta(ledger_export_dropped_total[1h]) >= 1",
        "rate(ledger_export_exceptions_total[5m]) != 0",
    ],
)
def test_a_rule_firing_on_the_first_failure_is_urgent(expr: str) -> None:
    assert severity_of(FAILURE_TITLE, FAILURE_DESCRIPTION, expr) in URGENT


@pytest.mark.parametrize(
    "expr",
    [
        # A tolerated amount of failures, a share of requests, or a gauge, not a counter.
        "increase(ledger_export_errors_total[10m]) > 25",
        "rate(ledger_export_errors_total[5m]) / rate(ledger_exports_total[5m]) > 0.1",
        "ledger_export_errors > 0",
    ],
)
def test_a_rule_tolerating_failures_is_a_warning(expr: str) -> None:
    assert severity_of(FAILURE_TITLE, FAILURE_DESCRIPTION, expr) == Severity.MEDIUM


def test_the_same_words_without_an_expression_are_a_warning() -> None:
    assert severity_of(FAILURE_TITLE, FAILURE_DESCRIPTION) == Severity.MEDIUM


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Orders database replication lag", "the replica is 40 s behind the primary"),
        ("Ledger replica behind", "replication lag of the ledger replica is 2 GB"),
    ],
)
def test_a_replica_behind_puts_data_at_risk(title: str, description: str) -> None:
    assert severity_of(title, description) in URGENT


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Ingress router dropping spans", "the router fails to export 3% of its spans"),
        (
            "Gateway dropping log lines",
            "the gateway drops log messages: its syslog sink is unreachable",
        ),
    ],
)
def test_lost_telemetry_is_a_warning(title: str, description: str) -> None:
    assert severity_of(title, description) == Severity.MEDIUM


def test_the_same_failure_losing_user_data_is_urgent() -> None:
    assert (
        severity_of("Ingress router dropping orders", "the router fails to write 3% of orders")
        in URGENT
    )


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Kernel update pending", "worker-3 requires a reboot to load the new kernel"),
        ("Router config warnings", "the router logged 40 config warnings in the last hour"),
    ],
)
def test_notices_are_info(title: str, description: str) -> None:
    assert severity_of(title, description) == Severity.LOW


def test_nearing_a_limit_lowers_the_severity() -> None:
    # Hardware at fault is critical; still short of the trip point, one step less.
    reached = severity_of("Drive temperature at trip value", "drive sda at its trip value")
    assert reached == Severity.CRITICAL
    nearing = severity_of("Drive temperature nearing trip value", "drive sda at 80% of it")
    assert nearing != Severity.CRITICAL


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("search_cluster_health_status != 0", URGENT),
        ("search_cluster_health_status == 1", (Severity.MEDIUM,)),
    ],
)
def test_a_rule_on_any_unhealthy_verdict_is_urgent(
    expr: str, expected: tuple[Severity, ...]
) -> None:
    assert severity_of("Search cluster health", "the cluster reports its health", expr) in expected


def test_severity_family_names_are_unique() -> None:
    names = [family.name for family in SEVERITY_FAMILIES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    "expr",
    ['ledger_worker_running{pool="eu"} == 0', "sum by (pool) (ledger_replica_ready) < 1"],
)
def test_a_rule_asking_whether_anything_runs_is_urgent(expr: str) -> None:
    assert severity_of("Ledger workers", "ledger worker pool status", expr) in URGENT


def test_a_forecast_of_a_limit_is_a_warning() -> None:
    # Words alone read as a limit already reached; the forecast says it is still ahead.
    words = ("Ledger volume out of disk", "ledger volume will have no free space")
    assert severity_of(*words) in URGENT
    expr = "predict_linear(ledger_volume_free_bytes[6h], 4 * 3600) < 0"
    assert severity_of(*words, expr) == Severity.MEDIUM
