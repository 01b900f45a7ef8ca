"""001 §10.3 end to end: an out-of-hours intervention is on the contract's next invoice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from nuages.accounts.principal import Principal
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database
from nuages.managed import agreements
from nuages.support import schemas, tickets
from tests.invoicing.factories import Billing, documents_of, run_at, utc

BRUSSELS = ZoneInfo("Europe/Brussels")


def test_001_s10_3_out_of_hours_fee_billed_on_the_next_invoice(
    database: Database, offers: OfferRegistry
) -> None:
    """cloudbizz formed 1 December 2026, invoiced that day. On Saturday 5 December at
    10:00 Brussels staff work 90 minutes on a ticket (rate EUR 80): 95 + 1.5 × 80 × 1.5
    = EUR 275.00, which the 1 January invoice bills as its own line; the December
    invoice, issued before, does not change."""
    billing = Billing(database, offers)
    client = billing.client("Support SPRL", country="BE")
    contract = billing.contract("cloudbizz", client, utc(2026, 11, 30, 23))
    billing.line(contract, "desktop-std", dt.date(2026, 12, 1), quantity=Decimal(1))
    run_at(database, offers, utc(2026, 12, 1, 6))
    staff = Principal.staff("support-test")
    with database.unit() as session:
        agreements.set_agreement(session, staff, contract, {"hourly_rate": Decimal("80.00")})
    with frozen_at(dt.datetime(2026, 12, 5, 10, tzinfo=BRUSSELS)):
        with database.unit() as session:
            ticket = tickets.open_ticket(
                session, staff, offers,
                schemas.TicketCreate(category="incident", contract_id=contract,
                                     subject="desktop down", body="called the emergency line"),
            )  # fmt: skip
            work = schemas.MessageCreate(
                body="restored", intervention=schemas.Intervention(minutes=90)
            )
            message = tickets.add_message(session, staff, offers, ticket.id, work)
            assert message.out_of_hours and message.charge_id is not None
    run_at(database, offers, utc(2027, 1, 1, 6))
    (_, december_lines), (_, january_lines) = documents_of(database, contract)
    assert not any(x.net_amount == Decimal("275.00") for x in december_lines)
    fees = [x for x in january_lines if x.net_amount == Decimal("275.00")]
    assert len(fees) == 1 and "001 §10.3" in fees[0].description, [
        (x.kind, x.description, x.net_amount) for x in january_lines
    ]
