"""Configuration: environment settings; the policy file lives in ``warden.policy``."""

from warden.config.settings import Settings

__all__ = ["Settings"]
