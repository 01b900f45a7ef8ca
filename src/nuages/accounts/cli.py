"""``nuages admin``: provider administrators from the command line."""

from __future__ import annotations

import typer

from nuages.accounts import service
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import get_settings

admin_app = typer.Typer(help="Provider administrators.", no_args_is_help=True)


@admin_app.command("create")
def create(email: str = typer.Argument(..., help="the admin's e-mail")) -> None:
    """Create a provider admin and print an API token, once."""
    from pydantic import TypeAdapter, ValidationError

    from nuages.kernel.validation import Email

    try:
        email = TypeAdapter(Email).validate_python(email)
    except ValidationError:
        typer.echo(f"error: {email!r} is not an e-mail address", err=True)
        raise typer.Exit(2) from None
    database = Database(get_settings().effective_database_url)
    try:
        with database.unit() as session:
            _user, token = service.create_admin(session, email)
    except NuagesError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"admin {email} created; API token (shown once):")
    typer.echo(token)
