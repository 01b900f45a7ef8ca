"""VM use cases through the services, on hosts simulated by libvirt's test driver.

The same driver code as on a real host; disks and seeds are real files (qemu-img,
pycdlib); every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import func, select

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role
from nuages.compute import disks, schemas
from nuages.compute.hypervisor import DomainNotFound, PowerState
from nuages.compute.models import Operation, PortLease, Vm, VmGrant
from nuages.compute.seed import read_seed_iso
from nuages.compute.services import access, keys, vms
from nuages.compute.states import Action
from nuages.history.models import HistoryEntry
from nuages.kernel.errors import (
    AlreadyExists,
    CapacityExhausted,
    Forbidden,
    InvalidTransition,
    NotFound,
    PaymentRequired,
    ValidationFailed,
)
from tests.compute.world import TENANT_KEY, ComputeWorld, cw_fixture  # noqa: F401


def create(cw: ComputeWorld, who: Principal, contract: str, **over: Any) -> tuple[str, str]:
    body = {"contract_id": contract, "flavour": "vm-s", "image": "base", "name": "web-1"}
    body.update(over)
    with cw.database.unit() as session:
        vm, op = vms.create_vm(session, who, cw.runtime, cw.offers, schemas.VmCreate(**body))
        return vm.id, op.id


def act(cw: ComputeWorld, who: Principal, vm_id: str, action: Action) -> str:
    with cw.database.unit() as session:
        _vm, op = vms.request(session, who, cw.runtime, vm_id, action)
        op_id = op.id
    return cw.run(op_id)


def vm_row(cw: ComputeWorld, vm_id: str) -> Vm:
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        return vm


def counts(cw: ComputeWorld) -> tuple[int, int, int]:
    with cw.database.unit() as session:
        return tuple(  # type: ignore[return-value]
            session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Vm, Operation, PortLease)
        )


@pytest.fixture
def setup(cw: ComputeWorld) -> tuple[str, str, Principal]:
    """A client with a formed isstar contract, one shared host and one image."""
    client_id = cw.world.client()
    contract_id = cw.contract(client_id)
    cw.host()
    cw.image()
    _actor, owner = cw.owner(client_id)
    return client_id, contract_id, owner


def test_lifecycle(cw: ComputeWorld, setup: tuple[str, str, Principal]) -> None:
    """Create, stop, start, reboot, resize, reinstall, delete: each one a history entry,
    the hypervisor's power state recorded, files and port released at the end."""
    _client_id, contract_id, owner = setup
    with cw.database.unit() as session:
        key = keys.create_key(session, owner, schemas.SshKeyCreate(name="k", public_key=TENANT_KEY))
        key_id = key.id
    vm_id, op_id = create(cw, owner, contract_id, ssh_key_ids=[key_id])
    building = vm_row(cw, vm_id)
    assert (building.vm_state, building.task_state) == ("building", "creating")
    assert building.activated_at is None
    assert cw.run(op_id) == "succeeded"
    assert cw.run(op_id) == "skipped"  # delivered twice, run once

    vm = vm_row(cw, vm_id)
    assert (vm.vm_state, vm.task_state, vm.power_state) == ("running", None, "running")
    assert vm.activated_at is not None
    assert (vm.vcpus, vm.ram_mib, vm.disk_gib) == (1, 1024, 20)  # isstar vm-s
    assert 42000 <= (vm.ssh_port or 0) <= 42999
    files = cw.runtime.vm_files(vm_id)
    assert disks.info(files.disk).virtual_size == 20 * disks.GIB
    seed = read_seed_iso(files.seed)
    assert seed["label"] == "cidata" and TENANT_KEY in seed["user-data"]
    assert f'"{vm_id}"' in seed["meta-data"]
    status = _hv(cw, vm_id).status(UUID(vm_id))
    assert (status.vcpus, status.memory_mib, status.power_state) == (1, 1024, PowerState.RUNNING)

    assert act(cw, owner, vm_id, Action.STOP) == "succeeded"
    assert vm_row(cw, vm_id).vm_state == "stopped"
    assert _hv(cw, vm_id).status(UUID(vm_id)).power_state is PowerState.SHUTOFF
    assert act(cw, owner, vm_id, Action.START) == "succeeded"
    assert act(cw, owner, vm_id, Action.REBOOT) == "succeeded"
    assert vm_row(cw, vm_id).vm_state == "running"

    assert act(cw, owner, vm_id, Action.STOP) == "succeeded"
    with cw.database.unit() as session:
        _vm, op = vms.resize_vm(
            session, owner, cw.runtime, cw.offers, vm_id, schemas.VmResize(flavour="vm-m")
        )
        op_id = op.id
    assert cw.run(op_id) == "succeeded"
    vm = vm_row(cw, vm_id)
    assert (vm.flavour_id, vm.vcpus, vm.ram_mib, vm.disk_gib) == ("vm-m", 2, 4096, 50)
    assert disks.info(files.disk).virtual_size == 50 * disks.GIB
    status = _hv(cw, vm_id).status(UUID(vm_id))
    assert (status.vcpus, status.memory_mib) == (2, 4096)

    assert act(cw, owner, vm_id, Action.START) == "succeeded"
    before = files.disk.stat().st_ino
    assert act(cw, owner, vm_id, Action.REINSTALL) == "succeeded"
    assert files.disk.stat().st_ino != before  # a fresh overlay (000 §5 original state)
    assert disks.info(files.disk).virtual_size == 50 * disks.GIB  # the size is kept
    assert vm_row(cw, vm_id).vm_state == "running"

    assert act(cw, owner, vm_id, Action.DELETE) == "succeeded"
    vm = vm_row(cw, vm_id)
    assert (vm.vm_state, vm.ssh_port, vm.task_state) == ("deleted", None, None)
    assert vm.deleted_at is not None
    assert not files.directory.exists()
    with pytest.raises(DomainNotFound):
        _hv(cw, vm_id).status(UUID(vm_id))
    with cw.database.unit() as session:
        assert session.execute(select(PortLease)).first() is None
        actions = [
            (e.action, e.outcome)
            for e in session.execute(
                select(HistoryEntry)
                .where(HistoryEntry.object_id == vm_id)
                .order_by(HistoryEntry.seq)
            ).scalars()
        ]
    done = [a for a, outcome in actions if outcome == "ok"]
    assert done == [
        "vm.create", "vm.stop", "vm.start", "vm.reboot", "vm.stop", "vm.resize",
        "vm.start", "vm.reinstall", "vm.delete",
    ]  # fmt: skip
    assert [a for a, o in actions if o == "accepted"] == done


