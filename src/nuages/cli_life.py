"""``nuages contracts``: the contract's life from the command line (issue #21), acting
as provider staff — deadlines, notices to quit, formal notices, terms changes, price
revisions and the daily pass. An edge (like ``cli.py``): it may call several slices."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from nuages import cli_output as out

contracts_app = typer.Typer(
    help="Contract life: deadlines, notices to quit, terms changes, revisions.",
    no_args_is_help=True,
)
_JSON = out.JSON


def _moment(option: str, text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        out.fail(f"{option} {text!r}: give an ISO 8601 time, e.g. 2026-11-02T14:00:00Z", 2)
    if moment.tzinfo is None:
        out.fail(f"{option} {text!r}: give a time zone, e.g. 2026-11-02T14:00:00Z", 2)
    return moment.astimezone(dt.UTC)


def _within(text: str | None) -> dt.timedelta | None:
    if text is None:
        return None
    found = re.fullmatch(r"(\d{1,4})d", text.strip())
    if not found or int(found.group(1)) == 0:
        out.fail(f"--within {text!r}: give a number of days, e.g. 30d", 2)
    return dt.timedelta(days=int(found.group(1)))


def _registry() -> Any:
    from nuages.contracts.offers import OfferRegistry
    from nuages.kernel.settings import get_settings

    return OfferRegistry.from_directory(get_settings().offers_dir)


def _rows(items: list[Any], schema: Any) -> list[dict[str, Any]]:
    return [schema.model_validate(i, from_attributes=True).model_dump(mode="json") for i in items]


@contracts_app.command("deadlines")
def deadlines_cmd(
    contract_id: Annotated[str | None, typer.Argument(help="one contract (default: all)")] = None,
    within: Annotated[str | None, typer.Option(help="only the next N days, e.g. 30d")] = None,
    as_json: bool = _JSON,
) -> None:
    """What is coming for one contract or all: term ends, notice deadlines, refusal
    windows, penalty-free exits, revisions, terminable dates, each with its clause."""
    span = _within(within)
    from nuages.contracts import deadlines, life_schemas
    from nuages.contracts.cli import _run, _staff
    from nuages.kernel.clock import utc_now
    from nuages.reversibility import deadlines as _exit  # noqa: F401 - the exit's dates

    now = utc_now()
    until = now + span if span else None

    def work(session: Any) -> list[dict[str, Any]]:
        if contract_id is None:
            found = deadlines.within(session, _staff(), now, until)
        else:
            found = [
                d
                for d in deadlines.for_contract(session, _staff(), contract_id, now)
                if until is None or d.at <= until
            ]
        return _rows(found, life_schemas.DeadlineOut)

    out.emit(_run(work), as_json)


@contracts_app.command("terminate")
def terminate_cmd(
    contract_id: str,
    cause: Annotated[str, typer.Option(help="client_notice, provider_notice, client_breach, …")] = (
        "client_notice"
    ),
    received_at: Annotated[str | None, typer.Option(help="the letter's receipt")] = None,
    first_presented_at: Annotated[
        str | None, typer.Option(help="003 §13.1.5: the postmark of its first presentation")
    ] = None,
    reason: Annotated[str, typer.Option(help="kept in the history")] = "",
    confirm: Annotated[bool, typer.Option(help="give it (else only show the date)")] = False,
    as_json: bool = _JSON,
) -> None:
    """Record a notice to quit from a letter, or terminate on an open ground; without
    --confirm only the effective date is shown (nothing written)."""
    from nuages.contracts import termination
    from nuages.contracts.cli import _run, _staff
    from nuages.contracts.ending import EndCause
    from nuages.reversibility import relocation as _moves  # noqa: F401 - 001 §5.3 exits

    try:
        end_cause = EndCause(cause)
    except ValueError:
        out.fail(f"--cause {cause!r}: one of {', '.join(c.value for c in EndCause)}", 2)
    received = _moment("--received-at", received_at)
    presented = _moment("--first-presented-at", first_presented_at)

    def work(session: Any) -> dict[str, Any]:
        plan, row = termination.terminate(
            session, _staff(), contract_id, end_cause, confirm=confirm, reason=reason,
            received_at=received, first_presented_at=presented,
        )  # fmt: skip
        return {
            "cause": plan.cause.value,
            "effective_at": plan.effective_at,
            "in_time": plan.in_time,
            "penalty_free": plan.penalty_free,
            "clause": plan.clause,
            "message": plan.message,
            "termination_id": row.id if row else None,
        }

    out.emit(_run(work), as_json)


@contracts_app.command("formal-notice")
def formal_notice_cmd(
    contract_id: str,
    ground: Annotated[str, typer.Option(help="client_breach or force_majeure")],
    reason: Annotated[str, typer.Option(help="told to the client")],
    suspend: Annotated[bool, typer.Option(help="place a hold meanwhile (000 §16)")] = False,
    first_presented_at: Annotated[
        str | None,
        typer.Option(help="a registered letter's first presentation (003 §13.1.5), ISO 8601"),
    ] = None,
    as_json: bool = _JSON,
) -> None:
    """Record a formal notice (000 §16, 001 §3.3, 003 §13.1.2) or force majeure (003 §9)."""
    if ground not in ("client_breach", "force_majeure"):
        out.fail(f"--ground {ground!r}: client_breach or force_majeure", 2)
    presented = _moment("--first-presented-at", first_presented_at)
    from nuages.contracts import formal_notices, life_schemas
    from nuages.contracts.cli import _run, _staff

    row = _run(
        lambda s: _rows(
            [
                formal_notices.give_formal_notice(
                    s,
                    _staff(),
                    contract_id,
                    ground,
                    reason,
                    suspend=suspend,
                    first_presented_at=presented,
                )
            ],
            life_schemas.FormalNoticeOut,
        )[0]
    )
    out.emit(row, as_json)


@contracts_app.command("publish-terms")
def publish_terms_cmd(
    offer_id: str,
    summary: Annotated[str, typer.Option(help="what changes, told to the client")],
    imposed_by_law: Annotated[bool, typer.Option(help="cannot be refused (000 §4)")] = False,
    in_force_at: Annotated[str | None, typer.Option(help="004 §3: when they take effect")] = None,
    as_json: bool = _JSON,
) -> None:
    """Announce the offer's version in force to every contract on an older one."""
    moment = _moment("--in-force-at", in_force_at)
    from nuages.contracts import life_schemas, terms_changes
    from nuages.contracts.cli import _run, _staff

    registry = _registry()
    rows = _run(
        lambda s: _rows(
            terms_changes.publish(
                s, _staff(), registry, offer_id, summary=summary,
                imposed_by_law=imposed_by_law, in_force_at=moment,
            ),
            life_schemas.TermsChangeOut,
        )
    )  # fmt: skip
    out.emit(rows, as_json)


