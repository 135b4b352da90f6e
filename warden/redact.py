"""Secret redaction: applied to every text before it leaves the process.

``redact`` replaces each secret with ``[REDACTED:<kind>]`` and counts what it replaced per
kind; the counts are safe to log and store, the values never leave this module. Redacting
twice changes nothing the second time (placeholders are never matched again).

The rules favour removing too much over leaking: a long random-looking string is treated
as a token even when it may be something harmless, but ordinary alert text (host names,
IP addresses, versions, percentiles, CamelCase alert names) passes untouched.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from warden.errors import ConfigError

PLACEHOLDER = "[REDACTED:{kind}]"


@dataclass(frozen=True, slots=True)
class Redacted:
    """A redacted text and how many secrets of each kind were removed from it."""

    text: str
    counts: Mapping[str, int]


def _placeholder(kind: str) -> str:
    return PLACEHOLDER.format(kind=kind)


# A replacement receives the match and returns the text to put in its place, or None to
# leave the match alone (a candidate that turned out not to be a secret).
_Replace = Callable[[re.Match[str]], str | None]


def _whole(kind: str) -> _Replace:
    return lambda _m: _placeholder(kind)


def _group(kind: str, name: str) -> Callable[[re.Match[str]], str]:
    """Replace only the named group, keeping the context (a key name, a URL's user)."""

    def apply(m: re.Match[str]) -> str:
        start, end = m.span(name)
        whole_start = m.start()
        text = m.group(0)
        return text[: start - whole_start] + _placeholder(kind) + text[end - whole_start :]

    return apply


_NOT_PLACEHOLDER = r"(?!\[REDACTED)"
_ANY_PLACEHOLDER = re.compile(r"\[REDACTED:[a-z_]+\]")
_MAX_PASSES = 8

_PRIVATE_KEY = re.compile(
    # A block cut off before its END line is still a key: redact to the end of the text.
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
    re.DOTALL,
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_URL_PASSWORD = re.compile(
    # scheme://user:password@host: the greedy password runs to the authority's last "@",
    # so a password containing "@" is removed whole.
    r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:(?P<secret>" + _NOT_PLACEHOLDER + r"[^\s/]+)@"
)
_AUTH_HEADER = re.compile(
    r"(?i)\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic|token|digest|negotiate)\s+)?"
    # The scheme word itself is never the secret (it is when the secret was redacted).
    r"(?P<secret>" + _NOT_PLACEHOLDER + r"(?!(?:bearer|basic|token|digest|negotiate)\s)"
    r"[^\s\"',;]+)"
)
_BEARER = re.compile(r"(?i)\bbearer\s+(?P<secret>" + _NOT_PLACEHOLDER + r"[A-Za-z0-9._~+/=-]{8,})")
_API_KEY = re.compile(
    r"\b(?:"
    r"sk-(?:or-|proj-|ant-|live-|svcacct-)?[A-Za-z0-9_-]{16,}"  # OpenAI, OpenRouter, Anthropic
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}"  # Slack
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|(?:AKIA|ASIA)[A-Z0-9]{16}"  # AWS access key id
    r"|AIza[A-Za-z0-9_-]{35}"  # Google
    r")"
)
_SECRET_KEYS = (
    r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|auth|credentials?"
)
_KEY_VALUE = re.compile(
    # The key must END with a secret word, so `author: x`, `max_tokens=5` and
    # `secret_name: y` stay; `DB_PASSWORD=x`, `"api_key": "x"` and `X-Api-Key: x` go.
    r"(?i)(?<![A-Za-z0-9])[A-Za-z0-9_.-]*?(?:" + _SECRET_KEYS + r")[\"']?\s*[:=]\s*"
    r"(?:\"(?P<dq>" + _NOT_PLACEHOLDER + r"[^\"]+)\""
    r"|'(?P<sq>" + _NOT_PLACEHOLDER + r"[^']+)'"
    r"|(?P<bare>" + _NOT_PLACEHOLDER + r"[^\s\"',;&}\])]+))"
)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_LONG_HEX = re.compile(r"(?<![A-Za-z0-9+/_-])[0-9A-Fa-f]{32,}(?![A-Za-z0-9+/_-])")
_LONG_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/=_-])")


