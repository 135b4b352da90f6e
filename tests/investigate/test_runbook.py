"""Runbooks: fetched only from allowed prefixes or the runbook directory; any other URL
is a link that receives no request at all (a loopback server records every request)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningWarden
from tests.fakes.llm_server import FakeLLMServer
from warden.investigate.sources.runbook import allowed_prefix, file_under

PREFIXES = ("https://wiki.example.com/runbooks/", "https://docs.example.com/rb")


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://wiki.example.com/runbooks/queue.md", True),
    ("https://docs.example.com/rb", True),
    ("https://docs.example.com/rb/disk#full", True),
    ("https://docs.example.com/rb?page=2", True),
    ("https://docs.example.com/rb-private/keys", False),
    ("https://docs.example.com/rb.evil.com/x", False),
    ("https://wiki.example.com/runbooks/../admin", False),
    ("https://wiki.example.com/runbooks/%2e%2e/admin", False),
    ("https://user:pw@wiki.example.com/runbooks/x", False),
    ("http://wiki.example.com/runbooks/queue.md", False),
    ("file:///etc/passwd", False),
    ("https://evil.example.com/runbooks/", False),
])
def test_only_urls_under_an_allowed_prefix_are_fetched(url: str, allowed: bool) -> None:
    assert allowed_prefix(url, PREFIXES) is allowed


def test_only_files_under_the_runbook_dir_are_read(tmp_path: Path) -> None:
    books = tmp_path / "runbooks"
    (books / "db").mkdir(parents=True)
    (books / "db" / "lag.md").write_text("x")
    (tmp_path / "secret.txt").write_text("s")
    (books / "link.md").symlink_to(tmp_path / "secret.txt")
    assert file_under("db/lag.md", books) == books / "db" / "lag.md"
    assert file_under(f"file://{books}/db/lag.md", books) == books / "db" / "lag.md"
    assert file_under(str(books / "db" / "lag.md"), books) == books / "db" / "lag.md"
    for outside in ("../secret.txt", str(tmp_path / "secret.txt"), "link.md", "db",
                    "missing.md", "https://x/db/lag.md"):
        assert file_under(outside, books) is None, outside
    assert file_under("db/lag.md", None) is None


class WikiServer:
    """Serves ``pages`` (path -> text) and records every path requested."""

    def __init__(self, pages: dict[str, str]) -> None:
        self.requested: list[str] = []
        wiki = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                wiki.requested.append(self.path)
                body = pages.get(self.path, "").encode()
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def wiki() -> Iterator[WikiServer]:
    server = WikiServer({"/runbooks/queue": "<html><h1>Queue backlog</h1><p>Scale the "
                                            "mailer consumers to 6.</p></html>",
                         "/private/keys": "never to be read"})
    yield server
    server.close()


def alert(runbook: str, name: str = "QueueBacklog") -> dict[str, Any]:
    return {"version": "4", "groupKey": f"{{}}:{{alertname=\"{name}\"}}", "status": "firing",
            "alerts": [{"status": "firing", "labels": {"alertname": name, "service": "mailer"},
                        "annotations": {"summary": f"{name} on mailer",
                                        "runbook_url": runbook},
                        "startsAt": "2026-12-03T07:00:00Z", "fingerprint": name}]}


def evidence_of(running: RunningWarden, body: dict[str, Any]) -> list[dict[str, Any]]:
    with running.client() as client:
        answer = client.post("/v1/alerts/alertmanager", json=body)
        assert answer.status_code == 202, answer.text
        incident_id = answer.json()["alerts"][0]["incident_id"]
        running.wait_for(lambda: client.get(f"/v1/incidents/{incident_id}").json()[
            "decision"] is not None)
        found: list[dict[str, Any]] = client.get(f"/v1/incidents/{incident_id}").json()[
            "evidence"]
    return [e for e in found if e["kind"] == "runbook"]


def test_an_allowed_runbook_reaches_the_incident_and_the_prompt(
    warden_server: Callable[..., RunningWarden], wiki: WikiServer, llm_server: FakeLLMServer,
) -> None:
    running = warden_server(runbook_url_prefixes=f"{wiki.url}/runbooks/",
                            triage_provider="openai", llm_base_url=llm_server.base_url,
                            llm_api_key="sk-test", llm_models="model-a")
    (runbook,) = evidence_of(running, alert(f"{wiki.url}/runbooks/queue"))
    assert runbook["summary"] == "Queue backlog Scale the mailer consumers to 6."
    assert runbook["source_url"] == f"{wiki.url}/runbooks/queue"
    assert "Scale the mailer consumers to 6." in llm_server.requests[0].user_text


def test_a_disallowed_runbook_is_a_link_and_never_requested(
    warden_server: Callable[..., RunningWarden], wiki: WikiServer, tmp_path: Path,
) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "disk.md").write_text("# Disk full\nDelete old WAL segments only via the tool.\n")
    running = warden_server(runbook_url_prefixes=f"{wiki.url}/runbooks/", runbook_dir=books)
    (link,) = evidence_of(running, alert(f"{wiki.url}/private/keys"))
    assert wiki.requested == []
    assert link["data"] == {"fetched": False}
    assert link["source_url"] == f"{wiki.url}/private/keys"
    assert link["summary"].startswith("not fetched")
    (local,) = evidence_of(running, alert("disk.md", name="DiskFull"))
    assert local["summary"] == "# Disk full\nDelete old WAL segments only via the tool."
    (escaped,) = evidence_of(running, alert("../runbooks/../../etc/passwd", name="Other"))
    assert escaped["data"] == {"fetched": False}
    assert wiki.requested == []
