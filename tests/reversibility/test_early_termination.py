"""003 §13.2.1: "Dès la résiliation du contrat … le Client s'engage à régler tous les
montants impayés pour la durée souscrite" — an early end through the client's doing makes
the rest of the subscribed duration due at once, on one final invoice, exactly once;
data is returned only once it is paid. Read for the client (SPEC §17): not after force
majeure, the provider's breach or a penalty-free exit. Both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from nuages.invoicing.models import Invoice, InvoiceLine, PendingCharge
from nuages.kernel.clock import set_now
from tests.invoicing.factories import Billing, run_at
from tests.reversibility.conftest import Ex

UTC = dt.UTC
FORMED = dt.datetime(2026, 2, 28, 23, tzinfo=UTC)  # 1 March 2026 00:00 in Paris


def _svp(ex: Ex) -> str:
    """An SVP contract formed 1 March 2026 (one year, 003 §11.1: term 1 March 2027)
    with an SVP S line (59.00 a month, the terms file's example), invoiced in advance
    for March and April."""
    billing = Billing(ex.database, ex.cw.offers)
    contract_id = billing.contract("virtualsr-svp", ex.owner_client, FORMED)
    billing.line(contract_id, "svp-s", dt.date(2026, 3, 1))
    run_at(ex.database, ex.cw.offers, dt.datetime(2026, 3, 1, 6, tzinfo=UTC))
    run_at(ex.database, ex.cw.offers, dt.datetime(2026, 4, 1, 6, tzinfo=UTC))
    set_now(dt.datetime(2026, 4, 2, 9, tzinfo=UTC))
    ex.setup("virtualsr-svp", vms=0, contract_id=contract_id)
    return contract_id


def _early(ex: Ex, contract_id: str) -> list[PendingCharge]:
    with ex.database.unit() as session:
        return list(
            session.execute(
                select(PendingCharge).where(
                    PendingCharge.contract_id == contract_id,
                    PendingCharge.kind == "early_termination",
                )
            ).scalars()
        )


def test_003_s13_2_1_early_end_makes_the_rest_of_the_duration_due_once(ex: Ex) -> None:
    """003 §13.2.1: ended for the client's breach on Thu 16 April 2026, March and April
    already invoiced (to 1 May): 1 May 2026 – 1 March 2027 is 10 whole months × 59.00 =
    590.00, written once when the exit opens, before any invoice bills it (a copy is
    refused then, 402 naming 003 §13.2), billed by one final invoice; a second run and a
    second daily pass write nothing more; a dry run shows nothing new."""
    contract_id = _svp(ex)
    set_now(dt.datetime(2026, 4, 16, 10, tzinfo=UTC))
    ex.end("client_breach")
    [charge] = _early(ex, contract_id)
    assert charge.amount == Decimal("590.00") and charge.invoice_id is None
    assert "01/05/2026 au 01/03/2027, 10 mois à 59.00" in charge.description
    r = ex.post("copies", {"vm_ids": None})
    assert r.status_code == 402, r.text  # type: ignore[attr-defined]
    assert "003 §13.2" in r.json()["detail"]  # type: ignore[attr-defined]
    ex.daily()
    assert len(_early(ex, contract_id)) == 1
    report = run_at(ex.database, ex.cw.offers, dt.datetime(2026, 4, 17, 6, tzinfo=UTC))
    [final] = [d for d in report.issued if d["contract_id"] == contract_id]
    assert final["period"] == "final"
    with ex.database.unit() as session:
        invoice = session.get(Invoice, final["invoice_id"])
        assert invoice is not None and invoice.billing_period is None
        [line] = session.execute(
            select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
        ).scalars()
        assert "003 §13.2.1" in line.description
        # 003 §14.1: prices all taxes included, so the invoice's total is the 590.00.
        assert invoice.grand_total == Decimal("590.00")
    [charge] = _early(ex, contract_id)
    assert charge.invoice_id == final["invoice_id"]
    again = run_at(ex.database, ex.cw.offers, dt.datetime(2026, 4, 18, 6, tzinfo=UTC))
    assert [d for d in again.issued if d["contract_id"] == contract_id] == []
    dry = run_at(ex.database, ex.cw.offers, dt.datetime(2026, 4, 18, 7, tzinfo=UTC), dry_run=True)
    assert [p for p in dry.previews if p["contract_id"] == contract_id] == []
    with ex.database.unit() as session:
        count = session.execute(select(Invoice.id).where(Invoice.contract_id == contract_id)).all()
    assert len(count) == 3  # March, April, and the final one


def test_003_s13_2_1_not_due_after_force_majeure_or_at_the_term(ex: Ex) -> None:
    """Read for the client (SPEC §17): an end by force majeure (003 §9) is no doing of
    the client's, so nothing more is due; neither is anything after a contract that
    ends at its term."""
    contract_id = _svp(ex)
    set_now(dt.datetime(2026, 4, 16, 10, tzinfo=UTC))
    ex.end("force_majeure")
    assert _early(ex, contract_id) == []
    report = run_at(ex.database, ex.cw.offers, dt.datetime(2026, 4, 17, 6, tzinfo=UTC))
    assert [d for d in report.issued if d["contract_id"] == contract_id] == []
