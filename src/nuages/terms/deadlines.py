"""Every window an event opens under an offer, and the moment it ends.

Pure: an offer, an event and its moment in, a list of ``Deadline`` out. Periods are
added with the contract calendar (``ContractCalendar.add``, SPEC §16–§17: the event's
day never counts, clear days exclude the last day too, working days skip weekends and
the law's holidays), so a deadline is the *exclusive* end of its window — the first
instant at which it is over — as an aware UTC datetime.

Windows that must end *before* a date (a non-renewal notice "at least 3 months before
the term", 001 §3.2) are turned around: the deadline is the end of the last day on
which the notice may still be received.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from nuages.kernel.calendar import ONE_DAY, ContractCalendar, shift_date_months
from nuages.kernel.clock import ensure_aware
from nuages.terms.apply import calendar_for, duration_unit, invoice_received_at
from nuages.terms.schema import Duration, Offer, Unit

__all__ = ["Deadline", "Event", "deadlines_for", "latest_notice", "term_ends"]

_MAX_TERMS = 600


class Event(StrEnum):
    """Events that open a contractual window."""

    order = "order"
    terms_change = "terms_change"
    service_change = "service_change"
    # 004 §4, §8.1: the client's termination notice after a change of service or price.
    change_termination_notice = "change_termination_notice"
    maintenance_announcement = "maintenance_announcement"
    termination_notice = "termination_notice"
    contract_end = "contract_end"
    withdrawal_start = "withdrawal_start"
    invoice_issued = "invoice_issued"
    invoice_received = "invoice_received"
    due_date = "due_date"
    breach_notice = "breach_notice"
    reminder = "reminder"
    force_majeure_start = "force_majeure_start"
    suspension_start = "suspension_start"
    incident_known = "incident_known"
    relocation_notice = "relocation_notice"
    footprint_audit_end = "footprint_audit_end"
    # 001 §16.8: the client's announcement of a GDPR audit.
    audit_request = "audit_request"


@dataclass(frozen=True)
class Deadline:
    """One window opened by an event: what it is, its clause, and its exclusive end."""

    name: str
    clause: str | None
    period: str
    ends_at: dt.datetime
    last_day: dt.date
    meaning: str


class _Builder:
    """Collects the deadlines of one event under one offer."""

    def __init__(self, offer: Offer, at: dt.datetime) -> None:
        self.offer = offer
        self.calendar = calendar_for(offer)
        self.at = ensure_aware(at)
        self.out: list[Deadline] = []

    def add(
        self,
        name: str,
        duration: Duration | None,
        meaning: str,
        *,
        clause: str | None = None,
        start: dt.datetime | None = None,
    ) -> dt.datetime | None:
        if duration is None:
            return None
        end = self.calendar.add(start or self.at, duration.amount, duration_unit(duration))
        self.put(name, end, str(duration), meaning, duration.clause or clause)
        return end

    def put(
        self, name: str, end: dt.datetime, period: str, meaning: str, clause: str | None
    ) -> None:
        self.out.append(Deadline(name, clause, period, end, self.calendar.last_day(end), meaning))


def latest_notice(
    calendar: ContractCalendar, term_end: dt.datetime, notice: Duration
) -> dt.datetime:
    """The exclusive end of the time a notice of ``notice`` before ``term_end`` may arrive.

    A notice received at ``t`` is in time when ``notice`` counted from ``t`` (the
    receipt day not counted) is over by ``term_end``. For day-based units the result is
    the end of the last such day (local midnight). For minutes and hours it is
    ``term_end − notice``, a notice at that very instant being treated as late (by one
    microsecond) to keep every deadline an exclusive end.
    """
    term_end = ensure_aware(term_end)
    if notice.unit is Unit.minutes:
        return term_end - dt.timedelta(minutes=notice.amount)
    if notice.unit is Unit.hours:
        return term_end - dt.timedelta(hours=notice.amount)
    unit = duration_unit(notice)
    day = calendar.local_date(term_end)
    while calendar.add(calendar.start_of_day(day), notice.amount, unit) > term_end:
        day -= ONE_DAY
    return calendar.start_of_day(day + ONE_DAY)


def _shift(calendar: ContractCalendar, start: dt.datetime, duration: Duration) -> dt.datetime:
    """A term of ``duration`` starting at ``start`` ends at this instant (exclusive)."""
    if duration.unit is Unit.months:
        return calendar.shift_months(start, duration.amount)
    if duration.unit is Unit.years:
        return calendar.shift_months(start, 12 * duration.amount)
    if duration.unit is Unit.minutes:
        return start + dt.timedelta(minutes=duration.amount)
    if duration.unit is Unit.hours:
        return start + dt.timedelta(hours=duration.amount)
    return calendar.add(start, duration.amount, duration_unit(duration))


def shift_by(calendar: ContractCalendar, start: dt.datetime, duration: Duration) -> dt.datetime:
    """The exclusive end of ``duration`` after ``start`` in ``calendar`` (public name)."""
    return _shift(calendar, start, duration)


def _months(duration: Duration) -> int | None:
    if duration.unit is Unit.months:
        return duration.amount
    if duration.unit is Unit.years:
        return 12 * duration.amount
    return None


def term_ends(offer: Offer, start: dt.datetime) -> Iterator[dt.datetime]:
    """The successive ends of the initial term and of each tacit renewal.

    001 §3.1–3.2: the first term ends on 31 December of the following calendar year and
    each renewal runs 1 January – 31 December. Month-based terms are counted from the
    start each time (31 January + 1, 2, 3 months: 28 February, 31 March, 30 April).
    """
    calendar = calendar_for(offer)
    start = ensure_aware(start)
    terms = offer.duration
    if terms.end_alignment == "december_31_following_year":
        first = calendar.start_of_day(dt.date(calendar.local_date(start).year + 2, 1, 1))
    else:
        first = _shift(calendar, start, terms.initial)
    yield first
    period = terms.renewal.period
    if not terms.renewal.tacit or period is None:
        return
    initial_months, period_months = _months(terms.initial), _months(period)
    end = first
    for k in range(1, _MAX_TERMS):
        if terms.renewal.aligned_to == "january_1" and period_months is not None:
            first_year = calendar.local_date(first).year
            end = calendar.start_of_day(dt.date(first_year + k * period_months // 12, 1, 1))
        elif (
            initial_months is not None
            and period_months is not None
            and terms.end_alignment == "none"
        ):
            end = calendar.shift_months(start, initial_months + k * period_months)
        else:
            end = _shift(calendar, end, period)
        yield end


def _next_term_end(offer: Offer, start: dt.datetime, at: dt.datetime) -> dt.datetime:
    """The first term end at which a notice received at ``at`` can end the contract."""
    calendar = calendar_for(offer)
    notice = offer.duration.notice_before_term_end
    for end in term_ends(offer, start):
        limit = end if notice is None else latest_notice(calendar, end, notice)
        if at < limit:
            return end
    raise ValueError("no term end found within the contract's horizon")


def deadlines_for(
    offer: Offer,
    event: Event,
    at: dt.datetime,
    *,
    consumer: bool = False,
    contract_start: dt.datetime | None = None,
    in_force_at: dt.datetime | None = None,
) -> list[Deadline]:
    """Every window ``event`` at ``at`` opens under ``offer``, soonest end first.

    ``consumer`` says whether the client is a consumer (only then does 003 §12's
    withdrawal apply); ``contract_start`` lets a termination notice be turned into the
    term end at which it takes effect; ``in_force_at`` is when announced new terms take
    effect (004 §3: the refusal window runs from then; without it the event's moment is
    taken as the entry into force).
    """
    b = _Builder(offer, at)
    o = offer
    if event is Event.order:
        _order(b, consumer)
    elif event is Event.terms_change:
        _terms_change(b, in_force_at)
    elif event is Event.service_change:
        b.add(
            "terminate-after-service-change",
            o.changes.service_change_termination_window,
            "the client may terminate because of the change until then",
            clause=o.changes.clause,
        )
        b.add(
            "change-termination-earliest-effect",
            o.changes.change_termination_notice,
            "the client may terminate because of the change with the Durée notice: a notice "
            "given now ends the contract then, without waiting for the term (no deadline to "
            "give it)",
            clause=o.changes.clause,
        )
    elif event is Event.change_termination_notice:
        b.add(
            "termination-effective",
            o.changes.change_termination_notice,
            "the contract ends then, the notice counted from the client's notice, not the "
            "term"
            + (
                "; it takes effect only once the client confirms it has its data, billed until then"
                if o.duration.effective_when_data_recovered
                else ""
            ),
            clause=o.changes.clause,
        )
    elif event is Event.maintenance_announcement:
        b.add(
            "maintenance-earliest-start",
            o.maintenance.notice,
            "the announced maintenance may start from then"
            + (
                " (earlier, it counts against the SLA)"
                if o.maintenance.excluded_from_sla_only_with_notice
                else ""
            ),
            clause=o.maintenance.clause,
        )
    elif event is Event.termination_notice:
        _termination_notice(b, contract_start)
    elif event is Event.contract_end:
        _contract_end(b)
    elif event is Event.withdrawal_start:
        _withdrawal(b, consumer)
    elif event is Event.invoice_issued:
        _invoice(b, "issue")
        if o.billing.invoiced is not None and o.billing.invoiced.assumed_receipt_after_issue:
            # SPEC §17: no receipt recorded yet, so the issue date plus one day.
            b.at = invoice_received_at(o, b.at)
            _invoice(b, "receipt")
    elif event is Event.invoice_received:
        _invoice(b, "receipt")
    elif event is Event.due_date:
        _due_date(b)
    elif event is Event.breach_notice:
        _breach_notice(b)
    elif event is Event.reminder:
        b.add(
            "remedy-after-reminder",
            o.termination.remedy_after_reminder,
            "unremedied by then, the contract may be suspended or ended",
            clause=o.termination.clause,
        )
        _grounds(b, "reminder")
    elif event is Event.force_majeure_start:
        _force_majeure(b)
    elif event is Event.suspension_start:
        b.add(
            "terminate-after-suspension",
            o.suspension.provider_may_terminate_after,
            "a suspension still running then lets the provider terminate",
            clause=o.suspension.clause,
        )
    elif event is Event.incident_known:
        b.add(
            "liability-claim",
            o.liability.claim_window,
            "a claim must reach the provider by then, on pain of forfeiture",
            clause=o.liability.clause,
        )
        if o.sla.claim is not None:
            b.add("sla-credit-claim", o.sla.claim.window, "credits must be claimed by then")
    elif event is Event.relocation_notice:
        relocation = o.catalogue.hosting.relocation
        if relocation is not None:
            b.add(
                "relocation-earliest",
                relocation.notice,
                "data may move outside the allowed countries from then",
                clause=relocation.clause,
            )
            b.add(
                "terminate-after-relocation-notice",
                relocation.termination_window,
                "the client may terminate without penalty until then",
                clause=relocation.clause,
            )
    elif event is Event.audit_request:
        protection = o.data_protection
        if protection is not None:
            b.add(
                "audit-earliest-start",
                protection.audit_notice,
                "the audit may start from then (jours ouvrables: Monday–Saturday minus holidays)",
                clause=protection.clause,
            )
    elif event is Event.footprint_audit_end:
        probation = o.sla.probation
        if probation is not None and probation.starts_on == "footprint_audit_end":
            b.add(
                "sla-probation-end",
                probation.period,
                "the SLA applies to managed services from then",
                clause=probation.clause,
            )
    return sorted(b.out, key=lambda d: (d.ends_at, d.name))


def _terms_change(b: _Builder, in_force_at: dt.datetime | None) -> None:
    """000 §4: the refusal window runs from the notice; 004 §3: from the entry into force
    of the new terms (announced by e-mail before it)."""
    changes = b.offer.changes
    start = b.at
    if changes.refusal_window_from == "entry_into_force" and in_force_at is not None:
        start = ensure_aware(in_force_at)
    b.add(
        "refuse-terms-change",
        changes.refusal_window,
        "the client may refuse the new terms until then; "
        + (
            "using the service after they take effect without refusing is acceptance"
            if changes.refusal_window_from == "entry_into_force"
            else "silence is acceptance"
        ),
        clause=changes.clause,
        start=start,
    )


def _order(b: _Builder, consumer: bool) -> None:
    terms = b.offer.duration
    first = next(term_ends(b.offer, b.at))
    b.put(
        "initial-term-end",
        first,
        "to 31 December of the following year"
        if terms.end_alignment == "december_31_following_year"
        else str(terms.initial),
        "the initial term ends then" + (", renewed tacitly" if terms.renewal.tacit else ""),
        terms.initial.clause or terms.clause,
    )
    if terms.minimum_service is not None:
        end = _shift(b.calendar, b.at, terms.minimum_service)
        b.put(
            "minimum-service-end",
            end,
            str(terms.minimum_service),
            "a service is billed at least until then",
            terms.minimum_service.clause,
        )
    _withdrawal(b, consumer)


def _withdrawal(b: _Builder, consumer: bool) -> None:
    withdrawal = b.offer.duration.withdrawal
    if withdrawal is None or (withdrawal.consumers_only and not consumer):
        return
    end = b.calendar.add(b.at, withdrawal.period.amount, duration_unit(withdrawal.period))
    extended = ""
    if withdrawal.extend_to_next_jour_ouvrable:
        later = b.calendar.extend_to_next_jour_ouvrable(end)
        if later != end:
            extended = " (extended past a Saturday, Sunday or holiday)"
        end = later
    b.put(
        "consumer-withdrawal",
        end,
        str(withdrawal.period),
        "the consumer may withdraw without reason or penalty until then" + extended,
        withdrawal.period.clause or withdrawal.clause,
    )


def _termination_notice(b: _Builder, contract_start: dt.datetime | None) -> None:
    o = b.offer
    terms = o.duration
    note = ""
    if terms.effective_when_data_recovered:
        note = "; it takes effect only once the client confirms it has its data, billed until then"
    if contract_start is not None:
        end = _next_term_end(o, contract_start, b.at)
        b.put(
            "termination-effective",
            end,
            "to the next term end"
            + (
                f" at least {terms.notice_before_term_end} away"
                if terms.notice_before_term_end
                else ""
            ),
            "the contract ends then" + note,
            (terms.notice_before_term_end.clause if terms.notice_before_term_end else None)
            or terms.clause,
        )
    elif terms.notice_before_term_end is not None:
        b.add(
            "termination-notice-period",
            terms.notice_before_term_end,
            "the contract ends at the first term end on or after this" + note,
            clause=terms.clause,
        )
    rev = o.reversibility
    if rev.starts_on == "termination_letter_received":
        b.add(
            "reversibility-window",
            rev.window,
            "the service continues so the client can copy its data until then; "
            "the VM and its data are erased after",
            clause=rev.clause,
        )


def _contract_end(b: _Builder) -> None:
    o = b.offer
    rev = o.reversibility
    if rev.window is not None:
        meaning = "the client may get its data back until then"
        if rev.starts_on == "termination_letter_received":
            meaning += " (counted from the receipt of the termination letter)"
        if rev.fee is not None:
            meaning += f"; fee {rev.fee} {o.offer.currency} per {rev.fee_per}"
        if rev.requires_paid_up:
            meaning += "; only once every invoice is paid"
        if rev.after_window is not None:
            meaning += f"; then: {rev.after_window.replace('_', ' ')}"
        b.add("reversibility-window", rev.window, meaning, clause=rev.clause)
    notice = o.duration.notice_before_term_end
    if notice is not None:
        b.put(
            "non-renewal-notice-latest",
            latest_notice(b.calendar, b.at, notice),
            f"{notice} before",
            "a non-renewal or termination notice must be received before then",
            notice.clause or o.duration.clause,
        )
    tariffs = o.changes.renewal_tariffs_notice
    if tariffs is not None:
        b.put(
            "renewal-tariffs-notice-latest",
            latest_notice(b.calendar, b.at, tariffs),
            f"{tariffs} before",
            "new tariffs for the renewal must be notified before then",
            tariffs.clause or o.changes.clause,
        )
    if o.confidentiality is not None:
        b.add(
            "confidentiality-end",
            o.confidentiality.after_end,
            "confidentiality obligations last until then",
            clause=o.confidentiality.clause,
        )


def _invoice(b: _Builder, basis: str) -> None:
    invoiced = b.offer.billing.invoiced
    if invoiced is None:
        return
    if invoiced.payment_term_from == basis:
        b.add("payment-due", invoiced.payment_term, "the invoice is due by then")
    elif invoiced.payment_term_from == "end_of_issue_month" and basis == "issue":
        # 004 §8.2 "dans le cours du mois suivant l'émission": N months counted from the
        # end of the month of issue end with the N-th following calendar month.
        term = invoiced.payment_term
        first_of_month = b.calendar.local_date(b.at).replace(day=1)
        if term.unit in (Unit.months, Unit.years):
            months = term.amount * (12 if term.unit is Unit.years else 1)
            end = b.calendar.start_of_day(shift_date_months(first_of_month, 1 + months))
            b.put(
                "payment-due",
                end,
                f"{term} after the end of the month of issue",
                "the invoice is due by then",
                term.clause,
            )
        else:
            month_end = b.calendar.start_of_day(shift_date_months(first_of_month, 1))
            b.add(
                "payment-due",
                term,
                "the invoice is due by then (counted from the end of the month of issue)",
                start=month_end - dt.timedelta(microseconds=1),
            )
    if invoiced.dispute_window is not None and invoiced.dispute_window_from == basis:
        b.add(
            "invoice-dispute",
            invoiced.dispute_window,
            "the invoice may be disputed until then; after, it counts as accepted",
        )
    if basis == "issue":
        _grounds(b, "issue_date")


def _due_date(b: _Builder) -> None:
    rule = b.offer.billing.late_payment
    if rule.rule != "none":
        start = (
            b.calendar.start_of_day(b.calendar.local_date(b.at) + ONE_DAY)
            if rule.accrues_from == "day_after_due_date"
            else b.at
        )
        b.put(
            "late-interest-from",
            start,
            "from the day after the due date"
            if rule.accrues_from == "day_after_due_date"
            else "from the due date",
            "unpaid sums bear late interest from then",
            rule.clause,
        )
    _grounds(b, "due_date")


def _breach_notice(b: _Builder) -> None:
    t = b.offer.termination
    meaning = "left unremedied until then, the contract may be terminated"
    if t.may_suspend_during_cure:
        meaning += " (VMs may be suspended before)"
    b.add("breach-cure-end", t.breach_cure, meaning, clause=t.clause)
    _grounds(b, "formal_notice")


def _force_majeure(b: _Builder) -> None:
    fm = b.offer.termination.force_majeure
    if fm is None:
        return
    b.add("force-majeure-notify", fm.notify_within, "the affected party must notify it by then")
    automatic = b.add(
        "force-majeure-automatic-termination",
        fm.automatic_termination_after,
        "still suspended then, the contract is terminated (after the notice below)",
    )
    if automatic is not None and fm.termination_notice is not None:
        b.add(
            "force-majeure-termination-effective",
            fm.termination_notice,
            "the automatic termination takes effect then",
            start=automatic,
        )
    b.add(
        "force-majeure-either-party",
        fm.either_party_may_terminate_after,
        "lasting longer (consecutive days or not), either party may terminate",
    )


def _grounds(b: _Builder, after: str) -> None:
    for ground in b.offer.suspension.grounds:
        if ground.after == after and ground.delay is not None:
            b.add(
                f"suspension-{ground.cause}",
                ground.delay,
                f"the provider may suspend for {ground.cause.replace('-', ' ')} from then",
                clause=ground.clause,
            )
