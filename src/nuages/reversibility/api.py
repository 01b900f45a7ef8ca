"""REST endpoints of the end of a contract: its exit (reversibility) and liability cap."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from nuages.accounts.roles import Scope
from nuages.api.deps import PrincipalDep, SessionDep
from nuages.compute.api import runtime
from nuages.compute.services.ending import ExportFacts
from nuages.contracts.api import registry
from nuages.contracts.schemas import ContractOut
from nuages.kernel.validation import Instant
from nuages.reversibility import (
    acts,
    liability,
    partial,
    records,
    relocation,
    schemas,
    service,
    signing,
)
from nuages.reversibility import deadlines as _deadlines  # noqa: F401 - registers the source
from nuages.reversibility.models import PartialRecovery
from nuages.reversibility.service import ExitView

router = APIRouter(prefix="/api/v1", tags=["reversibility"])


def exit_out(view: ExitView, money: bool = True) -> schemas.ExitOut:
    """An exit view as the API shows it; without ``money`` (a caller without the
    billing scope: members never see money, 000 §5) the refund, fees and unpaid
    invoices are left out."""
    shown = _exit_out(view)
    if not money:
        shown.refund_amount, shown.fee, shown.unpaid = None, None, []
        for delivery in shown.deliveries:
            delivery.fee = None
    return shown


def _exit_out(view: ExitView) -> schemas.ExitOut:
    e, plan = view.exit, view.plan
    deadline, means = upcoming_deadline(view)
    return schemas.ExitOut(
        contract_id=e.contract_id,
        state=e.state,
        cause=e.cause,
        clause=e.clause,
        ended_at=e.ended_at,
        window=plan.window,
        window_ends_at=e.window_ends_at,
        deadline=deadline,
        deadline_means=means,
        denied=plan.denied,
        service_continues=plan.service_continues,
        confirmation_ends=plan.confirmation_ends,
        requires_paid_up=plan.requires_paid_up,
        fee=plan.fee,
        fee_per=plan.fee_per,
        choice=e.choice,
        letter_at=e.letter_at,
        refund_amount=e.refund_amount,
        confirmed_at=e.confirmed_at,
        erasure_reason=e.erasure_reason,
        erasure_started_at=e.erasure_started_at,
        erased_at=e.erased_at,
        erasure_record_id=e.erasure_record_id,
        erasure_record_hash=e.erasure_record_hash,
        closed_at=e.closed_at,
        deliveries=[
            schemas.DeliveryOut(
                vm_id=d.vm_id,
                kind=d.kind,
                transfer=d.transfer,
                fee=d.fee,
                export_id=d.export_id,
                state=f.state if f else None,
                sha256=f.sha256 if f else None,
                size_bytes=f.size_bytes if f else None,
                expires_at=f.expires_at if f else None,
                download=f"/api/v1/vms/{d.vm_id}/exports/{d.export_id}/download"
                if f is not None and f.state == "ready"
                else None,
                requested_at=d.requested_at,
            )
            for d, f in view.deliveries
        ],
        unpaid=[schemas.UnpaidOut(**u.__dict__) for u in view.unpaid],
    )


def upcoming_deadline(view: ExitView) -> tuple[object, str]:
    """The next date of the exit and what it means (shown on the contract)."""
    items = service.upcoming_of(view)
    if not items:
        return None, ""
    at, _kind, clause, description = items[0]
    return at, f"{description} ({clause})"


@router.get("/contracts/{contract_id}/exit", response_model=schemas.ExitOut)
def get_exit(
    contract_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """The exit of an ended contract: its state, deadline and clause, the copies with
    their SHA-256 and download links, the refund, the erasure record."""
    return exit_out(
        service.get_exit(session, principal, registry(request), contract_id),
        principal.has(Scope.BILLING),
    )


@router.post(
    "/contracts/{contract_id}/exit/copies",
    response_model=schemas.ExitOut,
    status_code=status.HTTP_202_ACCEPTED,
)
def request_copies(
    contract_id: str,
    body: schemas.CopiesRequest,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """An owner asks for copies of the data (qcow2 + SHA-256, expiring link): 001 §7
    EUR 250 per transfer once every invoice is paid; 004 §17.2 EUR 360 per VM within 15
    days; 003 §13.2 once everything is paid. The copies are written asynchronously."""
    view = acts.request_copies(
        session, principal, registry(request), runtime(request), contract_id, body.vm_ids
    )
    return exit_out(view, principal.has(Scope.BILLING))


@router.post("/contracts/{contract_id}/exit/choice", response_model=schemas.ExitOut)
def choose(
    contract_id: str,
    body: schemas.ChoiceRequest,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """001 §7: an owner chooses deletion or recovery within the window."""
    view = acts.choose(
        session, principal, registry(request), runtime(request), contract_id, body.choice,
        body.letter_at,
    )  # fmt: skip
    return exit_out(view, principal.has(Scope.BILLING))


@router.post("/contracts/{contract_id}/exit/confirm", response_model=schemas.ExitOut)
def confirm(
    contract_id: str,
    body: schemas.ConfirmRequest,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """An owner confirms it has its data (004 §5: the contract ends then); the erasure
    follows."""
    view = acts.confirm(session, principal, registry(request), contract_id)
    return exit_out(view, principal.has(Scope.BILLING))


@router.post("/contracts/{contract_id}/exit/erase", response_model=schemas.ExitOut)
def erase(
    contract_id: str,
    body: schemas.EraseRequest,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """Staff order the erasure now (refused while a copy is being written)."""
    view = acts.staff_erase(session, principal, registry(request), contract_id, body.reason)
    return exit_out(view, principal.has(Scope.BILLING))


@router.post("/contracts/{contract_id}/end-now", response_model=ContractOut)
def end_now(
    contract_id: str, body: schemas.EndNow, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff end a contract now for a cause; its exit opens right after."""
    return service.end_now(session, principal, contract_id, body.cause, body.fault)


