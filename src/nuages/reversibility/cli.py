"""``nuages contract exit``: the end of a contract from the command line, acting as
provider staff: show an exit, run the daily job now, end a contract now, order an
erasure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from nuages import cli_output as out
from nuages.accounts.principal import Principal
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import get_settings
from nuages.terms.cli import _JSON

exit_app = typer.Typer(
    help="The end of contracts: reversibility and erasure.", no_args_is_help=True
)
T = TypeVar("T")


def _run(work: Callable[[Any], T]) -> T:
    database = Database(get_settings().effective_database_url)
    try:
        with database.unit() as session:
            return work(session)
    except NuagesError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()


def _registry() -> Any:
    from nuages.contracts.offers import OfferRegistry

    return OfferRegistry.from_directory(get_settings().offers_dir)


def _shown(view: Any) -> dict[str, Any]:
    from nuages.reversibility.api import exit_out

    return exit_out(view).model_dump(mode="json")


@exit_app.command("show")
def show(contract_id: str, as_json: bool = _JSON) -> None:
    """The exit of a contract: state, deadline and clause, copies, erasure record."""
    from nuages.reversibility import service

    registry = _registry()
    out.emit(
        _run(lambda s: _shown(service.get_exit(s, Principal.operator(), registry, contract_id))),
        as_json,
    )


@exit_app.command("end")
def end(
    contract_id: str,
    cause: Annotated[str, typer.Option(help="client_notice, non_renewal, client_breach, …")],
    fault: Annotated[
        str | None, typer.Option(help="000 §13.2: provider, client or shared (half refunded)")
    ] = None,
    as_json: bool = _JSON,
) -> None:
    """End a contract now for a cause; its exit opens with the next run."""
    from nuages.reversibility import service

    contract = _run(lambda s: service.end_now(s, Principal.operator(), contract_id, cause, fault))
    out.emit({"contract_id": contract.id, "state": contract.state, "cause": cause}, as_json)


@exit_app.command("erase")
def erase(
    contract_id: str,
    reason: Annotated[str, typer.Option(help="kept in the erasure record")],
    as_json: bool = _JSON,
) -> None:
    """Order the erasure of a contract's data now (refused while a copy is written)."""
    from nuages.reversibility import acts

    registry = _registry()
    out.emit(
        _run(
            lambda s: _shown(
                acts.staff_erase(s, Principal.operator(), registry, contract_id, reason)
            )
        ),
        as_json,
    )


@exit_app.command("run")
def run(as_json: bool = _JSON) -> None:
    """Run the daily exit job now (idempotent): open exits, act on reached deadlines."""
    from nuages.compute.runtime import get_runtime
    from nuages.reversibility import service

    runtime = get_runtime()
    database = Database(get_settings().effective_database_url)
    try:
        done = service.run_daily(database, _registry(), runtime)
    except NuagesError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    out.emit({"exits": done}, as_json)
