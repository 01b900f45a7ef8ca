"""``GET /offers/{id}``: a client reads the whole offer it accepts (issue 9.12).

One test per seed checks the figures shown against the clauses that state them (SPEC
§2, §8, §10–12, §15); one checks that every offer shows what its terms file says.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nuages.accounts.roles import Role
from nuages.terms.loader import load_offer
from tests.factories import World

OFFERS = Path(__file__).resolve().parents[2] / "offers"


def _read(client: TestClient, world: World, offer_id: str) -> dict[str, Any]:
    owner = world.user(Role.CLIENT_OWNER, world.client())
    r = client.get(f"/api/v1/offers/{offer_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _period(amount: int, unit: str, clause: str | None) -> dict[str, Any]:
    return {"amount": amount, "unit": unit, "clause": clause}


def test_000_offer_shows_duration_changes_late_payment_sla_cap(
    client: TestClient, world: World
) -> None:
    """000 §9 one month renewed for the same duration, never under an hour; §4 one month
    to refuse a change; §13.1 3 × the legal rate from the day after the due date; §5
    penalties ≤ 30 % of the month's invoice; §7 maintenance announced 2 clear days ahead;
    §11.2 negative balance suspends without notice; §16 15 clear days to cure; §18 an
    image of each VM."""
    terms = _read(client, world, "isstar-cloud")["terms"]
    duration = terms["duration"]
    assert duration["initial"] == _period(1, "months", "000 §9")
    assert duration["minimum_service"] == _period(1, "hours", "000 §9")
    assert duration["renewal"]["tacit"] is True
    assert duration["renewal"]["period"] == _period(1, "months", "000 §9")
    assert terms["changes"]["refusal_window"] == _period(1, "months", "000 §4")
    late = terms["payment"]["late_payment"]
    assert (late["rule"], late["legal_rate_multiple"], late["accrues_from"], late["clause"]) == (
        "legal_rate_multiple",
        "3",
        "day_after_due_date",
        "000 §13.1",
    )
    assert terms["payment"]["prepaid"]["minimum_billed"] == _period(1, "hours", "000 §9")
    assert terms["sla"]["caps"]["per_month_pct"] == "30"
    assert terms["maintenance"]["notice"] == _period(2, "clear_days", "000 §7")
    ground = next(g for g in terms["suspension"]["grounds"] if g["cause"] == "negative-balance")
    assert ground["notice"] == "none"
    assert terms["termination"]["breach_cure"] == _period(15, "clear_days", "000 §16")
    assert terms["reversibility"]["vm_images_standard_format"] is True
    assert terms["reversibility"]["clause"] == "000 §18"


def test_001_offer_shows_12_months_payment_and_reversibility_fee(
    client: TestClient, world: World
) -> None:
    """001 §3: 12 months to 31 December of the following year, 3 months' notice, renewed
    12 months from 1 January; §4.1 15 days from receipt; §4.4 8 %/year, started months in
    full, reminders EUR 75 then 150; §7 3 months, EUR 250 per transfer; §2.2 backups kept
    7 days; §13.2 48 h after a reminder."""
    offer = _read(client, world, "cloudbizz")
    terms = offer["terms"]
    duration = terms["duration"]
    assert duration["initial"] == _period(12, "months", "001 §3.1")
    assert duration["end_alignment"] == "december_31_following_year"
    assert duration["notice_before_term_end"] == _period(3, "months", "001 §3.2")
    assert duration["renewal"]["period"] == _period(12, "months", "001 §3.2")
    assert duration["renewal"]["aligned_to"] == "january_1"
    invoiced = terms["payment"]["invoiced"]
    assert invoiced["payment_term"] == _period(15, "calendar_days", "001 §4.1")
    assert invoiced["payment_term_from"] == "receipt"
    late = terms["payment"]["late_payment"]
    assert (late["yearly_rate_pct"], late["started_months_in_full"]) == ("8", True)
    fees = terms["payment"]["reminder_fees"]
    assert (fees["first"], fees["repeat"], fees["clause"]) == ("75", "150", "001 §4.4")
    reversibility = terms["reversibility"]
    assert reversibility["window"] == _period(3, "months", "001 §7")
    assert (reversibility["fee"], reversibility["fee_per"]) == ("250", "transfer")
    backup = next(o for o in terms["options"] if o["id"] == "backup-7d")
    assert (backup["retention_days"], backup["included"], backup["clause"]) == (
        7,
        True,
        "001 §2.2",
    )
    ground = next(g for g in terms["suspension"]["grounds"] if g["cause"] == "unremedied-breach")
    assert ground["delay"] == _period(48, "hours", "001 §13.2")
    assert terms["sla"]["objective_pct"] == "99.5" and terms["sla"]["best_effort"] is True
    assert terms["user_pricing"]["minimum_subscription"] == _period(12, "months", "001 §4.2")


def test_002_offer_shows_sla_tiers_coverage_cap_probation(client: TestClient, world: World) -> None:
    """002 §6: 99.85 % Monday–Friday 08:00–18:00 outside holidays; credits 5 % above
    99.5 and below 99.85, 10 % from 97 to 99.5 inclusive, 20 % below 97 (SPEC §17);
    capped at 20 % over 30 days; §4 no SLA during 3 months' probation; §10 30 working
    days to copy data, then erased."""
    sla = _read(client, world, "axantis-cloud-vm-avance")["terms"]["sla"]
    assert sla["objective_pct"] == "99.85"
    coverage = sla["coverage"]
    assert coverage["days"] == ["mon", "tue", "wed", "thu", "fri"]
    assert (coverage["start"], coverage["end"], coverage["exclude_holidays"]) == (
        "08:00",
        "18:00",
        True,
    )
    tiers = [
        (
            t["lower_pct"],
            t["lower_inclusive"],
            t["upper_pct"],
            t["upper_inclusive"],
            t["credit_pct"],
        )
        for t in sla["credit_tiers"]
    ]
    assert tiers == [
        ("99.5", False, "99.85", False, "5"),
        ("97", True, "99.5", True, "10"),
        (None, True, "97", False, "20"),
    ]
    assert (sla["caps"]["rolling_days"], sla["caps"]["rolling_pct"]) == (30, "20")
    assert sla["probation"]["period"] == _period(3, "months", "002 §4")
    assert "client-acts" in sla["excusable_causes"]
    terms = _read(client, world, "axantis-cloud-vm-avance")["terms"]
    assert terms["reversibility"]["window"] == _period(30, "working_days", "002 §10")
    assert terms["reversibility"]["after_window"] == "erase"


def test_003_offer_shows_yearly_term_withdrawal_cap_and_72_hours(
    client: TestClient, world: World
) -> None:
    """003 §11.1 yearly, renewed; §13.1.4 90 days' notice; §12 7 clear days to withdraw
    (consumers); §14.3 revision capped at 5 %, the client may then terminate; §13.2 72 h
    to withdraw the data; §6.1 claims within 8 working days; §8, §14.5 grounds."""
    terms = _read(client, world, "virtualsr-svp")["terms"]
    duration = terms["duration"]
    assert duration["initial"] == _period(1, "years", "003 §11.1")
    assert duration["notice_before_term_end"] == _period(90, "calendar_days", "003 §13.1.4")
    assert duration["withdrawal"]["period"] == _period(7, "clear_days", "003 §12")
    indexation = terms["indexation"]
    assert (indexation["formula"], indexation["yearly_cap_pct"]) == ("capped_increase", "5")
    assert indexation["client_may_terminate"] is True
    assert terms["reversibility"]["window"] == _period(72, "hours", "003 §13.2.1")
    assert terms["liability"]["claim_window"] == _period(8, "working_days", "003 §6.1")
    causes = {g["cause"] for g in terms["suspension"]["grounds"]}
    assert {"breach", "fraud", "obstruction", "unpaid-invoice"} <= causes


def test_004_offer_shows_36_months_3_months_notice_syntec_and_backup_fee(
    client: TestClient, world: World
) -> None:
    """004 §5: 36 months then 12-month renewals, 3 months' notice, effective once the data
    are recovered; §8.2 paid during the month after issue, disputes within 15 days of
    issue; §8.1 Syntec; §3 30 days to refuse new terms; §17.2 15 days, EUR 360 per VM."""
    terms = _read(client, world, "optima-cloud-azure")["terms"]
    duration = terms["duration"]
    assert duration["initial"] == _period(36, "months", "004 §5")
    assert duration["notice_before_term_end"] == _period(3, "months", "004 §5")
    assert duration["renewal"]["period"] == _period(12, "months", "004 §5")
    assert duration["effective_when_data_recovered"] is True
    invoiced = terms["payment"]["invoiced"]
    assert invoiced["payment_term"] == _period(1, "months", "004 §8.2")
    assert invoiced["payment_term_from"] == "end_of_issue_month"
    assert invoiced["dispute_window"] == _period(15, "calendar_days", "004 §8.2")
    assert [i["name"] for i in terms["indexation"]["indices"]] == ["syntec"]
    assert terms["changes"]["refusal_window"] == _period(30, "calendar_days", "004 §3")
    reversibility = terms["reversibility"]
    assert reversibility["window"] == _period(15, "calendar_days", "004 §17.2")
    assert (reversibility["fee"], reversibility["fee_per"]) == ("360", "vm")


@pytest.mark.parametrize("path", sorted(OFFERS.glob("*.toml")), ids=lambda p: p.stem)
def test_offer_detail_is_the_terms_file_of_the_version_shown(
    client: TestClient, world: World, path: Path
) -> None:
    """Every offer: the version shown is the file's SHA-256, and each section shows the
    clause and figures the file gives it."""
    offer = load_offer(path)
    shown = _read(client, world, offer.id)
    assert shown["content_hash"] == hashlib.sha256(path.read_bytes()).hexdigest()
    terms = shown["terms"]
    assert terms["duration"]["clause"] == offer.duration.clause
    assert terms["duration"]["initial"]["amount"] == offer.duration.initial.amount
    assert terms["sla"]["clause"] == offer.sla.clause
    assert terms["suspension"]["clause"] == offer.suspension.clause
    assert [g["clause"] for g in terms["suspension"]["grounds"]] == [
        g.clause for g in offer.suspension.grounds
    ]
    assert terms["reversibility"]["clause"] == offer.reversibility.clause
    assert terms["payment"]["late_payment"]["clause"] == offer.billing.late_payment.clause
    assert [(o["id"], o["price"]) for o in terms["options"]] == [
        (o.id, format(o.price, "f")) for o in offer.catalogue.options
    ]
    assert shown["source"]["seed"] == offer.offer.source.seed


def test_offer_detail_schema_is_documented(client: TestClient) -> None:
    """The response is a typed schema in OpenAPI, not a free-form object."""
    schema = client.get("/openapi.json").json()
    ok = schema["paths"]["/api/v1/offers/{offer_id}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/OfferDetailOut")
    components = schema["components"]["schemas"]
    for name in ("TermsOut", "SlaOut", "SuspensionGroundOut", "ReversibilityOut", "PeriodOut"):
        assert name in components
    assert "clause" in components["SuspensionGroundOut"]["properties"]
