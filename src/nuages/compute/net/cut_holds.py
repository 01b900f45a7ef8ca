"""A network cut on a contractual ground shares the contract's holds (issue 14 "Depends
on"; 000 §11.1, 004 §7, §9).

000 §11.1 puts blocking a VM for malicious operations among the suspensions ("suspendre
… une ou plusieurs de ses Prestations, et bloquer une ou plusieurs Machines
Virtuelles"), billed unless manifestly wrongful; 004 §9 lets the provider suspend "tout
ou partie de ses accès … (réseau virtuel désactivé …)" on its §7 grounds. So a cut whose
ground is one of the contract's suspension grounds opens (or joins) a **network-scope**
hold on the VM's contract (``contracts.holds``): recorded with the contract's holds,
its clause from the terms, its VMs kept (``VmNetworkHold``) so that a hold lifted as
wrongful gives back those VMs' held time only (billing and invoicing's wrongful-hold
credit). It is a partial suspension: the contract keeps its state and its other VMs run
(read for the client, SPEC §17), and the cut's own notices tell the client.

The network's own grounds (``malicious-traffic`` where the offer has no such
suspension ground, ``compromised`` 003 §7.3) place no hold: they are measures on the VM,
not suspensions the terms name. The hold is lifted when the last VM cut under it is
restored (by staff, or by the reinstall of a compromised server).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.compute.models import Vm
from nuages.compute.net import enforce
from nuages.compute.net.models import VmNetwork, VmNetworkHold
from nuages.contracts import holds
from nuages.contracts.models import Contract, ContractHold
from nuages.contracts.states import ContractState
from nuages.history.service import Actor

# Contract states a network hold may be placed in (those a hold may suspend, or a
# contract suspended already).
LIVE = holds.SUSPENDABLE | {ContractState.SUSPENDED}


def share(
    session: Session,
    who: Actor,
    vm: Vm,
    ground: str,
    reason: str,
    *,
    expected_end_at: dt.datetime | None = None,
) -> str | None:
    """Open or join the network hold of ``vm``'s contract on ``ground`` when the
    ground is one of the contract's suspension grounds and the contract is live; the
    hold's id, or None (a network-only ground, or a contract with nothing to suspend).
    A new hold takes the cut's expected end (004 §7); a hold joined keeps its own."""
    offer = enforce.offer_of(session, vm)
    contract = session.get(Contract, vm.contract_id)
    if offer is None or contract is None or ContractState(contract.state) not in LIVE:
        return None
    if ground not in holds.grounds_of(offer):
        return None
    hold, _new = holds.place(
        session,
        who,
        offer,
        contract.id,
        ground,
        reason[:500],
        expected_end_at=expected_end_at,
        scope=holds.NETWORK_SCOPE,
    )
    if session.get(VmNetworkHold, (hold.id, vm.id)) is None:
        session.add(VmNetworkHold(hold_id=hold.id, vm_id=vm.id))
        session.flush()
    return hold.id


def release(
    session: Session, who: Actor, vm: Vm, hold_id: str | None, reason: str, *, wrongful: bool
) -> ContractHold | None:
    """The VM's cut was lifted: lift its network hold once no VM is cut under it any
    more (``wrongful``: 000 §11.1, its VMs' held time is given back). The hold lifted,
    or None (none, others still cut, or lifted already, e.g. when the contract ended)."""
    if hold_id is None:
        return None
    hold = session.get(ContractHold, hold_id)
    if hold is None or hold.lifted_at is not None:
        return None
    still = session.execute(
        select(VmNetwork.vm_id).where(
            VmNetwork.hold_id == hold_id, VmNetwork.cut_at.is_not(None), VmNetwork.vm_id != vm.id
        )
    ).first()
    if still is not None:
        return None
    return holds.lift(session, who, hold.contract_id, hold.id, reason[:500], wrongful=wrongful)


def vms_of(session: Session, hold_id: str) -> list[str]:
    """The VMs a network hold covered (empty for a contract-scope hold)."""
    return list(
        session.execute(
            select(VmNetworkHold.vm_id)
            .where(VmNetworkHold.hold_id == hold_id)
            .order_by(VmNetworkHold.vm_id)
        ).scalars()
    )
