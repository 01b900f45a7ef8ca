"""A VM's firewall (002 §3.6, 003 §7.1.1) and the provider's network measures (003 §7.3-7.5,
§7.9; 000 §6, §11.1; 004 §7, annexe 1).

Every function takes ``(session, actor, ...)``, checks scope and tenancy (another
client's VM is a 404), records the change with ``history.record`` in the same
transaction and has the host updated after commit (``enforce.apply_after_commit``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute.models import Host, IpAddress, Vm
from nuages.compute.net import abuse as abuse_reports
from nuages.compute.net import cut_holds, enforce, remote, rules
from nuages.compute.net.models import FirewallRule, QuarantinedAddress, VmNetwork
from nuages.compute.runtime import ComputeRuntime
from nuages.compute.services import ipam
from nuages.compute.services.access import load_vm
from nuages.contracts import holds
from nuages.history import service as history
from nuages.history.service import Actor
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from nuages.notices import service as notices
from nuages.terms.schema_network import NetworkTerms

# Grounds of a network cut that are the network's own (the rest are the contract's
# suspension grounds, shared with holds): malicious traffic lets the provider block one
# VM or all of a client's (000 §6, §11.1); a compromised server stays cut until it is
# reinstalled (003 §7.3). An offer's suspension ground of the same name wins (its terms
# say who lifts it: ``lifted_by``).
NETWORK_GROUNDS = {"malicious-traffic": "000 §11.1", "compromised": "003 §7.3"}
COMPROMISED = "compromised"
MAX_RULES = 200
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True)
class NewRule:
    """A rule as the client asks for it (already parsed by the schema)."""

    direction: str
    protocol: str
    action: str
    source: str = "0.0.0.0/0"
    port: str | None = None
    priority: int = 100


@dataclass(frozen=True)
class FirewallView:
    vm: Vm
    policy: rules.FirewallPolicy
    rules: list[FirewallRule]
    standing: VmNetwork | None
    approval_needed: bool
    terms: NetworkTerms


def _staff(actor: Principal) -> None:
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("only the provider's staff take network measures (000 §11.1)")


def _approval_needed(session: Session, vm: Vm) -> bool:
    net = session.get(VmNetwork, vm.id)
    terms = enforce.terms_of(enforce.offer_of(session, vm))
    return bool(terms.firewall_server_rules_need_approval and net and net.firewall_server)


def get_firewall(session: Session, actor: Principal, vm_id: str) -> FirewallView:
    """The VM's policy (offer defaults, provider rules) and its rules, pending included."""
    vm = load_vm(session, actor, vm_id)
    rows = session.execute(
        select(FirewallRule)
        .where(FirewallRule.vm_id == vm.id)
        .order_by(FirewallRule.priority, FirewallRule.created_at, FirewallRule.id)
    ).scalars()
    return FirewallView(
        vm=vm,
        policy=enforce.policy_for(session, vm),
        rules=list(rows),
        standing=session.get(VmNetwork, vm.id),
        approval_needed=_approval_needed(session, vm),
        terms=enforce.terms_of(enforce.offer_of(session, vm)),
    )


def add_rule(
    session: Session, actor: Principal, runtime: ComputeRuntime, vm_id: str, new: NewRule
) -> FirewallRule:
    """Add a rule (002 §3.6). On a firewall server of an offer that says so, the rule
    waits for staff approval before it is enforced (003 §7.1.1)."""
    vm = load_vm(session, actor, vm_id, write=True)
    first, last = rules.parse_ports(new.port)
    remote.refuse_if_unenforced(session, vm)  # never store a rule nobody enforces
    typed = rules.Rule(
        direction=_enum(rules.Direction, new.direction, "direction"),
        protocol=_enum(rules.Protocol, new.protocol, "protocol"),
        action=_enum(rules.Verdict, new.action, "action"),
        cidr=rules.parse_cidr(new.source),
        port_from=first,
        port_to=last,
        priority=new.priority,
    )
    count = len(session.execute(select(FirewallRule.id).where(FirewallRule.vm_id == vm.id)).all())
    if count >= MAX_RULES:
        raise Conflict(f"a VM has at most {MAX_RULES} firewall rules")
    pending = _approval_needed(session, vm) and not actor.is_staff
    row = FirewallRule(
        vm_id=vm.id,
        client_id=vm.client_id,
        direction=typed.direction.value,
        protocol=typed.protocol.value,
        port_from=typed.port_from,
        port_to=typed.port_to,
        cidr=typed.cidr,
        action=typed.action.value,
        priority=typed.priority,
        state="pending" if pending else "active",
        requested_by=actor.user_id,
        approved_by=None if pending else actor.user_id,
    )
    session.add(row)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=vm.id,
        action="vm.firewall.rule_request" if pending else "vm.firewall.rule_add",
        params={"rule_id": row.id, **_describe(row)},
        client_id=vm.client_id,
    )
    if not pending:
        enforce.apply_after_commit(session, runtime, vm)
    return row


