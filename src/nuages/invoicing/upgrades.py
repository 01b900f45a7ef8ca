"""VM resizes billed prorata (003 §14.3): compute calls ``charge_vm_upgrade`` once a
resize succeeded.

Runs bill a VM at its current flavour, so the next periods already follow a resize; what
remains is the part of the current period that was invoiced in advance at the old
price. An upgrade puts the price difference from the resize day to the period end on the
next invoice (``terms.apply.upgrade_charge``); a downgrade is neither billed nor
refunded. Written once per VM and moment (idempotency key).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.orm import Session

from nuages.compute.services import reads as compute_reads
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import lines, sources
from nuages.invoicing.models import InvoicingProfile, PendingCharge
from nuages.invoicing.periods import full_period
from nuages.invoicing.pricing import Item, PricingProblem, price_of
from nuages.invoicing.runs import period_kind
from nuages.invoicing.vat import net_for_gross
from nuages.kernel.errors import NotFound, ValidationFailed
from nuages.terms import apply
from nuages.terms.apply import calendar_for


def charge_vm_upgrade(
    session: Session,
    who: Actor,
    registry: OfferRegistry,
    vm_id: str,
    old_flavour: str,
    new_flavour: str,
    changed_at: dt.datetime,
) -> PendingCharge | None:
    """The charge for resizing VM ``vm_id`` from ``old_flavour`` to ``new_flavour`` at
    ``changed_at``, or None when nothing is owed (a downgrade, a prepaid or arrears
    contract, or a period not invoiced yet, which will bill the new flavour whole)."""
    vm = compute_reads.vm(session, vm_id)
    if vm is None:
        raise NotFound("no such VM")
    contract = session.get(Contract, vm.contract_id)
    assert contract is not None
    offer = registry.for_contract(session, contract)
    profile = session.get(InvoicingProfile, contract.id)
    kind, timing = period_kind(offer, profile)
    if offer.billing.invoiced is None or timing != "advance" or contract.activated_at is None:
        return None
    calendar = calendar_for(offer)
    day = calendar.local_date(changed_at)
    first_day = calendar.local_date(contract.activated_at)
    full_start, full_end = full_period(day, kind)
    period_start = max(full_start, first_day)
    if period_start.isoformat() not in sources.invoiced_periods(session, contract.id):
        return None
    try:
        revision = sources.stored_revision(
            session, contract.id, calendar, period_start
        ) or sources.revision_for(offer, first_day, period_start, sources.IndexBook(session))
        old_price, _, old_name = price_of(offer, Item(old_flavour, Decimal(1), day))
        new_price, _, new_name = price_of(offer, Item(new_flavour, Decimal(1), day))
    except PricingProblem as exc:
        raise ValidationFailed(str(exc)) from None
    months = Decimal((full_end.year - full_start.year) * 12 + full_end.month - full_start.month)
    factor = revision.factor if revision else Decimal(1)
    result = apply.upgrade_charge(
        offer,
        old_price * factor * months,
        new_price * factor * months,
        full_start,
        full_end,
        day,
    )
    if result.amount == 0:
        return None  # 003 §14.3: a downgrade is neither billed nor refunded
    amount = result.amount
    if offer.catalogue.prices_include_vat:
        # Charges are net of VAT; the catalogue quotes this difference VAT included.
        amount = net_for_gross(amount, offer.catalogue.vat_rate)
    last = full_end - dt.timedelta(days=1)
    charge, _ = lines.add_charge(
        session,
        who,
        contract,
        kind="upgrade",
        description=(
            f"Mise à niveau VM {vm.name} {old_name} → {new_name}, prorata du "
            f"{day:%d/%m/%Y} au {last:%d/%m/%Y} ({result.days_charged}/"
            f"{result.days_in_period} jours, 003 §14.3)"
        ),
        amount=amount,
        idempotency_key=f"vm-upgrade:{vm.id}:{changed_at.isoformat()}",
    )
    return charge
