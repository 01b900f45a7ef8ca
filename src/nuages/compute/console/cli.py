"""``nuages console``: a console token for an operator (docs/console.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from nuages import cli_output as out

console_app = typer.Typer(help="VM consoles: single-use tokens (002 §3).", no_args_is_help=True)


@console_app.command("open")
def open_console(
    vm_id: Annotated[str, typer.Argument(help="the VM's id")],
    kind: Annotated[str, typer.Option(help="serial or vnc")] = "serial",
    base_url: Annotated[
        str, typer.Option(help="where the API answers (its host and port)")
    ] = "http://127.0.0.1:8700",
    as_json: bool = out.JSON,
) -> None:
    """Issue a single-use console token as staff (recorded in the VM's history when
    used) and print the page to open within its validity (60 s by default)."""
    from nuages.accounts.principal import Principal
    from nuages.compute.console import service
    from nuages.compute.console.api import WS_PATH
    from nuages.kernel.db import Database
    from nuages.kernel.errors import NuagesError
    from nuages.kernel.settings import get_settings

    if kind not in ("serial", "vnc"):
        out.fail("--kind: serial or vnc", out.EXIT_USAGE)
    settings = get_settings()
    database = Database(settings.effective_database_url)
    try:
        with database.unit() as session:
            ticket, token = service.issue(
                session,
                Principal.staff("cli"),
                vm_id,
                "vnc" if kind == "vnc" else "serial",
                settings.console_ticket_seconds,
            )
            expires = ticket.expires_at
    except NuagesError as exc:
        out.fail(exc.detail)
    base = base_url.rstrip("/")
    ws = ("wss" + base[5:]) if base.startswith("https") else ("ws" + base[4:])
    page = f"{base}/console#kind={kind}&token={token}"
    out.emit(
        {"page_url": page, "url": f"{ws}{WS_PATH}?token={token}", "expires_at": expires},
        as_json,
        [f"open within {settings.console_ticket_seconds} s (once):", page],
    )
