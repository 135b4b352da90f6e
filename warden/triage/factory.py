"""Choosing the triage provider from the settings."""

from __future__ import annotations

from warden.config.settings import Settings
from warden.policy import Policy
from warden.triage.provider import TriageProvider
from warden.triage.providers.openai import OpenAIProvider
from warden.triage.providers.rules import RulesProvider


def build_provider(settings: Settings, policy: Policy) -> TriageProvider:
    """The provider ``WARDEN_TRIAGE_PROVIDER`` names: ``rules``, or ``openai`` with the
    rules provider as its fallback. ``policy`` gives the actions' params for the model's
    schema; build a new provider when the policy changes. Makes no network call."""
    if settings.triage_provider == "openai":
        return OpenAIProvider(settings, policy=policy, fallback=RulesProvider())
    return RulesProvider()
