"""001 §7 partial recovery while the contract runs ("en cours d'exécution de la
Convention … à tout moment une Option de réversibilité partielle"): EUR 250 per
transfer, only once every open invoice is paid; the copy is a real qcow2 export with
its SHA-256 and an expiring link."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

from sqlalchemy import func, select

from nuages.accounts.roles import Role
from nuages.history.service import Actor
from nuages.invoicing import payments
from nuages.invoicing import schemas as invoicing_schemas
from nuages.invoicing.models import Invoice, PendingCharge
from nuages.kernel.clock import set_now
from nuages.reversibility.models import PartialRecovery
from tests.invoicing.factories import Billing, run_at
from tests.reversibility.conftest import Ex

UTC = dt.UTC


def _charges(ex: Ex) -> list[tuple[str, Decimal]]:
    with ex.database.unit() as session:
        return sorted(
            (c.idempotency_key, c.amount)
            for c in session.execute(
                select(PendingCharge).where(PendingCharge.kind == "reversibility")
            ).scalars()
        )


def _rows(ex: Ex) -> int:
    with ex.database.unit() as session:
        return int(session.scalar(select(func.count()).select_from(PartialRecovery)) or 0)


def _ask(ex: Ex, vm_ids: list[str], who: object = None) -> object:
    return ex.http.post(
        f"/api/v1/contracts/{ex.contract_id}/partial-recoveries",
        json={"vm_ids": vm_ids},
        headers=(who or ex.owner).headers,  # type: ignore[attr-defined]
    )


def test_001_s7_partial_recovery_during_the_contract_250_per_transfer_once_paid(
    ex: Ex,
) -> None:
    """A running cloudbizz contract with its March invoice unpaid: a partial recovery is
    refused (402 naming 001 §7 and the invoice), nothing written; a member is refused
    (403, 000 §1). Once paid, a copy of one VM is one transfer at EUR 250, another of the
    second VM transfer 2: two charges of 250.00 for the next invoice, each once; the
    copies are qcow2 files whose SHA-256 is the one shown."""
    billing = Billing(ex.database, ex.cw.offers)
    contract_id = billing.contract(
        "cloudbizz", ex.owner_client, dt.datetime(2026, 2, 28, 23, tzinfo=UTC)
    )
    billing.line(contract_id, "desktop-std", dt.date(2026, 3, 1))
    [issued] = run_at(ex.database, ex.cw.offers, dt.datetime(2026, 3, 1, 6, tzinfo=UTC)).issued
    set_now(dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
    ex.setup("cloudbizz", contract_id=contract_id)
    set_now(dt.datetime(2026, 4, 2, 9, tzinfo=UTC))
    r = _ask(ex, [ex.vm_ids[0]])
    assert r.status_code == 402, r.text  # type: ignore[attr-defined]
    assert "001 §7" in r.json()["detail"] and r.json()["unpaid"] == [issued["number"]]  # type: ignore[attr-defined]
    member = ex.cw.world.user(Role.CLIENT_MEMBER, ex.owner_client)
    assert _ask(ex, [ex.vm_ids[0]], member).status_code == 403  # type: ignore[attr-defined]
    assert _rows(ex) == 0 and _charges(ex) == []
    with ex.database.unit() as session:
        invoice = session.get(Invoice, issued["invoice_id"])
        assert invoice is not None
        payments.record(
            session, Actor.system("t"), ex.cw.offers,
            invoicing_schemas.PaymentCreate(
                client_id=ex.owner_client, means="transfer", amount=invoice.grand_total,
                received_on=dt.date(2026, 4, 2), idempotency_key="pay-march",
            ),
        )  # fmt: skip
    r = _ask(ex, [ex.vm_ids[0]])
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    [first] = r.json()  # type: ignore[attr-defined]
    assert (first["kind"], first["transfer"], first["fee"]) == ("partial", 1, "250.00")
    ex.run_queued()
    r = _ask(ex, [ex.vm_ids[1]])
    assert r.status_code == 202 and r.json()[0]["transfer"] == 2  # type: ignore[attr-defined]
    ex.run_queued()
    listed = ex.http.get(f"/api/v1/contracts/{ex.contract_id}/partial-recoveries",
                         headers=ex.owner.headers).json()  # fmt: skip
    assert [(d["vm_id"], d["transfer"], d["state"]) for d in listed] == [
        (ex.vm_ids[0], 1, "ready"), (ex.vm_ids[1], 2, "ready"),
    ]  # fmt: skip
    for d in listed:
        body = ex.http.get(d["download"], headers=ex.owner.headers)
        assert body.status_code == 200
        assert hashlib.sha256(body.content).hexdigest() == d["sha256"]
        assert body.content[:4] == b"QFI\xfb"  # a qcow2 file
    assert [a for _k, a in _charges(ex)] == [Decimal("250.00"), Decimal("250.00")]
    r = ex.http.get(f"/api/v1/contracts/{ex.contract_id}", headers=ex.owner.headers)
    assert r.json()["state"] == "active"


def test_001_s7_partial_recovery_only_where_the_offer_gives_it(ex: Ex) -> None:
    """isstar-cloud (000) states no partial recovery during the contract: 409, nothing
    written."""
    set_now(dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
    ex.setup("isstar-cloud", vms=1)
    r = _ask(ex, [ex.vm_ids[0]])
    assert r.status_code == 409, r.text  # type: ignore[attr-defined]
    assert _rows(ex) == 0
