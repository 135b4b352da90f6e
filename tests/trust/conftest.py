"""Fixtures of the trust-ladder tests."""

from tests.e2e.stack import stack

__all__ = ["stack"]
