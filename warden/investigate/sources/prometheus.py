"""Metrics: the alert rule's own expression, queried in Prometheus over the hour before
the first alert up to now, through its documented HTTP API (``/api/v1/query_range``).

Prometheus writes the rule's expression into each alert's ``generatorURL`` as
``g0.expr``. When the expression ends in a comparison with a number (``x > 100``) the
left side is queried, so the values before the alert are seen too, and the item says when
each series crossed the threshold.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from warden.investigate._evidence import Case, Evidence, EvidenceKind
from warden.promql import GENERATOR_URL_LABEL, expression_of

_POINTS = 60
_MAX_SERIES = 10
_LOOKBACK = timedelta(hours=1)
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
    ">": operator.gt, "<": operator.lt,
}


@dataclass(frozen=True, slots=True)
class Rule:
    """An alert rule's expression split at its last top-level comparison with a number:
    ``query`` is what to graph; ``op`` and ``threshold`` are None without one."""

    expr: str
    query: str
    op: str | None = None
    threshold: float | None = None


def split_rule(expr: str) -> Rule:
    """Find the last comparison outside brackets and strings whose right side is a number.
    Pure; an expression without one is graphed as it is."""
    depth, quote, found = 0, "", None
    index = 0
    while index < len(expr):
        ch = expr[index]
        if quote:
            quote = "" if ch == quote and expr[index - 1] != "\\" else quote
        elif ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            for op in _COMPARISONS:
                if expr.startswith(op, index) and not expr.startswith("=~", index):
                    found = (index, op)
                    index += len(op) - 1
                    break
        index += 1
    if found is None:
        return Rule(expr=expr, query=expr)
    at, op = found
    right = expr[at + len(op):].strip()
    if right.startswith("bool "):
        right = right[5:].strip()
    try:
        threshold = float(right)
    except ValueError:
        return Rule(expr=expr, query=expr)
    return Rule(expr=expr, query=expr[:at].strip(), op=op, threshold=threshold)


def summarise(rule: Rule, labels: dict[str, str],
              values: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """One series: the current, lowest and highest value and, for a rule with a threshold,
    when it last went from not crossing to crossing (None if it never did)."""
    finite = [(t, v) for t, v in values if math.isfinite(v)]
    summary: dict[str, Any] = {
        "labels": labels,
        "current": finite[-1][1] if finite else None,
        "min": min(v for _, v in finite) if finite else None,
        "max": max(v for _, v in finite) if finite else None,
        "points": len(values),
        "crossed_at": None,
    }
    if rule.op is not None and rule.threshold is not None:
        test, before = _COMPARISONS[rule.op], False
        for at, value in finite:
            now_crossing = test(value, rule.threshold)
            if now_crossing and not before:
                summary["crossed_at"] = datetime.fromtimestamp(at, UTC).isoformat()
            before = now_crossing
    return summary


def _series_name(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}" if inner or not name else name


def _number(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


class PrometheusSource:
    """Queries ``base_url`` for each distinct rule expression among the case's alerts."""

    name = "prometheus"
    kind = EvidenceKind.METRIC

    def __init__(self, base_url: str, *, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def gather(self, case: Case) -> Sequence[Evidence]:
        rules = dict.fromkeys(
            e.strip() for a in case.alerts
            if a.generator_url and (e := expression_of({GENERATOR_URL_LABEL: a.generator_url})))
        if not rules:
            return ()
        first = min(a.starts_at for a in case.alerts)
        start, end = first - _LOOKBACK, max(case.now, first)
        step_s = max(1, math.ceil((end - start).total_seconds() / _POINTS))
        with httpx.Client(base_url=self.base_url, timeout=self.timeout_s) as client:
            return [self._query(client, split_rule(expr), start, end, step_s)
                    for expr in rules]

    def _query(self, client: httpx.Client, rule: Rule, start: datetime, end: datetime,
               step_s: int) -> Evidence:
        item_id = f"metric:{rule.expr}"
        title = f"Prometheus: {rule.expr}"
        link = f"{self.base_url}/graph?{urlencode({'g0.expr': rule.query, 'g0.tab': '0'})}"
        try:
            answer = client.get("/api/v1/query_range", params={
                "query": rule.query, "start": start.timestamp(), "end": end.timestamp(),
                "step": step_s})
            body = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            why = f"Prometheus at {self.base_url} did not answer: {type(exc).__name__}: {exc}"
            return Evidence(id=item_id, kind=self.kind, title=title, summary=why,
                            source_url=link, error=why)
        if body.get("status") != "success":
            why = f"Prometheus refused the query ({answer.status_code}): {body.get('error')}"
            return Evidence(id=item_id, kind=self.kind, title=title, summary=why,
                            source_url=link, error=why)
        results = body.get("data", {}).get("result", [])
        series = [summarise(rule, dict(r.get("metric", {})),
                            [(float(t), float(v)) for t, v in r.get("values", [])])
                  for r in results[:_MAX_SERIES]]
        lines = [self._line(rule, s) for s in series] or ["no data in the hour before"]
        if len(results) > _MAX_SERIES:
            lines.append(f"{len(results) - _MAX_SERIES} more series not shown")
        return Evidence(
            id=item_id, kind=self.kind, title=title, summary="; ".join(lines),
            data={"expr": rule.expr, "query": rule.query, "op": rule.op,
                  "threshold": rule.threshold, "start": start.isoformat(),
                  "end": end.isoformat(), "step_s": step_s, "series": series},
            source_url=link)

    @staticmethod
    def _line(rule: Rule, series: dict[str, Any]) -> str:
        line = (f"{_series_name(series['labels'])}: now {_number(series['current'])}, "
                f"min {_number(series['min'])}, max {_number(series['max'])}")
        if rule.op is not None:
            crossed = series["crossed_at"]
            line += (f", crossed {rule.op} {rule.threshold:g} at {crossed}" if crossed
                     else f", not {rule.op} {rule.threshold:g} in the window")
        return line
