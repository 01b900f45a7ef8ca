"""What is coming for a contract: every dated step of its life, soonest first (issue
#21 item 8). ``GET /contracts/{id}/deadlines`` and ``nuages contracts deadlines``
concatenate the ``DEADLINE_SOURCES``; another part of nuages (the end of contract and
reversibility) appends its own source to the list.

A source is ``(session, contract, offer) -> list[Deadline]``; it reads, never writes
(read routes run in a read-only unit).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from nuages.accounts.principal import Principal
from nuages.accounts.roles import Scope
from nuages.contracts import holds
from nuages.contracts import service as contracts
from nuages.contracts.models import Contract, ContractTermsChange
from nuages.contracts.states import ContractState
from nuages.contracts.term import offer_of, renewal_tariffs_due
from nuages.kernel.access import visible
from nuages.terms.apply import calendar_for
from nuages.terms.deadlines import latest_notice
from nuages.terms.schema import Offer


@dataclass(frozen=True)
class Deadline:
    """One dated step of a contract: when (aware UTC, exclusive end of a window or the
    moment something happens), what kind, its clause and a plain description."""

    at: dt.datetime
    kind: str
    clause: str
    description: str
    contract_id: str


Source = Callable[[Session, Contract, Offer], list[Deadline]]
LIVE = (ContractState.ACTIVE, ContractState.SUSPENDED, ContractState.ENDING)


def _term(session: Session, contract: Contract, offer: Offer) -> list[Deadline]:
    """The term end (renewal or end), the last day for a notice to quit, and 001 §4.5
    the renewal tariffs' notice."""
    from nuages.contracts.termination import pending

    end = contract.term_ends_at
    if end is None or contract.state not in LIVE:
        return []
    out = []
    terms = offer.duration
    going = pending(session, contract.id)
    if going is None:
        renews = terms.renewal.tacit
        out.append(
            Deadline(
                end, "term-end", terms.renewal.clause or terms.clause or "",
                "the term ends; " + ("renewed tacitly unless notice is given" if renews
                                     else "the contract ends (no tacit renewal)"),
                contract.id,
            )
        )  # fmt: skip
        notice = terms.notice_before_term_end
        if notice is not None:
            out.append(
                Deadline(
                    latest_notice(calendar_for(offer), end, notice), "notice-to-quit-latest",
                    notice.clause or terms.clause or "",
                    f"a notice to quit ({notice} before the term) must arrive before then "
                    "to end the contract at this term",
                    contract.id,
                )
            )  # fmt: skip
        tariffs = renewal_tariffs_due(offer, end)
        if tariffs is not None:
            out.append(
                Deadline(
                    tariffs, "renewal-tariffs-notice", offer.changes.clause or "",
                    "the renewal's tariffs are notified before then", contract.id,
                )
            )  # fmt: skip
    else:
        out.append(
            Deadline(
                going.effective_at, "termination-effective", going.clause,
                f"the contract ends ({going.cause})", contract.id,
            )
        )  # fmt: skip
    return out


def _grounds(session: Session, contract: Contract, offer: Offer) -> list[Deadline]:
    """Formal notices (000 §16, 001 §3.3, 003 §13.1.2), force majeure (003 §9) and a
    hold over 15 days (004 §17.1)."""
    from nuages.contracts.formal_notices import open_formal_notices

    out = []
    for row in open_formal_notices(session, contract.id):
        out.append(
            Deadline(
                row.terminable_from, f"{row.ground}-terminable", row.clause,
                f"the contract may be terminated for {row.ground.replace('_', ' ')} from then",
                contract.id,
            )
        )  # fmt: skip
        if row.automatic_at is not None:
            out.append(
                Deadline(
                    row.automatic_at, "force-majeure-automatic-termination", row.clause,
                    "still suspended then, the contract is terminated (with its notice)",
                    contract.id,
                )
            )  # fmt: skip
    when = holds.terminable_from(offer, holds.open_holds(session, contract.id))
    if when is not None:
        after = offer.suspension.provider_may_terminate_after
        out.append(
            Deadline(
                when, "hold-terminable", (after.clause if after else None) or "004 §17.1",
                "a suspension still running then lets the provider terminate", contract.id,
            )
        )  # fmt: skip
    return out