def _enum(enum: type[E], value: str, name: str) -> E:
    try:
        return enum(value)
    except ValueError as exc:
        raise ValidationFailed(f"{name}: {value!r} is not one of {', '.join(enum)}") from exc


def _describe(row: FirewallRule) -> dict[str, object]:
    port = None
    if row.port_from is not None:
        port = f"{row.port_from}-{row.port_to}" if row.port_to else str(row.port_from)
    return {
        "direction": row.direction,
        "protocol": row.protocol,
        "port": port,
        "source": row.cidr,
        "action": row.action,
        "priority": row.priority,
    }


def _rule(session: Session, vm: Vm, rule_id: str) -> FirewallRule:
    row = session.get(FirewallRule, rule_id)
    if row is None or row.vm_id != vm.id:
        raise NotFound("no such firewall rule on this VM")
    return row


def delete_rule(
    session: Session, actor: Principal, runtime: ComputeRuntime, vm_id: str, rule_id: str
) -> FirewallRule | None:
    """Remove a rule; on a firewall server needing approval it stays enforced, marked
    ``removal_pending``, until staff approve (003 §7.1.1). Returns the row kept, if any."""
    vm = load_vm(session, actor, vm_id, write=True)
    row = _rule(session, vm, rule_id)
    if row.state == "active" and _approval_needed(session, vm) and not actor.is_staff:
        row.state = "removal_pending"
        kept: FirewallRule | None = row
        action = "vm.firewall.rule_removal_request"
    else:
        session.delete(row)
        kept = None
        action = "vm.firewall.rule_delete"
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=vm.id,
        action=action,
        params={"rule_id": rule_id, **_describe(row)},
        client_id=vm.client_id,
    )
    enforce.apply_after_commit(session, runtime, vm)
    return kept


def approve_rule(
    session: Session, actor: Principal, runtime: ComputeRuntime, vm_id: str, rule_id: str
) -> FirewallRule | None:
    """Staff approve a pending change of a firewall server's rules (003 §7.1.1)."""
    vm = load_vm(session, actor, vm_id, write=True)  # another client's VM: 404 first
    _staff(actor)
    row = _rule(session, vm, rule_id)
    if row.state == "active":
        raise Conflict("this rule has no change awaiting approval")
    if row.state == "pending":
        remote.refuse_if_unenforced(session, vm)
    kept: FirewallRule | None = row
    if row.state == "pending":
        row.state, row.approved_by = "active", actor.user_id
    else:
        session.delete(row)
        kept = None
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=vm.id,
        action="vm.firewall.rule_approve",
        params={"rule_id": rule_id, **_describe(row)},
        client_id=vm.client_id,
    )
    enforce.apply_after_commit(session, runtime, vm)
    return kept


def declare(
    session: Session,
    actor: Principal,
    runtime: ComputeRuntime,
    vm_id: str,
    *,
    mail_server: bool | None = None,
    firewall_server: bool | None = None,
    registered: list[str] | None = None,
) -> VmNetwork:
    """Staff declare a VM a mail server (003 §7.4), a firewall server (003 §7.1.1), or
    register its IRC/proxy/video uses (003 §7.5)."""
    vm = load_vm(session, actor, vm_id, write=True)  # another client's VM: 404 first
    _staff(actor)
    net = enforce.standing(session, vm.id)
    if mail_server is not None:
        net.mail_server = mail_server
    if firewall_server is not None:
        net.firewall_server = firewall_server
    if registered is not None:
        unknown = sorted(set(registered) - set(rules.REGISTERED_USES))
        if unknown:
            raise ValidationFailed(f"registered: unknown use(s) {', '.join(unknown)}")
        net.registered = ",".join(sorted(set(registered)))
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=vm.id,
        action="vm.network.declare",
        params={
            "mail_server": net.mail_server,
            "firewall_server": net.firewall_server,
            "registered": net.registered,
        },
        client_id=vm.client_id,
    )
    enforce.apply_after_commit(session, runtime, vm)
    return net


