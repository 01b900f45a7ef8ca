"""``nuages contract``: contract holds from the command line, acting as provider staff."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from nuages import cli_output as out
from nuages.accounts.principal import Principal
from nuages.contracts import holds, schemas
from nuages.contracts.offers import OfferRegistry
from nuages.kernel.clock import ensure_aware
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import get_settings
from nuages.terms.cli import _JSON, _emit, _fail, offers_app
from nuages.terms.loader import default_offers_dir

contract_app = typer.Typer(help="Contracts: holds (suspensions).", no_args_is_help=True)
hold_app = typer.Typer(help="Holds: why a contract is suspended.", no_args_is_help=True)
contract_app.add_typer(hold_app, name="hold")


def _staff() -> Principal:
    # The operator at the console acts as provider staff; the history names the login.
    return Principal.operator()


_run = out.in_unit  # cli_life.py runs its commands through it too


def _out(hold: Any) -> dict[str, Any]:
    return schemas.HoldOut.model_validate(hold).model_dump(mode="json")


def _moment(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return ensure_aware(dt.datetime.fromisoformat(text))
    except ValueError as exc:
        typer.echo(f"error: --until {text!r}: {exc} (give e.g. 2026-11-02T14:00:00Z)", err=True)
        raise typer.Exit(2) from None


@hold_app.command("list")
def list_holds(contract_id: str, as_json: bool = _JSON) -> None:
    """Every hold of a contract, open and lifted."""
    rows = _run(lambda s: [_out(h) for h in holds.list_holds(s, _staff(), contract_id)])
    out.emit(rows, as_json)


@hold_app.command("place")
def place(
    contract_id: str,
    ground: Annotated[str, typer.Option(help="a suspension ground of the offer")],
    reason: Annotated[str, typer.Option(help="told to the client, kept in the history")],
    until: Annotated[str | None, typer.Option(help="expected end (ISO 8601)")] = None,
    offers_dir: Annotated[Path | None, typer.Option(help="terms files")] = None,
    as_json: bool = _JSON,
) -> None:
    """Place a hold: the contract is suspended and its VMs paused (003 §8, 004 §7)."""
    expected = _moment(until)
    registry = OfferRegistry.from_directory(offers_dir or get_settings().offers_dir)
    row = _run(
        lambda s: _out(
            holds.staff_place(s, _staff(), registry, contract_id, ground, reason, expected)
        )
    )
    out.emit(row, as_json)


@hold_app.command("lift")
def lift(
    contract_id: str,
    hold_id: str,
    reason: Annotated[str, typer.Option(help="kept in the history")],
    wrongful: Annotated[
        bool, typer.Option(help="the suspension was manifestly wrong (000 §11.1)")
    ] = False,
    as_json: bool = _JSON,
) -> None:
    """Lift a hold; the contract resumes once no hold is left open."""
    row = _run(
        lambda s: _out(holds.staff_lift(s, _staff(), contract_id, hold_id, reason, wrongful))
    )
    out.emit(row, as_json)


# `nuages offers list` reads the registry (contracts), so it lives here and joins the
# terms' `offers` group: terms stays pure and imports no slice.
@offers_app.command("list")
def offers_list(as_json: bool = _JSON) -> None:
    """List the offers of the offers directory with their content hash.

    Lists what the server would load: a file that does not load is reported on stderr
    (one line per problem) and left out; `nuages offers check` is the strict check."""
    # The problems are printed below, once; the registry's log lines would repeat them.
    logging.getLogger("nuages.offers").disabled = True
    try:
        registry = OfferRegistry.from_directory(default_offers_dir())
    except NuagesError as exc:
        _fail(exc.detail)
    for problem in registry.problems:
        typer.echo(f"warning: not loaded: {problem}", err=True)
    offers = registry.offers
    rows = [
        {"id": o.id, "title": o.offer.title, "seed": o.offer.source.seed, "sha256": o.content_hash}
        for o in offers.values()
    ]
    if as_json:
        _emit({"directory": str(default_offers_dir()), "offers": rows}, True)
        return
    for row in rows:
        typer.echo(f"{row['id']:28} {row['seed']}  {row['sha256'][:12]}  {row['title']}")
