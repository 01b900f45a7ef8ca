"""001 §16.7 (ii): a breach is notified "immédiatement" by an e-mail marked "haute
importance" and "suivi immédiat", with every listed item; the affected clients follow
from the scope; the sending time is kept beside the detection time. Both databases."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.gdpr.models import Breach, BreachNotification
from nuages.gdpr.schemas import BreachCreate
from nuages.kernel.clock import frozen_at, set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.notices.delivery import deliver_pass
from nuages.notices.models import Notice
from tests.factories import World
from tests.notices.smtp import SmtpServer

DETECTED = dt.datetime(2026, 11, 3, 9, 30, tzinfo=dt.UTC)
BODY: dict[str, Any] = copy.deepcopy(BreachCreate.model_config["json_schema_extra"]["examples"][0])  # type: ignore[index]
REQUIRED = [
    "summary", "circumstances", "nature", "data_concerned", "data_volume",
    "person_categories", "persons_count", "consequences", "measures", "occurred_at",
    "detected_at", "contact_name", "contact_email", "scope",
]  # fmt: skip


def _counts(database: Database) -> tuple[int, int, int]:
    with database.unit() as session:
        return (
            session.execute(select(func.count()).select_from(Breach)).scalar_one(),
            session.execute(select(func.count()).select_from(BreachNotification)).scalar_one(),
            session.execute(select(func.count()).select_from(Notice)).scalar_one(),
        )


def _body(**scope: Any) -> dict[str, Any]:
    return {**BODY, "scope": scope}


def test_001_s16_7_breach_mail_high_importance_sent_at_beside_detection(
    client: TestClient, world: World, database: Database, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    """Two of three clients are named. Client A named its DPO: the e-mail goes there;
    client B has none: it goes to its owner (the client is informed either way). One
    delivery pass sends both (immédiatement = within one pass) with Importance: high,
    X-Priority 1, the follow-up flag and the subject's "HAUTE IMPORTANCE - SUIVI
    IMMÉDIAT"; each body carries every item of the clause. The breach then shows its
    detection time and, per client, the sending time."""
    admin = world.admin()
    a, b, c = world.client("A"), world.client("B"), world.client("C")
    owner_a = world.user(Role.CLIENT_OWNER, a)
    world.user(Role.CLIENT_OWNER, b)
    world.user(Role.CLIENT_OWNER, c)
    r = client.put(
        f"/api/v1/clients/{a}/gdpr/dpo",
        json={"name": "Marie Dupont", "email": "dpo@client-a.example"},
        headers=owner_a.headers,
    )
    assert r.status_code == 200, r.text
    with frozen_at(DETECTED + dt.timedelta(minutes=20)):
        r = client.post(
            "/api/v1/gdpr/breaches", json=_body(client_ids=[a, b]), headers=admin.headers
        )
    assert r.status_code == 201, r.text
    assert sorted(n["client_id"] for n in r.json()["notified"]) == sorted([a, b])
    assert all(n["state"] == "queued" and n["sent_at"] is None for n in r.json()["notified"])
    sent_at = DETECTED + dt.timedelta(minutes=21)
    set_now(sent_at)
    report = deliver_pass(database, smtp_settings)
    assert len(report.sent) == 2, report
    by_rcpt = {got.rcpt_tos[0]: got.message for got in smtp.received}
    assert "dpo@client-a.example" in by_rcpt
    assert len(by_rcpt) == 2
    for message in by_rcpt.values():
        assert message["Importance"] == "high"
        assert message["X-Priority"] == "1 (Highest)"
        assert message["Priority"] == "urgent"
        assert "Suivi immédiat" in str(message["X-Message-Flag"])
        assert message["Subject"].startswith("[HAUTE IMPORTANCE - SUIVI IMMÉDIAT]")
        text = message.get_content()
        for value in ("Backup volume readable", "A permission change", "confidentiality breach",
                      "VM backups", "120 GiB", "customers and employees", "1200",
                      "possible disclosure", "permission restored", "2026-11-03 08:00 UTC",
                      "2026-11-03 09:30 UTC", "dpo@provider.example"):  # fmt: skip
            assert value in text, value
    listed = client.get("/api/v1/gdpr/breaches", headers=owner_a.headers).json()
    [breach] = listed
    assert dt.datetime.fromisoformat(breach["detected_at"]) == DETECTED
    [mine] = breach["notified"]  # a client sees only its own notice
    assert mine["client_id"] == a and mine["state"] == "sent"
    assert dt.datetime.fromisoformat(mine["sent_at"]) == sent_at


@pytest.mark.parametrize("field", REQUIRED)
def test_001_s16_7_breach_missing_field_refused_nothing_written(
    client: TestClient, world: World, database: Database, field: str
) -> None:
    """Each item 001 §16.7 (ii) lists is required: without it, 422 naming the field,
    and no breach, no notification, no notice is written."""
    admin = world.admin()
    target = world.client("A")
    body = _body(client_ids=[target])
    del body[field]
    with frozen_at(DETECTED + dt.timedelta(hours=1)):
        r = client.post("/api/v1/gdpr/breaches", json=body, headers=admin.headers)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]
    assert _counts(database) == (0, 0, 0)


def test_001_s16_7_breach_bad_scope_and_times_refused(
    client: TestClient, world: World, database: Database
) -> None:
    """A scope that reaches nobody, an unknown client, a detection before the incident
    and a client user opening a breach are all refused with nothing written."""
    admin = world.admin()
    target = world.client("A")
    owner = world.user(Role.CLIENT_OWNER, target)
    with frozen_at(DETECTED + dt.timedelta(hours=1)):
        nobody = client.post("/api/v1/gdpr/breaches", json=_body(), headers=admin.headers)
        unknown = client.post(
            "/api/v1/gdpr/breaches", json=_body(client_ids=["nope"]), headers=admin.headers
        )
        early = {**_body(client_ids=[target]), "detected_at": "2026-11-03T07:00:00Z"}
        backwards = client.post("/api/v1/gdpr/breaches", json=early, headers=admin.headers)
        by_owner = client.post(
            "/api/v1/gdpr/breaches", json=_body(client_ids=[target]), headers=owner.headers
        )
    assert nobody.status_code == 422 and "scope" in nobody.json()["detail"]
    assert unknown.status_code == 422 and "scope.client_ids" in unknown.json()["detail"]
    assert backwards.status_code == 422 and "detected_at" in backwards.json()["detail"]
    assert by_owner.status_code == 403
    assert _counts(database) == (0, 0, 0)


def test_001_s16_7_breach_scope_all_reaches_every_client_under_contract(
    client: TestClient, world: World, database: Database
) -> None:
    """``all``: every client with a contract not closed (the data is still held),
    not a client without a contract."""
    admin = world.admin()
    with_contract = world.client("With")
    owner = world.user(Role.CLIENT_OWNER, with_contract)
    world.client("Without")
    r = client.post(
        "/api/v1/contracts",
        json={"offer_id": "isstar-cloud", "accept_terms": True},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    with frozen_at(DETECTED + dt.timedelta(hours=1)):
        r = client.post("/api/v1/gdpr/breaches", json=_body(all=True), headers=admin.headers)
    assert r.status_code == 201, r.text
    assert [n["client_id"] for n in r.json()["notified"]] == [with_contract]
