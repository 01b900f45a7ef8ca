"""001 §16.7 in the back-office: staff open a breach with every field the clause lists
(one left out: refused next to it, in French and English, nothing written); the named
clients are notified; the breach's page shows the detection time and, once the
delivery pass ran, each e-mail's sending time. Both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.gdpr.models import Breach, BreachNotification
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.notices.delivery import deliver_pass
from tests.factories import World
from tests.notices.smtp import SmtpServer
from tests.portal.conftest import signed_in

Make = Callable[..., Any]
PARIS = ZoneInfo("Europe/Paris")
FORM = {
    "summary": "Sauvegardes lisibles par un autre client",
    "circumstances": "Un changement de droits sur le stockage des sauvegardes",
    "nature": "atteinte à la confidentialité",
    "data_concerned": "Sauvegardes de machines",
    "data_volume": "3 sauvegardes, 120 Gio",
    "person_categories": "clients et salariés du client",
    "persons_count": "1200",
    "consequences": "divulgation possible de coordonnées",
    "measures": "droits rétablis à 10:40",
    "occurred_at": "2026-11-03T09:00",
    "detected_at": "2026-11-03T10:30",
    "contact_name": "DPO du prestataire",
    "contact_email": "dpo@provider.example",
}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return settings.model_copy(
        update={"smtp_url": smtp.url, "mail_from": "dpo@isstar.example", "smtp_timeout": 2.0}
    )


def _count(database: Database) -> tuple[int, int]:
    with database.unit() as session:
        return (
            session.execute(select(func.count()).select_from(Breach)).scalar_one(),
            session.execute(select(func.count()).select_from(BreachNotification)).scalar_one(),
        )


def test_001_s16_7_breach_opened_from_the_back_office_sending_time_beside_detection(
    browser: Make,
    user_with_password: Make,
    world: World,
    database: Database,
    smtp: SmtpServer,
    smtp_settings: Settings,
) -> None:
    set_now(dt.datetime(2026, 11, 3, 10, 50, tzinfo=PARIS))
    a, b = world.client("Touché A"), world.client("Épargné B")
    world.user(Role.CLIENT_OWNER, a)
    world.user(Role.CLIENT_OWNER, b)
    _admin, email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, email)
    page = "/admin/breaches"
    assert "Aucune violation." in staff.get(page).text
    missing = staff.submit(page, page, **{**FORM, "measures": "", "scope": a})
    assert missing.status_code == 422 and 'id="e-measures"' in missing.text
    said = unescape(missing.text).split('id="e-measures">')[1].split("<")[0]
    assert said.startswith("Trop court") and "should" not in said
    nobody = staff.submit(page, page, **FORM)
    assert nobody.status_code == 422 and 'id="e-scope"' in nobody.text
    assert "elle ne touche aucun client" in unescape(nobody.text).lower()
    assert _count(database) == (0, 0)
    staff.submit("/admin", "/lang", lang="en")
    english = staff.submit(page, page, **{**FORM, "measures": "", "scope": a})
    assert english.status_code == 422 and "Measures taken or proposed" in english.text
    said = unescape(english.text).split('id="e-measures">')[1].split("<")[0]
    assert said.startswith("String should have at least 1 character")
    staff.submit("/admin", "/lang", lang="fr")
    done = staff.submit(page, page, **{**FORM, "scope": a})
    assert done.status_code == 200, done.text[-1500:]
    assert "les clients touchés sont notifiés" in unescape(done.text)
    assert _count(database) == (1, 1)
    with database.unit() as session:
        breach = session.execute(select(Breach)).scalar_one()
        assert breach.detected_at.replace(tzinfo=dt.UTC) == dt.datetime(
            2026, 11, 3, 9, 30, tzinfo=dt.UTC
        )
        breach_id = breach.id
    detail = f"/admin/breaches/{breach_id}"
    before = unescape(staff.get(detail).text)
    assert "Détection : 3 nov. 2026, 10:30:00" in before and "state-queued" in before
    assert a in before and b not in before
    set_now(dt.datetime(2026, 11, 3, 10, 51, tzinfo=PARIS))
    assert len(deliver_pass(database, smtp_settings).sent) == 1
    after = unescape(staff.get(detail).text)
    assert "state-sent" in after and "3 nov. 2026, 10:51:00" in after
    assert "Sauvegardes de machines" in after
