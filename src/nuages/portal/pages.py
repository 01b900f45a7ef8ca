"""Every router of the portal, in the order they are mounted. A new page module adds
its router at the end of PAGES (docs/portal.md, "Adding a page")."""

from __future__ import annotations

from nuages.portal import auth
from nuages.portal.admin import home as admin_home
from nuages.portal.client import dashboard, vms
from nuages.portal.client import support as support_pages

PAGES = [
    auth.router,
    dashboard.router,
    vms.router,
    admin_home.router,
    support_pages.router,  # issue #16: tickets and the GDPR register
]
