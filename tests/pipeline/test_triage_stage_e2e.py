"""The triage stage reads what the sources keep outside the labels."""

from __future__ import annotations

from typing import Any

from warden.promql import generator_url


def test_an_alertmanager_rule_says_what_its_title_does_not(warden_server: Any) -> None:
    """Alertmanager keeps ``generatorURL`` in the alert body; the rules provider reads
    the rule's expression from it, so ``up == 0`` is a connectivity fault whatever the
    alert is called."""
    running = warden_server()
    body = {"receiver": "warden", "status": "firing", "version": "4", "groupKey": "{}:{}",
            "alerts": [{"status": "firing",
                        "labels": {"alertname": "Rule17", "service": "billing-db"},
                        "annotations": {"summary": "see the runbook"},
                        "startsAt": "2026-11-26T17:20:08Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": generator_url('up{job="billing-db"} == 0'),
                        "fingerprint": "1f2e3d4c5b6a7988"}]}
    with running.client() as client:
        answer = client.post("/v1/alerts/alertmanager", json=body)
        assert answer.status_code == 202, answer.text
        incident_id = answer.json()["alerts"][0]["incident_id"]

        def proposal() -> Any:
            return client.get(f"/v1/incidents/{incident_id}").json()["proposal"]

        running.wait_for(lambda: proposal() is not None)
        assert proposal()["provider"] == "rules"
        assert proposal()["category"] == "connectivity"
