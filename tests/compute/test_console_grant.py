"""001 §15.3: staff open a client VM's console only with a live "consoles" grant;
without it, or once it expired or was revoked, 403 naming it; each use in the client's
history. The owner opens its own console as before."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.roles import Role
from nuages.compute.models import Vm
from nuages.history.models import HistoryEntry
from nuages.kernel.clock import set_now, utc_now
from tests.compute.test_reconcile import running_vm
from tests.compute.world import ComputeWorld, cw_fixture  # noqa: F401
from tests.factories import World


def test_001_s15_3_staff_console_of_a_client_vm_needs_a_live_consoles_grant(
    cw: ComputeWorld, client: TestClient, world: World
) -> None:
    vm_id, _owner, _host = running_vm(cw)
    client.app.state.compute = cw.runtime  # type: ignore[attr-defined]
    with cw.database.unit() as session:
        vm = session.get(Vm, vm_id)
        assert vm is not None
        client_id = vm.client_id
    start = utc_now()
    set_now(start)  # frozen: the grant's hour is counted from here
    admin, owner = world.admin(), world.user(Role.CLIENT_OWNER, client_id)
    url = f"/api/v1/vms/{vm_id}/console"
    r = client.post(url, json={"kind": "serial"}, headers=admin.headers)
    assert r.status_code == 403 and "no open access to this client's consoles" in r.json()["detail"]
    assert client.post(url, json={"kind": "serial"}, headers=owner.headers).status_code == 201
    grants = f"/api/v1/clients/{client_id}/gdpr/accesses"
    body = {"what": "consoles", "reason": "ticket 7: guest does not boot", "hours": 1}
    assert client.post(grants, json=body, headers=admin.headers).status_code == 201
    assert client.post(url, json={"kind": "serial"}, headers=admin.headers).status_code == 201
    with cw.database.unit() as session:
        used = session.execute(
            select(HistoryEntry).where(
                HistoryEntry.client_id == client_id,
                HistoryEntry.action == "gdpr.staff_access.use",
            )
        ).scalars()
        assert ["consoles" in str(e.params) for e in used] == [True]
    set_now(start + dt.timedelta(hours=1))  # expired
    assert client.post(url, json={"kind": "serial"}, headers=admin.headers).status_code == 403
    second = client.post(grants, json=body, headers=admin.headers).json()["id"]
    assert client.delete(f"{grants}/{second}", headers=owner.headers).status_code == 200
    assert client.post(url, json={"kind": "serial"}, headers=admin.headers).status_code == 403
