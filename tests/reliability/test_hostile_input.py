"""Hostile input over real HTTP: schemathesis against the live ``/openapi.json`` (every
operation, every check: no 5xx, answers that match the documented status codes, content
types, headers and schemas); arbitrary bytes (hypothesis) and bodies no schema describes
(oversized, nested deep, not UTF-8, not JSON) on the ingest route, which must get a 4xx
and store nothing; ids past 64 bits; garbage at every route that takes a body.

The adapters and the proposal parser are fuzzed one level down, without HTTP:
tests/ingest/test_fuzz.py (every adapter, arbitrary JSON and mutated samples) and
tests/policy/test_properties.py (the parser and ``decide`` on arbitrary replies).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, CheckFunction, GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import func, select

from tests.conftest import RunningWarden, start_warden
from tests.web.conftest import sign_in
from warden.config import Settings
from warden.ingest.sources import ADAPTERS
from warden.store.tables import DeliveryRow

TOKEN = "hostile-test-token"
Operation = APIOperation[Any, Any, Any, Any]
EXAMPLES = 50  # per operation (and per source) and mode: about 1,300 requests in all


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWarden]:
    path = tmp_path_factory.mktemp("hostile") / "warden.db"
    warden = start_warden(Settings.model_validate({
        "database_url": f"sqlite:///{path}", "api_tokens": f"alice:{TOKEN}",
        "max_body_bytes": 64 * 1024}))
    try:
        with warden.client() as client:  # something for the incident routes to find
            for service in ("checkout-web", "payment-gateway"):
                client.post("/v1/alerts/generic", json={
                    "service": service, "title": "Redis cache memory at 97%"}).raise_for_status()
        yield warden
    finally:
        warden.stop()


# The ingest route's {source}: every adapter's name, and one that names none (404); the
# same for the change route's {sender}.
SOURCES = [*sorted(ADAPTERS), "nosuch"]
SENDERS = ["generic", "github", "pagerduty", "nosuch"]
# Routes whose body is an outside sender's own format, documented as "an object": a random
# object is schema-valid yet not, say, an Alertmanager webhook or a PagerDuty event, so
# refusing it (4xx) is right, not a rejected valid request.
SENDER_FORMATS = {"/v1/alerts/{source}", "/v1/changes/{sender}", "/v2/enqueue",
                  "/v2/change/enqueue"}


def path_choices(operation: Operation) -> list[dict[str, str] | None]:
    """The path parameters to test ``operation`` with: each name its route knows."""
    if "{source}" in operation.path:
        return [{"source": source} for source in SOURCES]
    if "{sender}" in operation.path:
        return [{"sender": sender} for sender in SENDERS]
    return [None]


def check_operation(operation: Operation, mode: GenerationMode, *,
                    path: dict[str, str] | None, base_url: str) -> int:
    """Run ``EXAMPLES`` generated requests of ``operation`` through every schemathesis
    check, half of them with an approver's token; the number of requests made."""
    # The one exclusion: see SENDER_FORMATS.
    excluded: list[CheckFunction] = (
        [positive_data_acceptance] if operation.path in SENDER_FORMATS else [])
    strategy = operation.as_strategy(mode, path_parameters=path)
    calls = 0

    @given(case=strategy, authorised=st.booleans())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Case[Operation], authorised: bool) -> None:
        nonlocal calls
        calls += 1
        headers = {"authorization": f"Bearer {TOKEN}"} if authorised else None
        case.call_and_validate(base_url=base_url, headers=headers, excluded_checks=excluded)

    try:
        check()
    except Unsatisfiable:
        # No invalid request exists (no parameters, or only free-form headers and bodies):
        # the negative mode has nothing to send.
        assert mode is GenerationMode.NEGATIVE, operation.label
    return calls


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_every_operation_against_its_schema(running: RunningWarden,
                                            mode: GenerationMode) -> None:
    """Every operation of the live /openapi.json, with valid (positive) and invalid
    (negative) requests: every schemathesis check passes (no 5xx; documented status codes,
    content types, headers and schemas), the one exclusion above aside."""
    api = schemathesis.openapi.from_url(f"{running.url}/openapi.json")
    loaded = list(api.get_all_operations())
    operations = [result.ok() for result in loaded if isinstance(result, Ok)]
    assert len(operations) == len(loaded) >= 12
    calls = sum(check_operation(operation, mode, path=path, base_url=running.url)
                for operation in operations for path in path_choices(operation))
    print(f"\n[schemathesis/{mode.value}] {len(operations)} operations, {calls} requests, "
          "0 failures")


def _stored(running: RunningWarden) -> int:
    with running.warden.store.session() as session:
        return int(session.execute(select(func.count()).select_from(DeliveryRow)).scalar_one())


