"""Invoicing objects of one client, for the generated access tests (TenantA.values()).

Builds, through the real services, an invoiced contract (004) with an ordered line and
a SEPA mandate, its first invoice, a dispute, a payment and a direct-debit batch, all
at a moment a few weeks back so every window is still open when they are made.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from nuages.accounts.principal import Principal
from nuages.accounts.roles import ROLE_SCOPES, Role
from nuages.history.service import Actor
from nuages.invoicing import disputes, payments, runs, schemas, sepa
from nuages.kernel.clock import frozen_at, utc_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings

from .factories import STAFF, Billing


def invoicing_objects(database: Database, http: Any, client_id: str, owner: Any) -> dict[str, str]:
    """ids for invoice_id, line_id, payment_id, dispute_id and batch_id of ``client_id``."""
    registry = http.app.state.offers
    settings: Settings = http.app.state.settings
    billing = Billing(database, registry)
    # Noon UTC: the same day in the contract's zone (Europe/Paris), whatever the hour the
    # tests run at (from 22:00 UTC the local day was already the next one: nothing due).
    start = (utc_now() - dt.timedelta(days=40)).replace(hour=12, minute=0, second=0, microsecond=0)
    contract_id = billing.contract("optima-cloud-azure", client_id, start)
    line_id = billing.line(contract_id, "azure-b2s", start.date())
    billing.profile(
        contract_id,
        mandate={
            "mandate_id": f"ACCESS-{client_id[:8]}",
            "signed_on": start.date().isoformat(),
            "iban": "FR7630006000011234567890189",
            "bic": "AGRIFRPPXXX",
        },
    )
    with frozen_at(start + dt.timedelta(hours=1)):
        report = runs.run(
            database,
            Actor.system("test"),
            registry,
            start.date(),
            contract_ids=[contract_id],
            settings=settings,
        )
    assert report.issued, report.problems
    invoice_id = report.issued[0]["invoice_id"]
    owner_principal = Principal(
        user_id=owner.user_id,
        email="owner@example.com",
        role=Role.CLIENT_OWNER,
        client_id=client_id,
        scopes=ROLE_SCOPES[Role.CLIENT_OWNER],
    )
    with frozen_at(start + dt.timedelta(hours=2)), database.unit() as session:
        dispute_id = disputes.open_dispute(session, owner_principal, invoice_id, "test").id
    with frozen_at(start + dt.timedelta(hours=3)), database.unit() as session:
        payment, _ = payments.staff_record(
            session,
            STAFF,
            registry,
            schemas.PaymentCreate(
                client_id=client_id,
                means="transfer",
                amount=Decimal("1.00"),
                received_on=start.date(),
                idempotency_key=f"access-{client_id}",
                allocations=[schemas.Allocation(invoice_id=invoice_id, amount=Decimal("1.00"))],
            ),
        )
        payment_id = payment.id
    with frozen_at(start + dt.timedelta(hours=4)), database.unit() as session:
        batch, _ = sepa.create_batch(
            session,
            Actor.system("test"),
            start.date() + dt.timedelta(days=15),  # SEPA: pre-notified 14 days ahead
            start.date() + dt.timedelta(days=400),
            settings,
            registry=registry,
        )
        batch_id = batch.id
    return {
        "invoice_id": invoice_id,
        "line_id": line_id,
        "payment_id": payment_id,
        "dispute_id": dispute_id,
        "batch_id": batch_id,
    }
