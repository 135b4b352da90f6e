"""Debian's Alertmanager, configured for PagerDuty, pointed at Warden's drop-in path.

Its ``pagerduty_configs`` with ``url:`` Warden's ``/v2/enqueue``: a firing group becomes
an incident on the service its ``component`` names, and the resolve closes it, with
nothing about Warden in Alertmanager's config but the URL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import RunningWarden, free_port
from tests.e2e.test_prometheus_stack import (
    ALERTMANAGER,
    Daemon,
    Daemons,
    am_alert,
    eventually,
    incidents,
    push,
)

pytestmark = pytest.mark.slow


def start_alertmanager_for_pagerduty(daemons: Daemons, warden: RunningWarden) -> Daemon:
    config = {
        "route": {"receiver": "pagerduty", "group_by": ["alertname", "service"],
                  "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "pagerduty", "pagerduty_configs": [{
            "routing_key": "R0UT1NGKEY0000000000000000000001",
            "url": f"{warden.url}/v2/enqueue",
            "component": "{{ .CommonLabels.service }}",
            "send_resolved": True,
        }]}],
    }
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


def test_alertmanager_pagerduty_receiver_fires_and_resolves_through_warden(
    warden_server: Callable[..., RunningWarden], tmp_path: Path,
) -> None:
    warden = warden_server(worker_enabled=False)
    daemons = Daemons(tmp_path)
    try:
        alertmanager = start_alertmanager_for_pagerduty(daemons, warden)
        started = datetime.now(UTC) - timedelta(minutes=1)
        alert = am_alert("HighLatency", service="checkout", severity="critical",
                         instance="checkout-1", summary="checkout p99 latency is 3.2 s",
                         starts_at=started)
        push(alertmanager, [alert])

        def opened() -> dict[str, Any] | None:
            found = [i for i in incidents(warden) if i["service"] == "checkout"]
            return found[0] if found else None

        incident = eventually(opened, what="an incident from Alertmanager's PagerDuty event",
                              daemons=daemons)
        assert incident["status"] == "open"
        assert incident["alerts"][0]["source"] == "pagerduty"
        # Alertmanager sends PagerDuty's "error" unless the config templates a severity.
        assert incident["alerts"][0]["labels"]["severity"] == "error"
        assert incident["alerts"][0]["title"].startswith("[FIRING:1] HighLatency")

        push(alertmanager, [{**alert, "endsAt": datetime.now(UTC).isoformat()}])

        def resolved() -> bool:
            return all(i["status"] == "resolved" for i in incidents(warden))

        eventually(resolved, what="the resolve event closing the incident", daemons=daemons)
        assert "level=error" not in (daemons.workdir / f"{ALERTMANAGER}.log").read_text(), (
            daemons.diagnostics())
    finally:
        daemons.stop_all()
