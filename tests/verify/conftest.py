"""Fixtures of the verify tests."""

from tests.fakes.target import target

__all__ = ["target"]
