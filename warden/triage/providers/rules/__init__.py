"""The ``rules`` provider: deterministic, offline triage from the alert's words and rule.

The classifier follows the labelling principles of ``../shared/design/labelling.md``,
each implemented by a named family of weighted phrases (``families.py``):

- a cause stated in the text wins over the symptom (read on the whole description);
- otherwise the symptom decides: word families read the headline (title and alert name,
  which count fully) and the description (which counts less, and what it only guesses at
  less still); metric families read the rule's expression when the alert carries its
  ``generatorURL`` (``warden.promql``): a duration is latency, ``up == 0`` connectivity,
  a share of a limit or a count of queued work exhaustion;
- ``unknown`` has families of its own (failures without a cause, states and notices), so
  an alert about a failure is not pulled into a category by an incidental word, and it is
  also the answer when nothing names latency, connectivity or exhaustion clearly.

The severity comes from the same reading (``severity.py``), never from the alert's own.

A regression that follows a deploy is rolled back: when a deploy with a version landed on
the service at most ``DEPLOY_SUSPECT_MINUTES`` before the first alert, the alert reads
like a regression (latency, errors, crashes) and the policy offers an action whose params
are all grounded (``from: deployed_versions``), the suggestion is that action with the
version that ran before the newest deploy. Without such a deploy nothing changes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from warden.domain import Severity
from warden.promql import expression_of, metric_reading
from warden.triage.provider import TriageReply, TriageRequest
from warden.triage.providers.rules.families import (
    CAUSE_FAMILIES,
    CONN,
    LAT,
    METRIC_FAMILIES,
    RES,
    UNK,
    WORD_FAMILIES,
    Family,
)
from warden.triage.providers.rules.severity import infer_severity

__all__ = ["DEPLOY_SUSPECT_MINUTES", "Classification", "Evidence", "RulesProvider", "classify"]

# Words telling that clearing a cache is the fitting first aid for exhaustion.
_CACHE_WORDS = re.compile(r"\bcache[sd]?\b|\bmemory\b|\bheap\b|\bredis\b|\bmemcached\b|\boom\b")
# Words telling that the service itself is stuck or crash-looping, so a restart helps.
_RESTART_WORDS = re.compile(
    r"\bcrash ?loop(ing|backoff)?\b|\bcrash(ed|es|ing)?\b|\bunhealthy\b|\bnot responding\b"
    r"|\bhung\b|\bhang(s|ing)?\b|\bdeadlock(s|ed)?\b|\btoo many restarts\b|\bstuck\b"
)

# Errors and crashes read as a regression when a deploy just landed (latency does too).
_REGRESSION_WORDS = re.compile(
    r"\berrors?\b|\berror rate\b|\bexceptions?\b|\b5xx\b|\bhttp 5\d\d\b|\bpanic(s|ked)?\b"
    r"|\bcrash ?loop(ing|backoff)?\b|\bcrash(ed|es|ing)?\b"
)
# A deploy at most this long before the first alert is the likeliest cause of a
# regression (issue 17: "what changed on this service just before it broke").
DEPLOY_SUSPECT_MINUTES = 30.0

# A template placeholder (`{{ $labels.instance }}`) in an unrendered alert says nothing.
_TEMPLATE = re.compile(r"\{\{.*?\}\}")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[_/]+")

# Scores below this are too weak to name a category.
_MIN_SCORE = 1.0
_DESCRIPTION_WEIGHT = 0.6
# What a description only guesses at ("may indicate", "possibly due to") counts less
# than what it states.
_SPECULATION_WEIGHT = 0.3
_HEDGE = re.compile(
    r"\b(may|might|could|possibly|probably|likely|usually|often|potential(ly)?|e\.g\.)\b[^.]*"
)
# The expression shows what is measured, but a rule's words are its author's reading.
_EXPRESSION_WEIGHT = 0.8


@dataclass(frozen=True, slots=True)
class Evidence:
    """One phrase found: the family (principle) it belongs to and the words matched."""

    family: str
    words: str


@dataclass(frozen=True, slots=True)
class Classification:
    """The rules' verdict for one alert, with the evidence behind it."""

    category: str
    severity: Severity
    confidence: float
    evidence: tuple[Evidence, ...]
    scores: Mapping[str, float]


def _normalise(text: str) -> str:
    text = _TEMPLATE.sub(" ", text)
    text = _CAMEL.sub(" ", text)
    return _SEPARATORS.sub(" ", text).lower()


def _score(
    families: Iterable[Family],
    parts: tuple[tuple[str, float], ...],
    scores: dict[str, float],
    evidence: dict[str, list[Evidence]],
) -> None:
    # Each phrase counts once, in the first part where it is found (parts come by weight).
    for family in families:
        for pattern, weight in family.phrases:
            for text, factor in parts:
                match = pattern.search(text)
                if match is not None:
                    scores[family.category] += weight * factor
                    evidence[family.category].append(Evidence(family.name, match.group(0).strip()))
                    break


