"""Measure a triage provider against labelled alerts (``warden eval``).

A labelled file is JSON Lines in the shape of ``../shared/data/alerts-dev.jsonl``: one
alert rule a line with ``alertname``, ``summary``, ``description``, ``service_group``,
``exporter``, the rule's PromQL ``expr`` (optional), the expected ``category`` (optional:
a rule collection carries its authors' severities but no category, and such a line scores
severity only) and the expected ``severity`` (``critical | warning | info``). Each
record's own severity is hidden from the provider (ARCHITECTURE.md, Settled details), so
severity accuracy measures inference. The ``expr`` reaches the provider the way a firing
alert carries it: as the ``generatorURL`` Prometheus sets
(``…/graph?g0.expr=<expr>&g0.tab=1``), in the labels.

The provider sees what the pipeline would show it: the redacted text, the policy's
action names and categories.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from warden.domain import MalformedProposal, Proposal, Severity
from warden.errors import ConfigError
from warden.promql import GENERATOR_URL_LABEL, generator_url
from warden.triage.provider import TriageProvider, TriageRequest
from warden.triage.redact import redact_request

# The eval labels use Alertmanager's three levels; the proposal has four.
EXPECTED_SEVERITIES = ("critical", "warning", "info")
SEVERITY_LEVEL: Mapping[Severity, str] = MappingProxyType(
    {
        Severity.CRITICAL: "critical",
        Severity.HIGH: "critical",
        Severity.MEDIUM: "warning",
        Severity.LOW: "info",
    }
)
MALFORMED = "malformed"
TOP_CONFUSIONS = 10

_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class LabelledAlert:
    """One line of a labelled file: the request a provider gets and the expected answer."""

    id: str
    request: TriageRequest
    category: str | None  # None: the line has no category label, only severity is scored
    severity: str


@dataclass(frozen=True, slots=True)
class Confusion:
    """One kind of mistake: ``count`` alerts expected as ``expected`` got ``predicted``."""

    kind: str  # "category" or "severity"
    expected: str
    predicted: str
    count: int
    ids: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "expected": self.expected,
            "predicted": self.predicted,
            "count": self.count,
            "ids": list(self.ids),
        }


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Accuracy and spend of one provider over a labelled set.

    ``confusion[expected][predicted]`` counts categories; a reply that does not parse is
    predicted as ``malformed`` (and is wrong on both counts). Category figures cover the
    ``n_category`` alerts with a category label; ``category_accuracy`` is None when none
    has one. ``misses`` lists the ids whose category was wrong, in input order.
    ``top_confusions`` are the most common mistakes, category and severity together, most
    frequent first.
    """

    provider: str
    n: int
    n_category: int
    category_accuracy: float | None
    severity_accuracy: float
    confusion: Mapping[str, Mapping[str, int]]
    severity_confusion: Mapping[str, Mapping[str, int]]
    malformed: int
    fallbacks: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms_total: float
    latency_ms_mean: float
    answered_by: Mapping[str, int] = field(default_factory=dict)
    misses: tuple[str, ...] = field(default=())
    top_confusions: tuple[Confusion, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """The report as plain JSON values (the ``--json`` output)."""
        return {
            "provider": self.provider,
            "n": self.n,
            "n_category": self.n_category,
            "category_accuracy": self.category_accuracy,
            "severity_accuracy": self.severity_accuracy,
            "confusion": {k: dict(v) for k, v in self.confusion.items()},
            "severity_confusion": {k: dict(v) for k, v in self.severity_confusion.items()},
            "malformed": self.malformed,
            "fallbacks": self.fallbacks,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
            "latency_ms_total": self.latency_ms_total,
            "latency_ms_mean": self.latency_ms_mean,
            "answered_by": dict(self.answered_by),
            "misses": list(self.misses),
            "top_confusions": [c.as_json() for c in self.top_confusions],
        }


def service_slug(record: Mapping[str, Any]) -> str:
    """A service name for a labelled rule: its group (``Grafana Mimir`` -> ``grafana-mimir``),
    else its exporter, else ``unknown``."""
    for key in ("service_group", "exporter"):
        value = record.get(key)
        if isinstance(value, str):
            slug = _SLUG.sub("-", value.lower()).strip("-")
            if slug:
                return slug
    return "unknown"


def to_labelled(
    record: Mapping[str, Any], *, allowed_actions: tuple[str, ...], categories: tuple[str, ...]
) -> LabelledAlert:
    """Turn one labelled record into a request without its severity, and the expected answer.

    Raises ``ValueError`` when a required field is missing or of the wrong type.
    """
    expected_category = record.get("category")
    expected_severity = record.get("severity")
    alertname = record.get("alertname")
    if expected_category is not None and (
        not isinstance(expected_category, str) or not expected_category
    ):
        raise ValueError("'category' must be a non-empty string, or absent")
    if expected_severity not in EXPECTED_SEVERITIES:
        raise ValueError(f"'severity' must be one of {', '.join(EXPECTED_SEVERITIES)}")
    if not isinstance(alertname, str) or not alertname:
        raise ValueError("'alertname' must be a non-empty string")
    summary = record.get("summary")
    description = record.get("description")
    expr = record.get("expr")
    if expr is not None and not isinstance(expr, str):
        raise ValueError("'expr' must be a string")
    labels = {"alertname": alertname}
    if expr:
        labels[GENERATOR_URL_LABEL] = generator_url(expr)
    request = TriageRequest(
        service=service_slug(record),
        title=summary if isinstance(summary, str) and summary else alertname,
        description=description if isinstance(description, str) else "",
        # The name and the rule's URL: the record's severity (field or label) never
        # reaches the provider.
        labels=MappingProxyType(labels),
        severity=None,
        allowed_actions=allowed_actions,
        categories=categories,
    )
    return LabelledAlert(
        id=str(record.get("id", alertname)),
        request=request,
        category=expected_category,
        severity=str(expected_severity),
    )


def load_labelled(
    path: Path, *, allowed_actions: tuple[str, ...], categories: tuple[str, ...]
) -> list[LabelledAlert]:
    """Read a labelled JSONL file; blank lines are skipped.

    Raises ``ConfigError`` naming the path and line number of the first unusable line.
    """
    alerts = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            alerts.append(
                to_labelled(record, allowed_actions=allowed_actions, categories=categories)
            )
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: {exc}") from exc
    return alerts


Parse = Callable[[str], Proposal | MalformedProposal]


def evaluate(
    provider: TriageProvider,
    alerts: Iterable[LabelledAlert],
    parse: Parse,
    *,
    extra_patterns: Sequence[re.Pattern[str]] = (),
) -> EvalReport:
    """Run ``provider`` over every alert (redacted first, as in the pipeline) and score it.

    ``parse`` is the proposal parser (``policy.parse_proposal`` bound to a policy);
    ``extra_patterns`` the deployment's own redaction patterns. Calls the provider once per
    alert, in order; a ``TriageError`` from it propagates. ``answered_by`` counts replies
    per ``provider`` or ``provider:model`` (a fallback shows as the provider that answered).
    """
    answered_by: dict[str, int] = {}
    categories: list[str] = []
    confusion: dict[str, dict[str, int]] = {}
    severity_confusion: dict[str, dict[str, int]] = {
        s: dict.fromkeys((*EXPECTED_SEVERITIES, MALFORMED), 0) for s in EXPECTED_SEVERITIES
    }
    n = n_category = category_hits = severity_hits = malformed = fallbacks = 0
    prompt_tokens = completion_tokens = 0
    cost_usd = latency_ms = 0.0
    misses: list[str] = []
    mistakes: dict[tuple[str, str, str], list[str]] = {}
    for alert in alerts:
        request, _counts = redact_request(alert.request, extra_patterns)
        reply = provider.propose(request)
        who = reply.provider if reply.model is None else f"{reply.provider}:{reply.model}"
        answered_by[who] = answered_by.get(who, 0) + 1
        parsed = parse(reply.raw)
        if isinstance(parsed, MalformedProposal):
            malformed += 1
            got_category = got_severity = MALFORMED
        else:
            got_category = parsed.category
            got_severity = SEVERITY_LEVEL[parsed.severity]
        n += 1
        severity_confusion[alert.severity][got_severity] += 1
        if alert.category is not None:
            n_category += 1
            for name in (alert.category, got_category):
                if name not in categories:
                    categories.append(name)
            row = confusion.setdefault(alert.category, {})
            row[got_category] = row.get(got_category, 0) + 1
            if got_category == alert.category:
                category_hits += 1
            else:
                misses.append(alert.id)
                mistakes.setdefault(("category", alert.category, got_category), []).append(
                    alert.id
                )
        if got_severity == alert.severity:
            severity_hits += 1
        else:
            mistakes.setdefault(("severity", alert.severity, got_severity), []).append(alert.id)
        fallbacks += reply.fallback_reason is not None
        prompt_tokens += reply.prompt_tokens
        completion_tokens += reply.completion_tokens
        cost_usd += reply.cost_usd
        latency_ms += reply.latency_ms
    # Square matrices over every category seen, so a reader can scan rows and columns.
    order = sorted(categories, key=lambda c: (c == MALFORMED, c))
    full = {
        expected: {got: confusion.get(expected, {}).get(got, 0) for got in order}
        for expected in order
        if expected != MALFORMED
    }
    return EvalReport(
        provider=provider.name,
        n=n,
        n_category=n_category,
        category_accuracy=category_hits / n_category if n_category else None,
        severity_accuracy=severity_hits / n if n else 0.0,
        confusion=full,
        severity_confusion=severity_confusion,
        malformed=malformed,
        fallbacks=fallbacks,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd,
        latency_ms_total=latency_ms,
        latency_ms_mean=latency_ms / n if n else 0.0,
        answered_by=answered_by,
        misses=tuple(misses),
        top_confusions=_most_common(mistakes),
    )


def _most_common(mistakes: Mapping[tuple[str, str, str], list[str]]) -> tuple[Confusion, ...]:
    # Ties break by kind, then names, so two runs print the same list.
    ranked = sorted(mistakes.items(), key=lambda item: (-len(item[1]), item[0]))
    return tuple(
        Confusion(kind, expected, predicted, len(ids), tuple(ids))
        for (kind, expected, predicted), ids in ranked[:TOP_CONFUSIONS]
    )
