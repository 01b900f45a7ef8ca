"""One mandate model and one pain.008 builder (issue 15): the SEPA Core rulebook's
sequence types (FRST, RCUR, FNAL) and amendments (AT-24: a new mandate reference, a new
IBAN at the same bank, a new debtor bank) carried in the next collection, every file
valid against the pain.008.001.02 schema."""

from __future__ import annotations

import re
from pathlib import Path

import sepaxml
import xmlschema
from fastapi.testclient import TestClient
from lxml import etree
from schwifty import IBAN

from nuages.billing import sepa
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.kernel.db import Database
from nuages.payments import mandates
from nuages.payments.models import Mandate
from tests.billing.factories import Funded, funded
from tests.factories import World

PAIN_008 = Path(sepaxml.__file__).parent / "schemas" / "pain.008.001.02.xsd"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"}
STAFF = Actor.system("test")
MANDATE = {
    "iban": "BE68 5390 0754 7034",
    "bic": "GKCCBEBB",
    "holder_name": "Exemple SPRL",
    "signed_on": "2026-11-01",
}


def _mandate(client: TestClient, f: Funded, **change: str) -> dict[str, object]:
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/mandates",
        json=MANDATE | change,
        headers=f.owner.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def _collect(
    client: TestClient, database: Database, offers: OfferRegistry, f: Funded, ref: str
) -> etree._Element:
    """Ask for a 25.00 top-up by direct debit, write the batch; the file's transaction."""
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/direct-debits",
        json={"amount": "25.00", "currency": "EUR", "reference": ref},
        headers=f.owner.headers,
    )
    assert r.status_code == 201, r.text
    with database.unit() as session:
        batch = sepa.write_batch(session, offers, STAFF)
        assert batch is not None and batch.kind == "topup"
        xml = batch.xml
    xmlschema.XMLSchema(str(PAIN_008)).validate(xml)
    root = etree.fromstring(xml.encode())
    [tx] = root.findall(".//p:DrctDbtTxInf", NS)
    return tx


def _sequence(tx: etree._Element) -> str:
    # The sequence type sits on the payment information block holding the transaction.
    info = tx.getparent()
    assert info is not None
    return str(info.findtext("p:PmtTpInf/p:SeqTp", namespaces=NS))


def _mandate_row(database: Database, contract_id: str) -> Mandate:
    with database.unit() as session:
        rows = mandates.list_mandates(session, contract_id)
        session.expunge_all()
        return rows[0]


def test_sepa_rulebook_sequence_types_frst_rcur_fnal(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """SEPA Core rulebook: the first collection under a mandate is FRST, the next RCUR;
    a mandate being ended sends its last one as FNAL and is then ended (no more debit
    can be asked under it)."""
    f = funded(world, client)
    _mandate(client, f)
    assert _sequence(_collect(client, database, offers, f, "a")) == "FRST"
    assert _sequence(_collect(client, database, offers, f, "b")) == "RCUR"
    with database.unit() as session:
        mandates.end_after_next(session, STAFF, f.contract_id)
    assert _sequence(_collect(client, database, offers, f, "c")) == "FNAL"
    assert _mandate_row(database, f.contract_id).state == "ended"
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/direct-debits",
        json={"amount": "25.00", "currency": "EUR", "reference": "d"},
        headers=f.owner.headers,
    )
    assert r.status_code == 409 and "mandate" in r.json()["detail"], r.text


def test_sepa_rulebook_amendment_new_iban_same_bank(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """AT-24: the debtor's account changes within the same bank: the next collection
    carries AmdmntInd true and the original IBAN in OrgnlDbtrAcct, stays RCUR; the one
    after carries no amendment."""
    f = funded(world, client)
    _mandate(client, f)
    _collect(client, database, offers, f, "a")
    new_iban = str(IBAN.generate("BE", bank_code="539", account_code="0012345").compact)
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/mandates/amend",
        json=MANDATE | {"iban": new_iban},
        headers=f.owner.headers,
    )
    assert r.status_code == 200, r.text
    tx = _collect(client, database, offers, f, "b")
    info = "p:DrctDbtTx/p:MndtRltdInf"
    assert tx.findtext(f"{info}/p:AmdmntInd", namespaces=NS) == "true"
    assert (
        tx.findtext(f"{info}/p:AmdmntInfDtls/p:OrgnlDbtrAcct/p:Id/p:IBAN", namespaces=NS)
        == "BE68539007547034"
    )
    assert tx.findtext("p:DbtrAcct/p:Id/p:IBAN", namespaces=NS) == new_iban
    assert _sequence(tx) == "RCUR"
    after = _collect(client, database, offers, f, "c")
    assert after.find(f"{info}/p:AmdmntInd", NS) is None
    assert _mandate_row(database, f.contract_id).original_iban is None


