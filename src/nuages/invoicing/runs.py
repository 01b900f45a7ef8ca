"""Invoicing runs: every contract's due periods invoiced on its schedule.

A run is a job, not a request: each contract is priced and issued in a transaction of
its own, so a crash (even ``kill -9``) loses at most the contract in flight — whose
number goes back to the sequence with the rest of its transaction — and a rerun picks
up where it stopped. The unique ``(contract_id, billing_period)`` constraint makes two
invoices for one period impossible, whatever runs overlap. A dry run computes the same
documents and writes nothing. What pricing reads is read 200 contracts at a time ahead
of their transactions (``readahead``: one statement per source, not a dozen per
contract).

Schedules come from the offer (``[billing.invoiced]``: month or quarter, in advance or
in arrears; 001 §4.4, 003 §14.1, 004 §8.2); a prepaid contract gets a monthly invoice of
what its account was debited for (000 §13.2), after the month.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from nuages.accounts.models import Client
from nuages.contracts.models import Contract
from nuages.contracts.offers import OfferRegistry
from nuages.history.service import Actor
from nuages.invoicing import acceleration, deposits, documents, early_end, readahead, sources
from nuages.invoicing.models import Invoice, InvoiceRun, InvoicingProfile, PendingCharge
from nuages.invoicing.periods import Period, due_periods
from nuages.invoicing.pricing import Billed, DraftLine, PricingProblem, coverage, price_period
from nuages.invoicing.vat import TaxableLine, compute_totals
from nuages.kernel.clock import not_in_future, utc_now
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError, ValidationFailed
from nuages.kernel.settings import Settings, get_settings
from nuages.payments import mandates
from nuages.sellers import identity as sellers
from nuages.terms.apply import calendar_for
from nuages.terms.schema import Offer

log = logging.getLogger("nuages.invoicing.runs")
MAX_AHEAD = dt.timedelta(days=45)  # how far ahead a dry run may preview


@dataclass
class RunReport:
    """What a run did (or, dry, would do): documents issued, previews, problems."""

    run_on: dt.date
    dry_run: bool
    run_id: str | None = None
    contracts: int = 0
    issued: list[dict[str, Any]] = field(default_factory=list)
    previews: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready report (amounts as strings)."""
        out: dict[str, Any] = json.loads(
            json.dumps(
                {
                    "run_id": self.run_id,
                    "run_on": self.run_on.isoformat(),
                    "dry_run": self.dry_run,
                    "contracts": self.contracts,
                    "issued": self.issued,
                    "previews": self.previews,
                    "problems": self.problems,
                    "skipped": self.skipped,
                },
                default=str,
            )
        )
        return out


def period_kind(offer: Offer, profile: InvoicingProfile | None) -> tuple[str, str]:
    """(month|quarter, advance|arrears): the client's choice where the offer allows it
    (003 §14.1), else the offer's default; prepaid consumption is monthly, after."""
    invoiced = offer.billing.invoiced
    if invoiced is None:
        return "month", "arrears"
    if profile is not None and profile.period in invoiced.periods_allowed:
        return profile.period, invoiced.timing
    return invoiced.period, invoiced.timing


def payment_means_for(offer: Offer, has_mandate: bool, first: bool) -> str | None:
    """Direct debit when the offer takes it and a mandate is on file (003 §14.2,
    004 §8.2); otherwise the first means the offer accepts (for 003 §14.2 the first
    payment may be a transfer or a cheque)."""
    invoiced = offer.billing.invoiced
    if invoiced is None:
        return None
    means = list(invoiced.payment_means)
    if first and invoiced.first_payment_means:
        means = list(invoiced.first_payment_means)
    if "direct_debit" in means and has_mandate:
        return "direct_debit"
    for choice in ("transfer", "direct_debit", "card", "cheque"):
        if choice in means:
            return choice
    return means[0]


@dataclass
class _Planned:
    period: Period
    lines: list[DraftLine]
    debited: Decimal  # prepaid consumption the ledger already debited (net of VAT)
    charges: list[PendingCharge]
    prepaid: bool = False
    first: bool = False  # the contract's first invoice (003 §14.2 first payment)
    final: bool = False  # charges of an ended contract after its last period


