"""Fixtures of the payments tests: the invoicing factories over the test database."""

from __future__ import annotations

import pytest

from nuages.contracts.offers import OfferRegistry
from nuages.kernel.db import Database
from tests.invoicing.factories import Billing


@pytest.fixture
def billing(database: Database, offers: OfferRegistry) -> Billing:
    """Invoicing factories over the test database."""
    return Billing(database, offers)