# ---------------------------------------------------------------- cut, restore, new IP


@dataclass(frozen=True)
class CutGround:
    """A cut's ground as one VM's terms read it: its clause, and whether only the
    server's reinstall lifts the cut (the terms' ``lifted_by``, 003 §7.3, 004 annexe 1)."""

    clause: str
    until_reinstall: bool


def _ground(session: Session, vm: Vm, ground: str) -> CutGround:
    """The contract's suspension ground of that name first (its terms say who lifts it),
    else the network's own; a compromised server stays cut until reinstalled (003 §7.3)
    on an offer that defines no such ground."""
    offer = enforce.offer_of(session, vm)
    found = holds.grounds_of(offer) if offer is not None else {}
    if ground in found:
        return CutGround(found[ground].clause, found[ground].lifted_by == "reinstall")
    if ground in NETWORK_GROUNDS:
        return CutGround(NETWORK_GROUNDS[ground], ground == COMPROMISED)
    known = sorted({*NETWORK_GROUNDS, *found})
    raise ValidationFailed(f"ground: {ground!r} is not one of {', '.join(known)}")


def cut(
    session: Session,
    actor: Principal,
    runtime: ComputeRuntime,
    *,
    ground: str,
    reason: str,
    vm_id: str | None = None,
    client_id: str | None = None,
    expected_end_at: dt.datetime | None = None,
) -> list[Vm]:
    """Staff cut the network of one VM, or of every live VM of a client (000 §6,
    §11.1). The ground is a network ground or one of the contract's suspension grounds
    (the holds' registry, e.g. 004 §7 security); a compromised server stays cut until
    reinstalled (003 §7.3, 004 annexe 1) — the built-in ``compromised`` ground, or a
    contractual one whose terms say ``lifted_by = "reinstall"``. A contractual ground
    shares the contract's holds as a network-scope hold (``cut_holds``: 000 §11.1, 004
    §9). Recorded and notified; a cut VM stays cut (idempotent).

    ``expected_end_at``: when staff expect to lift it, told to the client (004 §7: "la
    durée de cette suspension") and given to the hold it shares; in the future, and
    never on a cut lifted only by a reinstall (its end is the reinstall, not a date)."""
    _staff(actor)
    if (vm_id is None) == (client_id is None):
        raise ValidationFailed("vm_id: name one VM or one client (client_id), not both")
    if vm_id is not None:
        targets = [load_vm(session, actor, vm_id, write=True)]
    else:
        targets = list(
            session.execute(
                select(Vm)
                .where(Vm.client_id == client_id, Vm.vm_state.notin_(("deleted", "error")))
                .order_by(Vm.created_at, Vm.id)
            ).scalars()
        )
        if not targets:
            raise NotFound("this client has no live VM")
    now = utc_now()
    if expected_end_at is not None and expected_end_at <= now:
        raise ValidationFailed("expected_end_at: must be in the future")
    # Every VM's ground read first, so that a refusal writes nothing.
    grounds = [_ground(session, vm, ground) for vm in targets]
    if expected_end_at is not None:
        for found in grounds:
            if found.until_reinstall:
                raise ValidationFailed(
                    f"expected_end_at: a cut on {ground} ({found.clause}) lasts until the "
                    "server is reinstalled, not until a date"
                )
    for vm, found in zip(targets, grounds, strict=True):
        clause = found.clause
        net = enforce.standing(session, vm.id)
        if net.cut_at is None:
            net.cut_at = now
        net.cut_ground, net.cut_reason, net.cut_by = ground, reason, actor.user_id
        net.until_reinstall = found.until_reinstall
        net.expected_end_at = expected_end_at
        previous_hold = net.hold_id
        net.hold_id = cut_holds.share(
            session, actor.actor, vm, ground, reason, expected_end_at=expected_end_at
        )
        if previous_hold is not None and previous_hold != net.hold_id:
            # Cut again on another ground: the former ground's hold ends if no VM is
            # cut under it any more.
            session.flush()
            cut_holds.release(
                session, actor.actor, vm, previous_hold, f"cut again on {ground}", wrongful=False
            )
        history.record(
            session,
            actor.actor,
            object_type="vm",
            object_id=vm.id,
            action="vm.network.cut",
            params={
                "ground": ground,
                "clause": clause,
                "reason": reason,
                "hold_id": net.hold_id,
                "expected_end_at": expected_end_at.isoformat() if expected_end_at else None,
            },
            client_id=vm.client_id,
        )
        notices.queue(
            session,
            actor.actor,
            "network_cut",
            client_id=vm.client_id,
            contract_id=vm.contract_id,
            object_type="vm",
            object_id=vm.id,
            key=f"network_cut:{vm.id}:{net.cut_at.isoformat()}",
            context={
                "vm_name": vm.name,
                "ground": ground,
                "ground_clause": clause,
                "reason": reason,
                "cut_at": net.cut_at.isoformat(timespec="minutes"),
                "until_reinstall": net.until_reinstall,
                **_expected_end(session, vm, expected_end_at),
            },
        )
        enforce.apply_after_commit(session, runtime, vm)
    return targets


