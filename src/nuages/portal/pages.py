"""Every router of the portal, in the order they are mounted. A new page module adds
its router at the end of PAGES (docs/portal.md, "Adding a page")."""

from __future__ import annotations

from nuages.portal import auth
from nuages.portal.admin import clients as admin_clients
from nuages.portal.admin import contracts as admin_contracts
from nuages.portal.admin import home as admin_home
from nuages.portal.admin import infra as admin_infra
from nuages.portal.admin import money as admin_money
from nuages.portal.admin import rates as admin_rates
from nuages.portal.client import (
    account,
    contracts,
    dashboard,
    history,
    invoices,
    keys,
    offers,
    users,
    vm_data,
    vms,
)

PAGES = [
    auth.router,
    dashboard.router,
    vms.router,
    vm_data.router,
    offers.router,
    contracts.router,
    account.router,
    invoices.router,
    keys.router,
    users.router,
    history.router,
    admin_home.router,
    admin_clients.router,
    admin_contracts.router,
    admin_infra.router,
    admin_money.router,
    admin_rates.router,
]