@router.get("/contracts/{contract_id}/liability-cap", response_model=schemas.CapOut)
def liability_cap(
    contract_id: str,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    failure: Annotated[
        Instant | None, Query(description="when the failure started (ISO 8601; default: now)")
    ] = None,
    failure_end: Annotated[
        Instant | None, Query(description="when it ended (000 §12.1; default: now)")
    ] = None,
    known_at: Annotated[
        Instant | None, Query(description="when the client learnt of it (claims; default: failure)")
    ] = None,
) -> object:
    """The provider's liability cap for one failure, from the contract's own invoices
    and payments (000 §12.1, 001 §12, 003 §6.1, 004 §13), and the claim deadline
    (001 §12: 72 h; 003 §6.1: 8 working days)."""
    view = liability.liability_cap(
        session, principal, registry(request), contract_id, failure, failure_end, known_at
    )  # fmt: skip
    return schemas.CapOut(**view.__dict__)


@router.post(
    "/contracts/{contract_id}/relocations",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.RelocationOut,
)
def create_relocation(
    contract_id: str, body: schemas.RelocationCreate, principal: PrincipalDep, session: SessionDep
) -> object:
    """Staff announce a move of the data outside the EU (001 §5.3): the client is
    notified and may terminate without indemnity for 30 days."""
    return relocation.record(session, principal, contract_id, body)


@router.get("/contracts/{contract_id}/relocations", response_model=list[schemas.RelocationOut])
def list_relocations(contract_id: str, principal: PrincipalDep, session: SessionDep) -> object:
    """The moves of the contract's data outside the EU announced to its client."""
    return relocation.list_relocations(session, principal, contract_id)


def _recoveries_out(
    items: list[tuple[PartialRecovery, ExportFacts | None]], money: bool
) -> list[schemas.DeliveryOut]:
    """Partial recoveries as deliveries; without ``money`` no fee (000 §5)."""
    return [
        schemas.DeliveryOut(
            vm_id=r.vm_id, kind="partial", transfer=r.transfer, fee=r.fee if money else None,
            export_id=r.export_id, state=f.state if f else None,
            sha256=f.sha256 if f else None, size_bytes=f.size_bytes if f else None,
            expires_at=f.expires_at if f else None,
            download=f"/api/v1/vms/{r.vm_id}/exports/{r.export_id}/download"
            if f is not None and f.state == "ready" else None,
            requested_at=r.requested_at,
        )
        for r, f in items
    ]  # fmt: skip


@router.post(
    "/contracts/{contract_id}/partial-recoveries",
    response_model=list[schemas.DeliveryOut],
    status_code=status.HTTP_202_ACCEPTED,
)
def request_partial_recovery(
    contract_id: str,
    body: schemas.PartialRecoveryRequest,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> object:
    """001 §7: while the contract runs, an owner asks for copies of some VMs (qcow2 +
    SHA-256, expiring link); one transfer at EUR 250, once every invoice is paid."""
    items = partial.request(
        session, principal, registry(request), runtime(request), contract_id, body.vm_ids
    )
    return _recoveries_out(items, principal.has(Scope.BILLING))


@router.get("/contracts/{contract_id}/partial-recoveries", response_model=list[schemas.DeliveryOut])
def list_partial_recoveries(
    contract_id: str, principal: PrincipalDep, session: SessionDep
) -> object:
    """The contract's partial recoveries (001 §7) with their download links."""
    items = partial.list_recoveries(session, principal, contract_id)
    return _recoveries_out(items, principal.has(Scope.BILLING))


@router.get("/erasure-signing-key", response_model=schemas.SigningKeyOut)
def erasure_signing_key(request: Request, principal: PrincipalDep) -> object:
    """The provider's public key (Ed25519) signing every erasure record: a client checks
    a record with it alone (docs/reversibility.md, "Signed erasure records")."""
    return signing.public_key(request.app.state.settings).__dict__


@router.get("/contracts/{contract_id}/exit/erasure-record", response_model=schemas.ErasureRecordOut)
def erasure_record(
    contract_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> object:
    """The contract's signed erasure record (what, when, by whom; 001 §7, 002 §10) with
    its check against the provider's key now; 404 before the erasure."""
    found = records.erasure_record(session, principal, request.app.state.settings, contract_id)
    return {**found.__dict__, "verdict": found.verdict.__dict__}
