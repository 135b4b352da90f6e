"""Strict parsing of the model's raw reply (policy.md, "The proposal")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from warden.domain import Action, MalformedProposal, Proposal, Severity
from warden.policy import (
    DEFAULT_CATEGORIES,
    MAX_REPLY_BYTES,
    default_policy,
    parse_proposal,
    proposal_json_schema,
)

from .factories import param_policy, reply

GOOD = reply(params={"version": "v1.2.3"}, name="rollback")


def test_a_well_formed_reply_becomes_a_proposal() -> None:
    assert parse_proposal(GOOD) == Proposal(
        category="latency",
        severity=Severity.HIGH,
        root_cause="Stale cache entries after the deploy.",
        suggested_action=Action("rollback", "checkout-web", {"version": "v1.2.3"}),
        confidence=0.8,
    )


@pytest.mark.parametrize(
    "raw",
    [
        GOOD,
        GOOD + "\n",  # a trailing newline is fine
        " \t\r\n" + GOOD + "\r\n  ",  # JSON whitespace around the object
        GOOD.encode(),
        reply(suggested_action=None),
        reply(confidence=0),
        reply(confidence=1),
        reply(confidence=1.0),
        reply(confidence=0.0),
        reply(root_cause=""),  # may be empty
        reply(category="unknown", severity="low"),
        reply(root_cause="non-ASCII is fine: naïve café ☕"),
        json.dumps(json.loads(reply(root_cause="😀")), ensure_ascii=True),  # paired surrogates
    ],
)
def test_accepted(raw: str | bytes) -> None:
    assert isinstance(parse_proposal(raw), Proposal)


def _swap(key: str, value: Any) -> str:
    body = json.loads(GOOD)
    body[key] = value
    return json.dumps(body)


def _action(**fields: Any) -> str:
    body = json.loads(GOOD)
    body["suggested_action"].update(fields)
    return json.dumps(body)


def _drop(key: str) -> str:
    body = json.loads(GOOD)
    del body[key]
    return json.dumps(body)


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("Sure! Here is the JSON: " + GOOD, "not one JSON object"),
        (GOOD + "\nHope this helps.", "not one JSON object"),
        ("```json\n" + GOOD + "\n```", "not one JSON object"),
        (GOOD + GOOD, "not one JSON object"),
        ("[" + GOOD + "]", "not an object"),
        ("", "not one JSON object"),
        ("null", "not an object"),
        ('"' + GOOD.replace('"', '\\"') + '"', "not an object"),  # JSON inside a string
        (_drop("confidence"), "missing 'confidence'"),
        (_drop("suggested_action"), "missing 'suggested_action'"),
        (_swap("approved", True), "unknown 'approved'"),
        (_action(tier="standard"), "unknown 'tier'"),
        (_action(params=None), "params is null"),
        (_action(params=["version", "v1.2.3"]), "params is an array"),
        (_action(params={"version": 1}), "params.version is a number"),
        (_action(params={"version": None}), "params.version is null"),
        (_action(name=None), "name is null"),
        (_action(service=["checkout-web"]), "service is an array"),
        (_swap("suggested_action", "clear_cache"), "suggested_action is a string"),
        (_swap("suggested_action", {}), "missing"),
        (_swap("category", "Latency"), "category"),
        (_swap("category", "latency "), "category"),
        (_swap("category", "security_breach"), "category"),
        (_swap("severity", "HIGH"), "severity"),
        (_swap("severity", "warning"), "severity"),
        (_swap("severity", None), "severity"),
        (_swap("root_cause", None), "root_cause is null"),
        (_swap("root_cause", 42), "root_cause is a number"),
        (_swap("confidence", "0.8"), "confidence"),
        (_swap("confidence", True), "confidence"),  # a bool is not a number here
        (_swap("confidence", False), "confidence"),
        (_swap("confidence", 1.0000001), "confidence"),
        (_swap("confidence", -0.1), "confidence"),
        (_swap("confidence", 2), "confidence"),
        (_swap("confidence", None), "confidence"),
        (GOOD.replace("0.8", "NaN"), "NaN"),
        (GOOD.replace("0.8", "Infinity"), "Infinity"),
        (GOOD.replace("0.8", "-Infinity"), "-Infinity"),
        (GOOD.replace("0.8", "1e400"), "overflows"),
        (GOOD.replace("0.8", "1" * 5000), "not one JSON object"),  # too long for an int
        (GOOD.replace('"version"', '"version": "v0.0.1", "version"'), "duplicate key 'version'"),
        (GOOD[:-1] + ', "confidence": 0.1}', "duplicate key 'confidence'"),
        (
            GOOD.replace('"high"', '"h\\u0069gh"', 1).replace("0.8", '0.8, "c\\u006fnfidence": 1'),
            "duplicate key 'confidence'",
        ),  # escapes decode to the same key
        (_swap("root_cause", "\ud800"), "lone surrogate"),  # json.dumps writes \ud800
        (GOOD.replace("Stale", "St\udc80ale"), "not valid text"),  # in the raw text itself
        (_action(name="clear\udfff_cache"), "lone surrogate"),
        (_action(params={"version\ud800": "v1"}), "lone surrogate"),
        ("\ufeff" + GOOD, "byte-order mark"),
        (GOOD.replace("{", "{\u00a0", 1), "not one JSON object"),  # not JSON whitespace
        ("{'category': 'latency'}", "not one JSON object"),  # Python, not JSON
        (GOOD[:-1], "not one JSON object"),  # truncated
    ],
)
def test_refused(raw: str, detail: str) -> None:
    parsed = parse_proposal(raw)
    assert isinstance(parsed, MalformedProposal), parsed
    assert detail in parsed.detail


def test_a_raw_control_character_inside_a_string_is_refused() -> None:
    assert isinstance(parse_proposal(GOOD.replace("Stale", "Sta\nle")), MalformedProposal)


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"\xef\xbb\xbf" + GOOD.encode(), "byte-order mark"),
        (GOOD.encode().replace(b"Stale", b"St\xffale"), "not valid UTF-8"),
        (GOOD.encode().replace(b"Stale", b"St\xc0\xafale"), "not valid UTF-8"),  # overlong "/"
        (GOOD.encode().replace(b"Stale", b"St\xed\xa0\x80ale"), "not valid UTF-8"),  # surrogate
        (GOOD.encode("utf-16"), "not valid UTF-8"),
        (b"\x00" * 10, "not one JSON object"),
    ],
)
def test_refused_bytes(raw: bytes, detail: str) -> None:
    parsed = parse_proposal(raw)
    assert isinstance(parsed, MalformedProposal)
    assert detail in parsed.detail


def _padded_to(size: int) -> str:
    body = json.loads(GOOD)
    body["root_cause"] = ""
    base = len(json.dumps(body).encode())
    body["root_cause"] = "x" * (size - base)
    text = json.dumps(body)
    assert len(text.encode()) == size
    return text


def test_the_size_limit_counts_utf8_bytes_of_the_raw_reply() -> None:
    assert isinstance(parse_proposal(_padded_to(MAX_REPLY_BYTES)), Proposal)
    assert isinstance(parse_proposal(_padded_to(MAX_REPLY_BYTES).encode()), Proposal)
    over = parse_proposal(_padded_to(MAX_REPLY_BYTES + 1))
    assert isinstance(over, MalformedProposal) and "over" in over.detail
    assert isinstance(parse_proposal(_padded_to(MAX_REPLY_BYTES + 1).encode()), MalformedProposal)
    # Fewer characters than the limit, but more bytes: é is two bytes in UTF-8.
    wide = GOOD.replace("Stale", "é" * (MAX_REPLY_BYTES // 2))
    assert len(wide) < MAX_REPLY_BYTES < len(wide.encode())
    assert isinstance(parse_proposal(wide), MalformedProposal)


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 30000 + "]" * 30000,  # deeper than Python's recursion limit
        '{"a":' * 20 + "1" + "}" * 20,
        _action(params={"version": {"a": {"b": {"c": {"d": {"e": {"f": "g"}}}}}}}),
    ],
)
def test_deep_nesting_is_refused(raw: str) -> None:
    parsed = parse_proposal(raw)
    assert isinstance(parsed, MalformedProposal)
    assert "nested" in parsed.detail


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    assert isinstance(parse_proposal(_swap("root_cause", "[{" * 100 + '\\"')), Proposal)


def test_categories_come_from_the_caller() -> None:
    extra = (*DEFAULT_CATEGORIES, "security_breach")
    raw = _swap("category", "security_breach")
    assert isinstance(parse_proposal(raw), MalformedProposal)
    parsed = parse_proposal(raw, categories=extra)
    assert isinstance(parsed, Proposal) and parsed.category == "security_breach"


def _objects(schema: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            found.append(schema)
        for value in schema.values():
            found += _objects(value)
    elif isinstance(schema, list):
        for value in schema:
            found += _objects(value)
    return found


@pytest.mark.parametrize("actions", [None, "default", "param"])
def test_the_schema_is_openai_strict_mode_compatible(actions: str | None) -> None:
    spec = {None: None, "default": default_policy().actions, "param": param_policy().actions}
    schema = proposal_json_schema(DEFAULT_CATEGORIES, spec[actions])
    assert schema["type"] == "object"  # strict mode wants an object at the root
    objects = _objects(schema)
    assert len(objects) >= 3
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])
    assert schema["properties"]["category"]["enum"] == list(DEFAULT_CATEGORIES)
    assert schema["properties"]["severity"]["enum"] == ["critical", "high", "medium", "low"]
    choices = schema["properties"]["suggested_action"]["anyOf"]
    assert {"type": "null"} in choices


def test_the_schema_lists_each_action_with_exactly_its_params() -> None:
    schema = proposal_json_schema(("latency",), param_policy().actions)
    choices = schema["properties"]["suggested_action"]["anyOf"][:-1]
    by_name = {c["properties"]["name"]["enum"][0]: c["properties"]["params"] for c in choices}
    assert by_name["clear_cache"]["properties"] == {}
    assert by_name["scale_out"]["required"] == ["replicas", "zone"]
    assert by_name["scale_out"]["properties"]["zone"] == {"type": "string"}
