"""Backups on the portal (issue 13): a backup restored as a new VM from the VM page
(000 §5 "restaurer … sur demande"), and the contract's backup volume per VM
(002 §3.5 "volume de sauvegarde par VM affiché"). Real disk files on libvirt's test
driver, through the same app the clients use."""

from __future__ import annotations

from html import unescape
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.compute.models import Operation, Vm
from nuages.kernel.db import Database
from tests.compute.test_backups import Backups
from tests.compute.test_snapshots import has_pattern, qemu_io
from tests.factories import World
from tests.portal.conftest import signed_in
from tests.portal.test_foundation import Make, _vm_world


def _count(database: Database, model: Any) -> int:
    with database.unit() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_000_s5_backup_restored_as_a_new_vm_from_the_vm_page(
    browser: Make, user_with_password: Make, world: World, offers: Any, tmp_path: Any,
    database: Database, portal_app: FastAPI,
) -> None:  # fmt: skip
    """000 §5 / 002 §3.5: the VM page's backup row has a "restore as a new VM" form; sent
    with a name it creates that VM on the same contract, whose create runs and whose disk
    holds the backup's content, the source VM left as it is. An empty name, a name
    already taken and another VM's backup are refused with the page's error and write
    no VM and no operation."""
    cw = _vm_world(world, offers, tmp_path, database)
    before = getattr(portal_app.state, "compute", None)
    portal_app.state.compute = cw.runtime
    try:
        b = Backups(cw)
        vm_id, other_id = b.vm("web-1"), b.vm("web-2")
        b.plan(vm_id)
        qemu_io(cw.runtime.vm_files(vm_id).disk, "write -P 0xaa 0 64k")
        backup_id = b.take(vm_id)
        _owner, email = user_with_password(Role.CLIENT_OWNER, b.client_id)
        visitor = signed_in(browser, email)
        page = visitor.get(f"/vms/{vm_id}")
        assert page.status_code == 200
        action = f"/vms/{vm_id}/backups/{backup_id}/restore-as-new"
        assert action in page.text and "Restaurer en nouvelle VM" in page.text

        vms_before, ops_before = _count(database, Vm), _count(database, Operation)
        # Said in French naming the field and the name taken (portal/errors.py).
        taken = ("web-2", "Vous avez déjà une machine nommée « web-2 »")
        for name, wrong in (("", "« Nom » : donnez un nom à la nouvelle machine."), taken):
            refused = visitor.submit(f"/vms/{vm_id}", action, name=name)
            assert refused.status_code in (409, 422) and 'role="alert"' in refused.text
            alert = unescape(refused.text.split('role="alert"')[1].split("</p>")[0])
            assert wrong in alert, alert
        mismatched = f"/vms/{other_id}/backups/{backup_id}/restore-as-new"
        form = visitor.form(f"/vms/{vm_id}", action)
        answer = visitor.post(mismatched, {**form.fields, "name": "web-3"})
        assert answer.status_code == 404
        assert (_count(database, Vm), _count(database, Operation)) == (vms_before, ops_before)

        done = visitor.submit(f"/vms/{vm_id}", action, name="web-1-copy")
        assert done.status_code == 200, done.text.split('id="form-error">')[-1][:300]
        with database.unit() as session:
            copy = session.execute(select(Vm).where(Vm.name == "web-1-copy")).scalar_one()
            copy_id, contract_id = copy.id, copy.contract_id
            op_id = session.execute(
                select(Operation.id).where(Operation.vm_id == copy.id)
            ).scalar_one()
        assert contract_id == b.contract
        assert cw.run(op_id) == "succeeded"
        assert has_pattern(cw.runtime.vm_files(copy_id).disk, 0xAA)
        assert b.row(backup_id).vm_id == vm_id  # the source VM keeps its backup
    finally:
        portal_app.state.compute = before
        cw.runtime.close()


def test_002_s3_5_contract_page_shows_the_backup_volume_per_vm(
    browser: Make, user_with_password: Make, world: World, offers: Any, tmp_path: Any,
    database: Database,
) -> None:  # fmt: skip
    """002 §3.5 "volume de sauvegarde par VM affiché": the contract page gives the total
    and each backed-up VM's bytes (what its backup files take), by name; a VM without
    backups is not listed; another client's owner gets 404 for the page."""
    cw = _vm_world(world, offers, tmp_path, database)
    try:
        b = Backups(cw)
        first, second, _bare = b.vm("alpha"), b.vm("beta"), b.vm("gamma")
        for vm_id in (first, second):
            b.plan(vm_id)
        qemu_io(cw.runtime.vm_files(first).disk, "write -P 0xaa 0 1M")
        one, two = b.take(first), b.take(second)
        sizes = [b.row(one).size_bytes or 0, b.row(two).size_bytes or 0]
        assert sizes[0] != sizes[1]
        _owner, email = user_with_password(Role.CLIENT_OWNER, b.client_id)
        page = signed_in(browser, email).get(f"/contracts/{b.contract}")
        assert page.status_code == 200
        text = page.text
        assert f"Volume des sauvegardes du contrat : {sum(sizes)} octets." in text
        assert f'<a href="/vms/{first}">alpha</a></td><td>{sizes[0]}</td>' in text
        assert f'<a href="/vms/{second}">beta</a></td><td>{sizes[1]}</td>' in text
        assert ">gamma<" not in text
        _b, email_b = user_with_password(Role.CLIENT_OWNER, world.client("B"))
        assert signed_in(browser, email_b).get(f"/contracts/{b.contract}").status_code == 404
    finally:
        cw.runtime.close()
