"""Warden as Alertmanager's webhook receiver, with Debian's real binaries.

Alertmanager and Prometheus run as child processes on loopback ports, with configs written
here (Alertmanager's is the README's example, re-pointed). Warden runs in-process
(``warden_server``) and requires a bearer token for the ``alertmanager`` source, the one
Alertmanager's ``http_config`` sends. Intervals are one second so the whole module takes
seconds, not minutes.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.conftest import RunningWarden, free_port

pytestmark = pytest.mark.slow

T = TypeVar("T")

TOKEN = "am-e2e-token"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prometheus"
WAIT_S = 30.0
ALERTMANAGER = "prometheus-alertmanager"
PROMETHEUS = "prometheus"


# Child processes ----------------------------------------------------------------------------


def binary(name: str) -> str:
    """The path of a Debian binary the test drives; a missing one fails, never skips."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: these tests drive Debian's prometheus and "
            f"prometheus-alertmanager packages (./dev.sh test installs them with apt-get)",
            pytrace=False,
        )
    return path


@dataclass
class Daemon:
    """One external process, its log file and the loopback URL it serves."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate, then kill if it does not exit within 10 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Daemons:
    """Every process a test started, stopped at teardown whatever the outcome."""

    workdir: Path
    started: list[Daemon] = field(default_factory=list)

    def start(self, name: str, args: list[str], *, url: str) -> Daemon:
        """Run ``name`` with ``args`` and wait until ``{url}/-/ready`` answers 200."""
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([binary(name), *args], stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        daemon = Daemon(name, url, process, log)
        self.started.append(daemon)

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{daemon.tail()}",
                            pytrace=False)
            try:
                return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        eventually(ready, what=f"{name} ready at {url}", daemons=self)
        return daemon

    def diagnostics(self) -> str:
        return "\n".join(f"--- {d.name} log (last lines) ---\n{d.tail()}" for d in self.started)

    def stop_all(self) -> None:
        for daemon in reversed(self.started):
            daemon.stop()


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Daemons]:
    running = Daemons(tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


def eventually(check: Callable[[], T | None], *, what: str, daemons: Daemons,
               timeout_s: float = WAIT_S) -> T:
    """Poll ``check`` until it returns something truthy, and return that; fail with
    ``what`` and the processes' logs after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}\n"
                        f"{daemons.diagnostics()}", pytrace=False)
        time.sleep(0.2)


# The stack ----------------------------------------------------------------------------------