def _plan(
    session: Session,
    contract: Contract,
    offer: Offer,
    profile: InvoicingProfile | None,
    run_on: dt.date,
    book: sources.IndexBook,
    inputs: readahead.Inputs,
) -> list[_Planned]:
    """The documents a contract is due on ``run_on``; ``PricingProblem`` stops it."""
    calendar = calendar_for(offer)
    assert contract.activated_at is not None
    first_day = calendar.local_date(contract.activated_at)
    ended_on = calendar.local_date(contract.ended_at) if contract.ended_at else None
    kind, timing = period_kind(offer, profile)
    done = inputs.invoiced()
    todo = [p for p in due_periods(first_day, kind, timing, run_on, ended_on) if p.key not in done]
    if not todo:
        return _final_charges(session, contract, offer, timing, ended_on)
    planned: list[_Planned] = []
    if offer.billing.mode == "prepaid":
        for period in todo:
            lines, debited = sources.ledger_consumption(
                session,
                contract.id,
                calendar.start_of_day(period.start),
                calendar.start_of_day(period.end),
            )
            if lines and debited > 0:
                planned.append(_Planned(period, lines, debited, [], prepaid=True))
        return planned
    items = inputs.items(contract, calendar) + sources.firewall_items(contract, offer, calendar)
    charges = inputs.open_charges()
    billed, spans = inputs.billed(kind)
    for n, period in enumerate(todo):
        billed_charges = charges if n == len(todo) - 1 else []
        lines = price_period(
            offer,
            period,
            billed,
            items,
            timing=timing,
            spans=spans,
            revision=inputs.stored_revision(calendar, period.start)
            or sources.revision_for(offer, first_day, period.start, book),
            past_discounts=sources.past_discounts(session, offer, contract.id, period.start),
            charges=sources.as_charges(billed_charges),
        )
        if not lines:
            raise PricingProblem(
                "no price: the contract has no VM, ordered line or charge to invoice"
            )
        planned.append(
            _Planned(period, lines, Decimal(0), billed_charges, first=not done and n == 0)
        )
        # The next period of this run catches up on this one as if it were issued.
        billed = [*billed, Billed(period)]
        coverage(lines, into=spans)
    return planned


def _final_charges(
    session: Session, contract: Contract, offer: Offer, timing: str, ended_on: dt.date | None
) -> list[_Planned]:
    """The final invoice of an ended contract: the charges written after its last
    period was invoiced (001 §7 EUR 250 per transfer, 004 §17.2 EUR 360 per VM), on a
    document of their own without a billing period; each charge is billed once (the
    compare-and-swap below), so a second run finds nothing to invoice."""
    if ended_on is None or offer.billing.mode == "prepaid":
        return []
    charges = sources.open_charges(session, contract.id)
    if not charges:
        return []
    period = Period(ended_on, ended_on, ended_on, ended_on)
    lines = price_period(offer, period, [], [], timing=timing, charges=sources.as_charges(charges))
    return [_Planned(period, lines, Decimal(0), charges, final=True)]


def _debit_vat(session: Session, contract: Contract, invoice: Invoice) -> None:
    """The prepaid account pays the consumption invoice's VAT too (000 §13.1: VAT on top
    of prices; §13.2: the account is debited as services are consumed): one fee entry
    through billing's ledger, written once under the invoice's key."""
    from nuages.billing import ledger
    from nuages.billing.models import EntryKind

    account = ledger.get_account(session, contract.id)
    if account is None:
        raise PricingProblem("the prepaid contract has no account to debit the VAT from")
    ledger.post(
        session,
        account,
        kind=EntryKind.FEE,
        amount=-invoice.tax_total,
        key=f"{sources.VAT_KEY}{invoice.id}",
        reference=invoice.number,
        description=f"TVA de la facture {invoice.number}",
    )


