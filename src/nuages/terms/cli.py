"""``nuages offers`` and ``nuages terms``: check terms files and compute what they say.

A thin edge: every number comes from ``nuages.terms.apply`` / ``deadlines``, the same
functions the billing and SLA services call. Bad input prints one clear line on stderr
and exits 2; ``--json`` prints one JSON object whose amounts are decimal strings.
Moments written without a UTC offset are read in the offer's time zone.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from nuages import cli_output as out
from nuages.kernel.errors import NuagesError
from nuages.kernel.money import parse_amount, round_cents

if TYPE_CHECKING:
    from nuages.terms.calc import sla
    from nuages.terms.schema import Offer

__all__ = ["offers_app", "terms_app"]

offers_app = typer.Typer(help="Offer terms files: check and list them.", no_args_is_help=True)
terms_app = typer.Typer(
    help="Compute what an offer's terms say (SLA, deadlines, revision, interest).",
    no_args_is_help=True,
)

_JSON = out.JSON
# The events of nuages.terms.deadlines.Event, spelled here so that `--help` does not load
# the calendars (a test keeps them equal).
EVENTS = (
    "order",
    "terms_change",
    "service_change",
    "change_termination_notice",
    "maintenance_announcement",
    "termination_notice",
    "contract_end",
    "withdrawal_start",
    "invoice_issued",
    "invoice_received",
    "due_date",
    "breach_notice",
    "reminder",
    "force_majeure_start",
    "suspension_start",
    "incident_known",
    "relocation_notice",
    "footprint_audit_end",
    "audit_request",
)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _text(value: Any) -> Any:
    """JSON-ready value: decimals as strings (never floats), moments as ISO 8601."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    return value


def _emit(data: dict[str, Any], as_json: bool) -> None:
    data = _text(data)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    for key, value in data.items():
        if isinstance(value, list):
            typer.echo(f"{key}:")
            for item in value:
                if isinstance(item, dict):
                    typer.echo("  - " + "; ".join(f"{k}: {v}" for k, v in item.items()))
                else:
                    typer.echo(f"  - {item}")
        else:
            typer.echo(f"{key}: {'' if value is None else value}")


def _offer(ref: str) -> Offer:
    from nuages.terms.loader import resolve_offer

    try:
        return resolve_offer(ref)
    except NuagesError as exc:
        _fail(exc.detail)


def _moment(text: str, offer: Offer, what: str) -> dt.datetime:
    """An ISO date or date-time; without an offset it is read in the offer's zone."""
    from nuages.terms import apply

    try:
        if "T" in text or " " in text.strip():
            moment = dt.datetime.fromisoformat(text)
        else:
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0))
    except ValueError:
        _fail(f"{what} {text!r} is not an ISO date or date-time (e.g. 2026-10-05T09:30)")
    if moment.tzinfo is None:
        calendar = apply.calendar_for(offer)
        return calendar.local_to_utc(moment.date(), moment.time())
    return moment.astimezone(dt.UTC)


def _date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _fail(f"{what} {text!r} is not an ISO date (e.g. 2026-03-31)")


def _amount(text: str, what: str) -> Decimal:
    try:
        value = parse_amount(text)
    except ValueError:
        _fail(f"{what} {text!r} is not a decimal amount (e.g. 1200.50)")
    if value < 0:
        _fail(f"{what} {text!r} is negative")
    return value


@offers_app.command("check")
def offers_check(
    files: list[str] = typer.Argument(..., help="terms files to check"),  # noqa: B008
    as_json: bool = _JSON,
) -> None:
    """Check terms files: exit 0 when all are valid, else 1 with one line per problem."""
    from nuages.terms.loader import check_files

    problems = check_files(files)
    if as_json:
        _emit({"files": files, "ok": not problems, "problems": [str(p) for p in problems]}, True)
        if problems:
            raise typer.Exit(1)
        return
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {len(files)} file(s)", err=True)
        raise typer.Exit(1)
    for file in files:
        typer.echo(f"{file}: ok")


def _outage(text: str, offer: Offer) -> sla.Outage:
    from nuages.terms.calc import sla

    parts = text.split("/")
    if len(parts) not in (2, 3):
        _fail(f"outage {text!r} must be START/END or START/END/CAUSE")
    start = _moment(parts[0], offer, "outage start")
    end = _moment(parts[1], offer, "outage end")
    if end <= start:
        _fail(f"outage {text!r} ends before it starts")
    cause = parts[2].strip() if len(parts) == 3 and parts[2].strip() else None
    if cause is not None and cause not in offer.sla.excusable_causes:
        # A cause only ever marks an outage as excused: one the offer does not list (a typo,
        # another offer's cause) must not be silently counted as unavailability.
        known = ", ".join(offer.sla.excusable_causes) or "none"
        _fail(
            f"outage cause {cause!r} is not an excusable cause of {offer.id} "
            f"(sla.excusable_causes: {known}); leave the cause out for an outage that counts"
        )
    return sla.Outage(start, end, cause)


