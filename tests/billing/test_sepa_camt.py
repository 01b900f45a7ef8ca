"""Top-ups by SEPA direct debit and by bank statement (000 §13.2: the account is credited
by transfer or by a direct debit the provider issues)."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import func, select

from nuages.billing import camt, ledger, sepa
from nuages.billing.models import DirectDebit, LedgerEntry
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.kernel.db import Database
from nuages.payments.models import DirectDebitBatch as SepaBatch
from nuages.payments.models import Mandate as SepaMandate
from tests.billing.factories import Funded, funded, order, transfer
from tests.factories import Actor as User
from tests.factories import World

DATA = Path(__file__).parent / "data"
STATEMENT = DATA / "camt053_belfius_2026-11-20.xml"
MANDATE = {
    "iban": "BE68 5390 0754 7034",
    "bic": "GKCCBEBB",
    "holder_name": "Exemple SPRL",
    "signed_on": "2026-11-01",
}
PAIN = "{urn:iso:std:iso:20022:tech:xsd:pain.008.001.02}"
STAFF = Actor.system("test")


def _count(database: Database, model: type) -> int:
    with database.unit() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _mandate(client: TestClient, f: Funded) -> dict[str, object]:
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/mandates", json=MANDATE, headers=f.owner.headers
    )
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def _debit(client: TestClient, f: Funded, amount: str, reference: str) -> dict[str, object]:
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/direct-debits",
        json={"amount": amount, "currency": "EUR", "reference": reference},
        headers=f.owner.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def _settle(client: TestClient, admin: User, contract_id: str, end_to_end_id: str) -> None:
    r = client.post(
        f"/api/v1/billing/contracts/{contract_id}/direct-debits/settlements",
        json={"end_to_end_id": end_to_end_id},
        headers=admin.headers,
    )
    assert r.status_code == 200 and r.json()["state"] == "settled", r.text


def _batch(database: Database, offers: OfferRegistry) -> SepaBatch | None:
    with database.unit() as session:
        return sepa.write_batch(session, offers, STAFF)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"iban": "BE68 5390 0754 7035"}, "not a valid IBAN"),
        ({"iban": "XX00 1234"}, "iban"),
        ({"iban": "US64 SVBK US6S 3300 9673 8637"}, "iban"),
        ({"bic": "GKCC"}, "bic"),
        ({"bic": "GKCCBEB!"}, "bic"),
        ({"signed_on": "2999-01-01"}, "future"),
        ({"holder_name": ""}, "holder_name"),
    ],
)
def test_bad_mandate_refused_and_nothing_written(
    client: TestClient, world: World, change: dict[str, str], words: str
) -> None:
    """An IBAN failing its checksum or format, a BIC that is none, a mandate signed in the
    future: 422, no mandate row."""
    f = funded(world, client)
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/mandates",
        json=MANDATE | change,
        headers=f.owner.headers,
    )
    assert r.status_code == 422, r.text
    assert words in r.text
    assert _count(world.database, SepaMandate) == 0


def test_mandate_checked_masked_and_unique(client: TestClient, world: World) -> None:
    """The IBAN is stored compact and shown masked; the BIC is derived when left out; a
    second active mandate is a 409 until the first is revoked; a member sees nothing."""
    f = funded(world, client)
    body = MANDATE.copy()
    body.pop("bic")
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/mandates", json=body, headers=f.owner.headers
    )
    if r.status_code == 422:  # this IBAN's bank code may not be in schwifty's registry
        assert "bic" in r.text
        mandate = _mandate(client, f)
    else:
        assert r.status_code == 201, r.text
        mandate = r.json()
    assert mandate["iban_masked"] == "BE68********7034"
    assert "53900754" not in str(mandate)  # the hidden digits, long enough not to be in an id
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/mandates", json=MANDATE, headers=f.owner.headers
    )
    assert r.status_code == 409
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/mandates/revoke", headers=f.owner.headers
    )
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    assert _mandate(client, f)["state"] == "active"
    from nuages.accounts.roles import Role

    member = world.user(Role.CLIENT_MEMBER, f.client_id)
    r = client.get(f"/api/v1/billing/contracts/{f.contract_id}/mandates", headers=member.headers)
    assert r.status_code == 403


def test_direct_debit_forms_the_contract_then_a_return_reverses_it(
    client: TestClient, world: World, offers: OfferRegistry, database: Database
) -> None:
    """000 §3.1, §13.2: a pending contract funded by a 100.00 direct debit is formed when
    the collection is settled, not when the pain.008 batch (FRST, schema-valid) goes
    out; the next collection is RCUR; a settled collection returned (AM04) is reversed
    by a new entry, once."""
    from nuages.accounts.roles import Role

    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    admin = world.admin()
    contract_id = order(client, owner)
    f = Funded(client_id, owner, admin, contract_id)
    _mandate(client, f)
    first = _debit(client, f, "100.00", "first-2026-11")
    again = _debit(client, f, "100.00", "first-2026-11")
    assert again["id"] == first["id"]  # the same request, written once
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/direct-debits",
        json={"amount": "5.00", "currency": "EUR", "reference": "first-2026-11"},
        headers=f.owner.headers,
    )
    assert r.status_code == 409
    batch = _batch(database, offers)
    assert batch is not None and batch.transactions == 1 and batch.total == Decimal("100")
    doc = etree.fromstring(batch.xml.encode())
    assert doc.findtext(f".//{PAIN}SeqTp") == "FRST"
    assert doc.findtext(f".//{PAIN}EndToEndId") == first["end_to_end_id"]
    assert doc.findtext(f".//{PAIN}InstdAmt") == "100.00"
    with database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None and contract.state == "pending"  # not money yet
        assert ledger.balance(session, contract_id) == Decimal("0")
    _settle(client, admin, contract_id, str(first["end_to_end_id"]))
    with database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None and contract.state == "active"
        assert ledger.balance(session, contract_id) == Decimal("100")
    assert _batch(database, offers) is None  # nothing waiting any more
    second = _debit(client, f, "30.00", "second")
    batch = _batch(database, offers)
    assert batch is not None
    assert etree.fromstring(batch.xml.encode()).findtext(f".//{PAIN}SeqTp") == "RCUR"
    _settle(client, admin, contract_id, str(second["end_to_end_id"]))

    url = f"/api/v1/billing/contracts/{contract_id}/direct-debits/returns"
    ret = {"end_to_end_id": second["end_to_end_id"], "reason": "AM04"}
    assert client.post(url, json=ret, headers=owner.headers).status_code == 403
    r = client.post(url, json=ret, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "returned" and r.json()["return_reason"] == "AM04"
    assert client.post(url, json=ret, headers=admin.headers).status_code == 200
    with database.unit() as session:
        assert ledger.balance(session, contract_id) == Decimal("100")
        reversal = session.execute(
            select(LedgerEntry).where(LedgerEntry.kind == "reversal")
        ).scalar_one()
        assert reversal.amount == Decimal("-30") and reversal.corrects_seq is not None
    r = client.post(
        url, json={"end_to_end_id": "NUANOSUCHDEBIT", "reason": "AM04"}, headers=admin.headers
    )
    assert r.status_code == 404


def test_bad_direct_debit_refused(client: TestClient, world: World) -> None:
    """No mandate: 409; zero amount or another currency: 422; nothing written."""
    f = funded(world, client)
    url = f"/api/v1/billing/contracts/{f.contract_id}/direct-debits"
    body = {"amount": "10.00", "currency": "EUR", "reference": "x1"}
    assert client.post(url, json=body, headers=f.owner.headers).status_code == 409
    _mandate(client, f)
    for change in ({"amount": "0"}, {"amount": "-1"}, {"currency": "GBP"}, {"reference": "a b"}):
        r = client.post(url, json=body | change, headers=f.owner.headers)
        assert r.status_code == 422, (change, r.text)
    assert _count(world.database, DirectDebit) == 0


def _statement(reference: str, end_to_end: str) -> bytes:
    text = STATEMENT.read_text("utf-8")
    text = text.replace("RF18539007547034", reference).replace("rf18 5390 0754 7034", reference)
    return text.replace("NUAEXAMPLE0000000000000", end_to_end).encode()


def test_camt053_reconciles_transfers_and_returns_once(
    client: TestClient, world: World, offers: OfferRegistry, database: Database
) -> None:
    """The sample statement: 150.00 (structured RF reference) and 25.50 (reference typed
    in free text) are credited; the returned 200.00 collection (AM04) is reversed; an
    unknown reference, a transfer without reference, the bank's fee and a pending entry
    are reported unmatched. Balance: 100 + 200 (debit) + 150 + 25.50 − 200 = 275.50.
    Importing the statement again changes nothing."""
    f = funded(world, client)
    account = client.get(
        f"/api/v1/billing/contracts/{f.contract_id}/account", headers=f.owner.headers
    ).json()
    _mandate(client, f)
    debit = _debit(client, f, "200.00", "dd-1")
    assert _batch(database, offers) is not None
    data = _statement(account["payment_reference"], str(debit["end_to_end_id"]))
    report = camt.import_statement(database.unit, offers, data, STAFF)
    assert len(report.credited) == 2
    assert len(report.returns) == 1
    assert len(report.unmatched) == 4, report.unmatched
    assert any("no account has the reference" in u for u in report.unmatched)
    assert any("not booked" in u for u in report.unmatched)
    with database.unit() as session:
        assert ledger.balance(session, f.contract_id) == Decimal("275.50")
    entries = _count(database, LedgerEntry)
    again = camt.import_statement(database.unit, offers, data, STAFF)
    assert again.credited == [] and again.returns == []
    assert len(again.duplicates) == 3
    assert _count(database, LedgerEntry) == entries


def test_transfer_recorded_by_hand_is_not_credited_again_by_the_statement(
    client: TestClient, world: World, offers: OfferRegistry, database: Database
) -> None:
    """Staff recorded the 150.00 transfer by its bank reference before the statement
    came: the import sees the same key and reports a duplicate."""
    f = funded(world, client)
    ref = client.get(
        f"/api/v1/billing/contracts/{f.contract_id}/account", headers=f.owner.headers
    ).json()["payment_reference"]
    assert transfer(client, f.admin, f.contract_id, "150.00", "2026111900981243").status_code == 201
    report = camt.import_statement(database.unit, offers, _statement(ref, "NUAX"), STAFF)
    assert len(report.credited) == 1  # the 25.50 only
    assert any("already credited" in d for d in report.duplicates)
    with database.unit() as session:
        assert ledger.balance(session, f.contract_id) == Decimal("275.50")


@pytest.mark.parametrize(
    "data",
    [
        b"not xml",
        b"<Document><Other/></Document>",
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<Document><BkToCstmrStmt><Stmt><Ntry><Amt Ccy='EUR'>&x;</Amt></Ntry></Stmt>"
        b"</BkToCstmrStmt></Document>",
    ],
)
def test_bad_statement_refused(data: bytes) -> None:
    """Not XML, not a CAMT.053, or an external entity: refused, nothing read from disk."""
    from nuages.kernel.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        camt.parse(data)


def test_cli_import_statement_and_sepa_batch(
    client: TestClient, world: World, database: Database, tmp_path: Path
) -> None:
    """``nuages billing sepa-batch`` writes a pain.008 file (nothing credited yet);
    ``nuages billing import-statement`` reconciles the sample statement;
    ``nuages billing settle-debit`` credits the collection, once."""
    f = funded(world, client)
    ref = client.get(
        f"/api/v1/billing/contracts/{f.contract_id}/account", headers=f.owner.headers
    ).json()["payment_reference"]
    _mandate(client, f)
    _debit(client, f, "200.00", "cli")
    env = os.environ | {
        "NUAGES_DATABASE_URL": database.url,
        "NUAGES_DATA_DIR": str(tmp_path / "data"),
        "NUAGES_OFFERS_DIR": str(Path(__file__).resolve().parents[2] / "offers"),
    }
    out = tmp_path / "pain.xml"
    run = subprocess.run(
        [sys.executable, "-m", "nuages", "billing", "sepa-batch", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "1 collection(s), 200.000000 EUR" in run.stdout or "1 collection(s)" in run.stdout
    assert (
        etree.parse(str(out)).getroot().tag
        == "{urn:iso:std:iso:20022:tech:xsd:pain.008.001.02}Document"
    )
    statement = tmp_path / "statement.xml"
    statement.write_bytes(_statement(ref, "NUAX"))
    run = subprocess.run(
        [sys.executable, "-m", "nuages", "billing", "import-statement", str(statement)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "2 credited" in run.stdout
    with database.unit() as session:
        assert ledger.balance(session, f.contract_id) == Decimal("275.50")
        e2e = session.execute(select(DirectDebit.end_to_end_id)).scalar_one()
    for expected in ("200.000000 EUR credited", "already settled"):
        run = subprocess.run(
            [sys.executable, "-m", "nuages", "billing", "settle-debit", e2e],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0 and expected in run.stdout, run.stdout + run.stderr
    with database.unit() as session:
        assert ledger.balance(session, f.contract_id) == Decimal("475.50")
