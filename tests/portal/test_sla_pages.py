"""The portal's service-level pages (issue 22): a contract's month and upcoming
maintenance for its client; the staff's outages and maintenance page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from nuages.accounts.roles import Role
from nuages.kernel.clock import frozen_at
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401
from tests.portal.conftest import signed_in
from tests.sla.test_reports import _down
from tests.sla.world import running_vm

PARIS = ZoneInfo("Europe/Paris")


def test_002_s6_contract_sla_page_and_admin_page(
    cw: ComputeWorld, browser: Callable[[], Any], user_with_password: Callable[..., Any]
) -> None:
    """002 §6: the owner's page shows November's 99.5 % and its 4.50 credit as it
    stands (not issued yet); another client's owner gets 404; the staff page lists
    outages and maintenance, and is a 404 for a client."""
    client_id = cw.world.client("Portal SLA")
    contract_id = cw.contract(client_id, "axantis-cloud-vm-avance")
    vm = running_vm(cw, contract_id, flavour="avance-2-4",
                    since=dt.datetime(2026, 10, 1, tzinfo=PARIS))  # fmt: skip
    _down(cw, vm, dt.datetime(2026, 11, 3, 9, tzinfo=PARIS).astimezone(dt.UTC), 60)
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    _other, other_email = user_with_password(Role.CLIENT_OWNER, cw.world.client("Other"))
    _admin, admin_email = user_with_password(Role.PROVIDER_ADMIN, None)
    with frozen_at(dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)):
        visitor = signed_in(browser, email)
        page = visitor.get(f"/contracts/{contract_id}/sla?month=2026-11")
        assert page.status_code == 200, page.text[:500]
        assert "99.5" in page.text and "4.50" in page.text
        assert (
            signed_in(browser, other_email).get(f"/contracts/{contract_id}/sla").status_code == 404
        )
        assert visitor.get("/admin/sla").status_code == 404
        staff = signed_in(browser, admin_email).get("/admin/sla")
        assert staff.status_code == 200, staff.text[:500]