def _hv(cw: ComputeWorld, vm_id: str) -> Any:
    from nuages.compute.models import Host

    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        host = session.get(Host, vm.host_id) if vm.host_id else None
        uri = host.uri if host else ""
    return cw.runtime.hypervisor(uri)


BAD = [
    ({"flavour": "vm-xxl"}, ValidationFailed, "is not sold by offer isstar-cloud"),
    ({"image": "no-such-image"}, ValidationFailed, "no image"),
    ({"image": "huge"}, ValidationFailed, "needs a 500 GiB disk"),
    ({"ssh_key_ids": ["0" * 36]}, ValidationFailed, "no key"),
    ({"contract_id": "0" * 36}, NotFound, "no such contract"),
]


@pytest.mark.parametrize(("change", "error", "words"), BAD, ids=[b[2] for b in BAD])
def test_bad_create_writes_nothing(
    cw: ComputeWorld,
    setup: tuple[str, str, Principal],
    change: dict[str, Any],
    error: type[Exception],
    words: str,
) -> None:
    """Unknown flavour or image, an image bigger than the disk, a key that is not the
    client's, an unknown contract: a 4xx, and no VM, operation or port lease."""
    _client_id, contract_id, owner = setup
    cw.image("huge", size_gib=500)
    with pytest.raises(error, match=words) as info:
        create(cw, owner, contract_id, **change)
    assert 400 <= info.value.status < 500  # type: ignore[attr-defined]
    assert counts(cw) == (0, 0, 0)


def test_pending_contract_provisions_nothing(cw: ComputeWorld) -> None:
    """000 §3.1: nothing is provisioned before the contract is formed."""
    client_id = cw.world.client()
    cw.host()
    cw.image()
    actor = cw.world.user(Role.CLIENT_OWNER, client_id)
    owner = cw.principal(actor)
    from nuages.contracts import schemas as contract_schemas
    from nuages.contracts import service as contracts

    with cw.database.unit() as session:
        pending = contracts.create_contract(
            session,
            owner,
            cw.offers,
            contract_schemas.ContractCreate(offer_id="isstar-cloud", accept_terms=True),
        ).id
    with pytest.raises(PaymentRequired):
        create(cw, owner, pending)
    assert counts(cw) == (0, 0, 0)