def _month(text: str) -> tuple[int, int]:
    try:
        day = dt.date.fromisoformat(f"{text}-01")
    except ValueError:
        _fail(f"month {text!r} is not YYYY-MM")
    return day.year, day.month


@terms_app.command("sla")
def terms_sla(
    offer_ref: str = typer.Argument(..., metavar="OFFER", help="offer id or terms file"),
    month: str = typer.Option(..., "--month", help="calendar month, YYYY-MM"),
    outages: list[str] = typer.Option(  # noqa: B008
        # No square brackets here: Typer renders help with rich markup, where "[/CAUSE]"
        # is a closing tag and crashed `--help` (MarkupError).
        [],
        "--outage",
        help="START/END or START/END/CAUSE, ISO date-times; CAUSE is one of the offer's "
        "excusable causes (sla.excusable_causes); repeatable",
    ),
    monthly_amount: str | None = typer.Option(
        None, "--monthly-amount", help="the month's amount the credit is a share of"
    ),
    as_json: bool = _JSON,
) -> None:
    """Availability, counted minutes and credit of one month (002 §6, SPEC §17)."""
    from nuages.terms import apply

    offer = _offer(offer_ref)
    year, month_no = _month(month)
    parsed = [_outage(o, offer) for o in outages]
    amount = _amount(monthly_amount, "monthly amount") if monthly_amount is not None else None
    try:
        result = apply.sla_for_month(offer, year, month_no, parsed, amount)
    except NuagesError as exc:
        _fail(exc.detail)
    report = result.report
    shown = report.availability_pct.quantize(Decimal("0.0001"), rounding=ROUND_FLOOR)
    _emit(
        {
            "offer": offer.id,
            "month": f"{year:04d}-{month_no:02d}",
            "sla_enabled": offer.sla.enabled,
            "objective_pct": result.objective_pct,
            "availability_pct": shown,
            "availability_pct_exact": report.availability_pct,
            "objective_met": result.objective_met,
            "counted_minutes": report.unavailable_minutes,
            # 002 §6 / SPEC §17: what availability is a share of, and how many minutes.
            "denominator": report.denominator,
            "denominator_minutes": report.denominator_minutes,
            "coverage_minutes": report.coverage_minutes,
            "minutes_in_month": report.minutes_in_month,
            "credit_rate_pct": report.credit_rate_pct,
            "monthly_amount": result.monthly_amount,
            "credit_amount": result.credit_amount,
            "rolling_cap_applied": result.rolling_cap_applied,
            "rolling_cap_base": result.rolling_cap_base,
            "counted_intervals": [f"{s.isoformat()}/{e.isoformat()}" for s, e in report.counted],
        },
        as_json,
    )


@terms_app.command("deadline")
def terms_deadline(
    offer_ref: str = typer.Argument(..., metavar="OFFER", help="offer id or terms file"),
    event_name: str = typer.Option(
        ..., "--event", help=f"the event that opens the windows: {', '.join(EVENTS)}"
    ),
    at: str = typer.Option(..., "--at", help="when it happened (ISO date or date-time)"),
    consumer: bool = typer.Option(False, "--consumer", help="the client is a consumer"),
    contract_start: str | None = typer.Option(
        None, "--contract-start", help="start of the contract (to place a termination)"
    ),
    in_force: str | None = typer.Option(
        None, "--in-force", help="when announced new terms take effect (004 §3 terms_change)"
    ),
    as_json: bool = _JSON,
) -> None:
    """Every window EVENT opens under the offer, and when each ends (exclusive end)."""
    from nuages.terms import apply
    from nuages.terms.deadlines import Event, deadlines_for

    if event_name not in EVENTS:
        _fail(f"--event {event_name!r} is not one of {', '.join(EVENTS)}")
    event = Event(event_name)
    offer = _offer(offer_ref)
    moment = _moment(at, offer, "--at")
    start = _moment(contract_start, offer, "--contract-start") if contract_start else None
    calendar = apply.calendar_for(offer)
    effective = _moment(in_force, offer, "--in-force") if in_force else None
    found = deadlines_for(
        offer, event, moment, consumer=consumer, contract_start=start, in_force_at=effective
    )
    _emit(
        {
            "offer": offer.id,
            "event": event.value,
            "at": moment,
            "timezone": offer.offer.timezone,
            "deadlines": [
                {
                    "name": d.name,
                    "clause": d.clause,
                    "period": d.period,
                    "ends_at": d.ends_at,
                    "ends_at_local": calendar.to_local(d.ends_at),
                    "last_day": d.last_day,
                    "meaning": d.meaning,
                }
                for d in found
            ],
        },
        as_json,
    )
    if not found and not as_json:
        typer.echo(f"(no window of {offer.id} opens on {event.value})")


