"""Is this request from Slack, and new? Slack's v0 signature plus a replay memory.

The signature is ``"v0=" + hex(HMAC-SHA256(signing_secret, "v0:{timestamp}:{raw body}"))``
in ``X-Slack-Signature``, with the timestamp in ``X-Slack-Request-Timestamp``; it is
checked over the raw bytes, before anything decodes them, by ``slack_sdk``'s
``SignatureVerifier`` (constant-time compare, 300 s window) on Warden's clock.

A signed request can still be captured and sent again inside the window, so each
accepted signature is remembered until its timestamp leaves the window, and a second
request with it is refused. The memory is this process's: behind several replicas a
replay that reaches another replica is not caught here (for an approval, ``submit``
still counts one person once, and a decision digest on the button keeps an old click off
a newer decision).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping

from pydantic import SecretStr
from slack_sdk.signature import Clock, SignatureVerifier

WINDOW_S = 300
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class _WardenClock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class SlackGuard:
    """Checks Slack's signature and refuses replays. Not thread-safe: call ``check`` from
    the event loop (one request at a time), as the Slack routes do."""

    def __init__(self, signing_secret: SecretStr | None, *, now: Callable[[], float]) -> None:
        self._now = now
        self._verifier = (SignatureVerifier(signing_secret.get_secret_value(),
                                            clock=_WardenClock(now))
                          if signing_secret is not None and signing_secret.get_secret_value()
                          else None)
        # signature -> its timestamp, oldest first
        self._seen: OrderedDict[str, int] = OrderedDict()

    def check(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """None when ``body`` is signed by Slack, fresh and seen for the first time (it is
        then remembered); otherwise why it is refused, for the sender."""
        if self._verifier is None:
            return "Slack is not set up on this Warden (no WARDEN_SLACK_SIGNING_SECRET)"
        lowered = {k.lower(): v for k, v in headers.items()}
        stamp = lowered.get("x-slack-request-timestamp", "").strip()
        signature = lowered.get("x-slack-signature", "").strip()
        if not stamp or not signature:
            return "the request is not signed by Slack"
        if not _UNIX_SECONDS.fullmatch(stamp):
            return "the request's timestamp is not Unix seconds"
        now = self._now()
        if abs(now - int(stamp)) > WINDOW_S:
            return ("the request is more than 5 minutes old (or from the future); "
                    "refusing a possible replay")
        try:
            valid = self._verifier.is_valid(body=body, timestamp=stamp, signature=signature)
        except UnicodeDecodeError:
            valid = False  # Slack signs UTF-8 bodies only
        if not valid:
            return "the request's Slack signature does not match"
        self._forget_before(now - WINDOW_S)
        if signature in self._seen:
            return "this request was already received; a replay changes nothing"
        self._seen[signature] = int(stamp)
        return None

    def _forget_before(self, oldest: float) -> None:
        # Timestamps arrive roughly in order; entries are dropped from the oldest end.
        while self._seen:
            signature, stamp = next(iter(self._seen.items()))
            if stamp >= oldest:
                return
            del self._seen[signature]
