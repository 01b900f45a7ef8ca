"""A contract's next invoice: when it will be issued and what it would say today
(issue #12 §2: the dashboard shows "the next invoice").

The date follows the contract's schedule (``runs.period_kind``: month or quarter, in
advance or in arrears; 001 §4.4, 003 §14.1, 004 §8.2): the first period not invoiced
yet is issued on its first day in advance, the day after its end in arrears — today
when that day has passed and the run has not been yet. The amount is an estimate: the
same dry run an invoicing run would make on that date (``runs.invoice_contract`` with
``dry_run=True``, which writes nothing), priced from what the contract holds now
(VMs, ordered lines, charges), so it changes when they do. Prepaid contracts have no
invoice to announce: their account's balance and run-out date say it (000 §13.2).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.invoicing import runs, sources
from nuages.invoicing.models import InvoicingProfile
from nuages.invoicing.periods import periods
from nuages.invoicing.pricing import PricingProblem
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import Settings, get_settings
from nuages.terms.apply import calendar_for

HORIZON = dt.timedelta(days=400)  # past a year of periods, something else is wrong


@dataclass(frozen=True)
class NextInvoice:
    """The next invoice of a contract: its issue day, its period and the estimated
    total with VAT (None when the contract cannot be priced now, ``problem`` says why)."""

    contract_id: str
    issue_on: dt.date
    period_start: dt.date
    period_end: dt.date
    estimate: Decimal | None
    currency: str
    problem: str = ""


def next_invoice(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    settings: Settings | None = None,
) -> NextInvoice | None:
    """The contract's next invoice, or None when none is coming (prepaid, not formed,
    ended). Reads only; needs the billing scope (members never see money, 000 §5)."""
    contract = contracts.get_contract(session, actor, contract_id)
    actor.require(Scope.BILLING)
    offer = registry.for_contract(session, contract)
    if offer.billing.mode == "prepaid" or contract.activated_at is None or contract.ended_at:
        return None
    calendar = calendar_for(offer)
    today = calendar.local_date(utc_now())
    kind, timing = runs.period_kind(offer, session.get(InvoicingProfile, contract.id))
    done = sources.invoiced_periods(session, contract.id)
    first_day = calendar.local_date(contract.activated_at)
    period = next(
        (p for p in periods(first_day, kind, until=today + HORIZON) if p.key not in done), None
    )
    if period is None:
        return None
    issue_on = max(today, period.start if timing == "advance" else period.end)
    report = runs.RunReport(run_on=issue_on, dry_run=True)
    problem = ""
    try:
        with session.begin_nested():
            runs.invoice_contract(
                session,
                actor.actor,
                registry,
                contract,
                issue_on,
                dry_run=True,
                report=report,
                book=sources.IndexBook(session),
                settings=settings or get_settings(),
            )
    except (PricingProblem, NuagesError) as exc:
        problem = exc.detail if isinstance(exc, NuagesError) else str(exc)
    preview = next((p for p in report.previews if p["period"] == period.key), None)
    return NextInvoice(
        contract_id=contract.id,
        issue_on=issue_on,
        period_start=period.start,
        period_end=period.end,
        estimate=Decimal(str(preview["grand_total"])) if preview else None,
        currency=offer.offer.currency,
        problem=problem,
    )
