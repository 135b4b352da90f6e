"""Runbooks: an alert's ``runbook_url`` annotation, read only from where the operator
allowed it (``WARDEN_RUNBOOK_URL_PREFIXES``, ``WARDEN_RUNBOOK_DIR``). Any other URL is
shown as a link and never requested: alert text is untrusted, and fetching whatever it
names would let anyone who can raise an alert make Warden call any host."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from warden.investigate._evidence import Case, Evidence, EvidenceKind

_ANNOTATIONS = ("runbook_url", "runbook")
_READ_BYTES = 65_536
_EXCERPT_CHARS = 2_000
_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.DOTALL | re.IGNORECASE)


def allowed_prefix(url: str, prefixes: Sequence[str]) -> bool:
    """True when ``url`` is an http(s) URL under one of ``prefixes``: the prefix ends at a
    path boundary (``https://wiki/rb`` does not allow ``https://wiki/rb-private`` nor
    ``https://wiki/rb.evil.com``) and the path has no ``.`` or ``..`` segment. Pure."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.username or parts.password:
        return False
    if any(seg in (".", "..") for seg in unquote(parts.path).split("/")):
        return False
    for prefix in prefixes:
        if url.startswith(prefix) and (
                prefix.endswith("/") or url[len(prefix):len(prefix) + 1] in ("", "/", "?", "#")):
            return True
    return False


def file_under(reference: str, directory: Path | None) -> Path | None:
    """The file ``reference`` names (``file://`` URL, absolute or relative path) when it
    lies under ``directory`` once links and ``..`` are resolved; else None."""
    if directory is None:
        return None
    parts = urlsplit(reference)
    if parts.scheme == "file":
        raw = unquote(parts.path)
    elif parts.scheme or parts.netloc:
        return None
    else:
        raw = reference
    root = directory.resolve()
    path = (root / raw).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def excerpt(text: str, content_type: str = "") -> str:
    """Readable text, at most ``_EXCERPT_CHARS``: HTML tags dropped, blank runs folded."""
    if "html" in content_type:
        text = _TAGS.sub(" ", text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    folded = "\n".join(line for line in lines if line)
    return folded if len(folded) <= _EXCERPT_CHARS else folded[:_EXCERPT_CHARS] + " [cut]"


class RunbookSource:
    """One item per distinct runbook reference among the case's alerts."""

    name = "runbooks"
    kind = EvidenceKind.RUNBOOK

    def __init__(self, *, prefixes: Sequence[str], directory: Path | None,
                 timeout_s: float) -> None:
        self.prefixes = tuple(prefixes)
        self.directory = directory
        self.timeout_s = timeout_s

    def gather(self, case: Case) -> Sequence[Evidence]:
        references = dict.fromkeys(
            ref.strip() for a in case.alerts for key in _ANNOTATIONS
            if (ref := a.annotations.get(key, "")).strip())
        return [self._read(ref) for ref in references]

    def _read(self, reference: str) -> Evidence:
        item_id, title = f"runbook:{reference}", f"Runbook: {reference}"
        path = file_under(reference, self.directory)
        if path is not None:
            with path.open("rb") as handle:
                text = handle.read(_READ_BYTES).decode("utf-8", errors="replace")
            return Evidence(id=item_id, kind=self.kind, title=title,
                            summary=excerpt(text, "html" if path.suffix in (".html", ".htm")
                                            else ""),
                            data={"fetched": True, "file": str(path)})
        if not allowed_prefix(reference, self.prefixes):
            return Evidence(
                id=item_id, kind=self.kind, title=title,
                summary="not fetched: not under WARDEN_RUNBOOK_URL_PREFIXES or "
                        "WARDEN_RUNBOOK_DIR; open the link yourself",
                data={"fetched": False}, source_url=reference)
        try:
            # Redirects are not followed: they could leave the allowed prefix.
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client, \
                    client.stream("GET", reference) as answer:
                answer.raise_for_status()
                body = b""
                for chunk in answer.iter_bytes():
                    body += chunk
                    if len(body) >= _READ_BYTES:
                        break
                content_type = answer.headers.get("content-type", "")
        except httpx.HTTPError as exc:
            why = f"runbook not fetched: {type(exc).__name__}: {exc}"
            return Evidence(id=item_id, kind=self.kind, title=title, summary=why,
                            source_url=reference, error=why)
        text = body[:_READ_BYTES].decode("utf-8", errors="replace")
        return Evidence(id=item_id, kind=self.kind, title=title,
                        summary=excerpt(text, content_type),
                        data={"fetched": True}, source_url=reference)
