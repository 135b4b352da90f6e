"""``warden eval``: scoring, the hidden severity, and the command line for rules and openai."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from tests.fakes.llm_server import FakeLLMServer, Reply, llm_server, proposal
from warden.cli.main import app
from warden.errors import ConfigError
from warden.policy import DEFAULT_CATEGORIES, parse_proposal
from warden.triage import TriageReply, TriageRequest
from warden.triage.eval import evaluate, load_labelled, to_labelled

__all__ = ["llm_server"]  # the fixture, used by name below

ROOT = Path(__file__).resolve().parents[2]
DEV_SET = ROOT.parent / "shared" / "data" / "alerts-dev.jsonl"
ACTIONS = ("clear_cache", "restart_canary")


def record(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "r1",
        "service_group": "Grafana Mimir",
        "exporter": "Embedded exporter",
        "alertname": "MimirRequestLatencyHigh",
        "summary": "Mimir request latency high",
        "description": "p99 request latency is 3s",
        "expr": "histogram_quantile(0.99, ...) > 1",
        "severity": "warning",
        "category": "latency",
        "security": False,
    }
    base.update(fields)
    return base


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@dataclass
class ScriptedProvider:
    """A provider answering from a list, recording what it was asked."""

    replies: list[TriageReply]
    name: str = "scripted"
    seen: list[TriageRequest] = field(default_factory=list)

    def propose(self, request: TriageRequest) -> TriageReply:
        self.seen.append(request)
        return self.replies[len(self.seen) - 1]


def parse(raw: str) -> Any:
    return parse_proposal(raw, categories=DEFAULT_CATEGORIES)


def test_record_becomes_a_request_without_its_severity() -> None:
    labelled = to_labelled(
        record(severity="critical"), allowed_actions=ACTIONS, categories=DEFAULT_CATEGORIES
    )
    req = labelled.request
    assert req.severity is None
    assert dict(req.labels) == {
        "alertname": "MimirRequestLatencyHigh",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=histogram_quantile%280.99%2C+...%29"
        "+%3E+1&g0.tab=1",
    }
    assert "critical" not in json.dumps([req.title, req.description, dict(req.labels)])
    assert req.service == "grafana-mimir"
    assert req.title == "Mimir request latency high"
    assert req.allowed_actions == ACTIONS
    assert (labelled.category, labelled.severity) == ("latency", "critical")


def test_the_expression_reaches_the_provider_as_prometheus_sends_it() -> None:
    expr = 'sum(rate(x{job="a&b"}[5m])) / sum(y) > 0.9'
    labelled = to_labelled(record(expr=expr), allowed_actions=(), categories=DEFAULT_CATEGORIES)
    url = urlsplit(labelled.request.labels["generatorURL"])
    assert parse_qs(url.query) == {"g0.expr": [expr], "g0.tab": ["1"]}


def test_a_record_without_an_expression_has_no_generator_url() -> None:
    labelled = to_labelled(record(expr=""), allowed_actions=(), categories=DEFAULT_CATEGORIES)
    assert dict(labelled.request.labels) == {"alertname": "MimirRequestLatencyHigh"}


def test_title_falls_back_to_the_alert_name_and_service_to_the_exporter() -> None:
    labelled = to_labelled(
        record(summary="", service_group="", exporter="node-exporter"),
        allowed_actions=(),
        categories=DEFAULT_CATEGORIES,
    )
    assert labelled.request.title == "MimirRequestLatencyHigh"
    assert labelled.request.service == "node-exporter"


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[1, 2]",
        json.dumps(record(severity="high")),
        json.dumps(record(category="")),
        json.dumps(record(category=3)),
        json.dumps(record(alertname="")),
        json.dumps(record(expr=["up == 0"])),
    ],
)
def test_an_unusable_line_is_named(tmp_path: Path, line: str) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(record()) + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"set\.jsonl:3: "):
        load_labelled(path, allowed_actions=(), categories=DEFAULT_CATEGORIES)


def test_scores_accuracy_confusion_malformed_and_spend(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "set.jsonl",
        [
            record(id="a", category="latency", severity="critical"),
            record(id="b", category="connectivity", severity="warning"),
            record(id="c", category="unknown", severity="info"),
            record(id="d", category="latency", severity="warning"),
        ],
    )
    alerts = load_labelled(path, allowed_actions=ACTIONS, categories=DEFAULT_CATEGORIES)
    replies = [
        TriageReply(proposal(category="latency", severity="high"), "x", "m", 10, 2, 0.01, 100.0),
        TriageReply(proposal(category="latency", severity="medium"), "x", "m", 10, 2, 0.02, 300.0),
        TriageReply(
            proposal(category="unknown", severity="low"),
            "rules",
            None,
            fallback_reason="budget_exhausted",
        ),
        TriageReply("Sure! Here is the JSON: {}", "x", "m", 10, 0, 0.0, 200.0),
    ]
    report = evaluate(ScriptedProvider(replies), alerts, parse)
    assert report.n == 4
    assert report.category_accuracy == 0.5  # a and c
    assert report.severity_accuracy == 0.75  # high=critical, medium=warning, low=info
    assert report.confusion["latency"] == {
        "connectivity": 0,
        "latency": 1,
        "unknown": 0,
        "malformed": 1,
    }
    assert report.confusion["connectivity"]["latency"] == 1
    assert "malformed" not in report.confusion  # a column, never an expected row
    assert report.severity_confusion["warning"]["malformed"] == 1
    assert report.malformed == 1
    assert report.fallbacks == 1
    assert report.misses == ("b", "d")
    assert (report.prompt_tokens, report.completion_tokens) == (30, 4)
    assert report.cost_usd == pytest.approx(0.03)
    assert report.latency_ms_total == pytest.approx(600.0)
    assert report.latency_ms_mean == pytest.approx(150.0)
    assert report.answered_by == {"x:m": 3, "rules": 1}
    assert [(c.kind, c.expected, c.predicted, c.count, c.ids) for c in report.top_confusions] == [
        ("category", "connectivity", "latency", 1, ("b",)),
        ("category", "latency", "malformed", 1, ("d",)),
        ("severity", "warning", "malformed", 1, ("d",)),
    ]


def test_confusions_are_ranked_commonest_first(tmp_path: Path) -> None:
    categories = ("latency", "connectivity", "resource_exhaustion")
    severities = ("critical", "warning", "info")
    # Expected rows of every category/severity, all answered "unknown"/"low": 3 category
    # confusions; then severity pairs give the rest. The commonest must come first.
    records = [
        record(id=f"{c}-{s}-{i}", category=c, severity=s)
        for c in categories
        for s in severities
        for i in range(1 + categories.index(c))
    ]
    alerts = load_labelled(
        write_jsonl(tmp_path / "set.jsonl", records),
        allowed_actions=ACTIONS,
        categories=DEFAULT_CATEGORIES,
    )
    replies = [
        TriageReply(proposal(category="unknown", severity="medium"), "x", None) for _ in records
    ]
    report = evaluate(ScriptedProvider(replies), alerts, parse)
    counts = [(c.kind, c.expected, c.predicted, c.count) for c in report.top_confusions]
    assert counts == [
        ("category", "resource_exhaustion", "unknown", 9),
        ("category", "connectivity", "unknown", 6),
        ("severity", "critical", "warning", 6),
        ("severity", "info", "warning", 6),
        ("category", "latency", "unknown", 3),
    ]


def test_only_the_ten_most_common_confusions_are_listed(tmp_path: Path) -> None:
    categories = ("latency", "connectivity", "resource_exhaustion", "unknown")
    pairs = [(e, p) for e in categories for p in categories if e != p]  # 12 kinds of mistake
    records = [record(id=f"r{i}", category=e) for i, (e, _p) in enumerate(pairs)]
    records.append(record(id="again", category=pairs[-1][0]))
    alerts = load_labelled(
        write_jsonl(tmp_path / "set.jsonl", records),
        allowed_actions=ACTIONS,
        categories=DEFAULT_CATEGORIES,
    )
    answers = [p for _e, p in pairs] + [pairs[-1][1]]
    replies = [TriageReply(proposal(category=p, severity="medium"), "x", None) for p in answers]
    report = evaluate(ScriptedProvider(replies), alerts, parse)
    assert len(report.top_confusions) == 10
    first = report.top_confusions[0]
    assert (first.expected, first.predicted, first.count) == ("unknown", "resource_exhaustion", 2)
    assert first.ids == ("r11", "again")


def test_the_provider_sees_redacted_text_without_severity(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "set.jsonl",
        [record(description="login with password=hunter2 failed", severity="critical")],
    )
    alerts = load_labelled(path, allowed_actions=ACTIONS, categories=DEFAULT_CATEGORIES)
    provider = ScriptedProvider([TriageReply(proposal(), "x", None)])
    evaluate(provider, alerts, parse)
    (seen,) = provider.seen
    assert "hunter2" not in seen.description
    assert seen.severity is None
    assert "severity" not in seen.labels


runner = CliRunner()


@pytest.mark.skipif(not DEV_SET.is_file(), reason="the shared dev set is beside the checkout")
def test_rules_reach_95_percent_category_and_75_percent_severity_on_the_dev_set() -> None:
    result = runner.invoke(app, ["eval", "--provider", "rules", str(DEV_SET), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == sum(1 for line in DEV_SET.read_text().splitlines() if line.strip())
    assert report["category_accuracy"] >= 0.95
    assert report["severity_accuracy"] >= 0.75
    assert report["malformed"] == 0


def test_cli_prints_tables(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "set.jsonl", [record(), record(id="r2", category="unknown")])
    result = runner.invoke(app, ["eval", str(path)])
    assert result.exit_code == 0, result.output
    assert "category accuracy  50.0%" in result.stdout
    assert "severity accuracy" in result.stdout
    assert "expected" in result.stdout
    assert "most common confusions" in result.stdout
    assert "category  unknown -> latency  (r2)" in result.stdout


def test_cli_rules_read_the_expression_and_never_the_severity(tmp_path: Path) -> None:
    # Words that name nothing; the rule says the target is down. The record's own severity
    # (field and label-like text in the name) is "info", the rules infer an outage.
    path = write_jsonl(
        tmp_path / "set.jsonl",
        [
            record(
                alertname="LedgerAlert",
                summary="Ledger alert",
                description="ledger needs attention",
                expr='up{job="ledger"} == 0',
                category="connectivity",
                severity="info",
            )
        ],
    )
    result = runner.invoke(app, ["eval", "--provider", "rules", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["category_accuracy"] == 1.0
    assert report["severity_confusion"]["info"]["critical"] == 1
    assert report["top_confusions"] == [
        {
            "kind": "severity",
            "expected": "info",
            "predicted": "critical",
            "count": 1,
            "ids": ["r1"],
        }
    ]


def test_lines_without_a_category_score_severity_only(tmp_path: Path) -> None:
    # A rule collection carries its authors' severities but no category.
    unlabelled = record(id="r2", severity="critical")
    del unlabelled["category"]
    path = write_jsonl(
        tmp_path / "set.jsonl", [record(), unlabelled, record(id="r3", category=None)]
    )
    result = runner.invoke(app, ["eval", "--provider", "rules", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["n"], report["n_category"]) == (3, 1)
    assert report["category_accuracy"] == 1.0
    assert sum(report["severity_confusion"]["critical"].values()) == 1
    assert all(c["kind"] == "severity" for c in report["top_confusions"])
    result = runner.invoke(app, ["eval", "--provider", "rules", str(path)])
    assert "category accuracy  100.0% (of the 1 lines with a category label)" in result.stdout


def test_a_file_without_categories_prints_severity_only(tmp_path: Path) -> None:
    unlabelled = record()
    del unlabelled["category"]
    path = write_jsonl(tmp_path / "set.jsonl", [unlabelled])
    result = runner.invoke(app, ["eval", "--provider", "rules", str(path)])
    assert result.exit_code == 0, result.output
    assert "category accuracy  - (no line has a category label)" in result.stdout
    assert "category: expected" not in result.stdout
    assert "severity: expected" in result.stdout
    report = json.loads(runner.invoke(app, ["eval", str(path), "--json"]).stdout)
    assert report["category_accuracy"] is None


def test_cli_refuses_an_unusable_file(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text("{broken\n", encoding="utf-8")
    result = runner.invoke(app, ["eval", "--provider", "rules", str(path)])
    assert result.exit_code == 2
    assert "set.jsonl:1" in result.stderr


def test_cli_openai_sums_cost_tokens_and_latency(tmp_path: Path, llm_server: FakeLLMServer) -> None:
    llm_server.set_default(
        "m1",
        Reply(
            proposal(category="latency", severity="high"),
            prompt_tokens=100,
            completion_tokens=20,
            cost=0.001,
        ),
    )
    path = write_jsonl(
        tmp_path / "set.jsonl",
        [
            record(id="a", category="latency", severity="critical"),
            record(
                id="b",
                category="connectivity",
                severity="warning",
                description="token=abc123secret lost",
            ),
            record(id="c", category="latency", severity="info"),
        ],
    )
    env = {
        "WARDEN_LLM_BASE_URL": llm_server.base_url,
        "WARDEN_LLM_API_KEY": "test-key",
        "WARDEN_LLM_MODELS": "m1",
        "WARDEN_POLICY": None,
    }
    result = runner.invoke(app, ["eval", "--provider", "openai", str(path), "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 3
    assert report["category_accuracy"] == pytest.approx(2 / 3)
    assert report["severity_accuracy"] == pytest.approx(1 / 3)
    assert report["cost_usd"] == pytest.approx(0.003)
    assert (report["prompt_tokens"], report["completion_tokens"]) == (300, 60)
    assert report["latency_ms_mean"] > 0
    assert report["answered_by"] == {"openai:m1": 3}
    assert llm_server.calls("m1") == 3
    assert all("abc123secret" not in json.dumps(r.body) for r in llm_server.requests)


def test_cli_json_stays_parseable_when_the_model_fails(
        tmp_path: Path, llm_server: FakeLLMServer) -> None:
    # Garbage from the model makes the provider log its fallback to rules; the log lines
    # go to stderr so `warden eval --json | jq` still reads one JSON object.
    llm_server.set_default("m1", Reply("this is not a proposal"))
    path = write_jsonl(tmp_path / "set.jsonl", [record(id="a", category="latency")])
    env = {"WARDEN_LLM_BASE_URL": llm_server.base_url, "WARDEN_LLM_API_KEY": "test-key",
           "WARDEN_LLM_MODELS": "m1", "WARDEN_LLM_MAX_RETRIES": "0", "WARDEN_POLICY": None}
    result = runner.invoke(app, ["eval", "--provider", "openai", str(path), "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 1 and report["answered_by"] == {"rules": 1}
    assert "fallback" in result.stderr or "malformed" in result.stderr


def test_cli_openai_without_a_key_says_so(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "set.jsonl", [record()])
    result = runner.invoke(
        app, ["eval", "--provider", "openai", str(path)], env={"WARDEN_LLM_API_KEY": None}
    )
    assert result.exit_code == 2
    assert "WARDEN_LLM_API_KEY" in result.stderr
