"""The investigator's guarantees, with sources that are test doubles of the one-method
``EvidenceSource`` boundary: deadline, per-source timeout, failures, size cap, redaction;
and the pure parts of the sources (rule split, series summary, frequency label)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from warden.investigate import Case, Evidence, EvidenceKind, Investigator
from warden.investigate.sources.memory import Frequency, frequency
from warden.investigate.sources.prometheus import Rule, split_rule, summarise

NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
CASE = Case(incident_id=1, service="checkout", title="t", description="", labels={},
            first_seen=NOW, alerts=(), now=NOW)


@dataclass
class Scripted:
    """A source that sleeps, then answers ``items`` or raises ``error``."""

    name: str
    sleep_s: float = 0.0
    items: tuple[Evidence, ...] = ()
    error: Exception | None = None
    timeout_s: float = 10.0
    kind: EvidenceKind = EvidenceKind.METRIC

    def gather(self, case: Case) -> Sequence[Evidence]:
        time.sleep(self.sleep_s)
        if self.error:
            raise self.error
        return self.items


def item(summary: str, **data: object) -> Evidence:
    return Evidence(id=f"metric:{summary[:10]}", kind=EvidenceKind.METRIC, title="x",
                    summary=summary, data=data)


def test_a_slow_source_yields_an_error_item_within_the_deadline() -> None:
    fast = Scripted("fast", items=(item("queue at 120"),))
    slow = Scripted("slow", sleep_s=5)
    started = time.monotonic()
    found = Investigator([slow, fast], deadline_s=0.5, max_item_bytes=4096).collect(CASE)
    assert time.monotonic() - started < 1.5
    assert [e.summary for e in found][1] == "queue at 120"
    assert found[0].error == "no answer within 0.5 s (the investigation deadline)"


def test_a_source_own_timeout_is_shorter_than_the_deadline() -> None:
    slow = Scripted("slow", sleep_s=3, timeout_s=0.2)
    started = time.monotonic()
    (found,) = Investigator([slow], deadline_s=5, max_item_bytes=4096).collect(CASE)
    assert time.monotonic() - started < 1.5
    assert found.error == "no answer within 0.2 s (its timeout)"


def test_sources_run_at_the_same_time() -> None:
    sources = [Scripted(f"s{i}", sleep_s=0.4, items=(item(f"n{i}"),)) for i in range(4)]
    started = time.monotonic()
    found = Investigator(sources, deadline_s=5, max_item_bytes=4096).collect(CASE)
    assert time.monotonic() - started < 1.2
    assert [e.summary for e in found] == ["n0", "n1", "n2", "n3"]


def test_a_failing_source_says_why() -> None:
    broken = Scripted("prometheus", error=ConnectionError("refused"))
    (found,) = Investigator([broken], deadline_s=1, max_item_bytes=4096).collect(CASE)
    assert found.error == "ConnectionError: refused"
    assert found.title == "prometheus: no evidence"


def test_a_large_item_is_cut_to_the_cap_and_says_so() -> None:
    huge = Scripted("big", items=(item("s" * 100, series=["v" * 50_000]),))
    (found,) = Investigator([huge], deadline_s=1, max_item_bytes=1024).collect(CASE)
    assert len(str(found.as_json())) < 1100
    assert found.data == {"truncated": "data over 1024 bytes dropped"}
    assert found.summary == "s" * 100


def test_secrets_in_evidence_are_redacted_everywhere() -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    leaky = Scripted("leaky", items=(Evidence(
        id="runbook:x", kind=EvidenceKind.RUNBOOK, title=f"token {token}",
        summary=f"curl -H 'Authorization: Bearer {token}'",
        data={"lines": [f"password={token}"]},
        source_url=f"https://user:{token}@wiki.example.com/rb"),),)
    (found,) = Investigator([leaky], deadline_s=1, max_item_bytes=8192).collect(CASE)
    assert token not in str(found.as_json())
    assert "[REDACTED:" in found.summary


@pytest.mark.parametrize(("expr", "query", "op", "threshold"), [
    ("demo_queue_jobs_waiting > 100", "demo_queue_jobs_waiting", ">", 100.0),
    ('up{job="db"} == 0', 'up{job="db"}', "==", 0.0),
    ('rate(http_errors{code=~"5.."}[5m]) >= 0.5', 'rate(http_errors{code=~"5.."}[5m])',
     ">=", 0.5),
    ("sum(x) by (a) < bool 3", "sum(x) by (a)", "<", 3.0),
    ('node_filesystem_avail{fs!="tmpfs"} / node_size', 'node_filesystem_avail{fs!="tmpfs"}'
     " / node_size", None, None),
    ("a > b", "a > b", None, None),  # a comparison with a series has no single threshold
    ("(x > 1) * y", "(x > 1) * y", None, None),
])
def test_a_rule_is_split_at_its_threshold(expr: str, query: str, op: str | None,
                                          threshold: float | None) -> None:
    assert split_rule(expr) == Rule(expr=expr, query=query, op=op, threshold=threshold)


def test_a_series_summary_finds_when_it_crossed() -> None:
    rule = split_rule("q > 100")
    points = [(1000.0, 5.0), (1060.0, 150.0), (1120.0, 50.0), (1180.0, 120.0)]
    summary = summarise(rule, {"queue": "emails"}, points)
    assert (summary["current"], summary["min"], summary["max"]) == (120.0, 5.0, 150.0)
    assert summary["crossed_at"] == datetime.fromtimestamp(1180, UTC).isoformat()
    assert summarise(rule, {}, points[:1])["crossed_at"] is None


@pytest.mark.parametrize(("same", "total", "label"), [
    (0, 0, Frequency.NEW), (0, 40, Frequency.NEW),
    (1, 100, Frequency.RARE), (5, 100, Frequency.RARE), (1, 20, Frequency.RARE),
    (6, 100, Frequency.OCCASIONAL), (19, 100, Frequency.OCCASIONAL),
    (20, 100, Frequency.FREQUENT), (1, 5, Frequency.FREQUENT), (3, 3, Frequency.FREQUENT),
])
def test_frequency_follows_pagerduty_thresholds(same: int, total: int,
                                                label: Frequency) -> None:
    assert frequency(same, total) is label
