"""Every router of the portal, in the order they are mounted. A new page module adds
its router at the end of PAGES (docs/portal.md, "Adding a page")."""

from __future__ import annotations

from nuages.portal import auth
from nuages.portal.admin import audits as admin_audits
from nuages.portal.admin import breaches as admin_breaches
from nuages.portal.admin import clients as admin_clients
from nuages.portal.admin import contracts as admin_contracts
from nuages.portal.admin import extensions as admin_extensions
from nuages.portal.admin import formal as admin_formal
from nuages.portal.admin import home as admin_home
from nuages.portal.admin import infra as admin_infra
from nuages.portal.admin import money as admin_money
from nuages.portal.admin import rates as admin_rates
from nuages.portal.admin import relocations as admin_relocations
from nuages.portal.admin import sla as admin_sla
from nuages.portal.admin import subprocessors as admin_subprocessors
from nuages.portal.admin import support_gdpr as admin_support_gdpr
from nuages.portal.client import (
    account,
    contract_data,
    contract_life,
    contracts,
    dashboard,
    firewall,
    history,
    invoices,
    keys,
    offers,
    terms_refusal,
    users,
    vm_data,
    vm_observe,
    vms,
)
from nuages.portal.client import audits as client_audits
from nuages.portal.client import changes as client_changes
from nuages.portal.client import exit as contract_exit
from nuages.portal.client import extensions as client_extensions
from nuages.portal.client import gdpr_access as client_gdpr_access
from nuages.portal.client import sla as client_sla
from nuages.portal.client import support as support_pages

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
    vm_observe.router,  # issue 14: console, graphs
    client_sla.router,  # sla (issue 22)
    admin_sla.router,
    firewall.router,  # issue 14: a VM's firewall
    contract_exit.router,  # reversibility (issue 21.6)
    contract_life.router,  # contract life (issue #21): deadlines, notice to quit
    support_pages.router,  # issue #16: tickets and the GDPR register
    client_extensions.router,  # issue #12: extensions (000 §8)
    terms_refusal.router,  # issue #12: refusing new terms (000 §4, 004 §3)
    admin_extensions.router,  # issue #12: extensions waiting for their Responsable
    contract_data.router,  # issue #21: relocations and partial recoveries (001 §5.3, §7)
    admin_relocations.router,
    admin_formal.router,  # issue #12: formal notices on the contract page
    admin_support_gdpr.router,  # issue #16: staff tickets and access grants
    client_gdpr_access.router,  # issue #16: the client's view of staff accesses (001 §15.3)
    admin_breaches.router,  # issue #16: data breaches (001 §16.7)
    admin_subprocessors.router,  # issue #16: sub-processors (001 §16.9)
    client_audits.router,  # issue #16: audits announced by the client (001 §16.8)
    client_changes.router,  # issue #16: managed change requests (002 §3.8.4)
    admin_audits.router,  # issue #16: closing audits (001 §16.8)
]
