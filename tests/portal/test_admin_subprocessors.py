"""001 §16.9 in the back-office: staff add a sub-processor and replace it from the
form; each change notifies every client under contract; a country outside the EU
without adequacy and no safeguard is refused next to the field (FR/EN), nothing written.
Both databases."""

from __future__ import annotations

from collections.abc import Callable
from html import unescape
from typing import Any

from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.gdpr.models import SubProcessor
from nuages.kernel.db import Database
from nuages.notices.models import Notice
from tests.factories import World
from tests.portal.conftest import signed_in

Make = Callable[..., Any]
PAGE = "/admin/sub-processors"


def _notices(database: Database) -> int:
    with database.unit() as session:
        stmt = select(func.count()).select_from(Notice).where(Notice.kind == "subprocessor_changed")
        return session.execute(stmt).scalar_one()


def test_001_s16_9_subprocessor_added_then_replaced_from_the_back_office(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    client_id = world.client("Sous-traité SA")
    owner, owner_email = user_with_password(Role.CLIENT_OWNER, client_id)
    client = signed_in(browser, owner_email)
    made = client.http.post(
        "/api/v1/contracts",
        json={"offer_id": "virtualsr-pcv", "accept_terms": True},
        headers=owner.headers,
    )
    assert made.status_code == 201, made.text
    _admin, email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, email)
    assert "Aucun sous-traitant ultérieur." in staff.get(PAGE).text
    far = {"name": "Mumbai DC", "service": "hébergement", "country": "in"}
    refused = staff.submit(PAGE, PAGE, **far)
    assert refused.status_code == 422 and 'id="e-safeguard"' in refused.text
    said = unescape(refused.text).split('id="e-safeguard">')[1].split("<")[0]
    assert said.startswith("IN est hors de l'UE sans décision d'adéquation"), said
    staff.submit("/admin", "/lang", lang="en")
    english = unescape(staff.submit(PAGE, PAGE, **far).text)
    assert "IN is outside the EU without an adequacy decision" in english
    staff.submit("/admin", "/lang", lang="fr")
    with database.unit() as session:
        assert session.execute(select(SubProcessor)).first() is None
    assert _notices(database) == 0
    first = {"name": "Interxion Belgium NV", "service": "hébergement", "country": "be"}
    added = staff.submit(PAGE, PAGE, **first)
    assert added.status_code == 200 and "les clients sont prévenus" in unescape(added.text)
    assert _notices(database) == 1
    with database.unit() as session:
        old = session.execute(select(SubProcessor)).scalar_one()
        assert old.country == "BE"
        old_id = old.id
    then = {"name": "LCL Data Centers", "service": "hébergement", "country": "BE",
            "replaces_id": old_id}  # fmt: skip
    replaced = staff.submit(PAGE, PAGE, **then)
    assert replaced.status_code == 200
    assert _notices(database) == 2
    with database.unit() as session:
        ended = session.get(SubProcessor, old_id)
        assert ended is not None and ended.ended_at is not None
        assert ended.replaced_by_id is not None
    text = unescape(staff.get(PAGE).text)
    assert "LCL Data Centers" in text and "Interxion Belgium NV" in text
    again = staff.submit(PAGE, PAGE, **{**then, "name": "Autre"})
    assert again.status_code == 409 and 'id="e-replaces_id"' in again.text  # already replaced
    assert _notices(database) == 2
    assert client.get(PAGE).status_code == 404
