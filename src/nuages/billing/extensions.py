"""Extensions (000 §1 "Extension", §8): extra VMs or an extra option for a limited period.

A client user orders one for a fixed period [starts_at, ends_at). An order by the
designated Responsable (``User.is_terms_decider``), or by any owner when none is
designated, is authorised at once; any other order (a member, another owner, staff on
the client's behalf) waits for that Responsable's authorisation (000 §8: "après
autorisation du Responsable"). Once authorised it runs over [max(starts_at, authorised
at), ends_at), is billed per extra VM-hour by metering, and ends by itself at its end.
``extension_vms`` creates its VMs (or applies its resources) through compute's own
services while it runs, and removes them (or reverts) after its end and the grace period.

An owner may also leave a standing policy (CPU above X % for Y minutes adds capacity
within a monthly budget); ``autoscale`` evaluates it from CPU-time readings.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nuages.accounts.models import User
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.billing import extension_vms, ledger, schemas
from nuages.billing.models import Extension, ExtensionPolicy, ExtensionState
from nuages.billing.pricing import OfferPricing, minimum_billed
from nuages.billing.settings import BillingSettings, get_billing_settings
from nuages.contracts import service as contracts
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.access import get_visible
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from nuages.kernel.pagination import paginate
from nuages.notices import announce

# How far in the past a start may lie (a request takes a moment to arrive).
START_TOLERANCE = dt.timedelta(minutes=5)
S = ExtensionState


def _contract(session: Session, actor: Principal, contract_id: str) -> Contract:
    actor.require(Scope.READ)
    return get_visible(session, actor, Contract, contract_id, "contract")


def deciders(session: Session, client_id: str) -> list[str]:
    """Who authorises the client's extensions: its designated Responsable, else every
    active owner (000 §1, §8)."""
    owners = session.execute(
        select(User.id, User.is_terms_decider).where(
            User.client_id == client_id,
            User.role == Role.CLIENT_OWNER.value,
            User.active.is_(True),
        )
    ).all()
    designated = [user_id for user_id, decider in owners if decider]
    return designated or [user_id for user_id, _ in owners]


def order(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.ExtensionCreate,
    settings: BillingSettings | None = None,
) -> Extension:
    """Order an extension; nothing is written when the period or item is refused."""
    settings = settings or get_billing_settings()
    contract = _contract(session, actor, contract_id)
    actor.require(Scope.WRITE)
    contracts.require_provisioning(session, contract)
    offer = registry.for_contract(session, contract)
    ledger.prepaid_terms(offer)
    pricing = OfferPricing(offer)
    table = pricing.options if data.kind == "option" else pricing.flavours
    if data.item_id not in table:
        what = "option priced per hour or month" if data.kind == "option" else "flavour"
        raise ValidationFailed(f"item_id: offer {offer.id} has no {what} {data.item_id!r}")
    extra = extension_vms.check_order(session, offer, contract, data)
    now = utc_now()
    starts_at, ends_at = data.starts_at.astimezone(dt.UTC), data.ends_at.astimezone(dt.UTC)
    if starts_at < now - START_TOLERANCE:
        raise ValidationFailed("starts_at: an extension cannot start in the past")
    if ends_at <= starts_at:
        raise ValidationFailed("ends_at: must be after starts_at")
    if ends_at - starts_at > dt.timedelta(days=settings.extension_max_days):
        raise ValidationFailed(
            f"ends_at: an extension lasts at most {settings.extension_max_days} days"
        )
    if ends_at - starts_at < minimum_billed(pricing.prepaid):
        # 000 §9: a service never lasts less than the minimum (one hour).
        raise ValidationFailed("ends_at: an extension lasts at least the minimum service (000 §9)")
    approvers = deciders(session, contract.client_id)
    authorised = actor.user_id in approvers
    ext = Extension(
        contract_id=contract.id,
        client_id=contract.client_id,
        kind=data.kind,
        item_id=data.item_id,
        quantity=data.quantity,
        starts_at=starts_at,
        ends_at=ends_at,
        state=(S.APPROVED if authorised else S.PENDING).value,
        active_from=max(starts_at, now) if authorised else None,
        reason=data.reason,
        requested_by=actor.user_id,
        decided_by=actor.user_id if authorised else None,
        decided_at=now if authorised else None,
        **extra,
    )
    session.add(ext)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="extension",
        object_id=ext.id,
        action="extension.order",
        params={
            "contract_id": contract.id,
            "item": f"{data.quantity} x {data.item_id}",
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "state": ext.state,
        },
        client_id=contract.client_id,
    )
    if not authorised:
        history.record(
            session,
            actor.actor,
            object_type="extension",
            object_id=ext.id,
            action="notice.extension_request",
            params={"deciders": approvers, "clause": "000 §8"},
            client_id=contract.client_id,
        )
        announce.extension_notice(
            session, actor.actor, "extension_awaiting_approval", ext, f"extension_request:{ext.id}"
        )
    return ext


def get_extension(session: Session, actor: Principal, extension_id: str) -> Extension:
    """An extension the caller may see, else 404."""
    actor.require(Scope.READ)
    ext = session.get(Extension, extension_id)
    if ext is None or not actor.can_see_client(ext.client_id):
        raise NotFound("no such extension")
    return ext


def list_extensions(
    session: Session, actor: Principal, contract_id: str, page: int, per_page: int
) -> tuple[list[Extension], int]:
    """A contract's extensions, newest first."""
    _contract(session, actor, contract_id)
    stmt = (
        select(Extension)
        .where(Extension.contract_id == contract_id)
        .order_by(Extension.created_at.desc(), Extension.id)
    )
    return paginate(session, stmt, page, per_page)