def start_alertmanager(daemons: Daemons, warden: RunningWarden) -> Daemon:
    """The README's ``examples/prometheus/alertmanager.yml``, pointed at this Warden with
    this test's token and one-second intervals."""
    config = yaml.safe_load((EXAMPLES / "alertmanager.yml").read_text())
    route = config["route"]
    assert route["group_by"] == ["alertname", "service"], "the tests rely on this grouping"
    route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    (receiver,) = config["receivers"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["send_resolved"] is True
    assert webhook["url"].endswith("/v1/alerts/alertmanager")
    webhook["url"] = f"{warden.url}/v1/alerts/alertmanager"
    webhook["http_config"]["authorization"]["credentials"] = TOKEN
    path = daemons.workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    return daemons.start(ALERTMANAGER, [
        f"--config.file={path}",
        f"--storage.path={daemons.workdir / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=debug",
    ], url=f"http://127.0.0.1:{port}")


def start_prometheus(daemons: Daemons, *, alertmanager: Daemon, rules: dict[str, Any],
                     scrape: dict[str, str]) -> Daemon:
    """Prometheus evaluating ``rules`` every second and scraping ``scrape`` (job → URL)."""
    rules_path = daemons.workdir / "rules.yml"
    rules_path.write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules_path)],
        "alerting": {"alertmanagers": [
            {"static_configs": [{"targets": [urlsplit(alertmanager.url).netloc]}]},
        ]},
        "scrape_configs": [
            {"job_name": job, "metrics_path": urlsplit(url).path,
             "static_configs": [{"targets": [urlsplit(url).netloc]}]}
            for job, url in scrape.items()
        ],
    }
    path = daemons.workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    return daemons.start(PROMETHEUS, [
        f"--config.file={path}",
        f"--storage.tsdb.path={daemons.workdir / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ], url=f"http://127.0.0.1:{port}")


class GaugeTarget:
    """A ``/metrics`` endpoint with one gauge, ``demo_queue_jobs_waiting{queue="emails"}``,
    whose value the test sets."""

    def __init__(self, value: float) -> None:
        self.value = value
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = (
                    "# HELP demo_queue_jobs_waiting Jobs waiting in the queue.\n"
                    "# TYPE demo_queue_jobs_waiting gauge\n"
                    f'demo_queue_jobs_waiting{{queue="emails"}} {target.value}\n'
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Prometheus scrapes every second; keep the test output quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def gauge_target() -> Iterator[GaugeTarget]:
    target = GaugeTarget(3)
    try:
        yield target
    finally:
        target.close()


# Reading the three services -----------------------------------------------------------------


def am_alert(name: str, *, service: str, severity: str, instance: str, summary: str,
             starts_at: datetime, ends_at: datetime | None = None) -> dict[str, Any]:
    """An alert as Alertmanager's API v2 takes it (what Prometheus itself posts)."""
    alert: dict[str, Any] = {
        "labels": {"alertname": name, "service": service, "severity": severity,
                   "instance": instance},
        "annotations": {"summary": summary, "description": f"{summary} on {instance}"},
        "startsAt": starts_at.isoformat(),
    }
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    return alert


def push(alertmanager: Daemon, alerts: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{alertmanager.url}/api/v2/alerts", json=alerts, timeout=10)
    assert response.status_code == 200, response.text


def incidents(warden: RunningWarden) -> list[dict[str, Any]]:
    """Every incident with its detail (alerts, proposal, decision), oldest first."""
    with warden.client() as client:
        page = client.get("/v1/incidents", params={"limit": 1000}).json()
        return [client.get(f"/v1/incidents/{item['id']}").json()
                for item in reversed(page["items"])]


def by_service(warden: RunningWarden) -> dict[str, dict[str, Any]]:
    return {incident["service"]: incident for incident in incidents(warden)}


def prom_query(prometheus: Daemon, query: str) -> list[dict[str, Any]]:
    """The instant vector of ``query`` from Prometheus's HTTP API."""
    response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": query},
                         timeout=10)
    body = response.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def group_key(**labels: str) -> str:
    """Alertmanager's groupKey for a group of the root route (``{}:`` + group labels)."""
    inner = ", ".join(f'{name}="{value}"' for name, value in sorted(labels.items()))
    return f"{{}}:{{{inner}}}"


# The tests ----------------------------------------------------------------------------------


def test_the_example_configs_pass_promtool_and_amtool() -> None:
    checks = [
        [binary("promtool"), "check", "config", str(EXAMPLES / "prometheus.yml")],
        [binary("promtool"), "check", "rules", str(EXAMPLES / "rules.yml")],
        [binary("amtool"), "check-config", str(EXAMPLES / "alertmanager.yml")],
    ]
    for argv in checks:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}{done.stderr}"


def test_alertmanager_groups_become_incidents_and_resolve(
    warden_server: Callable[..., RunningWarden], daemons: Daemons
) -> None:
    warden = warden_server(source_tokens=f"alertmanager:{TOKEN}")
    with warden.client() as client:
        refused = client.post("/v1/alerts/alertmanager", json={"version": "4"})
    assert refused.status_code == 401, "Warden must demand the token Alertmanager sends"
    alertmanager = start_alertmanager(daemons, warden)

    started = datetime.now(UTC) - timedelta(minutes=1)
    latency = [
        am_alert("HighLatency", service="checkout", severity="critical", instance=instance,
                 summary="checkout p99 latency is 3.2 s", starts_at=started)
        for instance in ("checkout-1", "checkout-2")
    ]
    disk = am_alert("DiskAlmostFull", service="billing-db", severity="warning",
                    instance="db-1", summary="Disk /var/lib/postgresql is 93% full",
                    starts_at=started)
    push(alertmanager, [*latency, disk])

    def both_groups_in() -> dict[str, dict[str, Any]] | None:
        found = by_service(warden)
        if len(found.get("checkout", {}).get("alerts", ())) == 2 and "billing-db" in found:
            return found
        return None

    found = eventually(both_groups_in, what="two incidents from two Alertmanager groups",
                       daemons=daemons)
    assert len(found) == 2, f"one incident per group, got {sorted(found)}"
    checkout, billing = found["checkout"], found["billing-db"]

    assert checkout["status"] == "open"
    assert checkout["source"] == "alertmanager"
    assert checkout["severity"] == "critical"
    assert checkout["title"] == "checkout p99 latency is 3.2 s"
    assert checkout["fingerprint"] == "alertmanager:" + group_key(alertname="HighLatency",
                                                                  service="checkout")
    assert checkout["labels"].items() >= {"alertname": "HighLatency", "service": "checkout",
                                          "severity": "critical"}.items()
    assert checkout["alert_count"] == 2
    assert {a["labels"]["instance"] for a in checkout["alerts"]} == {"checkout-1",
                                                                     "checkout-2"}
    assert all(a["status"] == "firing" for a in checkout["alerts"])

    assert billing["status"] == "open"
    assert billing["severity"] == "medium", "Prometheus's 'warning' is Warden's 'medium'"
    assert billing["fingerprint"] == "alertmanager:" + group_key(alertname="DiskAlmostFull",
                                                                 service="billing-db")
    assert billing["labels"]["instance"] == "db-1"
    assert billing["description"] == "Disk /var/lib/postgresql is 93% full on db-1"
    assert billing["alert_count"] == 1

    # Grouped exactly as Alertmanager grouped them: the same alert fingerprints together.
    groups = httpx.get(f"{alertmanager.url}/api/v2/alerts/groups", timeout=10).json()
    am_grouping = {frozenset(a["fingerprint"] for a in g["alerts"]) for g in groups}
    warden_grouping = {frozenset(a["fingerprint"] for a in i["alerts"])
                       for i in found.values()}
    assert warden_grouping == am_grouping

    # One alert of the checkout group resolves: the incident stays open while its
    # sibling fires.
    ended = datetime.now(UTC) - timedelta(seconds=1)
    first, second = (
        am_alert("HighLatency", service="checkout", severity="critical", instance=instance,
                 summary="checkout p99 latency is 3.2 s", starts_at=started, ends_at=ended)
        for instance in ("checkout-1", "checkout-2")
    )
    push(alertmanager, [first])

    def first_resolved() -> dict[str, Any] | None:
        incident = by_service(warden)["checkout"]
        statuses = {(a["labels"]["instance"], a["status"]) for a in incident["alerts"]}
        return incident if ("checkout-1", "resolved") in statuses else None

    checkout = eventually(first_resolved, what="checkout-1's resolve to reach Warden",
                          daemons=daemons)
    assert checkout["status"] == "open", "checkout-2 still fires"
    assert checkout["resolved_at"] is None

    # The rest resolves: both incidents close.
    disk_ended = {**disk, "endsAt": ended.isoformat()}
    push(alertmanager, [second, disk_ended])

    def all_resolved() -> dict[str, dict[str, Any]] | None:
        found = by_service(warden)
        return found if all(i["status"] == "resolved" for i in found.values()) else None

    found = eventually(all_resolved, what="both incidents to resolve", daemons=daemons)
    assert len(found) == 2, "resolves fold into the open incidents, they open none"
    assert found["checkout"]["alert_count"] == 4  # two firing, two resolved: no duplicates
    assert found["billing-db"]["alert_count"] == 2
    assert all(i["resolved_at"] for i in found.values())


def test_prometheus_rule_fires_through_alertmanager_into_triage(
    warden_server: Callable[..., RunningWarden], daemons: Daemons, gauge_target: GaugeTarget
) -> None:
    warden = warden_server(source_tokens=f"alertmanager:{TOKEN}")
    alertmanager = start_alertmanager(daemons, warden)
    rules = {"groups": [{"name": "e2e", "rules": [{
        "alert": "MailQueueBacklog",
        "expr": 'demo_queue_jobs_waiting{queue="emails"} > 100',
        "labels": {"service": "mailer", "severity": "warning"},
        "annotations": {
            "summary": "Mail queue backlog: {{ $value }} jobs waiting",
            "description": "The {{ $labels.queue }} queue holds {{ $value }} jobs waiting "
                           "to be sent.",
        },
    }]}]}
    prometheus = start_prometheus(daemons, alertmanager=alertmanager, rules=rules, scrape={
        "demo": gauge_target.url,
        "warden": f"{warden.url}/metrics",
    })

    # Below the threshold: scraped, and nothing reaches Warden.
    eventually(lambda: prom_query(prometheus, "demo_queue_jobs_waiting"),
               what="Prometheus to scrape the demo target", daemons=daemons)
    assert incidents(warden) == []

    gauge_target.value = 500

    def triaged() -> dict[str, Any] | None:
        incident = by_service(warden).get("mailer")
        if incident and incident["proposal"] and incident["decision"]:
            return incident
        return None

    incident = eventually(triaged, what="the MailQueueBacklog alert to be triaged in Warden",
                          daemons=daemons)
    assert incident["status"] == "open"
    assert incident["severity"] == "medium"
    assert incident["title"] == "Mail queue backlog: 500 jobs waiting"
    assert incident["fingerprint"] == "alertmanager:" + group_key(alertname="MailQueueBacklog",
                                                                  service="mailer")
    assert incident["labels"].items() >= {
        "alertname": "MailQueueBacklog", "service": "mailer", "severity": "warning",
        "queue": "emails", "job": "demo", "instance": urlsplit(gauge_target.url).netloc,
    }.items()
    alert = incident["alerts"][0]
    assert alert["raw"]["generatorURL"], "Prometheus links the rule that fired"
    assert incident["proposal"]["provider"] == "rules"
    assert incident["proposal"]["category"] == "resource_exhaustion"
    assert incident["decision"]["outcome"] in {"execute", "needs_approval", "blocked"}
    assert incident["decision"]["reasons"], "a decision names its reasons"

    # Prometheus scrapes Warden's own /metrics: the scrape is up (so the exposition
    # parses) and Warden's counters are there.
    eventually(lambda: [s for s in prom_query(prometheus, 'up{job="warden"}')
                        if s["value"][1] == "1"],
               what='up{job="warden"} == 1', daemons=daemons)
    eventually(lambda: prom_query(
        prometheus,
        'warden_alerts_received_total{job="warden",source="alertmanager",outcome="stored"}'
        " >= 1"),
        what="Warden's stored-alert counter in Prometheus", daemons=daemons)

    # Back below the threshold: Prometheus resolves the alert and Warden the incident.
    gauge_target.value = 2

    def resolved() -> dict[str, Any] | None:
        incident = by_service(warden)["mailer"]
        return incident if incident["status"] == "resolved" else None

    incident = eventually(resolved, what="the mailer incident to resolve", daemons=daemons)
    assert [a["status"] for a in incident["alerts"]] == ["firing", "resolved"]


# Two cases the real Alertmanager produces that once split or dropped incidents ------------


def received(warden: RunningWarden) -> float:
    """Alertmanager alerts Warden acknowledged, stored or duplicate, from ``/metrics``."""
    with warden.client() as client:
        lines = client.get("/metrics").text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines
               if line.startswith("warden_alerts_received_total{")
               and 'source="alertmanager"' in line
               and ('outcome="stored"' in line or 'outcome="duplicate"' in line))


def test_one_notification_resolving_one_alert_and_firing_another_keeps_the_incident(
    warden_server: Callable[..., RunningWarden], daemons: Daemons
) -> None:
    warden = warden_server(source_tokens=f"alertmanager:{TOKEN}")
    alertmanager = start_alertmanager(daemons, warden)
    started = datetime.now(UTC) - timedelta(minutes=1)
    first = am_alert("HighLatency", service="checkout", severity="critical",
                     instance="checkout-1", summary="checkout p99 latency is 3.2 s",
                     starts_at=started)
    push(alertmanager, [first])
    eventually(lambda: incidents(warden), what="the checkout incident", daemons=daemons)

    # Within one group_interval checkout-1 recovers and checkout-3 starts failing: one
    # notification, group status "firing", checkout-1 (resolved) listed first.
    later = am_alert("HighLatency", service="checkout", severity="critical",
                     instance="checkout-3", summary="checkout p99 latency is 3.2 s",
                     starts_at=datetime.now(UTC))
    push(alertmanager, [{**first, "endsAt": datetime.now(UTC).isoformat()}, later])
    eventually(lambda: received(warden) >= 3, what="the second notification",
               daemons=daemons)

    found = incidents(warden)
    assert [i["status"] for i in found] == ["open"], "the group never stopped firing"
    assert sorted((a["labels"]["instance"], a["status"]) for a in found[0]["alerts"]) == [
        ("checkout-1", "firing"), ("checkout-1", "resolved"), ("checkout-3", "firing")]


def test_alert_firing_again_after_a_resolve_timeout_reopens(
    warden_server: Callable[..., RunningWarden], daemons: Daemons
) -> None:
    warden = warden_server(source_tokens=f"alertmanager:{TOKEN}")
    alertmanager = start_alertmanager(daemons, warden)
    started = datetime.now(UTC) - timedelta(minutes=1)
    # As Prometheus sends it: endsAt a little ahead, pushed forward by every resend.
    alert = am_alert("HighLatency", service="checkout", severity="critical",
                     instance="checkout-1", summary="checkout p99 latency is 3.2 s",
                     starts_at=started, ends_at=datetime.now(UTC) + timedelta(seconds=2))
    push(alertmanager, [alert])
    # The resends stop (Prometheus cannot reach Alertmanager): Alertmanager times the
    # alert out and notifies the resolve.
    eventually(lambda: [i for i in incidents(warden) if i["status"] == "resolved"],
               what="Alertmanager's timeout resolve", daemons=daemons)

    # Prometheus is back: the same alert, still active since `started`, is sent again.
    push(alertmanager, [{**alert, "endsAt": (datetime.now(UTC) + timedelta(minutes=4))
                         .isoformat()}])
    eventually(lambda: received(warden) >= 3, what="the re-fire notification",
               daemons=daemons)
    statuses = [a["status"] for i in incidents(warden) for a in i["alerts"]]
    assert statuses == ["firing", "resolved", "firing"], "the re-fire is stored"
    assert incidents(warden)[-1]["status"] == "open", "the alert fires again"
