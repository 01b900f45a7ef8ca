"""The VM's firewall page (issue 14, 002 §3.6): the owner adds a rule through the form and
removes it; a bad source is refused next to its field with nothing written; another
client's VM answers 404. Both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.compute import schemas
from nuages.compute.net.models import FirewallRule
from nuages.compute.services import vms
from nuages.kernel.db import Database
from tests.compute.world import ComputeWorld, make_runtime
from tests.factories import World
from tests.portal.conftest import signed_in

Make = Callable[..., Any]


def _rules(database: Database) -> int:
    with database.unit() as session:
        return int(session.execute(select(func.count()).select_from(FirewallRule)).scalar_one())


def test_firewall_page_add_refuse_remove_and_404(
    browser: Make, user_with_password: Make, world: World, offers: Any, tmp_path: Any,
    database: Database,
) -> None:  # fmt: skip
    cw = ComputeWorld(world, make_runtime(tmp_path / "cw", database), offers, tmp_path)
    try:
        a = world.client("A")
        contract_id = cw.contract(a)
        cw.host()
        image = cw.image()
        owner_a, email_a = user_with_password(Role.CLIENT_OWNER, a)
        with database.unit() as session:
            vm, _op = vms.create_vm(
                session, cw.principal(owner_a), cw.runtime, offers,
                schemas.VmCreate(contract_id=contract_id, flavour="vm-s", image=image.id,
                                 name="a-vm"),
            )  # fmt: skip
        visitor = signed_in(browser, email_a)
        page = f"/vms/{vm.id}/firewall"
        assert page in visitor.get(f"/vms/{vm.id}").text  # linked from the VM's page
        bad = visitor.submit(page, f"{page}/rules", source="10.0.0.1/8", port="22")
        assert bad.status_code == 422 and "f-source" in bad.text
        assert _rules(database) == 0
        done = visitor.submit(page, f"{page}/rules", source="203.0.113.0/24", port="22")
        assert done.status_code == 200 and done.url.path == page, done.text[:500]
        assert "203.0.113.0/24" in done.text
        assert _rules(database) == 1
        with database.unit() as session:
            rule_id = session.execute(select(FirewallRule.id)).scalar_one()
        gone = visitor.submit(page, f"{page}/rules/{rule_id}/delete")
        assert gone.status_code == 200 and "203.0.113.0/24" not in gone.text
        assert _rules(database) == 0

        _b, email_b = user_with_password(Role.CLIENT_OWNER, world.client("B"))
        other = signed_in(browser, email_b)
        assert other.get(page).status_code == 404
        form = other.form("/vms")
        refused = other.post(
            f"{page}/rules", {"_csrf": form.fields["_csrf"], "_once": "o1", "direction": "in",
                              "protocol": "tcp", "action": "accept", "port": "22"},
        )  # fmt: skip
        assert refused.status_code == 404 and _rules(database) == 0
    finally:
        cw.runtime.close()


def test_staff_cut_and_restore_on_the_firewall_page(
    browser: Make, user_with_password: Make, world: World, offers: Any, tmp_path: Any,
    database: Database,
) -> None:  # fmt: skip
    """Issue 14.5 "pages for each": staff cut a VM's network from its firewall page
    (a reason is required, refused with nothing written), see the cut, and restore it;
    the client's owner sees the cut but no measure form."""
    from nuages.compute.net.models import VmNetwork

    cw = ComputeWorld(world, make_runtime(tmp_path / "cw", database), offers, tmp_path)
    try:
        a = world.client("A")
        contract_id = cw.contract(a)
        cw.host()
        image = cw.image()
        owner_a, email_a = user_with_password(Role.CLIENT_OWNER, a)
        _admin, email_admin = user_with_password(Role.PROVIDER_ADMIN, None)
        with database.unit() as session:
            vm, _op = vms.create_vm(
                session, cw.principal(owner_a), cw.runtime, offers,
                schemas.VmCreate(contract_id=contract_id, flavour="vm-s", image=image.id,
                                 name="a-vm"),
            )  # fmt: skip
        staff = signed_in(browser, email_admin)
        page = f"/vms/{vm.id}/firewall"
        assert "network-cut" in staff.get(page).text
        empty = staff.submit(page, f"/vms/{vm.id}/network-cut", ground="malicious-traffic")
        assert empty.status_code == 422 and "f-reason" in empty.text
        bad = staff.submit(page, f"/vms/{vm.id}/network-cut", ground="malicious-traffic",
                           reason="SYN flood", expected_end_at="2020-01-01T12:00")  # fmt: skip
        assert bad.status_code == 422 and "f-expected_end_at" in bad.text
        with database.unit() as session:
            assert session.get(VmNetwork, vm.id) is None
        cut = staff.submit(page, f"/vms/{vm.id}/network-cut", ground="malicious-traffic",
                           reason="SYN flood", expected_end_at="2099-01-01T12:00")  # fmt: skip
        assert cut.status_code == 200 and cut.url.path == page, cut.text[:500]
        assert "network-restore" in cut.text
        with database.unit() as session:
            net = session.get(VmNetwork, vm.id)
            assert net is not None and net.cut_ground == "malicious-traffic"
            # Typed in Paris time (CET in January): 11:00 UTC (004 §7).
            assert net.expected_end_at == dt.datetime(2099, 1, 1, 11, 0, tzinfo=dt.UTC)
        owner_page = signed_in(browser, email_a).get(page).text
        assert "network-cut" not in owner_page and "network-restore" not in owner_page
        assert "Durée prévue : jusqu&#39;au" in owner_page and "2099" in owner_page
        back = staff.submit(page, f"/vms/{vm.id}/network-restore", reason="stopped")
        assert back.status_code == 200 and "network-cut" in back.text
        with database.unit() as session:
            net = session.get(VmNetwork, vm.id)
            assert net is not None and net.cut_at is None
    finally:
        cw.runtime.close()