def invoice_contract(
    session: Session,
    who: Actor,
    registry: OfferRegistry,
    contract: Contract,
    run_on: dt.date,
    *,
    dry_run: bool,
    report: RunReport,
    book: sources.IndexBook,
    settings: Settings,
    chunk: readahead.Chunk | None = None,
) -> None:
    """Issue (or preview) every document ``contract`` is due on ``run_on``, in the
    caller's transaction; problems are raised, so the caller rolls the contract back.
    ``chunk``: its inputs were read ahead with its chunk (``readahead``)."""
    offer = registry.for_contract(session, contract)
    if chunk is not None:
        profile = chunk.profiles.get(contract.id)
        mandate = chunk.mandates.get(contract.id)
        inputs = chunk.inputs(session, contract.id)
    else:
        profile = session.get(InvoicingProfile, contract.id)
        mandate = mandates.active_mandate(session, contract.id)
        inputs = readahead.Inputs.live(session, contract.id)
    client = session.get(Client, contract.client_id)  # attached with the chunk: no statement
    assert client is not None
    buyer = documents.buyer_party(client, profile)
    # The offer's provider's seller decides the VAT (its country, its rate); issuing
    # refuses the example identity and a buyer without address (documents.issue).
    seller = sellers.seller_for(offer, settings)
    reverse = documents.reverse_charge_applies(seller.country, buyer)
    # 003 §13.2.1: an early end makes the rest of the subscribed duration due at once,
    # written once as a charge the final invoice bills; a dry run shows it and keeps
    # nothing (its savepoint is rolled back below).
    savepoint = session.begin_nested() if dry_run else None
    if contract.ended_at is not None:
        early_end.ensure_charge(session, who, contract, offer)
        acceleration.accelerate(session, who, contract, offer)  # its issued invoices too
    plans = _plan(session, contract, offer, profile, run_on, book, inputs)
    if savepoint is not None:
        savepoint.rollback()
    for plan in plans:
        final = documents.finalize(plan.lines, offer, reverse, seller)
        period = None if plan.final else (plan.period.start, plan.period.end, plan.period.key)
        totals = compute_totals([TaxableLine(x.net, x.category, x.rate) for x in final])
        # 001 §4.6 (i): the invoice billing hardware deducts its order's deposit (BT-113).
        deducted = None
        if not plan.prepaid and inputs.may_deduct():
            deducted = deposits.deduction(session, contract.id, final)
        if deducted is not None:
            deducted = replace(deducted, amount=min(deducted.amount, totals.grand_total))
        if dry_run:
            report.previews.append(
                {
                    "contract_id": contract.id,
                    "period": "final" if plan.final else plan.period.key,
                    "total_net": totals.line_total,
                    "tax_total": totals.tax_total,
                    "grand_total": totals.grand_total,
                    "deposit_deducted": deducted.amount if deducted else Decimal(0),
                    "seller": seller.id,
                    # What would stop the real run (example seller, missing buyer data).
                    "refused": documents.refusals(
                        seller, offer, buyer, sellers.directory_of(settings)
                    ),
                    "lines": [
                        {"description": x.draft.description, "net": x.net, "vat": x.category}
                        for x in final
                    ],
                }
            )
            continue
        invoice = documents.issue(
            session,
            who,
            kind="invoice",
            contract=contract,
            client=client,
            offer=offer,
            lines=final,
            profile=profile,
            payment_means=payment_means_for(offer, mandate is not None, plan.first),
            mandate=mandate,
            period=period,
            prepaid=deducted.amount if deducted else Decimal(0),
            prepaid_all=plan.prepaid,
            run_id=report.run_id,
            settings=settings,
            deposits=deducted.invoices if deducted else (),
            extra_notes=[deducted.note()] if deducted else (),
        )
        if deducted is not None:
            deposits.mark_deducted(session, deducted, invoice)
        if plan.prepaid and invoice.tax_total > 0:
            _debit_vat(session, contract, invoice)
        for charge in plan.charges:
            # Compare-and-swap: a charge is billed on exactly one invoice.
            done = session.execute(
                update(PendingCharge)
                .where(PendingCharge.id == charge.id, PendingCharge.invoice_id.is_(None))
                .values(invoice_id=invoice.id)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                raise PricingProblem("a charge was billed meanwhile by another run")
        report.issued.append(
            {
                "contract_id": contract.id,
                "invoice_id": invoice.id,
                "number": invoice.number,
                "period": "final" if plan.final else plan.period.key,
                "grand_total": invoice.grand_total,
            }
        )


def run(
    database: Database,
    who: Actor,
    registry: OfferRegistry,
    run_on: dt.date,
    *,
    dry_run: bool = False,
    contract_ids: Sequence[str] | None = None,
    settings: Settings | None = None,
    after_each: Callable[[list[str]], None] | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
) -> RunReport:
    """Invoice every contract due on ``run_on`` (each in its own transaction).

    ``after_each`` receives the ids of the documents a contract's transaction just
    committed (the bench renders their PDFs there); ``progress(done, total, step)`` is
    told each contract looked at (the CLI's bar).
    """
    settings = settings or get_settings()
    if not dry_run:
        # 9.3: a run issues "as of now"; a past date catches up, a future one would
        # close periods that have not ended (and their later usage would never be billed).
        not_in_future("run_on", run_on)
    elif run_on > utc_now().date() + MAX_AHEAD:
        raise ValidationFailed(f"run_on: {run_on} is more than 45 days ahead")
    report = RunReport(run_on=run_on, dry_run=dry_run)
    with database.unit() as session:
        stmt = select(Contract.id).where(Contract.activated_at.is_not(None)).order_by(Contract.id)
        if contract_ids is not None:
            stmt = stmt.where(Contract.id.in_(list(contract_ids)))
        ids = list(session.execute(stmt).scalars())
        book = sources.IndexBook(session)
        if not dry_run:
            row = InvoiceRun(run_on=run_on, actor_label=who.label)
            session.add(row)
            session.flush()
            report.run_id = row.id
    chunk: readahead.Chunk | None = None
    for n, contract_id in enumerate(ids):
        if n % readahead.CHUNK == 0:
            chunk = readahead.load(database, ids[n : n + readahead.CHUNK])
        assert chunk is not None
        if progress is not None:
            progress(report.contracts, len(ids), contract_id)
        report.contracts += 1
        before = len(report.issued)
        try:
            with database.unit() as session:
                # Read ahead with its chunk; an ended contract is read afresh (its
                # early-end charges are written before it is priced).
                contract = chunk.attach(session, contract_id)
                ahead = chunk if contract is not None else None
                contract = contract or session.get(Contract, contract_id)
                assert contract is not None
                invoice_contract(
                    session,
                    who,
                    registry,
                    contract,
                    run_on,
                    dry_run=dry_run,
                    report=report,
                    book=book,
                    settings=settings,
                    chunk=ahead,
                )
        except (PricingProblem, NuagesError) as exc:
            del report.issued[before:]
            detail = exc.detail if isinstance(exc, NuagesError) else str(exc)
            report.problems.append({"contract_id": contract_id, "problem": detail})
            continue
        except IntegrityError:
            # Another run issued this period first: the unique constraint kept it single.
            del report.issued[before:]
            report.skipped += 1
            continue
        except OperationalError:
            raise  # the database itself is gone: no later contract would fare better
        except Exception as exc:  # one contract's bad data stops only that contract
            # 17.2: a contract whose data cannot make a document (a legacy client name
            # with a control character fails the XML writer) is rolled back with its
            # number and reported; the contracts after it are still invoiced.
            log.exception("invoicing run: contract %s failed", contract_id)
            del report.issued[before:]
            report.problems.append(
                {
                    "contract_id": contract_id,
                    "problem": f"could not build the document ({type(exc).__name__}: {exc})",
                }
            )
            continue
        if after_each is not None and len(report.issued) > before:
            after_each([d["invoice_id"] for d in report.issued[before:]])
    if progress is not None:
        progress(len(ids), len(ids), "done")
    if not dry_run and report.run_id is not None:
        with database.unit() as session:
            done = session.get(InvoiceRun, report.run_id)
            assert done is not None
            row = done
            row.finished_at = utc_now()
            row.issued = len(report.issued)
            row.problems = len(report.problems)
            row.report = json.dumps(report.as_dict()["problems"])
    return report
