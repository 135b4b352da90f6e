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
        ("Orders database max connections reached", "no new client can connect"),
        ("Ticket store pool full", "the pool has reached its quota; writes are refused"),
        ("Broker memory alarm", "the memory high watermark reached, publishers wait"),
    ],
)
def test_a_maximum_quota_or_watermark_reached_is_urgent(title: str, description: str) -> None:
    assert severity_of(title, description) in URGENT


def test_a_share_of_a_limit_reached_is_still_approaching() -> None:
    words = ("Session store near its limit", "the store has reached 80% of its session limit")
    assert severity_of(*words) == Severity.MEDIUM


@pytest.mark.parametrize(
    "expr",
    [
        "payments_health_check_success == 0",
        'min by (pool) (lb_pool_health_status{zone="eu"}) < 1',
        "ledger_probe_successful != 1",
    ],
)
def test_a_success_or_health_gauge_at_zero_is_urgent(expr: str) -> None:
    assert severity_of("Payments check", "the payments check reports its result", expr) in URGENT


def test_a_failed_reload_keeps_the_last_good_configuration() -> None:
    expr = "ledger_config_last_reload_successful == 0"
    assert severity_of("Ledger config reload", "the ledger reports its reload", expr) == (
        Severity.MEDIUM
    )


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Event log partitions under-replicated", "data durability is at risk"),
        ("Shared volume unhealthy", "the shared filesystem is damaged"),
        ("Session cache not persisted", "sessions written since 10:00 may be lost"),
    ],
)
def test_data_at_risk_is_urgent(title: str, description: str) -> None:
    assert severity_of(title, description) in URGENT


def test_deadlocked_threads_are_urgent() -> None:
    assert severity_of("Billing JVM threads", "the billing JVM has deadlocked threads") in URGENT


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
        ("Batch pods idle", "batch pod CPU utilization is under 10% for 2 weeks"),
        ("Ledger database restarted", "the ledger database was restarted 30 s ago"),
        ("Proxy version drift", "the proxy version on edge-4 has changed"),
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


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Ledger daemon restarts", "the ledger daemon has restarted more than 3 times in 10 min"),
        ("Report queries scan many rows", "reports scan 1M rows a query; consider an index"),
    ],
)
def test_repeated_restarts_and_advice_are_no_notices(title: str, description: str) -> None:
    assert severity_of(title, description) != Severity.LOW


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Edge router network receive errors", "interface eth1 has 2% receive errors"),
        ("Mesh agent dropping packets", "the mesh agent drops packets at 40/s"),
    ],
)
def test_packets_lost_on_a_working_path_are_a_warning(title: str, description: str) -> None:
    assert severity_of(title, description) == Severity.MEDIUM


def test_the_same_path_down_is_urgent() -> None:
    assert severity_of("Edge router link down", "interface eth1 is down") in URGENT


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Gateway config reload", "the gateway has not been able to reload its configuration"),
        ("Tenant overrides not applied", "the store could not reload tenant overrides"),
    ],
)
def test_a_failed_configuration_reload_is_a_warning(title: str, description: str) -> None:
    assert severity_of(title, description) == Severity.MEDIUM


def test_urgency_in_the_authors_words_is_urgent() -> None:
    words = ("Ledger certificate expiring", "the certificate expires in 2 days; renew it urgently")
    assert severity_of(*words) in URGENT
    assert severity_of("Ledger certificate expiring", "the certificate expires in 20 days") == (
        Severity.MEDIUM
    )


def test_all_of_it_failing_is_urgent() -> None:
    assert severity_of("Ledger API failing", "all ledger API calls fail") in URGENT
    assert severity_of("Ledger API calls failing", "3% of ledger API calls fail") == (
        Severity.MEDIUM
    )


def test_a_cluster_without_quorum_is_urgent() -> None:
    assert severity_of("Lock service lost quorum", "the lock cluster is not quorate") in URGENT


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Lock node down", "one lock node is down; quorum is still intact"),
        ("Rack PDU on battery", "the rack UPS is running on battery since 4 minutes"),
        (
            "Lock node down",
            "a lock node is down; losing one more node would stop the cluster",
        ),
        ("Search cluster yellow", "the search cluster is yellow: 3 replica shards unassigned"),
    ],
)
def test_redundancy_still_carrying_the_load_is_a_warning(title: str, description: str) -> None:
    assert severity_of(title, description) == Severity.MEDIUM


def test_the_same_member_down_without_redundancy_is_urgent() -> None:
    assert severity_of("Lock node down", "the only lock node is down") in URGENT
    assert severity_of("Search cluster red", "the search cluster is red") in URGENT


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Cache rejected connections", "some connections to the cache have been rejected"),
        ("Session store rejecting connections", "the session store rejects new connections"),
    ],
)
def test_connections_turned_away_by_a_running_server_are_a_warning(
    title: str, description: str
) -> None:
    assert severity_of(title, description) == Severity.MEDIUM


def test_a_server_refusing_every_connection_is_urgent() -> None:
    assert severity_of("Cache unreachable", "connection refused: the cache is down") in URGENT


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Billing worker crash looping", "the billing worker is in CrashLoopBackOff"),
        ("Billing worker restarts", "it crashed and restarted more than 3 times in 10 minutes"),
        ("Billing worker flapping", "it crashed; repeated restarts in the last hour"),
    ],
)
def test_a_unit_restarting_over_and_over_is_a_warning(title: str, description: str) -> None:
    assert severity_of(title, description) == Severity.MEDIUM


def test_a_unit_that_crashed_and_stays_down_is_urgent() -> None:
    assert severity_of("Billing worker crashed", "the billing worker crashed and is down") in URGENT