def test_sepa_rulebook_amendment_new_debtor_bank_is_smnda_and_frst(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """AT-24: the debtor moved to another bank ("same mandate, new debtor agent"): the
    next collection says SMNDA in OrgnlDbtrAcct and goes as FRST (the new bank has never
    seen the mandate)."""
    f = funded(world, client)
    _mandate(client, f)
    _collect(client, database, offers, f, "a")
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/mandates/amend",
        json=MANDATE | {"iban": "FR7630006000011234567890189", "bic": "AGRIFRPPXXX"},
        headers=f.owner.headers,
    )
    assert r.status_code == 200, r.text
    tx = _collect(client, database, offers, f, "b")
    details = "p:DrctDbtTx/p:MndtRltdInf/p:AmdmntInfDtls"
    assert tx.findtext(f"{details}/p:OrgnlDbtrAcct/p:Id/p:Othr/p:Id", namespaces=NS) == "SMNDA"
    assert tx.findtext("p:DbtrAgt/p:FinInstnId/p:BIC", namespaces=NS) == "AGRIFRPPXXX"
    assert _sequence(tx) == "FRST"
    assert _sequence(_collect(client, database, offers, f, "c")) == "RCUR"


def test_sepa_rulebook_amendment_new_mandate_reference(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """AT-24: the mandate reference changes: the next collection names the new one in
    MndtId and the original in OrgnlMndtId. Before any collection an amendment tells
    the bank nothing (the FRST carries the new data)."""
    f = funded(world, client)
    _mandate(client, f)
    first = _mandate_row(database, f.contract_id)
    with database.unit() as session:
        live = mandates.active_mandate(session, f.contract_id)
        assert live is not None
        terms = mandates.Terms(
            iban=live.iban, bic=live.bic, holder_name=live.holder_name, signed_on=live.signed_on
        )
        mandates.amend(session, STAFF, live, terms)
        assert live.original_iban is None and live.original_bic is None  # unused: no amendment
    _collect(client, database, offers, f, "a")
    with database.unit() as session:
        live = mandates.active_mandate(session, f.contract_id)
        assert live is not None
        mandates.amend(
            session,
            STAFF,
            live,
            mandates.Terms(
                iban=live.iban,
                bic=live.bic,
                holder_name=live.holder_name,
                signed_on=live.signed_on,
                reference="NUAGES-RENUMBERED-1",
            ),
        )
    tx = _collect(client, database, offers, f, "b")
    info = "p:DrctDbtTx/p:MndtRltdInf"
    assert tx.findtext(f"{info}/p:MndtId", namespaces=NS) == "NUAGES-RENUMBERED-1"
    assert tx.findtext(f"{info}/p:AmdmntInfDtls/p:OrgnlMndtId", namespaces=NS) == first.reference


def test_bad_amendment_refused_and_nothing_changed(
    client: TestClient, world: World, database: Database
) -> None:
    """An amendment with an IBAN failing its checksum: 422 naming the field, the mandate
    as it was."""
    f = funded(world, client)
    _mandate(client, f)
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/mandates/amend",
        json=MANDATE | {"iban": "BE68 5390 0754 7035"},
        headers=f.owner.headers,
    )
    assert r.status_code == 422 and "iban" in r.json()["detail"], r.text
    row = _mandate_row(database, f.contract_id)
    assert (row.iban, row.original_iban, row.amended_at) == ("BE68539007547034", None, None)


def test_billing_and_invoicing_keep_no_mandate_nor_pain008_of_their_own() -> None:
    """Issue 15: one mandate model and one pain.008 builder, in payments/. Neither
    billing nor invoicing builds a SEPA file, checks an IBAN or holds a mandate or batch
    table of its own."""
    src = Path(__file__).resolve().parents[2] / "src" / "nuages"
    words = r"\b(SepaDD|sepaxml|schwifty|SepaMandate|SepaBatch|split_exportable)\b"
    tables = r"\"(sepa_mandates|sepa_batches|invoicing_sepa_batches)\""
    found = [
        f"{path.relative_to(src)}: {hit.group(0)}"
        for slice_ in ("billing", "invoicing")
        for path in (src / slice_).rglob("*.py")
        for hit in re.finditer(f"{words}|{tables}", path.read_text("utf-8"))
    ]
    assert found == []
