"""Every router of the portal, in the order they are mounted. A new page module adds
its router at the end of PAGES (docs/portal.md, "Adding a page")."""

from __future__ import annotations

from nuages.portal import auth
from nuages.portal.admin import home as admin_home
from nuages.portal.admin import sla as admin_sla
from nuages.portal.client import dashboard, firewall, vm_observe, vms
from nuages.portal.client import sla as client_sla

PAGES = [
    auth.router,
    dashboard.router,
    vms.router,
    admin_home.router,
    vm_observe.router,  # issue 14: console, graphs
    client_sla.router,  # sla (issue 22)
    admin_sla.router,
    firewall.router,  # issue 14: a VM's firewall
]
