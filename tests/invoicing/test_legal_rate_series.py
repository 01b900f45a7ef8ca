"""000 §13.1 / SPEC §17: legal interest rates are entered per country series with their
validity periods; a Belgian-law offer reads the Belgian series. Both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fastapi.testclient import TestClient

from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import dunning
from nuages.terms import apply
from tests.factories import World


def test_000_s13_1_legal_rates_per_series_through_the_api(
    client: TestClient, world: World, offers: OfferRegistry
) -> None:
    """Staff enter France 6.65 % (1 January–1 July 2026) and Belgium 4.50 % (2026, same
    start date: another series, no clash); a second Belgian rate overlapping 2026 is a
    409 naming the series. isstar-cloud (000, Belgian law) then charges 3 × 4.50 =
    13.50 %: 1,000.00 due 31 January, paid 2 March → 1000 × 13.5 % × 30 / 365 → 11.10."""
    admin = world.admin()
    fr = {"series": "FR", "valid_from": "2026-01-01", "valid_to": "2026-07-01", "rate_pct": "6.65"}
    be = {"series": "BE", "valid_from": "2026-01-01", "valid_to": "2027-01-01", "rate_pct": "4.5"}
    for body in (fr, be):
        r = client.post("/api/v1/legal-rates", json=body, headers=admin.headers)
        assert r.status_code == 201, r.text
        assert r.json()["series"] == body["series"]
    clash = {**be, "valid_from": "2026-06-01", "valid_to": "2027-06-01"}
    r = client.post("/api/v1/legal-rates", json=clash, headers=admin.headers)
    assert r.status_code == 409 and "series BE" in r.text
    bad = {**be, "series": "DE"}
    r = client.post("/api/v1/legal-rates", json=bad, headers=admin.headers)
    assert r.status_code == 422 and "series" in r.text
    listed = client.get("/api/v1/legal-rates", headers=admin.headers).json()
    assert [(x["series"], x["valid_from"]) for x in listed] == [
        ("BE", "2026-01-01"),
        ("FR", "2026-01-01"),
    ]
    with world.database.unit() as session:
        rates = dunning.legal_rates(session)
    offer = offers.current("isstar-cloud")
    result = apply.interest_for(
        offer, Decimal(1000), dt.date(2026, 1, 31), dt.date(2026, 3, 2), rates
    )
    assert result.annual_rate_pct == Decimal("13.50") and result.amount == Decimal("11.10")
    assert result.legal_rate is not None and result.legal_rate.series == "BE"
