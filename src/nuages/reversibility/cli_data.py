"""``nuages contracts relocations`` and ``nuages contracts partial-recoveries``: the
contract's data while it runs, from the command line, acting as provider staff
(001 §5.3 moves outside the EU; 001 §7 partial recoveries at EUR 250 per transfer)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from nuages import cli_output as out
from nuages.accounts.principal import Principal
from nuages.reversibility.cli import _registry, _run

_JSON = out.JSON

relocations_app = typer.Typer(
    help="Moves of a contract's data outside the EU (001 §5.3).", no_args_is_help=True
)
recoveries_app = typer.Typer(
    help="Partial recoveries while the contract runs (001 §7).", no_args_is_help=True
)


def _relocation_rows(items: list[Any]) -> list[dict[str, Any]]:
    from nuages.reversibility.schemas import RelocationOut

    return [RelocationOut.model_validate(i).model_dump(mode="json") for i in items]


@relocations_app.command("list")
def relocations_list(contract_id: str, as_json: bool = _JSON) -> None:
    """The moves of a contract's data outside the EU, with each exit window."""
    from nuages.reversibility import relocation

    out.emit(
        _run(
            lambda s: _relocation_rows(
                relocation.list_relocations(s, Principal.operator(), contract_id)
            )
        ),
        as_json,
    )


@relocations_app.command("record")
def relocations_record(
    contract_id: str,
    site: Annotated[str, typer.Option(help="the site the data moves to")],
    subject: Annotated[str, typer.Option(help="vms or backups")] = "vms",
    country: Annotated[
        str | None, typer.Option(help="ISO country code (default: the site's hosts')")
    ] = None,
    vm_id: Annotated[str | None, typer.Option(help="one VM (default: all)")] = None,
    moves_at: Annotated[
        str | None, typer.Option(help="ISO 8601 (default: the earliest the notice allows)")
    ] = None,
    safeguard: Annotated[str, typer.Option(help="001 §5.4: the safeguard (SCC, …)")] = "",
    consented_on: Annotated[
        str | None, typer.Option(help="001 §5.4: the client's written consent, YYYY-MM-DD")
    ] = None,
    reason: Annotated[str, typer.Option(help="kept in the history and the notice")] = "",
    as_json: bool = _JSON,
) -> None:
    """Announce a move of the data outside the EU: the client is notified and may
    terminate without indemnity for 30 days (001 §5.3)."""
    from pydantic import ValidationError

    from nuages.reversibility import relocation
    from nuages.reversibility.schemas import RelocationCreate

    try:
        data = RelocationCreate(
            subject=subject, site=site, country=country, vm_id=vm_id, moves_at=moves_at,
            safeguard=safeguard, consented_on=consented_on, reason=reason,
        )  # fmt: skip
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "input"
        out.fail(f"--{field.replace('_', '-')}: {first['msg']}", 2)
    out.emit(
        _run(
            lambda s: _relocation_rows(
                [relocation.record(s, Principal.operator(), contract_id, data)]
            )[0]
        ),
        as_json,
    )


@recoveries_app.command("list")
def recoveries_list(contract_id: str, as_json: bool = _JSON) -> None:
    """A contract's partial recoveries: each copy's state, SHA-256, link and fee."""
    from nuages.reversibility import partial
    from nuages.reversibility.api import _recoveries_out

    out.emit(
        _run(
            lambda s: [
                d.model_dump(mode="json")
                for d in _recoveries_out(
                    partial.list_recoveries(s, Principal.operator(), contract_id), True
                )
            ]
        ),
        as_json,
    )


@recoveries_app.command("request")
def recoveries_request(
    contract_id: str,
    vm_id: Annotated[list[str], typer.Option("--vm-id", help="a VM to copy (repeat)")],
    confirm: Annotated[
        bool, typer.Option(help="ask for it (else only the fee is shown; nothing written)")
    ] = False,
    as_json: bool = _JSON,
) -> None:
    """One transfer of copies (qcow2 + SHA-256, expiring link) of the VMs named, at the
    offer's fee (001 §7: EUR 250 per transfer, every invoice paid first); without
    --confirm only the fee is shown."""
    from nuages.compute.runtime import get_runtime
    from nuages.reversibility import partial
    from nuages.reversibility.api import _recoveries_out

    registry = _registry()
    if not confirm:

        def preview(session: Any) -> dict[str, Any]:
            return partial.quote(session, Principal.operator(), registry, contract_id)

        out.emit(_run(preview), as_json)
        return
    runtime = get_runtime()

    def work(session: Any) -> list[dict[str, Any]]:
        items = partial.request(
            session, Principal.operator(), registry, runtime, contract_id, list(vm_id)
        )
        return [d.model_dump(mode="json") for d in _recoveries_out(items, True)]

    out.emit(_run(work), as_json)