def _expected_end(session: Session, vm: Vm, moment: dt.datetime | None) -> dict[str, str]:
    """The cut's expected end for its notice: ISO (UTC) and as the contract's clock
    reads it (its terms' time zone; the seeds' are Europe/Paris)."""
    if moment is None:
        return {"expected_end_at": "", "expected_end": ""}
    offer = enforce.offer_of(session, vm)
    zone = offer.offer.timezone if offer is not None else "Europe/Paris"
    local = moment.astimezone(ZoneInfo(zone))
    return {
        "expected_end_at": moment.astimezone(dt.UTC).isoformat(timespec="minutes"),
        "expected_end": f"{local.strftime('%d/%m/%Y %H:%M')} ({zone})",
    }


def restore(
    session: Session,
    actor: Principal,
    runtime: ComputeRuntime,
    vm_id: str,
    *,
    reason: str = "",
    wrongful: bool = False,
) -> Vm:
    """Staff lift a VM's cut. A compromised server's cut — the built-in ``compromised``
    ground, or a contractual ground whose terms say ``lifted_by = "reinstall"`` — is
    lifted only by its reinstall (003 §7.3, 004 annexe 1, ``reinstalled``): 409 citing
    the ground's clause, unless staff restore it as ``wrongful``: the cut was manifestly
    wrong (000 §11.1): its network hold, lifted as wrongful, gives the held time back."""
    vm = load_vm(session, actor, vm_id, write=True)  # another client's VM: 404 first
    _staff(actor)
    net = session.get(VmNetwork, vm.id)
    if net is None or net.cut_at is None:
        raise Conflict("this VM's network is not cut")
    # A cut staff declare manifestly wrong (000 §11.1) was never a compromised server:
    # making the client reinstall to undo the provider's mistake would read the
    # reinstall rule against the client (SPEC §17), so a wrongful restore lifts it.
    if net.until_reinstall and not wrongful:
        raise Conflict(
            f"this VM's network was cut on {net.cut_ground} ({_clause_of(session, vm, net)}): "
            "it stays cut until the server is reinstalled (or is restored as wrongful)"
        )
    if wrongful and net.hold_id is None:
        raise Conflict(
            "this cut rests on no contractual ground: there is no suspension to credit (000 §11.1)"
        )
    _lift(
        session, actor.actor, runtime, vm, net, by_reinstall=False, reason=reason,
        wrongful=wrongful,
    )  # fmt: skip
    return vm


def _clause_of(session: Session, vm: Vm, net: VmNetwork) -> str:
    """The clause of the ground a VM's network was cut on (003 §7.3 if its terms no
    longer name it)."""
    try:
        return _ground(session, vm, net.cut_ground or COMPROMISED).clause
    except ValidationFailed:
        return NETWORK_GROUNDS[COMPROMISED]


