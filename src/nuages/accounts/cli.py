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


client_app = typer.Typer(
    help="Clients (the businesses and consumers invoiced).", no_args_is_help=True
)


@client_app.command("create")
def client_create(
    name: str = typer.Option(..., "--name", help="legal name"),
    country: str = typer.Option(..., "--country", help="ISO 3166-1 alpha-2, e.g. BE"),
    email: str = typer.Option(..., "--email", help="billing e-mail"),
    line1: str = typer.Option(..., "--address", help="street and number (BT-50)"),
    postcode: str = typer.Option("", "--postcode", help="checked against the country"),
    city: str = typer.Option(..., "--city"),
    line2: str = typer.Option("", "--address2", help="second address line (BT-51)"),
    region: str = typer.Option("", "--region", help="country subdivision (BT-54)"),
    vat: str | None = typer.Option(None, "--vat", help="VAT number (checked)"),
    consumer: bool = typer.Option(False, "--consumer", help="a consumer, not a business"),
) -> None:
    """Create a client with its postal address; print its id."""
    from pydantic import ValidationError

    from nuages.accounts.principal import Principal
    from nuages.accounts.roles import Role, Scope
    from nuages.accounts.schemas import ClientCreate

    try:
        data = ClientCreate.model_validate(
            {
                "kind": "consumer" if consumer else "business",
                "legal_name": name,
                "country": country,
                "vat_number": vat,
                "billing_email": email,
                "address": {
                    "line1": line1,
                    "line2": line2,
                    "postcode": postcode,
                    "city": city,
                    "region": region,
                },
            }
        )
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            typer.echo(f"error: {where}: {message}", err=True)
        raise typer.Exit(2) from None
    staff = Principal(
        user_id="cli",
        email="cli",
        role=Role.PROVIDER_ADMIN,
        client_id=None,
        scopes=frozenset(Scope),
    )
    database = Database(get_settings().effective_database_url)
    try:
        with database.unit() as session:
            client = service.create_client(session, staff, data)
            client_id = client.id
    except NuagesError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(client_id)