@pytest.mark.parametrize(("name", "body", "status"), [
    ("over the size limit", b'{"service": "a", "title": "' + b"x" * 70_000 + b'"}', 413),
    ("nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, 413),
    ("nested 20,000 deep, under the size limit", b"[" * 20_000 + b"]" * 20_000, 400),
    ("nested objects 10,000 deep", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 400),
    ("Latin-1, not UTF-8", '{"service": "café", "title": "x"}'.encode("latin-1"), 400),
    ("a lone surrogate", b'{"service": "a", "title": "\xed\xa0\x80"}', 400),
    ("a byte-order mark", b'\xef\xbb\xbf{"service": "a", "title": "x"}', 400),
    ("NaN", b'{"service": "a", "title": "x", "n": NaN}', 400),
    ("an integer of 5,000 digits", b'{"service": "a", "title": "x", "n": ' + b"9" * 5000
     + b"}", 400),
    ("truncated", b'{"service": "a", "title": ', 400),
    ("empty", b"", 400),
    ("a JSON string", json.dumps("service").encode(), 422),
    ("the right keys, wrong types", json.dumps({"service": ["a"], "title": {}}).encode(), 422),
    ("a NUL in the service", json.dumps({"service": "a\u0000b", "title": "x"}).encode(), 422),
])
def test_ingest_refuses_bad_bodies_with_4xx_and_stores_nothing(
    running: RunningWarden, name: str, body: bytes, status: int
) -> None:
    before = _stored(running)
    with running.client() as client:
        response = client.post("/v1/alerts/generic", content=body,
                               headers={"content-type": "application/json"})
    assert response.status_code == status, (name, response.text[:300])
    assert response.json()["detail"], name
    assert _stored(running) == before, name


_json_text = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["service", "title", "alerts", "labels", "status",
                                       "payload", "service_id", "version"])
                      | st.text(max_size=8), children, max_size=5),
    max_leaves=20,
).map(lambda value: json.dumps(value, allow_nan=True).encode())


@given(source=st.sampled_from(SOURCES), body=st.binary(max_size=2000) | _json_text,
       content_type=st.sampled_from(["application/json", "text/plain", ""]))
@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_any_bytes_to_any_source_get_a_4xx_or_are_stored(
    running: RunningWarden, source: str, body: bytes, content_type: str
) -> None:
    before = _stored(running)
    with running.client() as client:
        response = client.post(f"/v1/alerts/{source}", content=body,
                               headers={"content-type": content_type})
    assert response.status_code in (202, 400, 404, 413, 415, 422), response.text[:300]
    assert _stored(running) == before + (response.status_code == 202)


def test_a_body_that_lies_about_its_length_is_cut_off(running: RunningWarden) -> None:
    """Chunked, with no Content-Length: the limit is counted as the bytes arrive."""

    def chunks() -> Iterator[bytes]:
        yield b'{"service": "a", "title": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    with running.client() as client:
        response = client.post("/v1/alerts/generic", content=chunks(),
                               headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_no_route_answers_5xx_to_garbage(running: RunningWarden) -> None:
    """Bytes no schema generator would send, at every route that takes a body."""
    bodies = [b"\x00\xff" * 100, b"{" * 5000, b"payload=%ff%fe", b"\xed\xa0\x80"]
    routes = ["/v1/alerts/generic", "/v1/alerts/alertmanager", "/v1/alerts/nosuch",
              "/v1/incidents/1/approve", "/v1/incidents/1/reject",
              "/v1/incidents/1/acknowledge", "/v1/incidents/1/resolve", "/v1/slack/interactions",
              "/v1/slack/events", "/v1/policy/reload", "/login"]
    answered = []
    with httpx.Client(base_url=running.url, timeout=10) as client:
        for route in routes:
            for body in bodies:
                for content_type in ("application/json", "application/x-www-form-urlencoded"):
                    response = client.post(route, content=body, headers={
                        "content-type": content_type, "authorization": f"Bearer {TOKEN}"})
                    answered.append((route, response.status_code))
    assert [a for a in answered if a[1] >= 500] == []


BIG = "99999999999999999999"  # past 64 bits: no row id can be this


@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"/v1/incidents/{BIG}"), ("GET", f"/v1/incidents/{BIG}/report"),
    ("GET", f"/v1/incidents?offset={BIG}"), ("POST", f"/v1/incidents/{BIG}/approve"),
    ("POST", f"/v1/incidents/{BIG}/reject"), ("GET", f"/incidents/{BIG}"),
    ("POST", f"/v1/incidents/{BIG}/acknowledge"), ("POST", f"/v1/incidents/{BIG}/resolve"),
    ("GET", f"/incidents/{BIG}/report"), ("GET", f"/?offset={BIG}"),
])
def test_ids_past_64_bits_are_refused_not_a_server_error(running: RunningWarden, method: str,
                                                          path: str) -> None:
    with running.client() as client:
        if not path.startswith("/v1/"):
            sign_in(client, TOKEN)  # the console reads with a session
        response = client.request(method, path, json={"reason": "no"},
                                  headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422, response.text