def reinstalled(session: Session, who: Actor, runtime: ComputeRuntime, vm_id: str) -> None:
    """A reinstall succeeded: a cut lifted only by a reinstall is lifted (003 §7.3,
    004 annexe 1)."""
    vm = session.get(Vm, vm_id)
    net = session.get(VmNetwork, vm_id)
    if vm is not None and net is not None and net.cut_at is not None and net.until_reinstall:
        _lift(session, who, runtime, vm, net, by_reinstall=True)


def _lift(
    session: Session,
    who: Actor,
    runtime: ComputeRuntime,
    vm: Vm,
    net: VmNetwork,
    *,
    by_reinstall: bool,
    reason: str = "",
    wrongful: bool = False,
) -> None:
    ground, since, hold_id = net.cut_ground, net.cut_at, net.hold_id
    assert since is not None
    net.cut_at = None
    net.cut_ground = net.cut_reason = net.cut_by = net.hold_id = None
    net.until_reinstall = False
    net.expected_end_at = None
    session.flush()
    lifted = cut_holds.release(
        session,
        who,
        vm,
        hold_id,
        reason or ("reinstalled (003 §7.3)" if by_reinstall else "network restored"),
        wrongful=wrongful,
    )
    history.record(
        session,
        who,
        object_type="vm",
        object_id=vm.id,
        action="vm.network.restore",
        params={
            "ground": ground,
            "since": since.isoformat(),
            "by_reinstall": by_reinstall,
            "reason": reason,
            "wrongful": wrongful,
            "hold_id": hold_id,
            "hold_lifted": lifted is not None,
        },
        client_id=vm.client_id,
    )
    notices.queue(
        session,
        who,
        "network_restored",
        client_id=vm.client_id,
        contract_id=vm.contract_id,
        object_type="vm",
        object_id=vm.id,
        key=f"network_restored:{vm.id}:{since.isoformat()}",
        context={"vm_name": vm.name, "ground": ground or "", "cut_at": since.isoformat()},
    )
    enforce.apply_after_commit(session, runtime, vm, link_up=True)


def new_ip(
    session: Session,
    actor: Principal,
    runtime: ComputeRuntime,
    vm_id: str,
    *,
    quarantine_days: int,
    reason: str,
    report_id: str | None = None,
) -> tuple[Vm, str, str]:
    """Move a VM to a fresh address of its pools after a misuse report (003 §7.9); the
    old address is quarantined ``quarantine_days`` (the switch-over period staff set)
    so no other client gets it meanwhile. Returns (vm, old, new). The new address takes
    effect at the VM's next start (its DHCP entry is replaced then). ``report_id``: the
    recorded misuse report it answers (``abuse.misuse_report_for``; 422 without one)."""
    vm = load_vm(session, actor, vm_id, write=True)  # another client's VM: 404 first
    _staff(actor)
    if not 0 <= quarantine_days <= 365:
        raise ValidationFailed("quarantine_days: between 0 and 365")
    offer = enforce.offer_of(session, vm)
    abuse = offer.abuse if offer is not None else None
    if abuse is None or not abuse.ip_reassignment_after_misuse:
        # Read for the client (SPEC §17): only an offer that provides for it (003 §7.9)
        # lets the provider move a server to another address.
        raise Conflict("this VM's offer provides for no new IP after a misuse report (003 §7.9)")
    report = abuse_reports.misuse_report_for(session, vm, report_id)
    held = session.execute(select(IpAddress).where(IpAddress.vm_id == vm.id)).scalar_one_or_none()
    if held is None:
        raise Conflict("this VM has no fixed address (user networking)")
    host = session.get(Host, vm.host_id) if vm.host_id else None
    if host is None:
        raise Conflict("this VM has no host")
    old, pool_id = held.address, held.pool_id
    session.delete(held)
    session.flush()
    session.add(
        QuarantinedAddress(
            pool_id=pool_id,
            address=old,
            vm_id=vm.id,
            until=utc_now() + dt.timedelta(days=quarantine_days),
        )
    )
    session.flush()
    new = ipam.lease_address(session, host, vm)
    report.new_address = new
    history.record(
        session,
        actor.actor,
        object_type="vm",
        object_id=vm.id,
        action="vm.network.new_ip",
        params={
            "old": old,
            "new": new,
            "quarantine_days": quarantine_days,
            "reason": reason,
            "report_id": report.id,
        },
        client_id=vm.client_id,
    )
    return vm, old, new