def _changes(session: Session, contract: Contract, offer: Offer) -> list[Deadline]:
    """Open terms changes (000 §4, 004 §3, 003 §14.4) and penalty-free exits."""
    from nuages.contracts.revisions import revisions_of

    out = []
    for row in session.execute(
        select(ContractTermsChange).where(
            ContractTermsChange.contract_id == contract.id,
            ContractTermsChange.state.in_(("open", "refused")),
        )
    ).scalars():
        clause = offer.changes.clause or ""
        if row.refusable_until is not None and row.state == "open":
            out.append(
                Deadline(row.refusable_until, "terms-refusal-latest", clause,
                         "the new terms may be refused until then; silence is acceptance",
                         contract.id)
            )  # fmt: skip
        out.append(
            Deadline(row.in_force_at, "terms-in-force", clause,
                     "the new terms take effect" + (" (refused: the former terms continue)"
                                                   if row.state == "refused" else ""),
                     contract.id)
        )  # fmt: skip
        if row.exit_until is not None:
            out.append(
                Deadline(row.exit_until, "penalty-free-exit", "003 §14.4",
                         "the client may terminate without penalty until then", contract.id)
            )  # fmt: skip
    revisions = revisions_of(session, contract.id)
    for rev in revisions:
        if rev.exit_until is not None:
            out.append(
                Deadline(rev.exit_until, "penalty-free-exit", rev.clause,
                         "after the price revision the client may terminate without penalty "
                         "until then", contract.id)
            )  # fmt: skip
    if offer.indexation.formula not in ("none", "published_tariffs") and contract.activated_at:
        from nuages.contracts.revisions import anniversaries

        done = len(revisions)
        # Anniversaries are yearly: two years past the next one is horizon enough (a
        # 200-year horizon computed 200 dates on every dashboard view).
        far = calendar_for(offer).shift_months(contract.activated_at, 12 * (done + 2))
        dates = anniversaries(offer, contract, far)
        if done < len(dates):
            out.append(
                Deadline(dates[done], "price-revision", offer.indexation.clause or "",
                         "prices are revised at the anniversary", contract.id)
            )  # fmt: skip
    return out


DEADLINE_SOURCES: list[Source] = [_term, _grounds, _changes]


def deadlines_of(session: Session, contract: Contract, offer: Offer) -> list[Deadline]:
    """Every source's deadlines for one contract, soonest first."""
    found = [d for source in DEADLINE_SOURCES for d in source(session, contract, offer)]
    return sorted(found, key=lambda d: (d.at, d.kind))


def for_contract(
    session: Session, actor: Principal, contract_id: str, now: dt.datetime
) -> list[Deadline]:
    """The coming deadlines (not past) of a contract the caller may see."""
    contract = contracts.get_contract(session, actor, contract_id)
    return [d for d in deadlines_of(session, contract, offer_of(session, contract)) if d.at > now]


def within(
    session: Session, actor: Principal, now: dt.datetime, until: dt.datetime | None
) -> list[Deadline]:
    """Every visible contract's deadlines from ``now`` to ``until`` (all when None)."""
    actor.require(Scope.READ)
    stmt = visible(
        actor,
        select(Contract)
        .where(Contract.state.not_in((ContractState.PENDING.value, ContractState.CLOSED.value)))
        .order_by(Contract.id),
        Contract.client_id,
    )
    out = []
    for contract in session.execute(stmt).scalars():
        offer = offer_of(session, contract)
        out += [
            d
            for d in deadlines_of(session, contract, offer)
            if d.at > now and (until is None or d.at <= until)
        ]
    return sorted(out, key=lambda d: (d.at, d.contract_id, d.kind))