def test_name_unique_per_client_until_deleted(
    cw: ComputeWorld, setup: tuple[str, str, Principal]
) -> None:
    _client_id, contract_id, owner = setup
    vm_id, op_id = create(cw, owner, contract_id)
    cw.run(op_id)
    with pytest.raises(AlreadyExists):
        create(cw, owner, contract_id)
    # Another client may use the same name.
    other = cw.world.client("Other")
    other_contract = cw.contract(other)
    _a, other_owner = cw.owner(other)
    create(cw, other_owner, other_contract)
    act(cw, owner, vm_id, Action.DELETE)
    create(cw, owner, contract_id)  # the deleted VM freed the name


def test_actions_follow_the_state_table(
    cw: ComputeWorld, setup: tuple[str, str, Principal]
) -> None:
    """Resize only while stopped (409 while running), one operation at a time, no
    action on a deleted VM, disks never shrink (422)."""
    _client_id, contract_id, owner = setup
    vm_id, op_id = create(cw, owner, contract_id, flavour="vm-m")
    with pytest.raises(InvalidTransition, match="busy"):  # the create is in flight
        act(cw, owner, vm_id, Action.STOP)
    cw.run(op_id)
    with pytest.raises(InvalidTransition, match="cannot resize a running VM"):
        with cw.database.unit() as session:
            vms.resize_vm(
                session, owner, cw.runtime, cw.offers, vm_id, schemas.VmResize(flavour="vm-l")
            )
    with pytest.raises(InvalidTransition, match="cannot start a running VM"):
        act(cw, owner, vm_id, Action.START)
    act(cw, owner, vm_id, Action.STOP)
    with pytest.raises(ValidationFailed, match="can only grow"):
        with cw.database.unit() as session:
            vms.resize_vm(
                session, owner, cw.runtime, cw.offers, vm_id, schemas.VmResize(flavour="vm-s")
            )
    with pytest.raises(InvalidTransition, match="cannot reboot a stopped VM"):
        act(cw, owner, vm_id, Action.REBOOT)
    act(cw, owner, vm_id, Action.DELETE)
    with pytest.raises(InvalidTransition, match="deleted"):
        act(cw, owner, vm_id, Action.START)
    vm = vm_row(cw, vm_id)
    assert (vm.flavour_id, vm.vm_state, vm.task_state) == ("vm-m", "deleted", None)


def test_failed_create_removes_disk_seed_and_port(
    cw: ComputeWorld, setup: tuple[str, str, Principal]
) -> None:
    """A create that fails on the host leaves an error VM with no host, no disk, no
    seed, no port; the failure is in the operation and the history."""
    _client_id, contract_id, owner = setup
    image = cw.image("vanishing")
    vm_id, op_id = create(cw, owner, contract_id, image="vanishing")
    assert vm_row(cw, vm_id).ssh_port is not None
    from pathlib import Path

    Path(image.base_path).unlink()  # the base disk disappeared from the host
    assert cw.run(op_id) == "failed"
    vm = vm_row(cw, vm_id)
    assert (vm.vm_state, vm.task_state, vm.host_id, vm.ssh_port) == ("error", None, None, None)
    assert not cw.runtime.vm_files(vm_id).directory.exists()
    with cw.database.unit() as session:
        op = session.get(Operation, op_id)
        assert op is not None and op.state == "failed" and "does not exist" in (op.error or "")
        assert session.execute(select(PortLease)).first() is None
        outcome = (
            session.execute(
                select(HistoryEntry.outcome)
                .where(HistoryEntry.object_id == vm_id, HistoryEntry.action == "vm.create")
                .order_by(HistoryEntry.seq.desc())
            )
            .scalars()
            .first()
        )
    assert outcome is not None and outcome.startswith("failed: ")
    # The error VM can be deleted (nothing left on any host).
    assert act(cw, owner, vm_id, Action.DELETE) == "succeeded"


def test_host_out_of_capacity(cw: ComputeWorld) -> None:
    """A full host answers CapacityExhausted (409) and nothing is written."""
    client_id = cw.world.client()
    contract_id = cw.contract(client_id)
    cw.host(cpus=1, ram_mib=2048)  # 4 vCPU with the 4× CPU ratio, 2 GiB of RAM
    cw.image()
    _a, owner = cw.owner(client_id)
    create(cw, owner, contract_id, name="a")
    create(cw, owner, contract_id, name="b")
    before = counts(cw)
    with pytest.raises(CapacityExhausted) as info:
        create(cw, owner, contract_id, name="c")
    assert info.value.status == 409
    assert counts(cw) == before


