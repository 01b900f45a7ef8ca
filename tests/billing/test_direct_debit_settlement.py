"""Issue 17.7: a direct debit is money only once the bank books it (000 §13.2), its
amount is a plain decimal, and what one mandate or contract may draw is capped."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.principal import Principal
from nuages.accounts.roles import ROLE_SCOPES, Role
from nuages.billing import camt, ledger, schemas, sepa
from nuages.billing.models import DirectDebit, LedgerEntry
from nuages.billing.settings import BillingSettings
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.history.service import Actor
from nuages.kernel.db import Database
from nuages.kernel.errors import ValidationFailed
from tests.billing.factories import Funded, funded
from tests.factories import World

STAFF = Actor.system("test")
MANDATE = {
    "iban": "BE68 5390 0754 7034",
    "bic": "GKCCBEBB",
    "holder_name": "Exemple SPRL",
    "signed_on": "2026-11-01",
}


def _url(f: Funded, tail: str = "") -> str:
    return f"/api/v1/billing/contracts/{f.contract_id}/direct-debits{tail}"


def _mandate(client: TestClient, f: Funded) -> None:
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/mandates", json=MANDATE, headers=f.owner.headers
    )
    assert r.status_code == 201, r.text


def _request(client: TestClient, f: Funded, amount: Any, reference: str) -> Any:
    return client.post(
        _url(f),
        json={"amount": amount, "currency": "EUR", "reference": reference},
        headers=f.owner.headers,
    )


def _balance(database: Database, contract_id: str) -> Decimal:
    with database.unit() as session:
        return ledger.balance(session, contract_id)


def _count(database: Database, model: type, *where: Any) -> int:
    with database.unit() as session:
        stmt = select(func.count()).select_from(model)
        if where:
            stmt = stmt.where(*where)
        return int(session.execute(stmt).scalar_one())


def _batch(database: Database, offers: OfferRegistry) -> None:
    with database.unit() as session:
        assert sepa.write_batch(session, offers, STAFF) is not None


def _statement(entries: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt><GrpHdr><MsgId>STMT-DD</MsgId><CreDtTm>2026-12-04T06:00:00</CreDtTm></GrpHdr>
    <Stmt><Id>S1</Id><CreDtTm>2026-12-04T06:00:00</CreDtTm>
      <Acct><Id><IBAN>BE68539007547034</IBAN></Id></Acct>
      {entries}
    </Stmt>
  </BkToCstmrStmt>
</Document>""".encode()


def _credit(amount: str, bank_ref: str, *end_to_end: str) -> str:
    details = "".join(
        f"<TxDtls><Refs><EndToEndId>{e}</EndToEndId></Refs></TxDtls>" for e in end_to_end
    )
    return (
        f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
        f"<BookgDt><Dt>2026-12-04</Dt></BookgDt><AcctSvcrRef>{bank_ref}</AcctSvcrRef>"
        f"<NtryDtls>{details}</NtryDtls></Ntry>"
    )


def test_regression_client_credits_itself_a_billion_euros(
    client: TestClient, world: World, offers: OfferRegistry, database: Database
) -> None:
    """17.7, 000 §13.2 (the account is credited by "prélèvement émis par IS.Star": with
    money received). An owner's {"amount": "1e9"} is a 422 (no exponent), so is the JSON
    number 1e9; a well-formed 1,000,000,000.00 is above the mandate's cap (2,000.00 by
    default): 422. A legitimate 150.00 goes out in a batch and the balance stays at the
    100.00 of the funding transfer until the collection is settled; then 250.00, once."""
    f = funded(world, client)
    _mandate(client, f)
    for amount in ("1e9", 1e9, "1E9", "1_000", "１２", "+5", "12.5e1", "NaN", "Infinity", 12.5):
        r = _request(client, f, amount, "huge")
        assert r.status_code == 422, (amount, r.text)
        assert "amount" in r.text
    r = _request(client, f, "1000000000.00", "huge")
    assert r.status_code == 422 and "cap" in r.text, r.text
    assert _count(database, DirectDebit) == 0

    r = _request(client, f, "150.00", "ok")
    assert r.status_code == 201 and r.json()["state"] == "pending", r.text
    debit = r.json()
    _batch(database, offers)
    listed = client.get(_url(f), headers=f.owner.headers).json()["items"][0]
    assert listed["state"] == "in_batch" and listed["settled_at"] is None
    assert _balance(database, f.contract_id) == Decimal("100.00")  # not credited at once
    assert _count(database, LedgerEntry, LedgerEntry.kind == "topup") == 1

    body = {"end_to_end_id": debit["end_to_end_id"]}
    r = client.post(_url(f, "/settlements"), json=body, headers=f.owner.headers)
    assert r.status_code == 403  # the client cannot settle its own debit
    for _ in range(2):  # the second report of the same settlement writes nothing
        r = client.post(_url(f, "/settlements"), json=body, headers=f.admin.headers)
        assert r.status_code == 200 and r.json()["state"] == "settled", r.text
    assert _balance(database, f.contract_id) == Decimal("250.00")
    assert _count(database, LedgerEntry, LedgerEntry.kind == "topup") == 2
    assert _count(database, HistoryEntry, HistoryEntry.action == "billing.direct_debit.settle") == 1


