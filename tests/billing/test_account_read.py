"""Reading the account of a prepaid contract that has none yet (issue #12 found it)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from nuages.accounts.roles import Role
from nuages.billing.ledger import payment_reference
from tests.factories import World


def test_regression_account_of_a_new_prepaid_contract_reads_without_writing(
    client: TestClient, world: World
) -> None:
    """GET /billing/contracts/{id}/account of a contract just ordered (no credit yet)
    answered 500: the summary opened the account, a write in a read-only unit. It now
    shows the account as it will open: empty, with its payment reference."""
    client_id = world.client()
    owner = world.user(Role.CLIENT_OWNER, client_id)
    order = client.post(
        "/api/v1/contracts",
        json={"offer_id": "isstar-cloud", "accept_terms": True},
        headers=owner.headers,
    )
    assert order.status_code == 201, order.text
    contract_id = order.json()["id"]
    answer = client.get(f"/api/v1/billing/contracts/{contract_id}/account", headers=owner.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["balance"] in ("0", "0.00", "0.0000")
    assert body["payment_reference"] == payment_reference(contract_id)
    assert body["minimum_amount"] in ("100.00", "100")