def _key_value(m: re.Match[str]) -> str:
    for name in ("dq", "sq", "bare"):
        if m.group(name) is not None:
            return _group("secret_value", name)(m)
    return m.group(0)  # pragma: no cover - one alternative always matches


def _hex(m: re.Match[str]) -> str | None:
    text = m.group(0)
    # A run of decimal digits is a number (a counter, a timestamp), not a key.
    return None if text.isdigit() else _placeholder("hex")


def _base64(m: re.Match[str]) -> str | None:
    text = m.group(0).rstrip("=")
    # Random tokens mix cases and digits; words, CamelCase alert names, paths and
    # lower-case pod names do not mix all three enough. Several of each keeps
    # `HaproxyHighHttp5xxErrorRateBackend` and `/var/lib/prometheus/data/wal` readable.
    digits = sum(c.isdigit() for c in text)
    upper = sum(c.isupper() for c in text)
    lower = sum(c.islower() for c in text)
    if digits >= 2 and upper >= 2 and lower >= 2 and "//" not in text:
        return _placeholder("base64")
    return None


# Order matters: whole structures (keys, JWTs, URLs, headers) first, so a generic rule
# below does not eat half of one and leave the rest.
_RULES: tuple[tuple[str, re.Pattern[str], _Replace], ...] = (
    ("private_key", _PRIVATE_KEY, _whole("private_key")),
    ("jwt", _JWT, _whole("jwt")),
    ("url_password", _URL_PASSWORD, _group("url_password", "secret")),
    ("authorization", _AUTH_HEADER, _group("authorization", "secret")),
    ("bearer", _BEARER, _group("bearer", "secret")),
    ("api_key", _API_KEY, _whole("api_key")),
    ("secret_value", _KEY_VALUE, _key_value),
    ("email", _EMAIL, _whole("email")),
    ("hex", _LONG_HEX, _hex),
    ("base64", _LONG_BASE64, _base64),
)


# The generic rules that judge a run of characters by its look alone.
TOKEN_RULES = frozenset({"base64", "hex"})


def _apply(
    text: str, kind: str, pattern: re.Pattern[str], replace_with: _Replace, counts: Counter[str]
) -> str:
    protected = [m.span() for m in _ANY_PLACEHOLDER.finditer(text)]

    def substitute(m: re.Match[str]) -> str:
        # What was redacted stays redacted: nothing rewrites a placeholder.
        if any(m.start() < end and start < m.end() for start, end in protected):
            return m.group(0)
        replacement = replace_with(m)
        if replacement is None:
            return m.group(0)
        counts[kind] += 1
        return replacement

    return pattern.sub(substitute, text)


def redact(
    text: str, extra_patterns: Sequence[re.Pattern[str]] = (), *,
    skip: frozenset[str] = frozenset(),
) -> Redacted:
    """Remove secrets from ``text``.

    ``extra_patterns`` (a deployment's own, e.g. internal token formats) run first, on the
    original text, and count as ``custom``. ``skip`` names built-in rules not to apply.
    Pure and idempotent: ``redact(redact(t).text)`` returns the same text with no counts.
    """
    counts: Counter[str] = Counter()
    rules = (*((("custom", p, _custom)) for p in extra_patterns),
             *(rule for rule in _RULES if rule[0] not in skip))
    # A replacement can expose a secret to a rule that already ran (a placeholder ends a
    # word where none ended before), so passes repeat until nothing changes. Each
    # replacement removes at least one character that no later pass can match again, so
    # this ends; the cap only bounds pathological input.
    for _ in range(_MAX_PASSES):
        found = sum(counts.values())
        for kind, pattern, replace_with in rules:
            text = _apply(text, kind, pattern, replace_with, counts)
        if sum(counts.values()) == found:
            break
    return Redacted(text=text, counts=MappingProxyType(dict(counts)))


def _custom(m: re.Match[str]) -> str | None:
    # An empty match (a pattern like `x*`) or an earlier placeholder is nothing to hide.
    if not m.group(0) or m.group(0).startswith("[REDACTED"):
        return None
    return _placeholder("custom")


def compile_patterns(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    """Compile a deployment's extra redaction patterns (``WARDEN_REDACT_PATTERNS``).

    Raises ``ConfigError`` naming the first pattern that is not a valid regular expression.
    """
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigError(f"redact pattern {pattern!r} is not a valid regex: {exc}") from exc
    return tuple(compiled)
