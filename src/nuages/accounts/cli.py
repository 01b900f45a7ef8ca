"""``nuages admin``: provider administrators from the command line.

The services are imported inside the commands so that ``--help`` starts fast; ``--json``
prints one JSON document (issue #19).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from nuages import cli_output as out
from nuages.kernel.errors import NuagesError

if TYPE_CHECKING:
    from nuages.kernel.db import Database

admin_app = typer.Typer(help="Provider administrators and users.", no_args_is_help=True)


def _database() -> Database:
    from nuages.kernel.db import Database
    from nuages.kernel.settings import get_settings

    return Database(get_settings().effective_database_url)


def _email(text: str) -> str:
    from pydantic import TypeAdapter, ValidationError

    from nuages.kernel.validation import Email

    try:
        return TypeAdapter(Email).validate_python(text)
    except ValidationError:
        typer.echo(f"error: {text!r} is not an e-mail address", err=True)
        raise typer.Exit(2) from None


@admin_app.command("create")
def create(
    email: str = typer.Argument(..., help="the admin's e-mail"), as_json: bool = out.JSON
) -> None:
    """Create a provider admin and print an API token, once."""
    from nuages.accounts import service

    email = _email(email)
    database = _database()
    try:
        with database.unit() as session:
            _user, token = service.create_admin(session, email)
    except NuagesError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    out.emit(
        {"email": email, "token": token},
        as_json,
        [f"admin {email} created; API token (shown once):", token],
    )


@admin_app.command("set-email")
def set_email(
    current: str = typer.Argument(..., help="the user's current e-mail (or user id)"),
    new: str = typer.Argument(..., help="the new e-mail"),
    as_json: bool = out.JSON,
) -> None:
    """Change a user's e-mail, e.g. the first admin's ``admin@localhost`` (recorded in
    the history as done by "cli")."""
    from sqlalchemy import or_, select

    from nuages.accounts import service
    from nuages.accounts.models import User
    from nuages.accounts.principal import Principal

    # The command line acts as a provider admin; the history names it "cli".
    cli = Principal.staff("cli")
    new = _email(new)
    database = _database()
    try:
        with database.unit() as session:
            user_id = session.execute(
                select(User.id).where(
                    or_(User.email == current.strip().lower(), User.id == current)
                )
            ).scalar_one_or_none()
            if user_id is None:
                typer.echo(f"error: no user {current!r}", err=True)
                raise typer.Exit(1)
            service.change_email(session, cli, user_id, new)
    except NuagesError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    out.emit({"user": user_id, "email": new}, as_json, f"{current} is now {new}")


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
    as_json: bool = out.JSON,
) -> None:
    """Create a client with its postal address; print its id."""
    from pydantic import ValidationError

    from nuages.accounts import service
    from nuages.accounts.principal import Principal
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
    staff = Principal.staff("cli")
    database = _database()
    try:
        with database.unit() as session:
            client = service.create_client(session, staff, data)
            client_id = client.id
    except NuagesError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    out.emit({"id": client_id}, as_json, client_id)
