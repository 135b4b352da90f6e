"""Input that is stored can always be shown (issue 15, item 6), over real HTTP.

Each hostile shape we know of goes to every source, in the text the views show and in
the free-form fields each format carries (generic's extra fields, PagerDuty's
``custom_details``, Alertmanager's labels and annotations...). What ingest refuses gets a
4xx and stores nothing (a lone surrogate, raw or escaped, in a key or a value; nesting past
``MAX_JSON_DEPTH``). What it stores — awkward but valid: huge strings within the body
limit, control characters, NUL, an RTL override, emoji, markup, nesting at the limit —
renders in every view of its incident: ``GET /v1/incidents/{id}``, the console page, the
Markdown report over HTTP and from ``warden report``, and the notification is delivered.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.conftest import RunningWarden, start_warden
from tests.fakes.target import TargetServer
from tests.ingest.conftest import sample
from warden.cli.main import app as cli
from warden.config import Settings
from warden.ingest.accept import MAX_JSON_DEPTH
from warden.store.tables import DeliveryRow

BODY_LIMIT = 1024 * 1024
JSON = {"content-type": "application/json"}


def nested(depth: int) -> Any:
    """Arrays and objects alternating, ``depth`` levels deep counting this one."""
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"level": value}
    return value


# Valid JSON that is awkward to show: (name, text for the shown fields, an extra value).
STORED_SHAPES: list[tuple[str, str, Any]] = [
    ("control characters", "red \x1b[31malert\x1b[0m \x01\x07\x08\x7f tab\there", {"\x01": "\x1f"}),
    # NUL in a shown field is refused (422: neither store keeps it in a text column); in
    # free-form fields it is kept, escaped, with the rest of the payload.
    ("a NUL in free-form fields", "NUL in free-form fields", {"nul\x00key": "nul\x00value"}),
    ("an RTL override", "invoice\u202egnp.exe \u2066isolate\u2069", {"\u202ekey": "\u202e"}),
    ("emoji and astral", "🔥 disk 💥 \U0001f9ea \U00010348", {"🔥": ["💥", "\U000e0001"]}),
    ("markup and templates", "<script>alert(1)</script> {{ 7*7 }} {% raw %} <!channel> "
     "<https://evil.example|click> *bold* `code` [x](javascript:alert(1)) | a | b |",
     {"<b>": "</td></tr>", "{{x}}": "${jndi:ldap://x}"}),
    ("odd keys", "keys that are empty, blank or dotted",
     {"": "empty", " ": "blank", "a.b": 1, "$": None, "[0]": [], "__proto__": {}}),
    ("nesting at the limit", "nested as deep as allowed", "NESTED"),
    ("numbers at the edges", "numbers", {"big": 1.7976931348623157e308, "neg": -2**63,
                                         "tiny": 5e-324, "exp": 1e22}),
    ("many keys", "ten thousand keys", {f"k{i}": i for i in range(10_000)}),
    ("a huge string", "H" * 100_000, "x" * 300_000),
]

# JSON (or not) that ingest refuses: (name, raw fragment spliced in as the shown text).
REFUSED_SHAPES: list[tuple[str, bytes]] = [
    ("an escaped lone low surrogate", b'"a\\udc00b"'),
    ("an escaped lone high surrogate", b'"\\ud800"'),
    ("a reversed surrogate pair", b'"\\ude00\\ud83d"'),
    ("a raw surrogate (CESU-8)", b'"\xed\xb0\x80"'),
    ("nesting past the limit", json.dumps(nested(MAX_JSON_DEPTH + 1)).encode()),
]

SOURCES = ["generic", "alertmanager", "grafana", "pagerduty", "selzee"]


def place(source: str, case: int, text: str, extra: Any) -> dict[str, Any]:
    """A ``source`` payload for a service of its own (one incident per case), ``text`` in
    every field its views show and ``extra`` in its free-form fields."""
    service = f"svc-{source}-{case}"
    if source == "generic":
        return {"service": service, "title": text, "description": text,
                "labels": {"note": text}, "extra": extra, "more": {"inner": extra}}
    if source in ("alertmanager", "grafana"):
        body = sample("alertmanager-0.25-firing" if source == "alertmanager"
                      else "grafana-11-firing")
        body["alerts"] = body["alerts"][:1]
        alert = body["alerts"][0]
        alert["labels"].update({"service": service, "note": text})
        alert["annotations"].update({"summary": text, "description": text})
        alert["fingerprint"] = f"fp{case}"
        body["groupKey"] = f'{{}}:{{service="{service}"}}'  # one group, one incident
        body["extra"] = extra
        return dict(body)
    if source == "pagerduty":
        body = sample("pagerduty-trigger")
        body["dedup_key"] = f"dedup-{case}"
        body["payload"].update({"component": service, "summary": text,
                                "custom_details": {"note": text, "extra": extra}})
        return dict(body)
    body = sample("selzee-report")
    body.update({"service_id": service, "check_id": f"chk-{case}", "error": text,
                 "extra": extra})
    return dict(body)


def encoded(payload: dict[str, Any]) -> bytes:
    # "NESTED" stands for the deepest nesting allowed at the deepest spot it occupies.
    text = json.dumps(payload, ensure_ascii=False)
    if '"NESTED"' in text:
        depth = _depth_of(payload, "NESTED")
        text = text.replace('"NESTED"', json.dumps(nested(MAX_JSON_DEPTH - depth)))
    return text.encode("utf-8")


def _depth_of(value: Any, marker: str, depth: int = 1) -> int:
    """How many containers enclose the deepest ``marker`` string (-1 when absent)."""
    children = value.values() if isinstance(value, dict) else value
    deepest = -1
    for child in children:
        if child == marker:
            deepest = max(deepest, depth)
        elif isinstance(child, dict | list):
            deepest = max(deepest, _depth_of(child, marker, depth + 1))
    return deepest


@pytest.fixture(scope="module")
def target() -> Iterator[TargetServer]:
    server = TargetServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory,
            target: TargetServer) -> Iterator[RunningWarden]:
    path = tmp_path_factory.mktemp("shows") / "warden.db"
    warden = start_warden(Settings.model_validate({
        "database_url": f"sqlite:///{path}", "max_body_bytes": BODY_LIMIT,
        "notify_webhook_url": f"{target.url}/hook", "worker_poll_s": 0.05}))
    try:
        yield warden
    finally:
        warden.stop()


def stored(running: RunningWarden) -> int:
    with running.warden.store.session() as session:
        return int(session.execute(select(func.count()).select_from(DeliveryRow)).scalar_one())


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("name", "fragment"), REFUSED_SHAPES,
                         ids=[name for name, _ in REFUSED_SHAPES])
@pytest.mark.parametrize("spot", ["shown text", "extra field", "key"])
def test_what_no_view_could_show_is_refused_and_nothing_stored(
    running: RunningWarden, source: str, name: str, fragment: bytes, spot: str
) -> None:
    marker = "REPLACE-ME"
    payload = (place(source, 0, marker, "plain") if spot == "shown text"
               else place(source, 0, "refused", marker) if spot == "extra field"
               else place(source, 0, "refused", {marker: 1}))
    raw = json.dumps(payload).encode()
    if spot == "key":
        if not fragment.startswith(b'"'):
            pytest.skip("only strings can be keys")
        raw = raw.replace(b'"REPLACE-ME"', fragment)
    else:
        raw = raw.replace(b'"REPLACE-ME"', fragment)
    before = stored(running)
    with running.client() as client:
        answer = client.post(f"/v1/alerts/{source}", content=raw, headers=JSON)
    assert answer.status_code in (400, 422), (name, answer.text[:300])
    assert answer.json()["detail"], name
    assert stored(running) == before, name


def views_of(running: RunningWarden, incident_id: int) -> dict[str, str]:
    """Every rendering of the incident, each asserted to have succeeded."""
    shown: dict[str, str] = {}
    with running.client() as client:
        for view, path in (("json", f"/v1/incidents/{incident_id}"),
                           ("console", f"/incidents/{incident_id}"),
                           ("report over HTTP", f"/v1/incidents/{incident_id}/report"),
                           ("incident list", "/v1/incidents"), ("console list", "/")):
            answer = client.get(path)
            assert answer.status_code == 200, (view, answer.text[:300])
            shown[view] = answer.text
    # The module's server made its audit key before any test's own key file was set.
    result = CliRunner().invoke(cli, ["report", str(incident_id)],
                                env={"WARDEN_DATABASE_URL": running.warden.settings.database_url,
                                     "WARDEN_AUDIT_KEY_FILE": running.warden.audit_seal.key_origin})
    assert result.exit_code == 0, result.output[-500:]
    shown["warden report"] = result.output
    return shown


@pytest.mark.parametrize("source", SOURCES)
def test_every_stored_shape_renders_in_every_view(
    running: RunningWarden, target: TargetServer, source: str
) -> None:
    incidents: dict[str, int] = {}
    with running.client() as client:
        for case, (name, text, extra) in enumerate(STORED_SHAPES, start=1):
            raw = encoded(place(source, case, text, copy.deepcopy(extra)))
            assert len(raw) < BODY_LIMIT, name
            answer = client.post(f"/v1/alerts/{source}", content=raw, headers=JSON)
            assert answer.status_code == 202, (name, answer.text[:300])
            incidents[name] = int(answer.json()["alerts"][0]["incident_id"])

    def notified(incident_id: int) -> bool:
        return any(f"/incidents/{incident_id}" in r.body.decode("utf-8", "replace")
                   for r in target.requests("/hook"))

    def decided(incident_id: int) -> bool:
        with running.client() as client:
            return client.get(f"/v1/incidents/{incident_id}").json().get("decision") is not None

    for name, incident_id in incidents.items():
        running.wait_for(lambda: decided(incident_id), timeout_s=30)  # noqa: B023
        views = views_of(running, incident_id)
        incident = json.loads(views["json"])
        assert incident["id"] == incident_id, name
        # A dry run is announced after its verification window; every other decision is
        # announced at once, so the notify step must have got through this incident.
        if incident["decision"]["outcome"] != "execute":
            target.wait_for(lambda: notified(incident_id), timeout_s=30)  # noqa: B023
