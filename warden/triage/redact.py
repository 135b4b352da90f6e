"""What a triage provider is shown, redacted (``warden.redact``) before it leaves the process."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType

from warden.promql import GENERATOR_URL_LABEL
from warden.redact import TOKEN_RULES, redact
from warden.triage.provider import TriageRequest


def redact_request(
    request: TriageRequest, extra_patterns: Sequence[re.Pattern[str]] = ()
) -> tuple[TriageRequest, Mapping[str, int]]:
    """Redact the request's title, description, label values and change summaries.

    Returns the redacted request and the counts summed over those fields. The service
    name, label names, actions, categories and versions are identifiers Warden needs
    verbatim (a proposed version must match a recorded one) and are left as they are. The
    rule's ``generatorURL`` keeps its expression readable for the rules provider: an
    URL-encoded PromQL expression looks like a token to the generic base64 and hex rules,
    so only those two are not applied to it.
    """
    total: Counter[str] = Counter()

    def clean(text: str, skip: frozenset[str] = frozenset()) -> str:
        result = redact(text, extra_patterns, skip=skip)
        total.update(result.counts)
        return result.text

    title = clean(request.title)
    description = clean(request.description)
    labels = {name: clean(value, TOKEN_RULES if name == GENERATOR_URL_LABEL else frozenset())
              for name, value in request.labels.items()}
    changes = tuple(replace(change, summary=clean(change.summary)) for change in request.changes)
    redacted = replace(
        request, title=title, description=description, labels=MappingProxyType(labels),
        changes=changes,
    )
    return redacted, MappingProxyType(dict(total))
