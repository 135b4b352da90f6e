"""The service key (policy.md, "One service, one key")."""

from __future__ import annotations

import pytest

from warden.domain import service_key


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("checkout-web", "checkout-web"),
        ("Checkout-Web", "checkout-web"),
        ("CHECKOUT-WEB", "checkout-web"),
        ("svc_1.EU", "svc_1.eu"),
        ("\u212aelvin", "\u212aelvin"),  # the Kelvin sign is not ASCII: it stays
        ("\u0130stanbul", "\u0130stanbul"),  # so does the dotted capital I
        ("Web App", "web app"),  # nothing is trimmed or replaced, only A-Z lowered
        ("", ""),
    ],
)
def test_the_service_key_lowers_ascii_letters_only(name: str, key: str) -> None:
    assert service_key(name) == key
