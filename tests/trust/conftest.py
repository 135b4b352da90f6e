"""Fixtures of the trust-ladder tests: the end-to-end stack, and the console's browser."""

from tests.e2e.stack import stack
from tests.web.conftest import browser, page

__all__ = ["browser", "page", "stack"]
