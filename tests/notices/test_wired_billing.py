"""Notices written by billing and compute acts (issue #11 §3): extension awaiting the
designated Responsable (000 §8), negative balance and suspension with its ground and
expected duration (000 §11.2), resumption, VM created with its access details and no
password."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from nuages.accounts.models import User
from nuages.accounts.roles import Role
from nuages.billing import metering
from nuages.kernel.clock import set_now
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.notices.delivery import deliver_pass
from nuages.notices.models import Notice
from tests.billing.factories import at, funded, transfer
from tests.billing.test_extensions import _order
from tests.billing.test_suspension import _create_vms, _drain, cw  # noqa: F401
from tests.compute.world import ComputeWorld
from tests.factories import World

from .smtp import SmtpServer


def _notices(database: Database, kind: str) -> list[Notice]:
    with database.unit() as session:
        rows = list(
            session.execute(select(Notice).where(Notice.kind == kind).order_by(Notice.created_at))
            .scalars()
            .all()
        )
        session.expunge_all()
        return rows


def _email(database: Database, user_id: str) -> str:
    with database.unit() as session:
        return session.execute(select(User.email).where(User.id == user_id)).scalar_one()


def test_000_s8_extension_request_emailed_to_the_designated_responsable_only(
    client: TestClient,
    world: World,
    database: Database,
    smtp: SmtpServer,
    smtp_settings: Settings,
) -> None:
    """000 §8: a member's extension waits "après autorisation du Responsable": the
    notice goes to the designated Responsable, not to the other owner."""
    set_now(at("2026-11-02 09:00"))
    f = funded(world, client)
    decider = world.user(Role.CLIENT_OWNER, f.client_id)
    r = client.patch(
        f"/api/v1/users/{decider.user_id}", json={"is_terms_decider": True}, headers=f.admin.headers
    )
    assert r.status_code == 200, r.text
    member = world.user(Role.CLIENT_MEMBER, f.client_id)
    assert _order(client, f.contract_id, member.headers).status_code == 201
    [notice] = _notices(database, "extension_awaiting_approval")
    assert json.loads(notice.recipients) == [_email(database, decider.user_id)]
    assert deliver_pass(database, smtp_settings).sent == [notice.id]
    [got] = smtp.received
    assert got.rcpt_tos == [_email(database, decider.user_id)]
    assert "2 x vm-m" in got.message["Subject"]


def test_000_s11_2_suspension_notice_names_ground_and_duration_vm_notice_no_password(
    client: TestClient,
    world: World,
    database: Database,
    cw: ComputeWorld,  # noqa: F811
    smtp: SmtpServer,
    smtp_settings: Settings,
) -> None:
    """VMs created: each owner gets the VM's access (ssh user, address, port), never a
    password. The balance goes negative (000 §11.2): the billing contact gets the
    negative-balance notice, the owners the suspension with its ground and expected
    duration; the top-up lifts it and the resumption notice follows."""
    set_now(at("2026-11-02 10:30"))
    f = funded(world, client)
    cw.host()
    image = cw.image()
    set_now(at("2026-11-02 11:00"))
    ids = _create_vms(cw, f, 1, image.id)
    [vm_notice] = _notices(database, "vm_created")
    assert vm_notice.object_id == ids[0] and vm_notice.scope == "read"
    body = vm_notice.body
    assert "ssh root@" in body and "-p " in body and "aucun mot de passe" in body
    _drain(f, client, "0.01")
    set_now(at("2026-11-02 12:10"))
    metering.run(database.unit, at("2026-11-02 12:10"), registry=cw.offers)
    [negative] = _notices(database, "negative_balance")
    [placed] = _notices(database, "hold_placed")
    assert "Motif : negative-balance (000 §11.2) : prepaid account below zero" in placed.body
    assert "Durée prévue : jusqu'à ce que la cause soit levée." in placed.body
    assert json.loads(placed.recipients) == [_email(database, f.owner.user_id)]
    set_now(at("2026-11-02 14:30"))
    assert transfer(client, f.admin, f.contract_id, "5.00").status_code == 201
    [lifted] = _notices(database, "hold_lifted")
    assert "Le service reprend." in lifted.body
    report = deliver_pass(database, smtp_settings)
    assert set(report.sent) >= {vm_notice.id, negative.id, placed.id, lifted.id}
    subjects = [r.message["Subject"] for r in smtp.received]
    assert "Suspension du service : negative-balance" in subjects
    assert "Suspension levée : negative-balance" in subjects
    assert len(smtp.message_ids()) == len(set(smtp.message_ids()))


def test_sepa_prenotification_with_collection_date_mandate_and_creditor(
    client: TestClient, world: World, offers: object, database: Database
) -> None:
    """SEPA SDD rulebook: the debtor is pre-notified of the amount and date of each
    collection (14 calendar days ahead unless agreed). Putting the debit in a batch
    collecting on 2026-11-16 (14 days after 2026-11-02) writes the pre-notification to
    the billing contact: amount, date, mandate reference, creditor id BE51ZZZ0876543270,
    and the legal reference "14 calendar day(s) ahead"."""
    import datetime as dt

    from nuages.billing import sepa
    from tests.billing.factories import Funded, order
    from tests.billing.test_sepa_camt import STAFF, _debit, _mandate

    set_now(at("2026-11-02 09:00"))
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    f = Funded(client_id, owner, world.admin(), order(client, owner))
    _mandate(client, f)
    _debit(client, f, "100.00", "first-2026-11")
    with database.unit() as session:
        batch = sepa.write_batch(
            session,
            offers,
            STAFF,
            collection_date=dt.date(2026, 11, 16),  # type: ignore[arg-type]
        )
        assert batch is not None
    [notice] = _notices(database, "sepa_prenotification")
    assert notice.subject.startswith("Pré-notification de prélèvement SEPA : 100.00 EUR")
    assert "2026-11-16" in notice.subject and "BE51ZZZ0876543270" in notice.body
    assert "14 calendar day(s) ahead" in notice.legal_ref
