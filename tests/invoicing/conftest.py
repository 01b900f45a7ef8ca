"""Fixtures of the invoicing tests."""

from __future__ import annotations

import pytest

from nuages.contracts.offers import OfferRegistry
from nuages.kernel.db import Database

from .factories import Billing


@pytest.fixture
def billing(database: Database, offers: OfferRegistry) -> Billing:
    """Invoicing factories over the test database."""
    return Billing(database, offers)
