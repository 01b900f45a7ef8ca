"""001 §16.8 in the back-office: staff close a scheduled audit with the provider's
hours; 5.5 h with 3 free hours at EUR 90 bills 2.5 h = EUR 225.00 on the contract; a
non-number is refused next to the field (FR/EN), nothing written. Both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

from nuages.accounts.roles import Role
from nuages.gdpr.models import Audit
from nuages.invoicing.models import PendingCharge
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.managed import agreements
from tests.compute.world import CLI
from tests.factories import World
from tests.portal.conftest import signed_in

Make = Callable[..., Any]
PAGE = "/admin/audits"


def test_001_s16_8_staff_close_audit_bills_hours_beyond_three(
    browser: Make, user_with_password: Make, world: World, database: Database
) -> None:
    set_now(dt.datetime(2026, 11, 5, 10, tzinfo=ZoneInfo("Europe/Brussels")))
    client_id = world.client("Audité SRL")
    owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, email)
    made = visitor.http.post(
        "/api/v1/contracts", json={"offer_id": "cloudbizz", "accept_terms": True},
        headers=owner.headers,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    contract_id = made.json()["id"]
    asked = visitor.http.post(
        "/api/v1/gdpr/audits",
        json={"contract_id": contract_id, "starts_on": "2026-11-13", "auditor": "Cabinet X",
              "scope": "annexe 1"},
        headers=owner.headers,
    )  # fmt: skip
    assert asked.status_code == 201, asked.text
    audit_id = asked.json()["id"]
    with database.unit() as session:
        agreements.set_agreement(session, CLI, contract_id, {"hourly_rate": Decimal("90.00")})
    _admin, staff_email = user_with_password(Role.PROVIDER_ADMIN, None)
    staff = signed_in(browser, staff_email)
    assert "Cabinet X" in staff.get(PAGE).text
    bad = staff.submit(PAGE, PAGE, audit_id=audit_id, hours="beaucoup")
    assert bad.status_code == 422 and 'id="e-hours"' in bad.text
    assert "indiquez un nombre d'heures" in unescape(bad.text).lower()
    staff.submit("/admin", "/lang", lang="en")
    english = staff.submit(PAGE, PAGE, audit_id=audit_id, hours="beaucoup")
    assert "give a number of hours" in unescape(english.text)
    staff.submit("/admin", "/lang", lang="fr")
    with database.unit() as session:
        assert session.get(Audit, audit_id).state == "scheduled"  # type: ignore[union-attr]
    done = staff.submit(PAGE, PAGE, audit_id=audit_id, hours="5,5")
    assert done.status_code == 200 and "le dépassement est sur la prochaine facture" in unescape(
        done.text
    )
    with database.unit() as session:
        audit = session.get(Audit, audit_id)
        assert audit is not None and audit.state != "scheduled"
        assert audit.billed_hours == Decimal("2.5") and audit.charge_id is not None
        charge = session.get(PendingCharge, audit.charge_id)
        assert charge is not None and charge.amount == Decimal("225.00")
    assert visitor.get(PAGE).status_code == 404