def test_members_operate_only_what_they_are_given(
    cw: ComputeWorld, setup: tuple[str, str, Principal]
) -> None:
    """000 §5: a sub-responsable operates the VMs an owner gave them; a guest reads
    everything of its client and changes nothing; another client sees nothing."""
    client_id, contract_id, owner = setup
    mine, op = create(cw, owner, contract_id, name="given")
    cw.run(op)
    other, op = create(cw, owner, contract_id, name="kept")
    cw.run(op)
    member_actor = cw.world.user(Role.CLIENT_MEMBER, client_id)
    member = cw.principal(member_actor)
    guest = cw.principal(cw.world.user(Role.GUEST, client_id))
    stranger = cw.owner(cw.world.client("Stranger"))[1]

    with pytest.raises(Forbidden):
        create(cw, member, contract_id, name="nope")
    with pytest.raises(NotFound):
        act(cw, member, mine, Action.STOP)
    with cw.database.unit() as session:
        access.grant(session, owner, mine, member_actor.user_id)
    with pytest.raises(Forbidden):  # members do not hand VMs out
        with cw.database.unit() as session:
            access.grant(session, member, mine, member_actor.user_id)
    assert act(cw, member, mine, Action.STOP) == "succeeded"
    with pytest.raises(NotFound):
        act(cw, member, other, Action.STOP)
    with cw.database.unit() as session:
        seen = {v.id for v in vms.list_vms(session, member, 1, 50)[0]}
        assert seen == {mine}
        assert {v.id for v in vms.list_vms(session, guest, 1, 50)[0]} == {mine, other}
        assert vms.list_vms(session, stranger, 1, 50)[0] == []
    with pytest.raises(Forbidden):
        act(cw, guest, other, Action.STOP)
    with pytest.raises(NotFound):
        act(cw, stranger, other, Action.STOP)
    with cw.database.unit() as session:
        access.revoke(session, owner, mine, member_actor.user_id)
        assert session.execute(select(VmGrant)).first() is None
    with pytest.raises(NotFound):
        act(cw, member, mine, Action.START)


def test_suspension_is_the_providers(cw: ComputeWorld, setup: tuple[str, str, Principal]) -> None:
    """000 §11.1, 004 §7: staff suspend a VM (paused, reason kept); the client cannot
    act on it meanwhile; lifting the suspension lets it run again."""
    from tests.compute.world import CLI

    _client_id, contract_id, owner = setup
    vm_id, op = create(cw, owner, contract_id)
    cw.run(op)
    with pytest.raises(Forbidden):
        with cw.database.unit() as session:
            vms.suspend_vm(session, owner, cw.runtime, vm_id, "no")
    with cw.database.unit() as session:
        _vm, operation = vms.suspend_vm(session, CLI, cw.runtime, vm_id, "flood (000 §11.1)")
        op = operation.id
    assert cw.run(op) == "succeeded"
    vm = vm_row(cw, vm_id)
    assert (vm.vm_state, vm.power_state, vm.suspended_reason) == (
        "suspended",
        "paused",
        "flood (000 §11.1)",
    )
    with pytest.raises(InvalidTransition):
        act(cw, owner, vm_id, Action.STOP)
    with pytest.raises(InvalidTransition, match="by the provider"):
        act(cw, owner, vm_id, Action.DELETE)
    assert act(cw, CLI, vm_id, Action.RESUME) == "succeeded"
    vm = vm_row(cw, vm_id)
    assert (vm.vm_state, vm.power_state, vm.suspended_reason) == ("running", "running", None)


def test_operation_params_keep_the_keys(
    cw: ComputeWorld, setup: tuple[str, str, Principal]
) -> None:
    """The create operation carries the public keys chosen, so deleting a key later
    does not change what the VM was made with."""
    _client_id, contract_id, owner = setup
    with cw.database.unit() as session:
        key_id = keys.create_key(
            session, owner, schemas.SshKeyCreate(name="k", public_key=TENANT_KEY)
        ).id
    _vm_id, op_id = create(cw, owner, contract_id, ssh_key_ids=[key_id])
    with cw.database.unit() as session:
        keys.delete_key(session, owner, key_id)
    with cw.database.unit() as session:
        op = session.get(Operation, op_id)
        assert op is not None
        assert json.loads(op.params)["ssh_keys"] == [TENANT_KEY]
