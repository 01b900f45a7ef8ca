"""The client dashboard: VMs and their state, each contract's balance, run-out date and
days left (prepaid, 000 §13.2) or its next invoice with its estimated amount (invoiced,
001 §4.4, 003 §14.1, 004 §8.2), open holds (004 §7), each contract's next deadlines
(term, notice, refusal windows: ``contracts.deadlines``), upcoming maintenance affecting
the client's VMs (000 §7, 001 §6, 002 §6) and recent notices. Staff land on /admin."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from nuages.accounts.roles import Scope
from nuages.billing import usage
from nuages.compute.services import vms
from nuages.contracts import deadlines as contract_deadlines
from nuages.contracts import holds
from nuages.contracts import service as contracts
from nuages.invoicing import upcoming
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import NuagesError
from nuages.notices import service as notices
from nuages.portal.web import SignedIn, Visit
from nuages.sla import maintenance

log = logging.getLogger("nuages.portal")
router = APIRouter()
T = TypeVar("T")


def attempt(session: Session, work: Callable[[], T]) -> T | None:
    """One part of a page, in a savepoint: a part the visitor may not see, or one that
    fails, is left out instead of failing the whole page."""
    try:
        with session.begin_nested():
            return work()
    except NuagesError:
        return None
    except SQLAlchemyError:
        log.warning("a dashboard part failed", exc_info=True)
        return None


@dataclass
class ContractCard:
    contract: Any
    offer_name: str
    account: Any | None
    open_holds: list[Any]
    next_invoice: Any | None = None
    deadlines: list[Any] | None = None

    @property
    def days_left(self) -> int | None:
        """Whole days until the prepaid balance runs out at the current burn."""
        runs_out = getattr(self.account, "runs_out_at", None)
        if runs_out is None:
            return None
        return max(0, int((runs_out - utc_now()).total_seconds() // 86400))


def _offer_name(visit: Visit, offer_id: str) -> str:
    registry = visit.request.app.state.offers
    try:
        return str(registry.current(offer_id).offer.title)
    except Exception:  # an offer withdrawn since: its id still names it
        return offer_id


def contract_cards(visit: Visit, session: Session, limit: int = 20) -> list[ContractCard]:
    """The visitor's contracts with their account (billing scope only) and open holds."""
    me = visit.me
    shown, _total = contracts.list_contracts(session, me, 1, limit)
    cards = []
    offers = visit.request.app.state.offers
    for contract in shown:
        account = following = None
        if me.has(Scope.BILLING):
            account = attempt(
                session, partial(usage.account_summary, session, me, offers, contract.id)
            )
            if account is None and contract.state != "pending":
                settings = visit.request.app.state.settings
                following = attempt(
                    session,
                    partial(upcoming.next_invoice, session, me, offers, contract.id, settings),
                )
        found = attempt(session, partial(holds.list_holds, session, me, contract.id)) or []
        coming = attempt(
            session, partial(contract_deadlines.for_contract, session, me, contract.id, utc_now())
        )
        cards.append(
            ContractCard(
                contract,
                _offer_name(visit, contract.offer_id),
                account,
                [h for h in found if h.lifted_at is None],
                following,
                sorted(coming or [], key=lambda d: d.at)[:3],
            )
        )
    return cards


def coming_maintenance(visit: Visit, session: Session, limit: int = 5) -> list[Any]:
    """Maintenance windows not over yet that affect the visitor's VMs, soonest first."""
    registry = visit.request.app.state.offers
    found = attempt(
        session,
        partial(maintenance.list_windows, session, visit.me, registry, upcoming=True, limit=50),
    )
    return sorted(found or [], key=lambda w: w.start)[:limit]


@router.get("/")
def dashboard(visit: SignedIn) -> Response:
    """What needs the client's eye first."""
    if visit.me.is_staff:
        return visit.redirect("/admin")
    with visit.read() as session:
        shown, total = vms.list_vms(session, visit.me, 1, 10)
        cards = contract_cards(visit, session)
        recent = list(session.execute(notices.list_notices(visit.me).limit(5)).scalars())
        return visit.render(
            "client/dashboard.html",
            vms=shown,
            vm_total=total,
            cards=cards,
            notices=recent,
            windows=coming_maintenance(visit, session),
        )
