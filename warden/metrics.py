"""Prometheus metrics: one registry per running Warden (tests start several)."""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

_Metric = TypeVar("_Metric", bound=MetricWrapperBase)


class Metrics:
    """Everything ``/metrics`` exports; stages call these, the web layer renders them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], MetricWrapperBase] = {}
        self.alerts_received = Counter(
            "warden_alerts_received", "Alerts received, by source and outcome.",
            ["source", "outcome"], registry=self.registry,
        )
        self.incidents_opened = Counter(
            "warden_incidents_opened", "Incidents opened, by source.", ["source"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "warden_http_request_duration_seconds", "HTTP request latency, by route.",
            ["method", "route", "status"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.triage_total = Counter(
            "warden_triage", "Triage results, by provider and outcome.",
            ["provider", "outcome"], registry=self.registry,
        )
        self.model_calls = Counter(
            "warden_model_calls", "Model calls, by model and outcome.", ["model", "outcome"],
            registry=self.registry,
        )
        self.spend_usd = Counter(
            "warden_model_spend_usd", "Dollars spent on model calls, by model and service.",
            ["model", "service"], registry=self.registry,
        )
        self.decisions = Counter(
            "warden_decisions", "Policy decisions, by outcome.", ["outcome"],
            registry=self.registry,
        )
        self.executions = Counter(
            "warden_executions", "Executions, by executor and status.", ["executor", "status"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "warden_queue_depth", "Incidents waiting for the worker.", registry=self.registry,
        )
        self.breaker_open = Gauge(
            "warden_llm_circuit_open", "1 while the circuit breaker of a model is open.",
            ["model"], registry=self.registry,
        )
        self.degraded = Gauge(
            "warden_degraded", "1 while Warden runs degraded (e.g. every model unavailable).",
            registry=self.registry,
        )

    def labelled(self, metric: _Metric, *values: str) -> _Metric:
        """``metric.labels(*values)``, remembered: ``labels`` checks and locks on every
        call, a few microseconds each, and the ingest path asks for three a request.
        Label values here are bounded (sources, outcomes, routes, statuses)."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child  # type: ignore[return-value]
