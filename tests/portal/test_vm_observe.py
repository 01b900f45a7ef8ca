"""The VM page's console button and supervision graphs (issue 14.3, 14.4; portal)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nuages.accounts.roles import Role
from nuages.compute import schemas
from nuages.compute.metrics import collect
from nuages.compute.services import vms
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.portal.client.vm_observe import polyline
from tests.factories import World
from tests.portal.conftest import signed_in
from tests.portal.test_foundation import Make, _vm_world

T0 = dt.datetime(2026, 3, 2, 9, 0, 10, tzinfo=dt.UTC)


def test_polyline_scales_the_hour_to_the_box() -> None:
    """Hand count: the hour 09:00-10:00 on 300 px; 09:30 at 50 % of a 100 top → x 150,
    y 30 (60 px high, drawn downwards)."""
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    pts = [(start, 0.0), (start + dt.timedelta(minutes=30), 50.0)]
    assert polyline(pts, start, start + dt.timedelta(hours=1), 100.0) == "0.0,60.0 150.0,30.0"


def test_vm_page_draws_graphs_and_opens_the_console(
    browser: Make, user_with_password: Make, world: World, offers: Any, tmp_path: Any,
    database: Database,
) -> None:  # fmt: skip
    """An owner's VM page shows the last hour's graphs (two collected minutes) and a
    console button; pressing it sends the browser to the console page with a
    single-use token in the fragment. Another client's owner gets 404 for it."""
    cw = _vm_world(world, offers, tmp_path, database)
    try:
        set_now(T0)
        client_id = world.client("A")
        contract_id = cw.contract(client_id)
        cw.host()
        image = cw.image()
        owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
        with database.unit() as session:
            vm, op = vms.create_vm(
                session, cw.principal(owner), cw.runtime, offers,
                schemas.VmCreate(contract_id=contract_id, flavour="vm-s", image=image.id,
                                 name="graphs-1"),
            )  # fmt: skip
            vm_id, op_id = vm.id, op.id
        assert cw.run(op_id) == "succeeded"
        collect.collect(cw.database, cw.runtime)
        set_now(T0 + dt.timedelta(minutes=1))
        collect.collect(cw.database, cw.runtime)
        visitor = signed_in(browser, email)
        page = visitor.get(f"/vms/{vm_id}")
        assert page.status_code == 200
        assert "<polyline points=" in page.text and "CPU" in page.text
        sent = visitor.submit(f"/vms/{vm_id}", f"/vms/{vm_id}/console", follow=False)
        assert sent.status_code == 303
        assert sent.headers["location"].startswith("/console#kind=serial&token=nuc_")
        _b, email_b = user_with_password(Role.CLIENT_OWNER, world.client("B"))
        other = signed_in(browser, email_b)
        form = other.form("/vms")
        refused = other.post(
            f"/vms/{vm_id}/console", {"_csrf": form.fields["_csrf"], "kind": "serial"}
        )
        assert refused.status_code == 404
    finally:
        cw.runtime.close()


def test_002_s6_client_files_a_failure_notice_from_the_vm_page(
    browser: Make, user_with_password: Make, world: World, offers: Any, tmp_path: Any,
    database: Database,
) -> None:  # fmt: skip
    """002 §6 "en cas de Notification de Défaillance": the VM page has the failure-notice
    form; sending it records the notice, dated when it arrives, and says so; an empty one
    records nothing; another client's owner gets 404."""
    from sqlalchemy import select

    from nuages.sla.models import FailureNotice

    cw = _vm_world(world, offers, tmp_path, database)
    try:
        set_now(T0)
        client_id = world.client("A")
        contract_id = cw.contract(client_id)
        cw.host()
        image = cw.image()
        owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
        with database.unit() as session:
            vm, op = vms.create_vm(
                session, cw.principal(owner), cw.runtime, offers,
                schemas.VmCreate(contract_id=contract_id, flavour="vm-s", image=image.id,
                                 name="notice-1"),
            )  # fmt: skip
            vm_id, op_id = vm.id, op.id
        assert cw.run(op_id) == "succeeded"
        visitor = signed_in(browser, email)
        action = f"/vms/{vm_id}/failure-notice"
        empty = visitor.submit(f"/vms/{vm_id}", action, description=" ")
        assert "Décrivez ce qui ne fonctionne pas." in empty.text
        sent = visitor.submit(f"/vms/{vm_id}", action, description="HTTPS down since 09:00")
        assert sent.status_code == 200 and "Notification de défaillance enregistrée" in sent.text
        with database.unit() as session:
            [row] = session.execute(select(FailureNotice)).scalars().all()
            assert (row.vm_id, row.noticed_at) == (vm_id, T0)
        _b, email_b = user_with_password(Role.CLIENT_OWNER, world.client("B"))
        other = signed_in(browser, email_b)
        form = other.form("/vms")
        refused = other.post(action, {"_csrf": form.fields["_csrf"], "description": "x"})
        assert refused.status_code == 404
    finally:
        cw.runtime.close()