def test_regression_direct_debit_returned_before_settlement_is_never_credited(
    client: TestClient, world: World, offers: OfferRegistry, database: Database
) -> None:
    """17.7, 000 §13.2: a collection returned (AM04) while in its batch was never money:
    it is marked returned, no top-up and no reversal are written, the balance is the
    100.00 it was; it can no longer be settled (409)."""
    f = funded(world, client)
    _mandate(client, f)
    debit = _request(client, f, "300.00", "r1").json()
    _batch(database, offers)
    r = client.post(
        _url(f, "/returns"),
        json={"end_to_end_id": debit["end_to_end_id"], "reason": "AM04"},
        headers=f.admin.headers,
    )
    assert r.status_code == 200 and r.json()["state"] == "returned", r.text
    assert _balance(database, f.contract_id) == Decimal("100.00")
    assert _count(database, LedgerEntry) == 1  # the funding transfer only
    r = client.post(
        _url(f, "/settlements"),
        json={"end_to_end_id": debit["end_to_end_id"]},
        headers=f.admin.headers,
    )
    assert r.status_code == 409


def test_regression_statement_settles_direct_debits_once_and_only_when_amounts_agree(
    client: TestClient, world: World, offers: OfferRegistry, database: Database
) -> None:
    """17.7: the bank statement books a batch of two collections (40.00 + 60.00) as one
    credit of 100.00 naming both end-to-end ids: both are settled and credited (balance
    100 + 100 = 200.00); a booking of 99.00 naming a collection of 50.00 is unmatched
    and credits nothing; importing the statement again settles nothing twice."""
    f = funded(world, client)
    _mandate(client, f)
    a = _request(client, f, "40.00", "a").json()["end_to_end_id"]
    b = _request(client, f, "60.00", "b").json()["end_to_end_id"]
    c = _request(client, f, "50.00", "c").json()["end_to_end_id"]
    _batch(database, offers)
    data = _statement(_credit("100.00", "BK-1", a, b) + _credit("99.00", "BK-2", c))
    report = camt.import_statement(database.unit, offers, data, STAFF)
    assert len(report.settled) == 1 and len(report.unmatched) == 1, report
    assert "the collections are 50" in report.unmatched[0]
    assert _balance(database, f.contract_id) == Decimal("200.00")
    again = camt.import_statement(database.unit, offers, data, STAFF)
    assert again.settled == [] and len(again.duplicates) == 1
    assert _balance(database, f.contract_id) == Decimal("200.00")
    with database.unit() as session:
        states = dict(session.execute(select(DirectDebit.end_to_end_id, DirectDebit.state)).all())
    assert states == {a: "settled", b: "settled", c: "in_batch"}


def test_regression_direct_debits_capped_per_mandate_and_per_contract(
    client: TestClient, world: World, offers: OfferRegistry, database: Database
) -> None:
    """17.7: with caps of 500.00 per mandate and 800.00 per contract over 30 days,
    300 + 200 fit the mandate, one more cent does not (422, nothing written); a new
    mandate (the first revoked) starts its own 500.00 but the contract's 800.00 counts
    the first mandate's 500 (which stay counted once settled): 300 fits, 300.01 not.
    A returned collection stops counting."""
    caps = BillingSettings(direct_debit_mandate_cap="500.00", direct_debit_contract_cap="800.00")
    f = funded(world, client)
    _mandate(client, f)

    def ask(amount: str, reference: str) -> DirectDebit:
        data = schemas.DirectDebitCreate(amount=Decimal(amount), reference=reference)
        with database.unit() as session:
            principal = Principal(
                user_id=f.owner.user_id,
                email="owner@example.com",
                role=Role.CLIENT_OWNER,
                client_id=f.client_id,
                scopes=ROLE_SCOPES[Role.CLIENT_OWNER],
            )
            debit, _ = sepa.request_debit(session, principal, offers, f.contract_id, data, caps)
            return debit

    ask("300.00", "m1")
    ask("200.00", "m2")
    with pytest.raises(ValidationFailed, match=r"above its cap of 500\.00"):
        ask("0.01", "m3")
    _batch(database, offers)
    with database.unit() as session:
        for e2e in session.execute(select(DirectDebit.end_to_end_id)).scalars().all():
            sepa.settle(session, STAFF, offers, e2e)
    r = client.post(
        f"/api/v1/billing/contracts/{f.contract_id}/mandates/revoke", headers=f.owner.headers
    )
    assert r.status_code == 200
    _mandate(client, f)
    with pytest.raises(ValidationFailed, match=r"contract's direct debits .* cap of 800\.00"):
        ask("300.01", "n1")
    last = ask("300.00", "n2")
    assert _count(database, DirectDebit) == 3
    _batch(database, offers)
    with database.unit() as session:
        sepa.record_return(session, STAFF, offers, last.end_to_end_id, "AM04")
    ask("300.00", "n3")  # the returned 300 no longer counts
