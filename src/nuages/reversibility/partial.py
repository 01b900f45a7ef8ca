"""001 §7 partial recovery while the contract runs: "en cours d'exécution de la
Convention, le Client pourra exercer à tout moment une Option de réversibilité
partielle, relative aux données, fichiers qui seraient stockés chez le Prestataire. Les
coûts afférents au transfert des données du Client seront facturés … 250,- EUR par
transfert. Les prestations relatives à la restitution des données seront subordonnées
au règlement intégral de toutes et chacune des factures ouvertes".

An owner (or staff) asks for copies of some VMs: each is a compute export (qcow2,
SHA-256, expiring link); the request is one transfer, its fee charged once on the next
invoice (or the prepaid ledger). Refused before anything is written: an offer without
the option (409), unpaid invoices (402 with the clause), a VM busy or not copyable, a
contract that has ended (its exit's copies apply then).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import ending
from nuages.contracts import service as contracts
from nuages.contracts.ending import ENDABLE
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history import service as history
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from nuages.reversibility import money
from nuages.reversibility.models import PartialRecovery
from nuages.reversibility.service import ExportInProgress, UnpaidInvoices


def recoveries_of(
    session: Session, contract_id: str
) -> list[tuple[PartialRecovery, ending.ExportFacts | None]]:
    """The contract's partial recoveries with their exports, oldest first."""
    rows = list(
        session.execute(
            select(PartialRecovery)
            .where(PartialRecovery.contract_id == contract_id)
            .order_by(PartialRecovery.transfer, PartialRecovery.requested_at, PartialRecovery.id)
        ).scalars()
    )
    facts = ending.exports_by_id(session, [r.export_id for r in rows])
    return [(r, facts.get(r.export_id)) for r in rows]


def list_recoveries(
    session: Session, actor: Principal, contract_id: str
) -> list[tuple[PartialRecovery, ending.ExportFacts | None]]:
    """The partial recoveries of a contract the caller may see."""
    contract = contracts.get_contract(session, actor, contract_id)
    return recoveries_of(session, contract.id)


def request(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    runtime: ComputeRuntime,
    contract_id: str,
    vm_ids: list[str],
) -> list[tuple[PartialRecovery, ending.ExportFacts | None]]:
    """One partial recovery (one transfer) of the VMs named (001 §7)."""
    contract = contracts.get_contract(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff and actor.role != Role.CLIENT_OWNER:
        raise Forbidden("only an owner (Responsable) decides on the contract's data (000 §1)")
    offer = registry.for_contract(session, contract)
    rev = offer.reversibility
    clause = rev.clause or "001 §7"
    if not rev.partial_recovery_anytime:
        raise Conflict(
            f"offer {offer.id} gives no partial recovery while the contract runs "
            f"({rev.clause or 'its reversibility terms'})"
        )
    if ContractState(contract.state) not in ENDABLE:
        raise InvalidTransition(
            f"the contract is {contract.state}: after its end, copies are asked through its "
            f"exit (POST /contracts/{{id}}/exit/copies, {clause})"
        )
    chosen = list(dict.fromkeys(vm_ids))
    if not chosen:
        raise ValidationFailed("vm_ids: name the VMs whose data is recovered")
    if rev.requires_paid_up:
        owed = money.unpaid(session, contract.id)
        if owed:
            total = sum((u.outstanding for u in owed), Decimal(0))
            raise UnpaidInvoices(
                f"partial recovery: data is returned only once every invoice is paid "
                f"({clause}); unpaid: {', '.join(u.number for u in owed)} ({total} still due)",
                clause=clause,
                unpaid=[u.number for u in owed],
            )
    left = {vm.id: vm for vm in ending.vms_left(session, contract.id)}
    for vm_id in chosen:
        vm = left.get(vm_id)
        if vm is None:
            raise ValidationFailed(f"vm_ids: {vm_id} is not a VM of this contract")
        why = ending.copyable(vm)
        if why is not None:
            raise ExportInProgress(f"vm_ids: {why}")
    transfer = 1 + int(
        session.scalar(
            select(func.coalesce(func.max(PartialRecovery.transfer), 0)).where(
                PartialRecovery.contract_id == contract.id
            )
        )
        or 0
    )
    fee = rev.fee if rev.fee_per == "transfer" else None
    key = f"partial-recovery-fee:{contract.id}:{transfer}" if fee is not None else None
    who = actor.actor
    now: dt.datetime = utc_now()
    for vm_id in chosen:
        facts = ending.export_vm(session, runtime, vm_id)
        session.add(
            PartialRecovery(
                contract_id=contract.id, client_id=contract.client_id, vm_id=vm_id,
                export_id=facts.id, transfer=transfer, fee=fee, fee_key=key,
                requested_by=who.id or f"system:{who.label}", requested_at=now,
            )
        )  # fmt: skip
    session.flush()
    if fee is not None and key is not None:
        money.charge_fee(
            session, who, contract, offer, amount=fee, key=key,
            description=f"Transfert de réversibilité partielle n° {transfer} ({clause})",
        )  # fmt: skip
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action="contract.partial_recovery",
        params={
            "transfer": transfer,
            "vm_ids": chosen,
            "fee": str(fee) if fee is not None else None,
            "clause": clause,
        },
        client_id=contract.client_id,
    )
    return [item for item in recoveries_of(session, contract.id) if item[0].transfer == transfer]


def quote(
    session: Session, actor: Principal, registry: OfferRegistry, contract_id: str
) -> dict[str, object]:
    """What a partial recovery would cost and whether it may be asked now, said before
    the client confirms (001 §7: EUR 250 per transfer, every invoice paid first);
    nothing is written."""
    contract = contracts.get_contract(session, actor, contract_id)
    rev = registry.for_contract(session, contract).reversibility
    clause = rev.clause or "001 §7"
    owed = money.unpaid(session, contract.id) if rev.requires_paid_up else []
    refusal, why = "", ""
    if not rev.partial_recovery_anytime:
        refusal = "not_offered"
        why = f"the offer gives no partial recovery while the contract runs ({clause})"
    elif ContractState(contract.state) not in ENDABLE:
        refusal = "not_running"
        why = f"the contract is {contract.state}: copies are asked through its exit"
    elif owed:
        refusal = "unpaid"
        why = f"data is returned only once every invoice is paid ({clause})"
    return {
        "contract_id": contract.id,
        "available": not refusal,
        "refusal": refusal,  # a code the portal words in the visitor's language
        "why": why,
        "fee": str(rev.fee) if rev.fee is not None and rev.fee_per == "transfer" else None,
        "fee_per": rev.fee_per,
        "clause": clause,
        "unpaid": [u.number for u in owed],
    }
