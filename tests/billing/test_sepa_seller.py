"""Issue #9.5: prepaid top-ups by direct debit (000 §13.2 "prélèvement émis par
IS.Star") are collected in the name of the offer's provider's seller, never the
built-in example identity."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select

from nuages.billing import sepa
from nuages.billing.models import DirectDebit
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.db import Database
from nuages.kernel.settings import Settings
from nuages.sellers.identity import SellerNotConfigured
from tests.billing.factories import Funded, order
from tests.billing.test_sepa_camt import PAIN, STAFF, _debit, _mandate
from tests.factories import World


def test_regression_prepaid_sepa_files_carry_the_example_creditor(
    client: TestClient, world: World, offers: OfferRegistry, database: Database, tmp_path: Path
) -> None:
    """isstar-cloud's provider IS.Star sprl has the Belgian test seller: the pain.008
    names it as creditor (name, IBAN, BIC, creditor id BE51ZZZ0876543270). With only the
    example identity, no file is made and the collection stays pending."""
    from nuages.accounts.roles import Role

    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    f = Funded(client_id, owner, world.admin(), order(client, owner))
    _mandate(client, f)
    _debit(client, f, "100.00", "first-2026-11")

    empty = tmp_path / "sellers"
    empty.mkdir()
    with database.unit() as session, pytest.raises(SellerNotConfigured, match=r"IS\.Star sprl"):
        sepa.write_batch(
            session, offers, STAFF, settings=Settings(database_url=database.url, sellers_dir=empty)
        )
    with database.unit() as session:
        [state] = session.execute(select(DirectDebit.state)).scalars()
        assert state == "pending"

    with database.unit() as session:
        batch = sepa.write_batch(session, offers, STAFF)
        assert batch is not None
        xml = batch.xml
    doc = etree.fromstring(xml.encode())
    assert doc.findtext(f".//{PAIN}Cdtr/{PAIN}Nm") == "Nuages Test Belgique SA"
    assert doc.findtext(f".//{PAIN}CdtrAcct/{PAIN}Id/{PAIN}IBAN") == "BE21001234567803"
    assert doc.findtext(f".//{PAIN}CdtrAgt/{PAIN}FinInstnId/{PAIN}BIC") == "GEBABEBB"
    assert doc.findtext(f".//{PAIN}CdtrSchmeId//{PAIN}Othr/{PAIN}Id") == "BE51ZZZ0876543270"
    assert "Exemple Cloud" not in xml and "FR72ZZZ123456" not in xml
