"""Restore a backup as a new VM (000 §5, 002 §3.5) through the services and the API, on
hosts simulated by libvirt's test driver with real disk files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from nuages.compute import disks, schemas
from nuages.compute.models import Operation, Vm
from nuages.compute.services import backups, keys, vms
from nuages.compute.states import Action
from nuages.contracts.models import Contract
from nuages.history.models import HistoryEntry
from nuages.kernel.errors import AlreadyExists, InvalidTransition, NotFound
from tests.compute.test_backups import Backups
from tests.compute.test_snapshots import has_pattern, qemu_io
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401


@pytest.fixture
def b(cw: ComputeWorld) -> Backups:
    return Backups(cw)


def _restore_new(b: Backups, vm_id: str, backup_id: str, name: str) -> tuple[str, str]:
    with b.cw.database.unit() as session:
        _b, vm, op = backups.restore_as_new_vm(
            session, b.owner, b.cw.runtime, b.cw.offers, vm_id, backup_id, name
        )
        return vm.id, op.id


def _vm_count(b: Backups) -> int:
    with b.cw.database.unit() as session:
        return int(session.execute(select(func.count()).select_from(Vm)).scalar_one())


def test_000_s5_backup_restored_as_a_new_vm(b: Backups) -> None:
    """000 §5 (restore to a backup on request): the backup becomes a new VM on the same
    contract, flavour and image, placed and addressed like any create; its disk holds
    the backup's content, is an overlay of the image only (no reference to the backup
    file, which may expire), and the source VM is untouched. Both VMs' history say so."""
    source = b.vm()
    b.plan(source)
    disk = b.cw.runtime.vm_files(source).disk
    qemu_io(disk, "write -P 0xaa 0 64k")
    backup_id = b.take(source)
    qemu_io(disk, "write -P 0xbb 0 64k")  # the source moves on after its backup

    new_id, op_id = _restore_new(b, source, backup_id, "web-1-restored")
    assert b.cw.run(op_id) == "succeeded"
    new_disk = b.cw.runtime.vm_files(new_id).disk
    assert has_pattern(new_disk, 0xAA) and has_pattern(disk, 0xBB)
    with b.cw.database.unit() as session:
        src, new = session.get(Vm, source), session.get(Vm, new_id)
        op = session.get(Operation, op_id)
        assert src is not None and new is not None and op is not None
        assert (new.contract_id, new.flavour_id, new.image_id) == (
            src.contract_id,
            src.flavour_id,
            src.image_id,
        )
        assert new.vm_state == "running" and new.host_id is not None
        assert new.ip_address or new.ssh_port
        assert op.kind == "create" and json.loads(op.params)["from_backup_id"] == backup_id
        entries = [
            (e.object_id, e.action, json.loads(e.params))
            for e in session.execute(select(HistoryEntry)).scalars()
        ]
    assert any(
        (o, a) == (new_id, "vm.create") and p.get("from_backup_id") == backup_id
        for o, a, p in entries
    )
    assert any(
        (o, a) == (source, "vm.restore_as_new_vm") and p["vm_id"] == new_id for o, a, p in entries
    )
    found = disks.info(new_disk, "qcow2")
    assert found.backing_file is not None
    assert Path(found.backing_file).resolve() != Path(b.row(backup_id).path).resolve()
    Path(b.row(backup_id).path).unlink()  # the backup gone, the new VM's disk reads on
    assert has_pattern(new_disk, 0xAA)


def test_000_s5_restore_as_new_vm_refused_when_the_contract_may_not_create(
    b: Backups,
) -> None:
    """A contract past its end (reversibility: nothing can be provisioned) may not
    create another VM: the restore as a new VM is refused like a create, nothing
    written; a name already taken is refused too."""
    source = b.vm()
    b.plan(source)
    backup_id = b.take(source)
    before = _vm_count(b)
    with pytest.raises(AlreadyExists):
        _restore_new(b, source, backup_id, "web-1")
    with b.cw.database.unit() as session:
        session.execute(
            update(Contract).where(Contract.id == b.contract).values(state="reversibility")
        )
    with pytest.raises(InvalidTransition, match="nothing can be provisioned"):
        _restore_new(b, source, backup_id, "web-2")
    assert _vm_count(b) == before