def classify(request: TriageRequest) -> Classification:
    """Classify one alert by its words and its rule's expression. Pure: same request, same
    answer.

    Reads the title, the ``alertname`` label, the description and the ``generatorURL``
    label; never the request's severity. ``confidence`` grows with the winning score and
    with its lead over the others.
    """
    headline = _normalise(f"{request.title} {request.labels.get('alertname', '')}")
    description = _normalise(request.description)
    speculation = " ".join(m.group(0) for m in _HEDGE.finditer(description))
    statement = _HEDGE.sub(" ", description)
    expression = metric_reading(expression_of(request.labels))
    scores = {c: 0.0 for c in (LAT, CONN, RES, UNK)}
    evidence: dict[str, list[Evidence]] = {c: [] for c in scores}
    _score(CAUSE_FAMILIES, ((headline, 1.0), (description, _DESCRIPTION_WEIGHT)), scores, evidence)
    _score(
        WORD_FAMILIES,
        ((headline, 1.0), (statement, _DESCRIPTION_WEIGHT), (speculation, _SPECULATION_WEIGHT)),
        scores,
        evidence,
    )
    _score(METRIC_FAMILIES, ((expression, _EXPRESSION_WEIGHT),), scores, evidence)

    best = max((LAT, CONN, RES), key=lambda c: scores[c])
    category = best if scores[best] >= _MIN_SCORE and scores[best] > scores[UNK] else UNK
    total = sum(scores.values())
    if total == 0:
        confidence = 0.2
    else:
        strength = min(scores[category] / 6.0, 1.0)
        share = scores[category] / total
        confidence = round(0.2 + 0.75 * strength * share, 2)
    return Classification(
        category=category,
        severity=infer_severity(category, headline, description, expression),
        confidence=confidence,
        evidence=tuple(dict.fromkeys(evidence[category])),
        scores=MappingProxyType(scores),
    )


def _suggest(category: str, text: str, allowed: Iterable[str]) -> str | None:
    allowed = set(allowed)
    if category == RES and "clear_cache" in allowed and _CACHE_WORDS.search(text):
        return "clear_cache"
    if "restart_canary" in allowed and _RESTART_WORDS.search(text):
        return "restart_canary"
    return None


@dataclass(frozen=True, slots=True)
class _Rollback:
    """The grounded action back to ``version``, which ran before the ``deployed`` one."""

    action: str
    params: tuple[str, ...]
    version: str
    deployed: str
    minutes_before: float


def _rollback(request: TriageRequest, category: str, text: str) -> _Rollback | None:
    """A rollback of the newest deploy, when it just landed and the alert reads like the
    regression it caused; None otherwise. The version is the one the record shows running
    before the newest deploy, so check 5b of the policy finds it grounded."""
    if category != LAT and not _REGRESSION_WORDS.search(text):
        return None
    deploys = [c for c in request.changes if c.kind == "deploy" and c.version is not None]
    if not deploys or deploys[0].minutes_before > DEPLOY_SUSPECT_MINUTES:
        return None
    newest, versions = deploys[0], request.deployed_versions
    # The record must agree that the newest deploy is what runs now and name its predecessor.
    if len(versions) < 2 or versions[-1] != newest.version:
        return None
    action = next((a for a in request.allowed_actions if a in request.grounded_actions), None)
    if action is None:
        return None
    return _Rollback(action, request.grounded_actions[action], versions[-2], versions[-1],
                     newest.minutes_before)


def _root_cause(result: Classification) -> str:
    if not result.evidence:
        return "No latency, connectivity or resource signal in the alert text."
    by_family: dict[str, list[str]] = {}
    for item in result.evidence:
        by_family.setdefault(item.family, []).append(f"'{item.words}'")
    reasons = "; ".join(f"{family}: {', '.join(words)}" for family, words in by_family.items())
    return f"Classified as {result.category} ({reasons})."


def remembered_fix(request: TriageRequest) -> tuple[int, dict[str, Any]] | None:
    """The most recent earlier incident of the same service and alert identity (incident
    memory's first ``same_alert`` item) and the action that fixed it with a verified
    healthy result, when the policy still offers that action; else None. Pure."""
    for item in request.evidence:
        if item.kind != "similar_incidents" or item.error:
            continue
        same = [p for p in item.data.get("incidents", ()) if p.get("match") == "same_alert"]
        fix = same[0].get("fixed_by") if same else None
        if fix and fix.get("name") in request.allowed_actions:
            return int(same[0]["id"]), dict(fix)
    return None


class RulesProvider:
    """The embedded default provider: no network, no state, deterministic replies.

    The severity in the reply is the request's own when it has one (the monitoring
    system knows better than word matching), else the inferred one. The suggested
    action is always one of ``request.allowed_actions`` and targets ``request.service``.
    It rolls back a deploy that just preceded a regression (its version from the record,
    never from the text); else it is what fixed the last incident of the same alert,
    verified healthy, with that fix's params (``remembered_fix``); else one chosen by the
    words, which never needs params.
    """

    name = "rules"

    def propose(self, request: TriageRequest) -> TriageReply:
        started = time.perf_counter()
        result = classify(request)
        alertname = request.labels.get("alertname", "")
        text = _normalise(f"{request.title} {alertname} {request.description}")
        rollback = _rollback(request, result.category, text)
        remembered = remembered_fix(request)
        root_cause = _root_cause(result)
        suggested: dict[str, object] | None
        if rollback is not None:
            suggested = {"name": rollback.action, "service": request.service,
                         "params": dict.fromkeys(rollback.params, rollback.version)}
            root_cause += (f" Deploy {rollback.deployed} landed "
                           f"{rollback.minutes_before:.0f} min before the first alert; "
                           f"{rollback.version} ran before it.")
        elif remembered is not None:
            past_id, fix = remembered
            suggested = {"name": fix["name"], "service": request.service,
                         "params": dict(fix.get("params") or {})}
            root_cause += (f" The same alert on this service (incident #{past_id}) was fixed "
                           f"by {fix['name']}, verified healthy: proposing it again.")
        else:
            action = _suggest(result.category, text, request.allowed_actions)
            suggested = (None if action is None
                         else {"name": action, "service": request.service, "params": {}})
        category = result.category if result.category in request.categories else UNK
        proposal = {
            "category": category,
            "severity": (request.severity or result.severity).value,
            "root_cause": root_cause,
            "suggested_action": suggested,
            "confidence": result.confidence,
        }
        return TriageReply(
            raw=json.dumps(proposal),
            provider=self.name,
            model=None,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
