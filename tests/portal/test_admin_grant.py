"""001 §15.3 in the back-office: a client's page hides its users until the staff
member opened an access to them (with its reason); then lists them, the read in the
client's history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nuages.accounts.roles import Role
from nuages.gdpr import access, schemas
from nuages.kernel.db import Database
from tests.factories import World
from tests.portal.conftest import signed_in

Make = Callable[..., Any]


def test_001_s15_3_admin_client_page_shows_users_only_with_a_grant(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    from nuages.accounts.service import authenticate

    client_id = world.client("Nantes SARL")
    owner = world.user(Role.CLIENT_OWNER, client_id)
    admin, email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, email)
    page = staff.get(f"/admin/clients/{client_id}")
    assert page.status_code == 200 and "Utilisateurs masqués" in page.text
    with database.unit() as session:
        from nuages.accounts.models import User

        owner_email = session.get(User, owner.user_id).email  # type: ignore[union-attr]
        me = authenticate(session, admin.token)
        access.grant(
            session,
            me,
            client_id,
            schemas.AccessCreate(what="users", reason="ticket 9: owner locked out", hours=1),
        )
    assert owner_email not in page.text
    page = staff.get(f"/admin/clients/{client_id}")
    assert page.status_code == 200 and owner_email in page.text
    assert "Utilisateurs masqués" not in page.text


def test_001_s15_3_admin_client_page_links_to_its_accesses_page(
    browser: Make, user_with_password: Make, world: World
) -> None:
    """001 §15.3: from a client's page, staff reach the page where they open a motivated
    access to that client's data (and the link leads to a page that renders)."""
    client_id = world.client("Lyon SAS")
    _, email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, email)
    page = staff.get(f"/admin/clients/{client_id}")
    assert page.status_code == 200
    assert f'href="/admin/clients/{client_id}/accesses"' in page.text
    assert staff.get(f"/admin/clients/{client_id}/accesses").status_code == 200