def test_restore_as_new_vm_from_another_vms_backup_is_refused(b: Backups) -> None:
    a, other = b.vm("a"), b.vm("b")
    b.plan(a)
    backup_id = b.take(a)
    before = _vm_count(b)
    with pytest.raises(NotFound, match="no such backup"):
        _restore_new(b, other, backup_id, "c")
    assert _vm_count(b) == before


def test_restore_as_new_vm_over_the_api(client: TestClient, b: Backups) -> None:
    """POST /vms/{id}/restore with as_new_vm and name: 202 with the new VM and its
    create operation; as_new_vm without a name, or with original, is a 422 naming the
    field."""
    client.app.state.compute = b.cw.runtime  # type: ignore[attr-defined]
    source = b.vm()
    b.plan(source)
    backup_id = b.take(source)
    h = b.actor.headers
    url = f"/api/v1/vms/{source}/restore"
    r = client.post(url, json={"backup_id": backup_id, "as_new_vm": True}, headers=h)
    assert r.status_code == 422 and "name" in r.text
    bad = {"original": True, "as_new_vm": True, "name": "x"}
    r = client.post(url, json=bad, headers=h)
    assert r.status_code == 422 and "as_new_vm" in r.text
    body = {"backup_id": backup_id, "as_new_vm": True, "name": "web-1-copy"}
    r = client.post(url, json=body, headers=h)
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["operation"]["kind"] == "create" and answer["vm"]["id"] != source
    assert answer["vm"]["name"] == "web-1-copy" and answer["backup"]["id"] == backup_id
    assert b.cw.run(answer["operation"]["id"]) == "succeeded"


def _ed25519_line(comment: str) -> str:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{raw.decode()} {comment}"


def test_regression_vm_restored_as_new_gets_the_owners_ssh_keys(b: Backups) -> None:
    """A VM restored as a new VM got no SSH key in its seed (unreachable by its owner,
    unlike every created VM). It now gets the keys the VM restored was created with
    that the client still has (a key deleted since is left out); ``ssh_key_ids``
    chooses others, ``[]`` none."""
    lines = [_ed25519_line("kept"), _ed25519_line("deleted")]
    with b.cw.database.unit() as session:
        made = [
            keys.create_key(session, b.owner, schemas.SshKeyCreate(name=f"k{i}", public_key=line))
            for i, line in enumerate(lines)
        ]
        kept, deleted = made[0].id, made[1].id
    body = schemas.VmCreate(
        contract_id=b.contract,
        flavour="avance-2-4",
        image="base",
        name="keyed",
        ssh_key_ids=[kept, deleted],
    )
    with b.cw.database.unit() as session:
        vm, op = vms.create_vm(session, b.owner, b.cw.runtime, b.cw.offers, body)
        source, op_id = vm.id, op.id
    assert b.cw.run(op_id) == "succeeded"
    with b.cw.database.unit() as session:  # the test driver copies stopped disks only
        _vm, op = vms.request(session, b.owner, b.cw.runtime, source, Action.STOP)
        op_id = op.id
    assert b.cw.run(op_id) == "succeeded"
    b.plan(source)
    backup_id = b.take(source)
    with b.cw.database.unit() as session:
        keys.delete_key(session, b.owner, deleted)

    new_id, op_id = _restore_new(b, source, backup_id, "keyed-restored")
    assert b.cw.run(op_id) == "succeeded"
    with b.cw.database.unit() as session:
        op = session.get(Operation, op_id)
        assert op is not None
        assert json.loads(op.params)["key_ids"] == [kept]
    seed = b.cw.runtime.vm_files(new_id).seed.read_bytes()
    assert lines[0].split()[1].encode() in seed
    assert lines[1].split()[1].encode() not in seed

    with b.cw.database.unit() as session:
        _b, vm, op = backups.restore_as_new_vm(
            session, b.owner, b.cw.runtime, b.cw.offers, source, backup_id, "bare", []
        )
        assert json.loads(op.params)["key_ids"] == []
