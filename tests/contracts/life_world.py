"""Helpers of the contract-life tests: a formed contract on a seed offer at a given
moment, the daily pass at a moment, and counts of what was written."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Role
from nuages.contracts import schemas as contract_schemas
from nuages.contracts import service as contracts
from nuages.contracts.models import Contract, ContractTermination
from nuages.contracts.offers import OfferRegistry
from nuages.contracts.states import ContractState
from nuages.history.models import HistoryEntry
from nuages.history.service import Actor as HistoryActor
from nuages.jobs.life import run_daily
from nuages.kernel.clock import frozen_at
from nuages.kernel.db import Database
from tests.factories import Actor, World

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")
BRUSSELS = ZoneInfo("Europe/Brussels")
STAFF = Principal.staff("life-staff")


def local(zone: ZoneInfo, *args: int) -> dt.datetime:
    """A local wall-clock time in ``zone``, as aware UTC."""
    return dt.datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


class Life:
    """One client with an owner and a member, and its contract on one offer."""

    def __init__(
        self, database: Database, world: World, offers: OfferRegistry, http: TestClient
    ) -> None:
        self.database = database
        self.world = world
        self.offers = offers
        self.http = http

    def form(self, offer_id: str, at: dt.datetime) -> tuple[str, Actor, Actor]:
        """A contract formed (made active) at ``at``; its owner and a member."""
        client_id = self.world.client(f"Life {offer_id}")
        with frozen_at(at):  # tokens valid for the whole life the test drives
            owner = self.world.user(Role.CLIENT_OWNER, client_id, days=3650)
            member = self.world.user(Role.CLIENT_MEMBER, client_id, days=3650)
        with frozen_at(at), self.database.unit() as session:
            contract = contracts.create_contract(
                session,
                STAFF,
                self.offers,
                contract_schemas.ContractCreate(
                    offer_id=offer_id, client_id=client_id, accept_terms=True
                ),
            )
            contracts.transition(
                session, contract, ContractState.ACTIVE, HistoryActor.system("test"), "formed"
            )
            return contract.id, owner, member

    def contract(self, contract_id: str) -> Contract:
        with self.database.unit() as session:
            row = session.get(Contract, contract_id)
            assert row is not None
            session.expunge(row)
            return row

    def daily(self, at: dt.datetime) -> dict[str, object]:
        with frozen_at(at):
            return run_daily(self.database, self.offers, at).as_dict()

    def counts(self, contract_id: str) -> tuple[int, int]:
        """(terminations, history entries about the contract, refused attempts aside:
        the API records those on purpose, api/refusals.py)."""
        with self.database.unit() as session:
            terminations = session.scalar(
                select(func.count())
                .select_from(ContractTermination)
                .where(ContractTermination.contract_id == contract_id)
            )
            entries = session.scalar(
                select(func.count())
                .select_from(HistoryEntry)
                .where(
                    HistoryEntry.object_id == contract_id,
                    HistoryEntry.outcome.not_like("refused%"),
                )
            )
            return int(terminations or 0), int(entries or 0)

    def notice(
        self, contract_id: str, who: Actor, at: dt.datetime, *, confirm: bool, **body: object
    ) -> tuple[int, dict[str, object]]:
        with frozen_at(at):
            done = self.http.post(
                f"/api/v1/contracts/{contract_id}/termination",
                json={"confirm": confirm, **body},
                headers=who.headers,
            )
        return done.status_code, done.json()
