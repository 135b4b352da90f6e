"""The ``openai`` provider: any OpenAI-compatible chat-completions endpoint.

OpenRouter by default, or a local server (llama.cpp, Ollama, vLLM). Models are tried in
the order of ``WARDEN_LLM_MODELS``; each gets bounded retries with backoff for errors a
retry may cure (timeouts, connection failures, 429, 5xx), then the next model is tried.
A reply that fails the strict parser is not retried on the same model: it moves on too.
Each model has a circuit breaker, so a dead model stops costing a timeout per incident.
When no model gives a well-formed reply, the fallback provider (rules) answers and
``fallback_reason`` says why.

The client's own retries are off: retries are counted here, per model, so each one is a
``ModelCall`` (a cost-ledger row) and the breaker sees the model's real record.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import openai
import structlog
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from warden.config.settings import Settings, StructuredOutput
from warden.domain import MalformedProposal
from warden.policy import Policy, parse_proposal, proposal_json_schema
from warden.triage._breaker import BreakerState, CircuitBreaker
from warden.triage._prompt import build_prompt
from warden.triage.provider import (
    CallOutcome,
    ModelCall,
    TriageProvider,
    TriageReply,
    TriageRequest,
)

log = structlog.get_logger("warden.triage.openai")


@dataclass(frozen=True, slots=True)
class Price:
    """Dollars per million tokens, for providers that do not report a call's cost."""

    input_usd_per_mtok: float
    output_usd_per_mtok: float

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_usd_per_mtok
                + completion_tokens * self.output_usd_per_mtok) / 1_000_000


def _openai_prices() -> dict[str, Price]:
    # OpenAI's list prices (standard tier); OpenRouter reports its own cost per call.
    listed = {
        "gpt-4o-mini": Price(0.15, 0.60),
        "gpt-4o": Price(2.50, 10.00),
        "gpt-4.1": Price(2.00, 8.00),
        "gpt-4.1-mini": Price(0.40, 1.60),
        "gpt-4.1-nano": Price(0.10, 0.40),
    }
    return listed | {f"openai/{name}": price for name, price in listed.items()}


