"""Configuration: environment settings; the policy file lives in ``warden.policy``."""

from warden.config.settings import ApiToken, Identity, Role, Settings

__all__ = ["ApiToken", "Identity", "Role", "Settings"]
