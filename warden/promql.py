"""Read the rule behind an alert: the PromQL expression in its ``generatorURL``.

Prometheus puts ``…/graph?g0.expr=<expr>&g0.tab=1`` on every alert it fires, and
Alertmanager passes it on; Warden keeps it with the labels (``warden eval`` sets it from a
record's ``expr``). The expression says what the metric measures: the rules provider's
labelling principles read it when the words alone do not settle a category, and the
investigate stage queries it in Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qs, urlencode, urlsplit

GENERATOR_URL_LABEL = "generatorURL"
_PROMETHEUS_GRAPH = "http://prometheus:9090/graph?"

# Label matchers (`{job="x"}`) and strings, dropped so a label value never reads as a metric.
_MATCHERS = re.compile(r"\{[^{}]*\}|\"[^\"]*\"|'[^']*'")


def generator_url(expr: str) -> str:
    """The ``generatorURL`` Prometheus puts on an alert fired by the rule ``expr``."""
    return _PROMETHEUS_GRAPH + urlencode({"g0.expr": expr, "g0.tab": "1"})


def expression_of(labels: Mapping[str, str]) -> str:
    """The rule's expression from the ``generatorURL`` label, or ``""`` when none is there.

    Any URL with a ``g0.expr`` query parameter counts (Prometheus, Thanos, Mimir and
    VictoriaMetrics all use that shape); anything else is ignored, never an error.
    """
    url = labels.get(GENERATOR_URL_LABEL, "")
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return ""
    return query.get("g0.expr", [""])[0]


def metric_reading(expr: str) -> str:
    """The expression as the families read it: lower-cased, single-spaced, without label
    matchers or strings (``up{job="db"} == 0`` reads ``up == 0``)."""
    return " ".join(_MATCHERS.sub(" ", expr).lower().split())
