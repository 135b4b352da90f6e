"""``http``: one request with the policy's method and URL template."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import httpx

from warden.errors import ExecutorError
from warden.execute.executors import OUTPUT_LIMIT_BYTES, ExecutorResult, Job, cap
from warden.execute.executors._template import names_in, render, values_of

_BODYLESS = frozenset({"GET", "DELETE"})
_FIXED_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#{}]+[/?#]")


def render_url(template: str, values: dict[str, str]) -> str:
    """The URL of ``template`` with each value percent-encoded as one path segment (``/``,
    ``?``, ``#`` and ``%`` included), so a value can neither add segments nor a query.
    Placeholders may not stand in the scheme or host (``.``/``..`` values are refused by
    ``render``)."""
    names = names_in(template)
    # The text before the first placeholder must hold the whole scheme and host.
    if names and not _FIXED_ORIGIN.match(template.split("{" + names[0], 1)[0]):
        raise ExecutorError(f"URL template {template!r}: the scheme and host must be fixed",
                            recoverable=False)
    url = render(template, values, encode=lambda value: quote(value, safe=""))
    if urlsplit(url).scheme not in ("http", "https"):
        raise ExecutorError(f"URL {url!r} is not http(s)", recoverable=False)
    return url


class HttpExecutor:
    """Sends ``spec.method`` to the rendered ``spec.url`` with ``spec.headers``, an
    ``Idempotency-Key`` header and, except for GET and DELETE, a JSON body naming the
    incident and action. Redirects are not followed; any 2xx is success."""

    def __init__(self, *, transport: httpx.BaseTransport | None = None) -> None:
        self._transport = transport

    def run(self, job: Job) -> ExecutorResult:
        spec = job.spec
        method = (spec.method or "POST").upper()
        url = render_url(spec.url or "", values_of(job.action))
        if job.dry_run:
            return ExecutorResult(True, f"dry run: would send {method} {url}")
        headers = {**spec.headers, "Idempotency-Key": job.idempotency_key}
        body = None if method in _BODYLESS else {
            "incident_id": job.incident.id, "service": job.action.service,
            "action": job.action.name, "params": dict(job.action.params),
            "idempotency_key": job.idempotency_key,
        }
        try:
            with httpx.Client(timeout=job.timeout_s, follow_redirects=False,
                              transport=self._transport) as client, \
                    client.stream(method, url, headers=headers, json=body) as response:
                received = bytearray()
                for chunk in response.iter_bytes():
                    received += chunk
                    if len(received) > OUTPUT_LIMIT_BYTES:
                        break
        except httpx.TimeoutException as exc:
            raise ExecutorError(
                f"{method} {url}: no complete answer within {job.timeout_s:g} s "
                f"({type(exc).__name__}); the target may or may not have acted",
                recoverable=True,
            ) from exc
        except httpx.HTTPError as exc:
            raise ExecutorError(f"{method} {url}: {type(exc).__name__}: {exc}",
                                recoverable=True) from exc
        status = response.status_code
        output = f"{method} {url} -> {status} {response.reason_phrase}\n{cap(bytes(received))}"
        return ExecutorResult(200 <= status < 300, output.rstrip("\n"))