def _index(text: str) -> tuple[str, Decimal, Decimal]:
    name, sep, values = text.partition("=")
    base, sep2, current = values.partition(":")
    if not (sep and sep2 and name.strip()):
        _fail(f"index {text!r} must be NAME=BASE:CURRENT, e.g. syntec=280.2:291.5")
    return name.strip(), _amount(base, f"index {name} base"), _amount(current, f"index {name}")


@terms_app.command("revise")
def terms_revise(
    offer_ref: str = typer.Argument(..., metavar="OFFER", help="offer id or terms file"),
    price: str = typer.Option(..., "--price", help="P0, the price before revision"),
    indices: list[str] = typer.Option(  # noqa: B008
        [], "--index", help="NAME=BASE:CURRENT index values; repeatable"
    ),
    proposed: str | None = typer.Option(
        None, "--proposed", help="the new price proposed (offers capping an increase)"
    ),
    as_json: bool = _JSON,
) -> None:
    """The yearly price revision (000 §13.3, 004 §8.1 index formulas; 003 §14.3 5 % cap)."""
    from nuages.terms import apply

    offer = _offer(offer_ref)
    p0 = _amount(price, "price")
    values: dict[str, tuple[Decimal, Decimal]] = {}
    for text in indices:
        name, base, current = _index(text)
        if base == 0 or current == 0:
            _fail(f"index {name} values must be positive")
        values[name] = (base, current)
    new = _amount(proposed, "proposed price") if proposed is not None else None
    try:
        result = apply.revise_price(offer, p0, values, proposed=new)
    except (NuagesError, ValueError) as exc:
        _fail(exc.detail if isinstance(exc, NuagesError) else str(exc))
    _emit(
        {
            "offer": offer.id,
            "formula": offer.indexation.formula,
            "price_before": p0,
            "factor": result.factor,
            "formula_price": result.formula_price,
            "price": result.price,
            "price_cents": round_cents(result.price),
            "capped": result.capped,
        },
        as_json,
    )


@terms_app.command("interest")
def terms_interest(
    offer_ref: str = typer.Argument(..., metavar="OFFER", help="offer id or terms file"),
    amount: str = typer.Option(..., "--amount", help="the sum paid late"),
    due: str = typer.Option(..., "--due", help="due date (ISO)"),
    paid: str = typer.Option(..., "--paid", help="payment date (ISO)"),
    legal_rate: str | None = typer.Option(
        None,
        "--legal-rate",
        help="legal interest rate in force on the due date, % a year, of the contract's "
        "law (the offer's legal_rate_series)",
    ),
    as_json: bool = _JSON,
) -> None:
    """Late-payment interest (000 §13.1: multiple of the legal rate; 001 §4.4: 8 %/year)."""
    from nuages.terms import apply
    from nuages.terms.calc import interest

    offer = _offer(offer_ref)
    principal = _amount(amount, "amount")
    due_on, paid_on = _date(due, "--due"), _date(paid, "--paid")
    rates: list[interest.LegalRate] = []
    rule = offer.billing.late_payment
    if rule.rule == "legal_rate_multiple":
        if legal_rate is None:
            _fail(
                f"offer {offer.id} applies {rule.legal_rate_multiple} × the legal rate in force "
                "on the due date: give --legal-rate PCT"
            )
        rate = _amount(legal_rate, "legal rate")
        series = apply.legal_rate_series(offer)
        rates = [interest.LegalRate(due_on, due_on + dt.timedelta(days=1), rate, series)]
    try:
        result = apply.interest_for(offer, principal, due_on, paid_on, rates)
    except NuagesError as exc:
        _fail(exc.detail)
    _emit(
        {
            "offer": offer.id,
            "rule": rule.rule,
            "amount": principal,
            "due": due_on,
            "paid": paid_on,
            "annual_rate_pct": result.annual_rate_pct,
            "days_late": result.days,
            "months_counted": result.months,
            "interest": result.amount,
            "interest_unrounded": result.unrounded,
            # 000 §13.1 / SPEC §17: the legal rate multiplied, and whose it is.
            "legal_rate_pct": result.legal_rate.rate_pct if result.legal_rate else None,
            "legal_rate_series": result.legal_rate.series if result.legal_rate else None,
        },
        as_json,
    )