@contracts_app.command("revise")
def revise_cmd(
    contract_id: str,
    pct: Annotated[str, typer.Option(help="the proposed yearly change in %, e.g. 4.5")],
    reason: Annotated[str, typer.Option(help="told to the client")] = "",
    as_json: bool = _JSON,
) -> None:
    """003 §14.3: revise a contract's prices at its anniversary (capped at 5 %)."""
    try:
        proposed = Decimal(pct)
    except InvalidOperation:
        out.fail(f"--pct {pct!r}: give a decimal, e.g. 4.5", 2)
    from nuages.contracts import life_schemas, revisions
    from nuages.contracts.cli import _run, _staff

    row = _run(
        lambda s: _rows(
            [
                revisions.staff_revise(
                    s, _staff(), contract_id, proposed_pct=proposed, reason=reason
                )
            ],
            life_schemas.PriceRevisionOut,
        )[0]
    )
    out.emit(row, as_json)


@contracts_app.command("daily")
def daily_cmd(
    now: Annotated[str | None, typer.Option(help="act as of this moment (default: now)")] = None,
    as_json: bool = _JSON,
) -> None:
    """Run the daily pass now: act on every deadline reached, once (run twice the same
    day, the second run does nothing)."""
    moment = _moment("--now", now)
    from nuages.jobs.life import run_daily
    from nuages.kernel.clock import utc_now
    from nuages.kernel.db import Database
    from nuages.kernel.settings import get_settings

    database = Database(get_settings().effective_database_url)
    try:
        report = run_daily(database, _registry(), moment or utc_now()).as_dict()
    finally:
        database.dispose()
    out.emit(report, as_json)
    if report["problems"]:
        for problem in report["problems"]:  # type: ignore[attr-defined]
            typer.echo(f"problem: {problem}", err=True)
        raise typer.Exit(out.EXIT_PARTIAL)
