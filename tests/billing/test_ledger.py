"""The ledger and top-ups: formation on the Minimum Amount (000 §3.1, §13.2), bank
transfers written once, staff movements with reasons, database-enforced immutability,
and balances that equal the sum of entries under concurrency."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from nuages.accounts.roles import Role
from nuages.billing import ledger
from nuages.billing.models import BillingAccount, EntryKind, LedgerEntry
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.models import HistoryEntry
from nuages.kernel.db import Database
from tests.billing.factories import funded, order, transfer
from tests.compute.world import CLI
from tests.factories import World


def _entries(database: Database, contract_id: str | None = None) -> int:
    with database.unit() as session:
        stmt = select(func.count()).select_from(LedgerEntry)
        if contract_id is not None:
            stmt = stmt.where(LedgerEntry.contract_id == contract_id)
        return int(session.execute(stmt).scalar_one())


def test_000_s3_1_contract_forms_once_minimum_amount_credited(
    client: TestClient, world: World
) -> None:
    """000 §3.1, §13.2: the contract is formed when the Minimum Amount (isstar-cloud:
    100.00 EUR) is paid onto the account: 60.00 leaves it pending, 60 + 40 = 100.00
    forms it, and only then may VMs be provisioned."""
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    admin = world.admin()
    contract_id = order(client, owner)
    r = transfer(client, admin, contract_id, "60.00", "BANK-1")
    assert r.status_code == 201, r.text
    assert Decimal(r.json()["amount"]) == Decimal("60")
    account = client.get(f"/api/v1/billing/contracts/{contract_id}/account", headers=owner.headers)
    assert account.status_code == 200, account.text
    assert account.json()["contract_state"] == "pending"
    assert Decimal(account.json()["balance"]) == Decimal("60")
    assert Decimal(account.json()["minimum_amount"]) == Decimal("100.00")
    assert account.json()["payment_reference"].startswith("RF")
    r = transfer(client, admin, contract_id, "40.00", "BANK-2")
    assert r.status_code == 201, r.text
    contract = client.get(f"/api/v1/contracts/{contract_id}", headers=owner.headers).json()
    assert contract["state"] == "active"
    assert contract["activated_at"] is not None
    with world.database.unit() as session:
        actions = session.execute(
            select(HistoryEntry.action).where(HistoryEntry.object_id == contract_id)
        ).scalars()
        assert {"billing.topup", "contract.active"} <= set(actions)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"amount": "0.00"}, 422, "amount"),
        ({"amount": "-5.00"}, 422, "amount"),
        ({"amount": "10.001"}, 422, "amount"),
        ({"currency": "USD"}, 422, "EUR, not USD"),
        ({"currency": "eur"}, 422, "currency"),
        ({"reference": "x" * 36}, 422, "reference"),
        ({"reference": "<script>"}, 422, "reference"),
        ({"surprise": 1}, 422, "surprise"),
    ],
)
def test_bad_transfer_refused_and_nothing_written(
    client: TestClient, world: World, body: dict[str, object], status: int, words: str
) -> None:
    """Zero, negative, sub-cent, wrong currency, bad reference: 4xx, no entry, no account
    movement."""
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    admin = world.admin()
    contract_id = order(client, owner)
    good = {"amount": "10.00", "currency": "EUR", "reference": "BANK-OK"}
    r = client.post(
        f"/api/v1/billing/contracts/{contract_id}/transfers",
        json=good | body,
        headers=admin.headers,
    )
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert words in r.text
    assert _entries(world.database) == 0


def test_duplicate_bank_reference_is_a_conflict(client: TestClient, world: World) -> None:
    """A bank reference is credited once: the second recording (even written with other
    spacing or case) is a 409 and writes nothing."""
    f = funded(world, client)
    assert transfer(client, f.admin, f.contract_id, "25.00", "BANK 77 A").status_code == 201
    before = _entries(world.database)
    r = transfer(client, f.admin, f.contract_id, "25.00", "bank77a")
    assert r.status_code == 409, r.text
    assert "already credited" in r.json()["detail"]
    assert _entries(world.database) == before


def test_invoiced_contract_has_no_prepaid_account(client: TestClient, world: World) -> None:
    """001 is invoiced: transfers to a prepaid account are refused, nothing is created."""
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    admin = world.admin()
    contract_id = order(client, owner, "cloudbizz")
    r = transfer(client, admin, contract_id, "10.00")
    assert r.status_code == 409, r.text
    with world.database.unit() as session:
        assert session.get(BillingAccount, contract_id) is None


def test_only_staff_record_transfers_and_members_see_no_money(
    client: TestClient, world: World
) -> None:
    """An owner cannot credit itself (403); a member gets 403 on the account (000 §5);
    another client's owner gets 404."""
    f = funded(world, client)
    r = transfer(client, f.owner, f.contract_id, "10.00")
    assert r.status_code == 403
    member = world.user(Role.CLIENT_MEMBER, f.client_id)
    url = f"/api/v1/billing/contracts/{f.contract_id}/account"
    assert client.get(url, headers=member.headers).status_code == 403
    other = world.user(Role.CLIENT_OWNER, world.client("Other"))
    assert client.get(url, headers=other.headers).status_code == 404
    assert client.get(url, headers=f.owner.headers).status_code == 200


