"""Moves of a contract's data outside the EU and the client's exit they open (001 §5).

001 §5.2: the provider moves the data centres freely within the EU. 001 §5.3: outside
the EU only after (i) a written notice at least 3 months ahead and (ii) letting the
client terminate early and without indemnity, within 30 days of the notification (its
unpaid invoices stay due). 001 §5.4: to a country without an adequate level of
protection, only with the client's prior written consent and appropriate safeguards.

Staff record the move (its VMs — one or all — or their backups, to a site whose
country the hosts record, or stated for a backup target's site): nuages notifies the
client at once (notices slice, ``relocation_announced``), the move may happen from
``moves_at``, and the exit window (``exit_until``) is one of the contract's penalty-free
exits (``contracts.termination.EXIT_WINDOW_SOURCES``: a notice to quit given in it ends
the contract at once) and is listed among its deadlines.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.compute.services import reads as compute_reads
from nuages.contracts import service as contracts
from nuages.contracts import termination
from nuages.contracts.ending import ENDABLE
from nuages.contracts.models import Contract
from nuages.contracts.states import ContractState
from nuages.contracts.term import offer_of
from nuages.gdpr.countries import ADEQUATE, transfer_basis
from nuages.history import service as history
from nuages.kernel.clock import utc_now
from nuages.kernel.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from nuages.notices.service import queue
from nuages.reversibility.models import ContractRelocation
from nuages.reversibility.schemas import RelocationCreate
from nuages.terms.apply import calendar_for
from nuages.terms.deadlines import Event, deadlines_for
from nuages.terms.schema import EU_COUNTRIES

WINDOW = "after-relocation-outside-eu"


def record(
    session: Session, actor: Principal, contract_id: str, data: RelocationCreate
) -> ContractRelocation:
    """Staff announce a move of the contract's data outside the EU (001 §5.3): checked
    against the clause, notified to the client, its exit window opened."""
    contract = contracts.get_contract(session, actor, contract_id)
    actor.require(Scope.WRITE)
    if not actor.is_staff:
        raise Forbidden("only provider staff record a move of the data (001 §5.3)")
    if ContractState(contract.state) not in ENDABLE:
        raise InvalidTransition(f"a {contract.state} contract has no data to move")
    offer = offer_of(session, contract)
    terms = offer.catalogue.hosting.relocation
    if terms is None:
        where = ", ".join(offer.catalogue.hosting.allowed_countries)
        raise Conflict(
            f"offer {offer.id} states no move of the data outside its countries ({where}; "
            f"{offer.catalogue.hosting.clause or 'its hosting terms'})"
        )
    clause = terms.clause or "001 §5.3"
    known = compute_reads.site_country(session, data.site)
    country = (data.country or known or "").upper()
    if not country:
        raise ValidationFailed(
            f"country: no host serves site {data.site!r}, so its country is not known; give it"
        )
    if known is not None and known.upper() != country:
        raise ValidationFailed(f"country: site {data.site!r} is in {known}, not {country}")
    if country in EU_COUNTRIES:
        raise ValidationFailed(
            f"site: {data.site!r} is in {country}, inside the EU: the provider moves the data "
            "there without notice (001 §5.2)"
        )
    if country not in ADEQUATE and (data.consented_on is None or not data.safeguard.strip()):
        raise ValidationFailed(
            f"consented_on: {country} has no adequacy decision; a move there needs the "
            "client's prior written consent and appropriate safeguards (001 §5.4)"
        )
    if data.vm_id is not None:
        vm = compute_reads.vm(session, data.vm_id)
        if vm is None or vm.contract_id != contract.id:
            raise ValidationFailed(f"vm_id: {data.vm_id} is not a VM of this contract")
    now = utc_now()
    found = {d.name: d.ends_at for d in deadlines_for(offer, Event.relocation_notice, now)}
    earliest, exit_until = found["relocation-earliest"], found["terminate-after-relocation-notice"]
    moves_at = data.moves_at or earliest
    if moves_at < earliest:
        day = calendar_for(offer).local_date(earliest).isoformat()
        raise ValidationFailed(
            f"moves_at: the client must be told in writing at least {terms.notice} before "
            f"the move ({terms.notice.clause or clause}): not before {day}"
        )
    basis = transfer_basis(country, data.safeguard) or ""
    row = ContractRelocation(
        contract_id=contract.id,
        client_id=contract.client_id,
        subject=data.subject,
        vm_id=data.vm_id,
        site=data.site,
        country=country,
        transfer_basis=basis[:200],
        safeguard=data.safeguard[:200],
        consented_on=data.consented_on,
        reason=data.reason[:500],
        clause=clause,
        recorded_by=actor.actor.id or actor.actor.label,
        notified_at=now,
        moves_at=moves_at,
        exit_until=exit_until,
    )
    session.add(row)
    session.flush()
    history.record(
        session,
        actor.actor,
        object_type="contract",
        object_id=contract.id,
        action="contract.relocation",
        params={
            "relocation_id": row.id,
            "subject": row.subject,
            "vm_id": row.vm_id,
            "site": row.site,
            "country": country,
            "transfer_basis": basis,
            "moves_at": moves_at.isoformat(),
            "exit_until": exit_until.isoformat(),
            "clause": clause,
            "reason": row.reason,
        },
        client_id=contract.client_id,
    )
    local_day = calendar_for(offer).local_date
    queue(
        session,
        actor.actor,
        "relocation_announced",
        client_id=contract.client_id,
        contract_id=contract.id,
        object_type="contract",
        object_id=contract.id,
        key=f"relocation:{row.id}",
        legal_ref=clause,
        context={
            "subject": row.subject,
            "site": row.site,
            "country": country,
            "transfer_basis": basis,
            "moves_on": local_day(moves_at).isoformat(),
            # exit_until is exclusive: the last day the client may terminate
            "exit_last_day": local_day(exit_until - dt.timedelta(microseconds=1)).isoformat(),
            "relocation_clause": clause,
        },
    )
    return row


def relocations_of(session: Session, contract_id: str) -> list[ContractRelocation]:
    """The contract's announced moves, oldest first."""
    return list(
        session.execute(
            select(ContractRelocation)
            .where(ContractRelocation.contract_id == contract_id)
            .order_by(ContractRelocation.notified_at)
        ).scalars()
    )


def list_relocations(
    session: Session, actor: Principal, contract_id: str
) -> list[ContractRelocation]:
    """The moves of a contract the caller may see."""
    contract = contracts.get_contract(session, actor, contract_id)
    return relocations_of(session, contract.id)


def exit_windows(
    session: Session, contract: Contract, at: dt.datetime
) -> list[termination.ExitWindow]:
    """001 §5.3 (ii): the penalty-free exits open at ``at``, one per announced move."""
    return [
        (WINDOW, row.exit_until, row.clause)
        for row in relocations_of(session, contract.id)
        if row.notified_at <= at < row.exit_until
    ]


if exit_windows not in termination.EXIT_WINDOW_SOURCES:
    termination.EXIT_WINDOW_SOURCES.append(exit_windows)