PRICES: Mapping[str, Price] = MappingProxyType(_openai_prices())
"""The default price table, keyed by model name as sent. A model missing from it costs
$0 unless the endpoint reports a cost (a warning is logged once per model)."""


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What one HTTP call came to: the ledger row, the reply text when well-formed, and
    whether another try of the same model may help."""

    call: ModelCall
    raw: str | None = None
    retryable: bool = False
    retry_after_s: float | None = None


class OpenAIProvider:
    """Triage through an OpenAI-compatible endpoint, with model fallback and breakers.

    ``propose`` never raises for a model's failure: every failure becomes a ``ModelCall``
    with its outcome, and when no model gives a reply that ``parse_proposal`` accepts,
    ``fallback`` answers with ``fallback_reason`` set. Only the fallback's own error can
    escape. Thread-safe; breakers are shared by every caller of one provider.

    ``policy`` supplies the params (and their patterns) of the request's allowed actions
    for the schema and the prompt. ``now`` drives the breakers; ``sleep`` and ``jitter``
    the backoff (injectable so tests neither wait nor guess).
    """

    name = "openai"

    def __init__(
        self,
        settings: Settings,
        *,
        policy: Policy,
        fallback: TriageProvider,
        prices: Mapping[str, Price] = PRICES,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not settings.llm_models:
            raise ValueError("the openai provider needs at least one model (WARDEN_LLM_MODELS)")
        self._settings = settings
        self._policy = policy
        self._fallback = fallback
        self._prices = prices
        self._sleep = sleep
        self._jitter = jitter
        self._models = tuple(dict.fromkeys(settings.llm_models))
        self._breakers = {
            model: CircuitBreaker(failure_threshold=settings.llm_breaker_failures,
                                  reset_s=settings.llm_breaker_reset_s, now=now)
            for model in self._models
        }
        self._openrouter = (settings.llm_openrouter_extras
                            or urlsplit(settings.llm_base_url).hostname == "openrouter.ai")
        key = settings.llm_api_key
        self._client = openai.OpenAI(
            base_url=settings.llm_base_url,
            # Local servers need no key, but the client insists on one.
            api_key=key.get_secret_value() if key is not None else "no-key",
            timeout=settings.llm_timeout_s,
            max_retries=0,
        )
        self._unpriced_lock = threading.Lock()
        self._unpriced: set[str] = set()

    def breaker_states(self) -> dict[str, BreakerState]:
        """Each model's breaker state, in the order the models are tried."""
        return {model: breaker.state for model, breaker in self._breakers.items()}

    def propose(self, request: TriageRequest) -> TriageReply:
        """Ask each model in turn until one gives a well-formed proposal; else the fallback.

        The reply's tokens, dollars and latency total every call made (``calls``), failed
        ones included; ``latency_ms`` is the wall time of the whole ``propose``.
        """
        started = time.perf_counter()
        actions = {name: self._policy.actions[name] for name in request.allowed_actions
                   if name in self._policy.actions}
        schema = proposal_json_schema(request.categories, actions)
        action_params = {name: {param: pattern.pattern for param, pattern in spec.params.items()}
                         for name, spec in actions.items()}
        calls: list[ModelCall] = []
        failures: list[str] = []
        for index, model in enumerate(self._models):
            breaker = self._breakers[model]
            if not breaker.allow():
                failures.append(f"{model}: circuit open")
                continue
            mode = self._settings.llm_structured_output.get(model, "json_schema")
            prompt = build_prompt(
                request, action_params=action_params, schema=schema, mode=mode,
                instructions_in_user=model in self._settings.llm_instructions_in_user,
            )
            messages: list[ChatCompletionMessageParam] = []
            if prompt.system is not None:
                messages.append({"role": "system", "content": prompt.system})
            messages.append({"role": "user", "content": prompt.user})
            body = self._extra_body(mode, schema, later=self._models[index + 1:])
            raw, model_calls, failure = self._try_model(model, messages, body, request)
            calls += model_calls
            if raw is not None:
                breaker.record_success()
                served = model_calls[-1].model
                return self._totals(TriageReply(raw=raw, provider=self.name, model=served),
                                    calls, started)
            breaker.record_failure()
            failures.append(f"{model}: {failure}")
        reason = "all models failed: " + "; ".join(failures)
        log.warning("triage.llm_fallback", reason=reason)
        reply = self._fallback.propose(request)
        return self._totals(replace(reply, fallback_reason=reason), calls, started)

    def _extra_body(
        self, mode: StructuredOutput, schema: Mapping[str, Any], *, later: tuple[str, ...]
    ) -> dict[str, Any]:
        # response_format travels in extra_body: the client's types do not know the
        # llama.cpp "json_object" + "schema" form, and one path for all modes is simpler.
        body: dict[str, Any] = {}
        if mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "proposal", "strict": True, "schema": schema},
            }
        elif mode == "json_object_schema":
            body["response_format"] = {"type": "json_object", "schema": _grammar_schema(schema)}
        if self._openrouter:
            # require_parameters: never route to a provider that would drop response_format.
            body["provider"] = {"require_parameters": True}
            body["usage"] = {"include": True}
            fallbacks = [m for m in later if self._breakers[m].state != "open"]
            if fallbacks:
                body["models"] = fallbacks
        return body

    def _try_model(
        self,
        model: str,
        messages: list[ChatCompletionMessageParam],
        body: dict[str, Any],
        request: TriageRequest,
    ) -> tuple[str | None, list[ModelCall], str]:
        """Up to ``1 + llm_max_retries`` calls to one model: (well-formed reply or None,
        the calls made, what went wrong last)."""
        calls: list[ModelCall] = []
        attempts = self._settings.llm_max_retries + 1
        for number in range(1, attempts + 1):
            attempt = self._call(model, messages, body, request)
            calls.append(attempt.call)
            if attempt.raw is not None:
                return attempt.raw, calls, ""
            if not attempt.retryable or number == attempts:
                break
            self._sleep(self._backoff_s(number, attempt.retry_after_s))
        last = calls[-1]
        tries = f" after {len(calls)} attempts" if len(calls) > 1 else ""
        return None, calls, f"{last.outcome}{tries} ({last.error})"

    def _backoff_s(self, retry: int, retry_after_s: float | None) -> float:
        """Exponential backoff with jitter (half fixed, half random), never below the
        server's Retry-After, never above ``llm_retry_backoff_max_s``."""
        cap = self._settings.llm_retry_backoff_max_s
        delay = min(cap, self._settings.llm_retry_backoff_s * 2.0 ** (retry - 1))
        delay *= 0.5 + 0.5 * self._jitter()
        if retry_after_s is not None:
            delay = max(delay, min(cap, retry_after_s))
        return delay

    def _call(
        self,
        model: str,
        messages: list[ChatCompletionMessageParam],
        body: dict[str, Any],
        request: TriageRequest,
    ) -> _Attempt:
        """One HTTP call; every openai error becomes an outcome here."""
        started = time.perf_counter()

        def failed(outcome: CallOutcome, error: str, *, retryable: bool,
                   retry_after_s: float | None = None) -> _Attempt:
            call = ModelCall(model=model, prompt_tokens=0, completion_tokens=0, cost_usd=0.0,
                             latency_ms=_ms_since(started), outcome=outcome, error=error)
            return _Attempt(call, retryable=retryable, retry_after_s=retry_after_s)

        try:
            completion = self._client.chat.completions.create(
                model=model, messages=messages, max_tokens=self._settings.llm_max_tokens,
                extra_body=body,
            )
        except openai.APITimeoutError:
            return failed("timeout", f"no answer within {self._settings.llm_timeout_s:g} s",
                          retryable=True)
        except openai.APIConnectionError as exc:
            return failed("error", f"connection failed: {_cause(exc)}", retryable=True)
        except openai.RateLimitError as exc:
            return failed("rate_limited", f"HTTP 429: {_message(exc)}", retryable=True,
                          retry_after_s=_retry_after_s(exc.response.headers.get("retry-after")))
        except openai.APIStatusError as exc:
            status = exc.status_code
            return failed("error", f"HTTP {status}: {_message(exc)}",
                          retryable=status >= 500 or status == 408)
        except openai.OpenAIError as exc:  # e.g. a 200 whose body is not a completion
            return failed("error", f"{type(exc).__name__}: {exc}", retryable=False)
        return self._judge(model, completion, request, started)

    def _judge(
        self, model: str, completion: ChatCompletion, request: TriageRequest, started: float
    ) -> _Attempt:
        """A completion arrived: price it, then accept it only if it parses strictly."""
        # OpenRouter names the model that served, which may be one of its fallbacks.
        served = completion.model if isinstance(completion.model, str) else ""
        served = served or model
        usage = completion.usage
        prompt_tokens = _count(getattr(usage, "prompt_tokens", 0))
        completion_tokens = _count(getattr(usage, "completion_tokens", 0))
        cost = _reported_cost(usage)
        if cost is None:
            cost = self._price(served, prompt_tokens, completion_tokens)
        latency_ms = _ms_since(started)

        def row(outcome: CallOutcome, error: str | None = None) -> ModelCall:
            return ModelCall(model=served, prompt_tokens=prompt_tokens,
                             completion_tokens=completion_tokens, cost_usd=cost,
                             latency_ms=latency_ms, outcome=outcome, error=error)

        choices = completion.choices or []
        message = choices[0].message if choices else None
        content = getattr(message, "content", None)
        if not isinstance(content, str):
            refusal = getattr(message, "refusal", None)
            detail = f"refused: {refusal}" if refusal else "reply has no text"
            return _Attempt(row("malformed", detail))
        parsed = parse_proposal(content, categories=request.categories)
        if isinstance(parsed, MalformedProposal):
            return _Attempt(row("malformed", f"malformed reply: {parsed.detail}"))
        return _Attempt(row("ok"), raw=content)

    def _price(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self._prices.get(model)
        if price is not None:
            return price.cost_usd(prompt_tokens, completion_tokens)
        with self._unpriced_lock:
            first = model not in self._unpriced
            self._unpriced.add(model)
        if first:
            log.warning("triage.model_unpriced", model=model,
                        note="no reported cost and no price table entry: counted as $0")
        return 0.0

    def _totals(self, reply: TriageReply, calls: list[ModelCall], started: float) -> TriageReply:
        return replace(
            reply,
            prompt_tokens=reply.prompt_tokens + sum(c.prompt_tokens for c in calls),
            completion_tokens=reply.completion_tokens + sum(c.completion_tokens for c in calls),
            cost_usd=reply.cost_usd + sum(c.cost_usd for c in calls),
            latency_ms=_ms_since(started),
            calls=(*reply.calls, *calls),
        )


def _grammar_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema for a server that compiles it into a grammar (llama.cpp): ``confidence``
    offered as eleven steps from 0 to 1.

    Such converters ignore ``minimum``/``maximum`` on numbers, so any number passes the
    grammar: Gemma 3 270M wrote confidences of 100 or 1e4660 in 16 of 190 replies, each
    rejected by the parser, and three in a row opened the breaker. The steps close that
    gap in the grammar; the parser still checks every reply.
    """
    properties = dict(schema["properties"])
    properties["confidence"] = {**properties["confidence"], "enum": list(_CONFIDENCE_STEPS)}
    return {**schema, "properties": properties}


_CONFIDENCE_STEPS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _reported_cost(usage: object) -> float | None:
    """OpenRouter's ``usage.cost`` (dollars), when present and a sane number."""
    extra = getattr(usage, "model_extra", None)
    value = extra.get("cost") if isinstance(extra, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        cost = float(value)
        return cost if math.isfinite(cost) and cost >= 0 else None
    return None


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is ignored: backoff applies)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])[:200]
    return str(exc.message)[:200]


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return f"{type(cause).__name__}: {cause}"[:200]