def test_staff_adjustments_carry_a_reason_and_are_idempotent(
    client: TestClient, world: World
) -> None:
    """A correction is a new entry with its reason in the history; the same key returns
    the same entry; the same key for another amount is a 409; a refund never exceeds
    the credit balance (000 §13.2)."""
    f = funded(world, client, "150.00")
    url = f"/api/v1/billing/contracts/{f.contract_id}/adjustments"
    body = {
        "kind": "adjustment",
        "amount": "-12.345678",
        "reason": "double top-up",
        "idempotency_key": "fix-1",
    }
    first = client.post(url, json=body, headers=f.admin.headers)
    assert first.status_code == 201, first.text
    again = client.post(url, json=body, headers=f.admin.headers)
    assert again.status_code == 201
    assert again.json()["seq"] == first.json()["seq"]
    r = client.post(url, json=body | {"amount": "-1.00"}, headers=f.admin.headers)
    assert r.status_code == 409
    r = client.post(
        url, json={"kind": "refund", "amount": "500.00", "reason": "end"}, headers=f.admin.headers
    )
    assert r.status_code == 409
    r = client.post(
        url, json={"kind": "credit", "amount": "-3", "reason": "sla"}, headers=f.admin.headers
    )
    assert r.status_code == 422
    r = client.post(
        url, json={"kind": "adjustment", "amount": "0", "reason": "noop"}, headers=f.admin.headers
    )
    assert r.status_code == 422
    r = client.post(
        url, json={"kind": "fee", "amount": "2.5", "reason": "x"}, headers=f.admin.headers
    )
    assert r.status_code == 422  # a reason has at least 3 characters
    account = client.get(
        f"/api/v1/billing/contracts/{f.contract_id}/account", headers=f.owner.headers
    ).json()
    assert Decimal(account["balance"]) == Decimal("150") - Decimal("12.345678")
    with world.database.unit() as session:
        entry = session.execute(
            select(HistoryEntry).where(HistoryEntry.action == "billing.adjustment")
        ).scalar_one()
        assert "double top-up" in entry.params
    entries = client.get(
        f"/api/v1/billing/contracts/{f.contract_id}/entries?kind=adjustment",
        headers=f.owner.headers,
    ).json()
    assert entries["total"] == 1


def test_entries_are_append_only_in_the_database(
    client: TestClient, world: World, database: Database
) -> None:
    """UPDATE and DELETE on ledger entries fail in the database itself (triggers), on
    both backends: corrections can only be new entries."""
    f = funded(world, client)
    for statement in (
        "UPDATE ledger_entries SET amount = 1000",
        "DELETE FROM ledger_entries",
    ):
        with pytest.raises(Exception, match="append-only"):
            with database.engine.begin() as conn:
                conn.execute(text(statement))
    with database.unit() as session:
        assert ledger.balance(session, f.contract_id) == Decimal("100")
        assert ledger.sum_of_entries(session, f.contract_id) == Decimal("100")


def test_database_refuses_a_wrongly_signed_entry(
    client: TestClient, world: World, database: Database
) -> None:
    """The amount's sign follows the kind, checked by the database too."""
    f = funded(world, client)
    with pytest.raises(Exception, match=r"(?i)check|constraint"):
        with database.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO ledger_entries (contract_id, client_id, kind, amount, currency,"
                    " at, recorded_at, idempotency_key, reference, description)"
                    " VALUES (:c, :k, 'usage', 5, 'EUR', :t, :t, 'bad', '', '')"
                ),
                {"c": f.contract_id, "k": f.client_id, "t": "2026-01-01 00:00:00"},
            )


