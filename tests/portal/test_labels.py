"""French pages name states, kinds and hold grounds in French (issue 12): the label
catalogue covers every state enum and every hold ground of the offers, and the main pages
rendered in French show none of those codes raw nor the ledger's English descriptions."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from html import unescape
from typing import Any

from sqlalchemy import select

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role
from nuages.billing import schemas as billing_schemas
from nuages.billing import topups
from nuages.billing.models import DebitState, EntryKind, ExtensionState
from nuages.compute.states import Action, HostState, OperationState, TaskState, VmState
from nuages.contracts import holds
from nuages.contracts.models import Contract
from nuages.contracts.states import ContractState
from nuages.kernel.db import Database
from nuages.portal import labels
from nuages.reversibility.states import ExitState
from nuages.support.schemas import CATEGORIES, SEVERITIES
from tests.factories import World
from tests.portal.conftest import signed_in

Make = Callable[..., Any]
ENUMS: tuple[type[StrEnum], ...] = (
    ContractState, VmState, TaskState, OperationState, HostState, EntryKind, DebitState,
    ExtensionState, ExitState, Action,
)  # fmt: skip
CREDIT_STATES = ("claimable", "due", "applied", "superseded")  # sla.credits
OTHER_CODES = (*CATEGORIES, *SEVERITIES, "vm", "host", "site", "platform", "not-excusable")


def _codes(offers: Any) -> set[str]:
    codes = {e.value for enum in ENUMS for e in enum} | set(CREDIT_STATES) | set(OTHER_CODES)
    for offer in offers.offers.values():
        codes |= set(holds.grounds_of(offer))
    return codes


def test_every_state_and_ground_has_a_french_and_an_english_label(offers: Any) -> None:
    missing = sorted(code for code in _codes(offers) if code not in labels.LABELS)
    assert missing == []
    assert labels.label("in_batch", "fr") == "dans un lot"
    assert labels.label("in_batch", "en") == "in a batch"
    assert labels.label(ExtensionState.APPROVED, "fr") == "autorisée"
    assert labels.described("bank transfer booked 2026-12-01", "fr") == (
        "virement bancaire comptabilisé 2026-12-01"
    )


def test_regression_french_pages_show_no_raw_english_state(
    browser: Make, user_with_password: Make, world: World, database: Database, offers: Any
) -> None:
    """The main pages in French: no state/ground code between tags, no "bank transfer"."""
    client_id = world.client("Dupont SA")
    _owner, email = user_with_password(Role.CLIENT_OWNER, client_id)
    visitor = signed_in(browser, email)
    form = visitor.form("/offers/isstar-cloud", "/offers/isstar-cloud/order")
    visitor.post(form.action, {**form.fields, "accept_terms": "yes"})
    with database.unit() as session:
        contract = session.execute(select(Contract)).scalar_one()
        topups.record_transfer(
            session, Principal.staff("test"), offers, contract.id,
            billing_schemas.TransferCreate(amount=Decimal("100.00"), currency="EUR",
                                           reference="BANK-1"),
        )  # fmt: skip
    codes = _codes(offers)
    pages = ["/", "/contracts", f"/contracts/{contract.id}", f"/contracts/{contract.id}/account",
             f"/contracts/{contract.id}/extensions", "/vms", "/invoices"]  # fmt: skip
    seen = 0
    for path in pages:
        answer = visitor.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        shown = {m.strip() for m in re.findall(r">([^<>]+)<", unescape(answer.text))}
        raw = sorted(shown & codes)
        assert raw == [], (path, raw)
        assert "bank transfer" not in answer.text, path
        seen += answer.text.count('class="state ')
    account = unescape(visitor.get(f"/contracts/{contract.id}/account").text)
    assert "virement bancaire" in account and "approvisionnement" in account
    assert seen >= 2  # the contract's state was shown, in French
    visitor.http.cookies.set("nuages_lang", "en")
    english = unescape(visitor.get(f"/contracts/{contract.id}/account").text)
    assert "bank transfer" in english and "top-up" in english
