"""Use cases of contracts: ordering, confirmation, activation (suspension: ``holds``).

Services never commit; each state change is checked against the state table, written
with a compare-and-swap on the state, and recorded in the action history.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.contracts import schemas
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry, ReloadReport
from nuages.contracts.states import (
    PROVISIONING_STATES,
    ContractState,
    check_transition,
)
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.access import get_visible, visible
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    PaymentRequired,
    ValidationFailed,
)
from nuages.kernel.pagination import paginate
from nuages.terms import apply


def create_contract(
    session: Session, actor: Principal, registry: OfferRegistry, data: schemas.ContractCreate
) -> Contract:
    """Record an order: the client accepts the current version of an offer.

    The contract stays pending until it is formed: for a prepaid offer once the
    Minimum Amount is credited (000 §3.1, §13.2, done by billing), for an invoiced
    offer once the provider confirms the order (001 §2.5).
    """
    actor.require(Scope.WRITE)
    if actor.is_staff:
        if data.client_id is None:
            raise ValidationFailed("client_id: staff order on behalf of a client")
        client_id = data.client_id
    else:
        if actor.role != Role.CLIENT_OWNER:
            raise Forbidden("only an owner (Responsable) places orders (000 §1)")
        if data.client_id not in (None, actor.client_id):
            raise NotFound("no such client")
        client_id = actor.client_id or ""
    client = session.get(Client, client_id)
    if client is None:
        raise NotFound("no such client")
    if not data.accept_terms:
        raise ValidationFailed("accept_terms: the terms must be accepted to order (000 §3.1)")
    offer = registry.current(data.offer_id)
    if data.offer_hash is not None and data.offer_hash != offer.content_hash:
        raise Conflict("the offer's terms changed since you read them; read them again")
    if client.kind not in offer.offer.clients:
        raise ValidationFailed(f"offer {offer.id} is not sold to {client.kind} clients")
    # 002 §3.6: Cloud Datacenter's firewall (standard or advanced) is chosen at order.
    firewall_tier = apply.check_firewall_at_order(offer, data.firewall_tier)
    registry.record(session, offer)
    now = utc_now()
    contract = Contract(
        client_id=client.id,
        offer_id=offer.id,
        offer_hash=offer.content_hash,
        state=ContractState.PENDING.value,
        accepted_by=actor.user_id,
        accepted_at=now,
        state_reason="awaiting formation",
        firewall_tier=firewall_tier,
    )
    session.add(contract)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="contract",
        object_id=contract.id,
        action="contract.create",
        params={
            "offer_id": offer.id,
            "offer_hash": offer.content_hash,
            **({"firewall_tier": firewall_tier} if firewall_tier else {}),
        },
        client_id=client.id,
    )
    return contract


def get_contract(session: Session, actor: Principal, contract_id: str) -> Contract:
    """A contract the caller may see, else 404."""
    actor.require(Scope.READ)
    return get_visible(session, actor, Contract, contract_id, "contract")


def list_contracts(
    session: Session,
    actor: Principal,
    page: int,
    per_page: int,
    *,
    state: str | None = None,
    client_id: str | None = None,
) -> tuple[list[Contract], int]:
    """Contracts the caller may see, by state and client (the back-office's filters)."""
    actor.require(Scope.READ)
    stmt = visible(
        actor, select(Contract).order_by(Contract.created_at, Contract.id), Contract.client_id
    )
    if state is not None:
        stmt = stmt.where(Contract.state == state)
    if client_id is not None:
        stmt = stmt.where(Contract.client_id == client_id)
    return paginate(session, stmt, page, per_page)


def transition(
    session: Session,
    contract: Contract,
    target: ContractState,
    who: Actor,
    reason: str,
    *,
    by_hold: bool = False,
    ended_at: dt.datetime | None = None,
) -> Contract:
    """Move a contract to ``target`` if the table allows it, as a compare-and-swap on
    its state (two concurrent changes cannot both win).

    Suspension and resumption are the holds' alone (``holds.py``: ``by_hold``): a
    contract is suspended exactly while a hold is open. ``ended_at`` is the effective
    end when it is not now (a termination reached by the daily job, ``ending.py``); at
    formation the first term end is computed and stored (000 §9, 001 §3, 003 §11, 004
    §5)."""
    check_transition(contract.state, target)
    resuming = contract.state == ContractState.SUSPENDED and target in PROVISIONING_STATES
    if (target == ContractState.SUSPENDED or resuming) and not by_hold:
        raise InvalidTransition("a contract is suspended and resumed through its holds only")
    now = utc_now()
    values: dict[str, object] = {"state": target.value, "state_reason": reason, "updated_at": now}
    if target == ContractState.ACTIVE and contract.activated_at is None:
        values["activated_at"] = now
        if contract.term_ends_at is None:
            from nuages.contracts.term import first_term_end

            values["term_ends_at"] = first_term_end(session, contract, now)
    if target in (ContractState.REVERSIBILITY, ContractState.CLOSED) and contract.ended_at is None:
        values["ended_at"] = ended_at or now
    result = session.execute(
        update(Contract)
        .where(Contract.id == contract.id, Contract.state == contract.state)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition("the contract changed meanwhile; try again")
    previous = contract.state
    session.refresh(contract)
    history.record(
        session,
        who,
        object_type="contract",
        object_id=contract.id,
        action=f"contract.{target.value}",
        params={"from": previous, "reason": reason},
        client_id=contract.client_id,
    )
    return contract


def confirm(
    session: Session, actor: Principal, registry: OfferRegistry, contract_id: str, reason: str
) -> Contract:
    """Staff confirm an invoiced order, which forms the contract (001 §2.5)."""
    contract = get_contract(session, actor, contract_id)
    if not actor.is_staff:
        raise Forbidden("only provider staff confirm orders")
    actor.require(Scope.WRITE)
    offer = registry.for_contract(session, contract)
    if offer.billing.mode == "prepaid":
        raise InvalidTransition(
            "a prepaid contract forms when its minimum amount is credited (000 §3.1)"
        )
    return transition(session, contract, ContractState.ACTIVE, actor.actor, reason)


def cancel(session: Session, actor: Principal, contract_id: str, reason: str) -> Contract:
    """Cancel an order that has not formed yet (pending → closed).

    Until the contract forms (000 §3.1: minimum amount credited; 001 §2.5: order
    confirmed) nothing binds the client, so its owner (the Responsable who orders, 000
    §1) or provider staff may withdraw the order. A formed contract ends by notice or
    termination instead, never by cancellation.
    """
    contract = get_contract(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff and actor.role != Role.CLIENT_OWNER:
        raise Forbidden("only an owner (Responsable) cancels orders (000 §1)")
    if contract.state != ContractState.PENDING:
        raise InvalidTransition(
            f"a {contract.state} contract cannot be cancelled: only a pending order can "
            "(a formed contract ends by notice or termination)"
        )
    return transition(session, contract, ContractState.CLOSED, actor.actor, reason)


def reload_offers(session: Session, actor: Principal, registry: OfferRegistry) -> ReloadReport:
    """Staff re-read every terms file now (the registry also does it on a file change).

    A file that does not load keeps its previous offer; the report lists its problems.
    Contracts are untouched either way: each keeps the version it accepted (000 §4).
    """
    actor.require(Scope.ADMIN)
    if not actor.is_staff:
        raise Forbidden("only provider staff reload the offers")
    report = registry.reload()
    history.record(
        session,
        actor.actor,
        object_type="offers",
        object_id="-",
        action="offers.reload",
        params={
            "added": report.added,
            "changed": report.changed,
            "removed": report.removed,
            "problems": [str(p) for p in report.problems],
        },
    )
    return report


def require_provisioning(session: Session, contract: Contract) -> None:
    """Refuse provisioning unless the contract is formed and running, and its client
    did not refuse new terms that forbid extending the services (000 §4)."""
    if contract.state in PROVISIONING_STATES:
        from nuages.contracts.terms_changes import refuse_if_terms_refused

        refuse_if_terms_refused(session, contract, "order or extend services")
        return
    if contract.state == ContractState.PENDING:
        raise PaymentRequired(
            "the contract is not formed yet: nothing can be provisioned until it is "
            "(000 §3.1: minimum amount credited; 001 §2.5: order confirmed)"
        )
    if contract.state == ContractState.SUSPENDED:
        from nuages.contracts.holds import refuse_if_held

        refuse_if_held(session, contract, "provision anything")
    raise InvalidTransition(f"the contract is {contract.state}: nothing can be provisioned")