def _move(
    session: Session,
    ext: Extension,
    expected: ExtensionState,
    target: ExtensionState,
    who: Actor,
    reason: str,
    action: str | None = None,
    **values: object,
) -> Extension:
    # Compare-and-swap on the state: two concurrent decisions cannot both win.
    result = session.execute(
        update(Extension)
        .where(Extension.id == ext.id, Extension.state == expected.value)
        .values(state=target.value, updated_at=utc_now(), **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition("the extension changed meanwhile; read it again")
    session.refresh(ext)
    history.record(
        session,
        who,
        object_type="extension",
        object_id=ext.id,
        action=action or f"extension.{target.value}",
        params={"from": expected.value, "reason": reason},
        client_id=ext.client_id,
    )
    return ext


def decide(
    session: Session, actor: Principal, extension_id: str, approve: bool, reason: str
) -> Extension:
    """The Responsable authorises or refuses a pending extension (000 §8)."""
    ext = get_extension(session, actor, extension_id)
    actor.require(Scope.WRITE)
    if actor.user_id not in deciders(session, ext.client_id):
        raise Forbidden("the client's designated Responsable decides on extensions (000 §8)")
    if ext.state != S.PENDING:
        raise InvalidTransition(f"a {ext.state} extension is not waiting for a decision")
    now = utc_now()
    if not approve:
        return _move(
            session,
            ext,
            S.PENDING,
            S.REJECTED,
            actor.actor,
            reason,
            decided_by=actor.user_id,
            decided_at=now,
        )
    if ext.ends_at <= now:
        _move(session, ext, S.PENDING, S.EXPIRED, actor.actor, "its end time passed")
        raise InvalidTransition("the extension's period is over; order a new one")
    return _move(
        session,
        ext,
        S.PENDING,
        S.APPROVED,
        actor.actor,
        reason,
        decided_by=actor.user_id,
        decided_at=now,
        active_from=max(ext.starts_at, now),
    )


def cancel(
    session: Session, actor: Principal, registry: OfferRegistry, extension_id: str, reason: str
) -> Extension:
    """Withdraw an extension: one not running yet is cancelled; a running one ends now,
    though never before it ran the minimum service (000 §9)."""
    ext = get_extension(session, actor, extension_id)
    actor.require(Scope.WRITE)
    if not (
        actor.is_staff
        or actor.user_id == ext.requested_by
        or actor.user_id in deciders(session, ext.client_id)
    ):
        raise Forbidden("only its requester, the Responsable or staff withdraw an extension")
    now = utc_now()
    if ext.state == S.PENDING:
        return _move(session, ext, S.PENDING, S.CANCELLED, actor.actor, reason)
    if ext.state != S.APPROVED or ext.active_from is None:
        raise InvalidTransition(f"a {ext.state} extension cannot be withdrawn")
    if ext.active_from > now:
        return _move(session, ext, S.APPROVED, S.CANCELLED, actor.actor, reason)
    contract = session.get(Contract, ext.contract_id)
    assert contract is not None
    floor = minimum_billed(ledger.prepaid_terms(registry.for_contract(session, contract)))
    end = max(now, ext.active_from + floor)
    if end >= ext.ends_at:
        raise InvalidTransition("the extension ends by itself before it could be cut short")
    return _move(
        session, ext, S.APPROVED, S.APPROVED, actor.actor, reason, "extension.shorten", ends_at=end
    )


def expire(session: Session, now: dt.datetime) -> int:
    """End every authorised extension whose end time passed, and expire pending ones
    nobody authorised in time; return how many changed."""
    due = session.execute(
        select(Extension).where(
            Extension.state.in_([S.APPROVED.value, S.PENDING.value]), Extension.ends_at <= now
        )
    ).scalars()
    changed = 0
    for ext in list(due):
        target = S.ENDED if ext.state == S.APPROVED else S.EXPIRED
        try:
            _move(session, ext, S(ext.state), target, Actor.system("billing"), "end time reached")
        except InvalidTransition:
            continue
        if target == S.ENDED:
            announce.extension_notice(
                session,
                Actor.system("billing"),
                "extension_ended",
                ext,
                f"extension_ended:{ext.id}",
                ended_at=ext.ends_at.isoformat(timespec="minutes"),
                reason="fin prévue / end time reached",
            )
        changed += 1
    return changed


def put_policy(
    session: Session,
    actor: Principal,
    registry: OfferRegistry,
    contract_id: str,
    data: schemas.PolicyPut,
) -> ExtensionPolicy:
    """The Responsable sets the contract's automatic-extension policy (000 §8)."""
    contract = _contract(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if actor.user_id not in deciders(session, contract.client_id):
        raise Forbidden("the client's designated Responsable sets the extension policy")
    offer = registry.for_contract(session, contract)
    ledger.prepaid_terms(offer)
    if data.flavour_id not in OfferPricing(offer).flavours:
        raise ValidationFailed(f"flavour_id: offer {offer.id} has no flavour {data.flavour_id!r}")
    policy = session.execute(
        select(ExtensionPolicy).where(ExtensionPolicy.contract_id == contract.id)
    ).scalar_one_or_none()
    if policy is None:
        policy = ExtensionPolicy(contract_id=contract.id, client_id=contract.client_id)
        session.add(policy)
    for key, value in data.model_dump().items():
        setattr(policy, key, value)
    policy.set_by = actor.user_id
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="extension_policy",
        object_id=policy.id,
        action="extension.policy",
        params={"contract_id": contract.id, **data.model_dump(mode="json")},
        client_id=contract.client_id,
    )
    return policy


def get_policy(session: Session, actor: Principal, contract_id: str) -> ExtensionPolicy:
    """The contract's automatic-extension policy, else 404."""
    _contract(session, actor, contract_id)
    policy = session.execute(
        select(ExtensionPolicy).where(ExtensionPolicy.contract_id == contract_id)
    ).scalar_one_or_none()
    if policy is None:
        raise NotFound("the contract has no extension policy")
    return policy


def list_all(
    session: Session, actor: Principal, page: int, per_page: int, state: str | None = None
) -> tuple[list[Extension], int]:
    """Every client's extensions for staff, newest first, optionally in one state (the
    back-office's list of those waiting for their Responsable)."""
    actor.require(Scope.READ)
    if not actor.is_staff:
        raise NotFound("no such page")
    stmt = select(Extension).order_by(Extension.created_at.desc(), Extension.id)
    if state:
        stmt = stmt.where(Extension.state == state)
    return paginate(session, stmt, page, per_page)
