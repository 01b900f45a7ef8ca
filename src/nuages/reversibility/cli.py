"""``nuages contract exit``: the end of a contract from the command line, acting as
provider staff: show an exit, run the daily job now, end a contract now, order an
erasure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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


_run = out.in_unit  # cli_data.py runs its commands through it too


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


@exit_app.command("signing-key")
def signing_key(as_json: bool = _JSON) -> None:
    """The provider's public key signing erasure records (Ed25519; generated at first use)."""
    from nuages.reversibility import signing

    out.emit(signing.public_key(get_settings()).__dict__, as_json)


@exit_app.command("verify")
def verify(
    contract_id: Annotated[
        str | None, typer.Argument(help="a closed contract (its record read here)")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(help="a record as JSON (the `record` of GET …/exit/erasure-record)"),
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option(help="the public key (PEM or base64); default: this install's")
    ] = None,
    as_json: bool = _JSON,
) -> None:
    """Check an erasure record's signature: a contract's record, or one given in a file
    (exit 1 when it does not verify)."""
    import json

    from nuages.reversibility import records, signing

    if (contract_id is None) == (file is None):
        out.fail("give a CONTRACT_ID or --file (one of them)", 2)
    if public_key is not None:
        try:
            key = signing.load_public(public_key.read_text())
        except (OSError, ValueError) as exc:
            out.fail(f"--public-key {public_key}: {exc}", 2)
    else:
        key = signing.private_key(get_settings()).public_key()
    if file is not None:
        try:
            given = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            out.fail(f"--file {file}: {exc}", 2)
        record = given.get("record", given) if isinstance(given, dict) else None
        if not isinstance(record, dict):
            out.fail(f"--file {file}: not a JSON object", 2)
    else:
        cid = contract_id or ""
        record = _run(
            lambda s: records.erasure_record(s, Principal.operator(), get_settings(), cid).record
        )
    verdict = signing.verify(key, record)
    out.emit(verdict.__dict__, as_json)
    if not verdict.valid:
        raise typer.Exit(1)
