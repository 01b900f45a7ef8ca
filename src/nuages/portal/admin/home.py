"""The back-office's front page for provider staff: where things stand, and the way to
each staff page. Client users are told it does not exist (404)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from nuages.accounts import service as accounts
from nuages.compute.services import vms
from nuages.contracts import service as contracts
from nuages.portal.web import Staff

router = APIRouter()


@router.get("/admin")
def admin_home(visit: Staff) -> Response:
    """Counts of clients, contracts and VMs, and the latest contracts."""
    with visit.read() as session:
        _clients, client_total = accounts.list_clients(session, visit.me, 1, 1)
        _vms, vm_total = vms.list_vms(session, visit.me, 1, 1)
        _latest, contract_total = contracts.list_contracts(session, visit.me, 1, 1)
        _pending, pending = contracts.list_contracts(session, visit.me, 1, 1, state="pending")
        return visit.render(
            "admin/home.html",
            client_total=client_total,
            vm_total=vm_total,
            contract_total=contract_total,
            pending=pending,
        )
