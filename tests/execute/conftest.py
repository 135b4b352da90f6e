"""Fixtures of the execute tests."""

from tests.fakes.target import target

__all__ = ["target"]
