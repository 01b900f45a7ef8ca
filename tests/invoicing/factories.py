"""Factories for invoicing tests: clients, formed contracts, VMs, ordered lines.

Contracts are ordered and formed through the contracts service (formation at a frozen
moment, so ``activated_at`` is exact); VMs are ``compute.models.Vm`` rows with the
columns billing reads.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from nuages.accounts.models import Client
from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role, Scope
from nuages.compute.models import Image, Vm
from nuages.contracts import schemas as contract_schemas
from nuages.contracts import service as contracts
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history.service import Actor
from nuages.invoicing import facturx, lines, runs, schemas
from nuages.invoicing.models import Invoice, InvoiceLine
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database
from tests.factories import address_columns

STAFF = Principal(
    user_id="staff-test",
    email="staff@example.com",
    role=Role.PROVIDER_ADMIN,
    client_id=None,
    scopes=frozenset(Scope),
)
SYSTEM = Actor.system("test")
PARIS = dt.timezone(dt.timedelta(hours=1))


def utc(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    """A moment in UTC."""
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


class Billing:
    """Builds what invoices are made of, through the real services."""

    def __init__(self, database: Database, offers: OfferRegistry) -> None:
        self.database = database
        self.offers = offers
        self._n = 0

    def client(
        self, name: str = "Client SARL", country: str = "FR", vat: str | None = None, **kw: Any
    ) -> str:
        self._n += 1
        with self.database.unit() as session:
            row = Client(
                kind=kw.get("kind", "business"),
                legal_name=name,
                country=country,
                vat_number=vat,
                billing_email=f"compta{self._n}@example.com",
                **address_columns(country, kw.get("address")),
            )
            session.add(row)
            session.flush()
            return row.id

    def contract(
        self,
        offer_id: str,
        client_id: str,
        formed_at: dt.datetime,
        firewall_tier: str | None = None,
    ) -> str:
        """An order of ``offer_id`` formed (activated) at ``formed_at``."""
        with frozen_at(formed_at - dt.timedelta(hours=1)), self.database.unit() as session:
            contract = contracts.create_contract(
                session,
                STAFF,
                self.offers,
                contract_schemas.ContractCreate(
                    offer_id=offer_id,
                    client_id=client_id,
                    accept_terms=True,
                    firewall_tier=firewall_tier,  # type: ignore[arg-type]
                ),
            )
            contract_id = contract.id
        with frozen_at(formed_at), self.database.unit() as session:
            contract = contracts.get_contract(session, STAFF, contract_id)
            contracts.transition(session, contract, ContractState.ACTIVE, SYSTEM, "formed")
        return contract_id

    def line(self, contract_id: str, item_id: str, since: dt.date, **kw: Any) -> str:
        with self.database.unit() as session:
            row = lines.add_line(
                session,
                STAFF,
                self.offers,
                contract_id,
                schemas.LineCreate(item_id=item_id, since=since, **kw),
            )
            return row.id

    def vm(
        self,
        contract_id: str,
        flavour_id: str,
        activated_at: dt.datetime,
        deleted_at: dt.datetime | None = None,
        name: str | None = None,
    ) -> str:
        self._n += 1
        with self.database.unit() as session:
            image = session.execute(select(Image).limit(1)).scalar_one_or_none()
            if image is None:
                image = Image(
                    name="debian-test",
                    os="linux",
                    boot_mode="disk",
                    base_path="/nonexistent/base.qcow2",
                    min_disk_gib=1,
                    size_bytes=1,
                )
                session.add(image)
                session.flush()
            contract = contracts.get_contract(session, STAFF, contract_id)
            import uuid

            vm = Vm(
                id=str(uuid.uuid4()),
                client_id=contract.client_id,
                contract_id=contract_id,
                name=name or f"vm-{self._n}",
                flavour_id=flavour_id,
                image_id=image.id,
                vcpus=1,
                ram_mib=1024,
                disk_gib=10,
                vm_state="deleted" if deleted_at else "running",
                power_state="running",
                created_at=activated_at,
                activated_at=activated_at,
                deleted_at=deleted_at,
            )
            session.add(vm)
            session.flush()
            return vm.id

    def profile(self, contract_id: str, **kw: Any) -> None:
        with self.database.unit() as session:
            lines.set_profile(session, STAFF, self.offers, contract_id, schemas.ProfileSet(**kw))

    def index(self, name: str, month: str, value: str) -> None:
        year, mon = month.split("-")
        with self.database.unit() as session:
            lines.set_index(session, SYSTEM, name, dt.date(int(year), int(mon), 1), Decimal(value))


def run_at(
    database: Database,
    offers: OfferRegistry,
    moment: dt.datetime,
    *,
    run_on: dt.date | None = None,
    **kw: Any,
) -> runs.RunReport:
    """An invoicing run at a frozen moment (``run_on`` defaults to its UTC date)."""
    with frozen_at(moment):
        return runs.run(database, SYSTEM, offers, run_on or moment.date(), **kw)


# virtualsr-svp's catalogue (003): prices VAT included, descriptions that wrap in the
# invoice's first column (the PDF tests and bench/invoicing.py).
SVP_ITEMS = [
    "svp-s",
    "svp-m",
    "svp-mails",
    "svp-projets",
    "svp-docs",
    "svp-tse",
    "svp-entreprise",
    "svp-crm",
    "datas-backup",
    "maintenance-4h",
]


def loaded(database: Database, invoice_id: str) -> tuple[Invoice, list[InvoiceLine]]:
    """A stored document and its lines in order, detached from their session."""
    with database.unit() as session:
        invoice = session.get_one(Invoice, invoice_id)
        lines_ = list(
            session.execute(
                select(InvoiceLine)
                .where(InvoiceLine.invoice_id == invoice_id)
                .order_by(InvoiceLine.position)
            ).scalars()
        )
        session.expunge_all()
    return invoice, lines_


def documents_of(database: Database, contract_id: str) -> list[tuple[Invoice, list[InvoiceLine]]]:
    """Every document of a contract, in number order, with its lines; each XML is
    checked against the Factur-X EN16931 XSD by the ``facturx`` library."""
    out = []
    with database.unit() as session:
        rows = session.execute(
            select(Invoice)
            .where(Invoice.contract_id == contract_id)
            .order_by(Invoice.series, Invoice.seq_no)
        ).scalars()
        for invoice in rows:
            assert facturx.check(invoice.xml), invoice.number
            lines_ = list(
                session.execute(
                    select(InvoiceLine)
                    .where(InvoiceLine.invoice_id == invoice.id)
                    .order_by(InvoiceLine.position)
                ).scalars()
            )
            out.append((invoice, lines_))
    return out


def many_contracts(
    database: Database,
    offers: OfferRegistry,
    client_id: str,
    offer_id: str,
    item_id: str,
    formed_at: dt.datetime,
    count: int,
) -> list[str]:
    """``count`` formed contracts of one client, each with one ordered line, written in
    one transaction through the services (fast enough for a thousand)."""
    ids = []
    with frozen_at(formed_at), database.unit() as session:
        for _ in range(count):
            contract = contracts.create_contract(
                session,
                STAFF,
                offers,
                contract_schemas.ContractCreate(
                    offer_id=offer_id, client_id=client_id, accept_terms=True
                ),
            )
            contracts.transition(session, contract, ContractState.ACTIVE, SYSTEM, "formed")
            lines.add_line(
                session,
                STAFF,
                offers,
                contract.id,
                schemas.LineCreate(item_id=item_id, since=formed_at.date()),
            )
            ids.append(contract.id)
    return ids