def test_fifty_concurrent_movements_lose_no_write(
    client: TestClient, world: World, database: Database, offers: OfferRegistry
) -> None:
    """50 threads at once on one account through the services (each with its history
    entry): 25 transfers of 10.00 and 25 fees of 3.333333. 50 new entries, no lost
    write: balance = 100 + 250 − 83.333325 = 266.666675 = sum of the entries."""
    from nuages.billing import schemas, topups

    f = funded(world, client)
    staff = CLI
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def move(i: int) -> None:
        try:
            barrier.wait()
            with database.unit() as session:
                if i % 2:
                    topups.record_transfer(
                        session,
                        staff,
                        offers,
                        f.contract_id,
                        schemas.TransferCreate(amount=Decimal("10.00"), reference=f"CONC-{i}"),
                    )
                else:
                    topups.adjust(
                        session,
                        staff,
                        offers,
                        f.contract_id,
                        schemas.AdjustmentCreate(
                            kind="fee", amount=Decimal("3.333333"), reason=f"concurrent {i}"
                        ),
                    )
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with database.unit() as session:
        assert _entries(database, f.contract_id) == 51
        expected = Decimal("100") + 25 * Decimal("10") - 25 * Decimal("3.333333")
        assert ledger.balance(session, f.contract_id) == expected
        assert ledger.sum_of_entries(session, f.contract_id) == expected
        assert ledger.verify(session) == []
        moves = session.execute(
            select(func.count())
            .select_from(HistoryEntry)
            .where(HistoryEntry.action.in_(["billing.topup", "billing.fee"]))
        ).scalar_one()
        assert moves == 51  # the funding transfer and the 50 movements


def test_same_key_written_concurrently_lands_once(
    client: TestClient, world: World, database: Database
) -> None:
    """20 threads post the same movement under one key: one entry, balance moved once."""
    f = funded(world, client)
    barrier = threading.Barrier(20)
    created: list[bool] = []

    def move() -> None:
        barrier.wait()
        with database.unit() as session:
            account = ledger.get_account(session, f.contract_id)
            assert account is not None
            _entry, new = ledger.post(
                session, account, kind=EntryKind.CREDIT, amount=Decimal("7"), key="once"
            )
            created.append(new)

    threads = [threading.Thread(target=move) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert created.count(True) == 1 and len(created) == 20
    with database.unit() as session:
        assert ledger.balance(session, f.contract_id) == Decimal("107")


def test_no_provisioning_before_formation(client: TestClient, world: World) -> None:
    """000 §3.1: until the Minimum Amount is in, the contract stays pending and the
    contracts slice refuses to provision (402)."""
    from nuages.contracts.service import require_provisioning
    from nuages.kernel.errors import PaymentRequired

    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    admin = world.admin()
    contract_id = order(client, owner)
    assert transfer(client, admin, contract_id, "99.99").status_code == 201
    with world.database.unit() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None and contract.state == "pending"
        with pytest.raises(PaymentRequired):
            require_provisioning(session, contract)


def test_entries_list_filters_and_pages(client: TestClient, world: World) -> None:
    """Entries are listed newest first, paginated, filtered by kind and time."""
    f = funded(world, client)
    for i in range(5):
        assert transfer(client, f.admin, f.contract_id, f"{i + 1}.00").status_code == 201
    url = f"/api/v1/billing/contracts/{f.contract_id}/entries"
    page = client.get(url + "?per_page=2", headers=f.owner.headers).json()
    assert page["total"] == 6 and len(page["items"]) == 2
    assert Decimal(page["items"][0]["amount"]) == Decimal("5")
    assert client.get(url + "?kind=usage", headers=f.owner.headers).json()["total"] == 0
    r = client.get(url + "?since=2020-01-01T00:00:00", headers=f.owner.headers)
    assert r.status_code == 422  # naive times are refused
    r = client.get(
        url + "?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z", headers=f.owner.headers
    )
    assert r.status_code == 422
    missing = client.get(
        f"/api/v1/billing/contracts/{uuid.uuid4()}/entries", headers=f.owner.headers
    )
    assert missing.status_code == 404
