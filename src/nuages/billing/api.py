"""REST endpoints of prepaid billing (tag "billing") and of extensions (tag "extensions").

Billing routes need the billing permission: a member (sub-responsable) never sees
money (000 §5). Extensions are ordered by any client user who may write; the
Responsable authorises them (000 §8).
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from nuages.api.deps import PageDep, PrincipalDep, SessionDep
from nuages.billing import balance, extensions, ledger, schemas, sepa, topups, usage
from nuages.billing.models import EntryKind
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import ValidationFailed
from nuages.kernel.validation import Instant, Page, page_of

router = APIRouter(prefix="/api/v1")
BILLING: list[str | Enum] = ["billing"]
EXTENSIONS: list[str | Enum] = ["extensions"]
# ISO 8601 with a time zone only (17.9: "until=0.5" is not a time).
Since = Annotated[Instant | None, Query(description="from this time, inclusive (ISO 8601)")]
Until = Annotated[Instant | None, Query(description="until this time, exclusive (ISO 8601)")]


def _offers(request: Request) -> OfferRegistry:
    loaded: OfferRegistry = request.app.state.offers
    return loaded


@router.get("/billing/accounts", tags=BILLING, response_model=Page[schemas.AccountRowOut])
def list_accounts(
    principal: PrincipalDep,
    session: SessionDep,
    paging: PageDep,
    client_id: Annotated[str | None, Query(max_length=36)] = None,
) -> object:
    """Prepaid accounts the caller may see (staff: all, or one client's)."""
    items, total = ledger.list_accounts(session, principal, paging.page, paging.per_page, client_id)
    return page_of(items, total, paging.page, paging.per_page)


@router.get(
    "/billing/contracts/{contract_id}/account", tags=BILLING, response_model=schemas.AccountOut
)
def get_account(
    contract_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """A contract's account: balance, payment reference, burn, projection (000 §13.2)."""
    return usage.account_summary(session, principal, _offers(request), contract_id)


@router.get(
    "/billing/contracts/{contract_id}/entries",
    tags=BILLING,
    response_model=Page[schemas.EntryOut],
)
def list_entries(
    contract_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    paging: PageDep,
    kind: EntryKind | None = None,
    since: Since = None,
    until: Until = None,
) -> object:
    """The account's entries, newest first, filtered by kind and time [since, until)."""
    items, total = ledger.list_entries(
        session,
        principal,
        contract_id,
        paging.page,
        paging.per_page,
        kind=kind,
        since=since,
        until=until,
    )
    return page_of(items, total, paging.page, paging.per_page)


@router.post(
    "/billing/contracts/{contract_id}/transfers",
    tags=BILLING,
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.EntryOut,
)
def record_transfer(
    contract_id: str,
    body: schemas.TransferCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff record a bank transfer received (000 §13.2); it may form the contract."""
    return topups.record_transfer(session, principal, _offers(request), contract_id, body)


@router.post(
    "/billing/contracts/{contract_id}/adjustments",
    tags=BILLING,
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.EntryOut,
)
def adjust(
    contract_id: str,
    body: schemas.AdjustmentCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff write a credit, fee, refund or correction with its reason."""
    return topups.adjust(session, principal, _offers(request), contract_id, body)


@router.get(
    "/billing/contracts/{contract_id}/usage", tags=BILLING, response_model=Page[schemas.UsageOut]
)
def list_usage(
    contract_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    paging: PageDep,
    resource_id: Annotated[str | None, Query(max_length=36)] = None,
    since: Since = None,
    until: Until = None,
) -> object:
    """Usage per resource (VM, extension) and period, newest first."""
    items, total = usage.list_usage(
        session,
        principal,
        contract_id,
        paging.page,
        paging.per_page,
        resource_id=resource_id,
        since=since,
        until=until,
    )
    return page_of(items, total, paging.page, paging.per_page)


@router.get(
    "/billing/contracts/{contract_id}/usage/totals",
    tags=BILLING,
    response_model=list[schemas.UsageTotalOut],
)
def usage_totals(
    contract_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    since: Since = None,
    until: Until = None,
) -> object:
    """What each resource cost over [since, until)."""
    return usage.usage_totals(session, principal, contract_id, since=since, until=until)


@router.get(
    "/billing/contracts/{contract_id}/negative-periods",
    tags=BILLING,
    response_model=list[schemas.IntervalOut],
)
def negative_periods(
    contract_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    since: Since = None,
    until: Until = None,
) -> object:
    """Spans of [since, until) with a negative balance (000 §5: SLA penalties lost);
    by default from the start until now."""
    ledger.contract_for(session, principal, contract_id)
    start = since or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    end = until or utc_now()
    if end <= start:
        raise ValidationFailed("until: must be after since")
    spans = balance.negative_periods(session, contract_id, start, end)
    return [schemas.IntervalOut(start=s, end=e) for s, e in spans]


@router.get(
    "/billing/contracts/{contract_id}/mandates",
    tags=BILLING,
    response_model=list[schemas.MandateOut],
)
def list_mandates(contract_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """The contract's SEPA mandates, newest first."""
    return sepa.list_mandates(session, principal, contract_id)


@router.post(
    "/billing/contracts/{contract_id}/mandates",
    tags=BILLING,
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.MandateOut,
)
def create_mandate(
    contract_id: str,
    body: schemas.MandateCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Register a signed SEPA mandate (IBAN and BIC checked)."""
    return sepa.create_mandate(session, principal, _offers(request), contract_id, body)


@router.post(
    "/billing/contracts/{contract_id}/mandates/revoke",
    tags=BILLING,
    response_model=schemas.MandateOut,
)
def revoke_mandate(contract_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """Revoke the active mandate; collections not yet sent are cancelled."""
    return sepa.revoke_mandate(session, principal, contract_id)


@router.post(
    "/billing/contracts/{contract_id}/mandates/amend",
    tags=BILLING,
    response_model=schemas.MandateOut,
)
def amend_mandate(
    contract_id: str, body: schemas.MandateCreate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Amend the active mandate (SEPA Core rulebook): a new IBAN or bank is told to the
    debtor's bank in the next collection, with the original data."""
    return sepa.amend_mandate(session, principal, contract_id, body)


@router.get(
    "/billing/contracts/{contract_id}/direct-debits",
    tags=BILLING,
    response_model=Page[schemas.DirectDebitOut],
)
def list_debits(
    contract_id: str, principal: PrincipalDep, session: SessionDep, paging: PageDep
) -> object:
    """The contract's direct-debit top-ups, newest first."""
    items, total = sepa.list_debits(session, principal, contract_id, paging.page, paging.per_page)
    return page_of(items, total, paging.page, paging.per_page)


@router.post(
    "/billing/contracts/{contract_id}/direct-debits",
    tags=BILLING,
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.DirectDebitOut,
)
def request_debit(
    contract_id: str,
    body: schemas.DirectDebitCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Ask for a direct-debit top-up, within the caps; it leaves in the next pain.008
    batch and is credited when settled."""
    debit, _created = sepa.request_debit(session, principal, _offers(request), contract_id, body)
    return debit


@router.post(
    "/billing/contracts/{contract_id}/direct-debits/settlements",
    tags=BILLING,
    response_model=schemas.DirectDebitOut,
)
def settle_debit(
    contract_id: str,
    body: schemas.DebitSettleCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff record that the bank booked a collection: the account is credited, once."""
    return sepa.settle_debit(session, principal, _offers(request), contract_id, body)


@router.post(
    "/billing/contracts/{contract_id}/direct-debits/returns",
    tags=BILLING,
    response_model=schemas.DirectDebitOut,
)
def return_debit(
    contract_id: str,
    body: schemas.DebitReturnCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff record a returned collection: if it was settled, its top-up is reversed by
    a new entry; if not, it is only marked returned."""
    return sepa.return_debit(session, principal, _offers(request), contract_id, body)


# ---------------------------------------------------------------- extensions (000 §8)


@router.post(
    "/contracts/{contract_id}/extensions",
    tags=EXTENSIONS,
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ExtensionOut,
)
def order_extension(
    contract_id: str,
    body: schemas.ExtensionCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Order extra VMs or an option for a period; the Responsable authorises it."""
    return extensions.order(session, principal, _offers(request), contract_id, body)


@router.get(
    "/contracts/{contract_id}/extensions",
    tags=EXTENSIONS,
    response_model=Page[schemas.ExtensionOut],
)
def list_extensions(
    contract_id: str, principal: PrincipalDep, session: SessionDep, paging: PageDep
) -> object:
    """A contract's extensions, newest first."""
    items, total = extensions.list_extensions(
        session, principal, contract_id, paging.page, paging.per_page
    )
    return page_of(items, total, paging.page, paging.per_page)


@router.get("/extensions/{extension_id}", tags=EXTENSIONS, response_model=schemas.ExtensionOut)
def get_extension(extension_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """One extension."""
    return extensions.get_extension(session, principal, extension_id)


@router.post(
    "/extensions/{extension_id}/approve", tags=EXTENSIONS, response_model=schemas.ExtensionOut
)
def approve_extension(
    extension_id: str,
    body: schemas.ExtensionDecision,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """The Responsable authorises a pending extension (000 §8)."""
    return extensions.decide(session, principal, extension_id, True, body.reason)


@router.post(
    "/extensions/{extension_id}/reject", tags=EXTENSIONS, response_model=schemas.ExtensionOut
)
def reject_extension(
    extension_id: str,
    body: schemas.ExtensionDecision,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """The Responsable refuses a pending extension."""
    return extensions.decide(session, principal, extension_id, False, body.reason)


@router.post(
    "/extensions/{extension_id}/cancel", tags=EXTENSIONS, response_model=schemas.ExtensionOut
)
def cancel_extension(
    extension_id: str,
    body: schemas.ExtensionDecision,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Withdraw an extension (a running one ends now, after at least 1 hour, 000 §9)."""
    return extensions.cancel(session, principal, _offers(request), extension_id, body.reason)


@router.get(
    "/contracts/{contract_id}/extension-policy",
    tags=EXTENSIONS,
    response_model=schemas.PolicyOut,
)
def get_policy(contract_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """The contract's automatic-extension policy."""
    return extensions.get_policy(session, principal, contract_id)


@router.put(
    "/contracts/{contract_id}/extension-policy",
    tags=EXTENSIONS,
    response_model=schemas.PolicyOut,
)
def put_policy(
    contract_id: str,
    body: schemas.PolicyPut,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """The Responsable sets the automatic-extension policy (000 §8)."""
    return extensions.put_policy(session, principal, _offers(request), contract_id, body)
