"""The model's raw reply -> ``Proposal``, strictly (policy.md, "The proposal").

A reply is either exactly the contract's shape or a ``MalformedProposal`` saying what
was wrong; nothing is repaired. The hazards a plain ``json.loads`` or pydantic model lets
through are closed here: duplicate keys (the last one would win), NaN/Infinity and
overflow to infinity, a byte-order mark, invalid UTF-8 and lone surrogates, unbounded
size and nesting.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from warden.domain import Action, MalformedProposal, Proposal, Severity
from warden.policy._model import DEFAULT_CATEGORIES, ActionSpec

MAX_REPLY_BYTES = 64 * 1024
"""The largest reply accepted, in UTF-8 bytes of the raw text."""

MAX_DEPTH = 8
"""Deepest nesting of objects and arrays accepted (the contract's shape needs 3)."""

_TOP_KEYS = frozenset({"category", "severity", "root_cause", "suggested_action", "confidence"})
_ACTION_KEYS = frozenset({"name", "service", "params"})
_SEVERITIES = {s.value: s for s in Severity}
_BOM = "\ufeff"
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class _Refused(ValueError):
    """Raised from inside ``json.loads`` hooks; becomes a ``MalformedProposal``."""


def parse_proposal(
    raw: bytes | str, *, categories: Collection[str] = DEFAULT_CATEGORIES
) -> Proposal | MalformedProposal:
    """Parse the model's raw reply; never raises.

    Returns a ``Proposal`` only when ``raw`` is one JSON object of exactly the contract's
    shape with ``category`` in ``categories`` (compared byte for byte); anything else is a
    ``MalformedProposal`` whose ``detail`` says what was wrong. Pure.
    """
    text = _text(raw)
    if isinstance(text, MalformedProposal):
        return text
    if text.count("{") + text.count("[") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        return MalformedProposal(f"nested deeper than {MAX_DEPTH} levels")
    try:
        obj = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
    except _Refused as exc:
        return MalformedProposal(str(exc))
    except RecursionError:
        return MalformedProposal("nested too deep")
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        return MalformedProposal(f"not one JSON object: {exc}")
    try:
        return _proposal(obj, categories)
    except _Refused as exc:
        return MalformedProposal(str(exc))


def _text(raw: bytes | str) -> str | MalformedProposal:
    if isinstance(raw, str):
        # Each character is at least one UTF-8 byte, so a long str is refused unencoded.
        if len(raw) > MAX_REPLY_BYTES:
            return MalformedProposal(f"reply over {MAX_REPLY_BYTES} bytes")
        if raw.startswith(_BOM):
            return MalformedProposal("reply starts with a byte-order mark")
        try:
            size = len(raw.encode("utf-8"))
        except UnicodeEncodeError:
            return MalformedProposal("reply is not valid text (a lone surrogate)")
        if size > MAX_REPLY_BYTES:
            return MalformedProposal(f"reply is {size} bytes, over {MAX_REPLY_BYTES}")
        return raw
    if len(raw) > MAX_REPLY_BYTES:
        return MalformedProposal(f"reply is {len(raw)} bytes, over {MAX_REPLY_BYTES}")
    if raw.startswith(b"\xef\xbb\xbf"):
        return MalformedProposal("reply starts with a byte-order mark")
    try:
        # The strict codec refuses overlong forms and encoded surrogates as well.
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return MalformedProposal(f"reply is not valid UTF-8 (byte {exc.start})")


def _depth(text: str) -> int:
    """Deepest bracket nesting outside JSON strings (a bound, not a parser)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {key!r}")
            seen.add(key)
    return obj


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _Refused(f"number {literal[:40]} overflows")
    return value


def _proposal(obj: object, categories: Collection[str]) -> Proposal:
    top = _exact_object(obj, _TOP_KEYS, "the reply")
    category = top["category"]
    if type(category) is not str or category not in categories:
        raise _Refused(f"category {_show(category)} is not one of {', '.join(categories)}")
    severity = top["severity"]
    if type(severity) is not str or severity not in _SEVERITIES:
        raise _Refused(f"severity {_show(severity)} is not one of {', '.join(_SEVERITIES)}")
    root_cause = _string(top["root_cause"], "root_cause")
    confidence = top["confidence"]
    # type() rather than isinstance(): JSON true is a bool, and bool is an int.
    if type(confidence) not in (int, float) or not 0 <= confidence <= 1:
        raise _Refused(f"confidence {_show(confidence)} is not a number from 0 to 1")
    suggested = top["suggested_action"]
    return Proposal(
        category=category,
        severity=_SEVERITIES[severity],
        root_cause=root_cause,
        suggested_action=None if suggested is None else _action(suggested),
        confidence=float(confidence),
    )


def _action(obj: object) -> Action:
    fields = _exact_object(obj, _ACTION_KEYS, "suggested_action")
    params = fields["params"]
    if type(params) is not dict:
        raise _Refused(f"suggested_action.params is {_kind(params)}, not an object")
    for key, value in params.items():
        _string(key, "a suggested_action.params key")
        _string(value, f"suggested_action.params.{key}")
    return Action(
        name=_string(fields["name"], "suggested_action.name"),
        service=_string(fields["service"], "suggested_action.service"),
        params=params,
    )


def _exact_object(obj: object, keys: frozenset[str], where: str) -> dict[str, Any]:
    if type(obj) is not dict:
        raise _Refused(f"{where} is {_kind(obj)}, not an object")
    if obj.keys() != keys:
        missing = sorted(keys - obj.keys())
        unknown = sorted(obj.keys() - keys)
        parts = [f"missing {', '.join(map(repr, missing))}"] if missing else []
        parts += [f"unknown {', '.join(map(repr, unknown))}"] if unknown else []
        raise _Refused(f"{where} has the wrong keys: {'; '.join(parts)}")
    return obj


def _string(value: object, where: str) -> str:
    if type(value) is not str:
        raise _Refused(f"{where} is {_kind(value)}, not a string")
    if _SURROGATE.search(value) is not None:
        raise _Refused(f"{where} holds a lone surrogate, not valid text")
    return value


def _kind(value: object) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 60 else text[:57] + "..."


def proposal_json_schema(
    categories: Collection[str] = DEFAULT_CATEGORIES,
    actions: Mapping[str, ActionSpec] | None = None,
) -> dict[str, Any]:
    """The JSON schema of a proposal, usable as an OpenAI ``strict`` structured output.

    Strict mode demands ``additionalProperties: false`` and every key required on every
    object, so free-form params cannot be written as a map of strings. Since the policy
    declares every param anyway, ``suggested_action`` is instead one alternative per
    allowed action in ``actions``, each with exactly that action's params (all required
    strings), or ``null``. Without ``actions`` any action name is allowed, with empty
    params only. Pattern and range checks are left to ``parse_proposal`` and ``decide``,
    which run on the reply regardless; the schema only steers the model.
    """
    if actions is None:
        choices: list[dict[str, Any]] = [_action_schema({"type": "string"}, ())]
    else:
        choices = [
            _action_schema({"type": "string", "enum": [name]}, tuple(spec.params))
            for name, spec in actions.items()
        ]
    properties = {
        "category": {"type": "string", "enum": list(categories)},
        "severity": {"type": "string", "enum": list(_SEVERITIES)},
        "root_cause": {"type": "string", "description": "One or two sentences."},
        "suggested_action": {"anyOf": [*choices, {"type": "null"}]},
        "confidence": {"type": "number", "description": "From 0 to 1 inclusive."},
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _action_schema(name: dict[str, Any], params: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "name": name,
            "service": {"type": "string", "description": "Exactly the alert's service."},
            "params": {
                "type": "object",
                "properties": {param: {"type": "string"} for param in params},
                "required": list(params),
                "additionalProperties": False,
            },
        },
        "required": ["name", "service", "params"],
        "additionalProperties": False,
    }
