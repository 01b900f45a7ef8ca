"""``nuages gdpr``: the register, sub-processors, breaches, audits and staff accesses as
the provider's staff see them (001 §15–16). Every command takes ``--json``."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

import nuages.models  # noqa: F401 - every table, for the foreign keys of a fresh process
from nuages import cli_output as out
from nuages.accounts.principal import Principal
from nuages.contracts.offers import OfferRegistry
from nuages.gdpr import access, audits, breaches, register, schemas, subprocessors
from nuages.kernel.db import Database
from nuages.kernel.errors import NuagesError
from nuages.kernel.settings import get_settings

gdpr_app = typer.Typer(help="Data protection: register, sub-processors, breaches, audits.")

# The operator at the console, named in the history (``cli:<login>``).
CLI = Principal.operator()


PDF_OPTION = typer.Option(None, "--pdf", help="write the PDF there")


def _database() -> Database:
    return Database(get_settings().effective_database_url)


def _registry() -> OfferRegistry:
    return OfferRegistry.from_directory(get_settings().offers_dir)


def _refused(exc: NuagesError) -> None:
    out.fail(exc.detail, out.EXIT_REFUSED)


@gdpr_app.command("register")
def register_cmd(
    client_id: str,
    pdf: Path | None = PDF_OPTION,
    as_json: bool = out.JSON,
) -> None:
    """A client's register of processing (GDPR Art. 30.2, 001 §16.4 (iv)).

    Example: nuages gdpr register CLIENT_ID --pdf register.pdf
    """
    try:
        with _database().unit(readonly=True) as session:
            data = register.build(session, CLI, _registry(), client_id)
    except NuagesError as exc:
        _refused(exc)
    if pdf is not None:
        pdf.write_bytes(register.to_pdf(data))
    out.emit(data, as_json)


@gdpr_app.command("subprocessors")
def subprocessors_cmd(as_json: bool = out.JSON) -> None:
    """The provider's sub-processors, current first (001 §16.9).

    Example: nuages gdpr subprocessors --json
    """
    with _database().unit(readonly=True) as session:
        rows = [
            schemas.SubProcessorOut.model_validate(s).model_dump()
            for s in session.execute(subprocessors.list_subprocessors(CLI)).scalars()
        ]
    out.emit(rows, as_json)


@gdpr_app.command("subprocessor-add")
def subprocessor_add(
    name: str,
    service: str = typer.Option(..., help="what it does for the provider"),
    country: str = typer.Option(..., help="ISO country code, e.g. BE"),
    address: str = typer.Option("", help="postal address"),
    safeguard: str = typer.Option("", help="outside the EU without adequacy: Art. 46 instrument"),
    replaces: str | None = typer.Option(None, help="id of the sub-processor it replaces"),
    as_json: bool = out.JSON,
) -> None:
    """Add (or replace) a sub-processor; every client is informed (001 §16.9).

    Example: nuages gdpr subprocessor-add 'Interxion BE' --service 'data centre' --country BE
    """
    try:
        data = schemas.SubProcessorCreate(
            name=name, service=service, country=country.upper(), address=address,
            safeguard=safeguard, replaces_id=replaces,
        )  # fmt: skip
    except ValidationError as exc:
        out.fail(str(exc.errors()[0]["loc"][0]) + ": " + exc.errors()[0]["msg"], out.EXIT_USAGE)
    try:
        with _database().unit() as session:
            row, replaced, count = subprocessors.add(session, CLI, data)
            result = {
                "sub_processor": schemas.SubProcessorOut.model_validate(row).model_dump(),
                "replaced": replaced.id if replaced else None,
                "notified_clients": count,
            }
    except NuagesError as exc:
        _refused(exc)
    out.emit(result, as_json)


@gdpr_app.command("breach")
def breach_cmd(file: Path, as_json: bool = out.JSON) -> None:
    """Notify a breach described in a JSON file (every field of 001 §16.7 (ii), as
    ``POST /gdpr/breaches``); each affected client's DPO is e-mailed at once.

    Example: nuages gdpr breach breach-2026-11-03.json --json
    """
    try:
        data = schemas.BreachCreate.model_validate(json.loads(file.read_text("utf-8")))
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            out.fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}", out.EXIT_USAGE)
        out.fail(f"{file}: {exc}", out.EXIT_USAGE)
    try:
        with _database().unit() as session:
            breach, rows = breaches.open_breach(session, CLI, data)
            result = {"id": breach.id, "notified": [r.client_id for r in rows]}
    except NuagesError as exc:
        _refused(exc)
    out.emit(result, as_json)


@gdpr_app.command("breaches")
def breaches_cmd(as_json: bool = out.JSON) -> None:
    """Breaches, newest first, with each notice's sending time beside the detection.

    Example: nuages gdpr breaches --json
    """
    with _database().unit(readonly=True) as session:
        rows: list[dict[str, Any]] = []
        for b in session.execute(breaches.list_breaches(CLI).limit(200)).scalars():
            rows.append(
                {
                    "id": b.id, "summary": b.summary, "detected_at": b.detected_at,
                    "notified": breaches.notified(session, CLI, b),
                }
            )  # fmt: skip
    out.emit(rows, as_json)


@gdpr_app.command("audits")
def audits_cmd(as_json: bool = out.JSON) -> None:
    """Audits announced by clients (001 §16.8), latest start first.

    Example: nuages gdpr audits --json
    """
    with _database().unit(readonly=True) as session:
        rows = [
            schemas.AuditOut.model_validate(a).model_dump()
            for a in session.execute(audits.list_audits(CLI)).scalars()
        ]
    out.emit(rows, as_json)


@gdpr_app.command("audit-close")
def audit_close(
    audit_id: str,
    hours: str = typer.Option(..., help="the provider's hours on the audit, e.g. 5.5"),
    as_json: bool = out.JSON,
) -> None:
    """Record the provider's hours; beyond the free ones (3) they go on the next invoice.

    Example: nuages gdpr audit-close AUDIT_ID --hours 5.5
    """
    try:
        amount = Decimal(hours)
    except InvalidOperation:
        out.fail(f"--hours: {hours!r} is not a number", out.EXIT_USAGE)
    try:
        with _database().unit() as session:
            row = schemas.AuditOut.model_validate(
                audits.close_audit(session, CLI, _registry(), audit_id, amount)
            ).model_dump()
    except NuagesError as exc:
        _refused(exc)
    out.emit(row, as_json)


@gdpr_app.command("accesses")
def accesses_cmd(client_id: str, as_json: bool = out.JSON) -> None:
    """Staff accesses to a client's personal data (001 §15.3), newest first.

    Example: nuages gdpr accesses CLIENT_ID --json
    """
    try:
        with _database().unit(readonly=True) as session:
            rows = [
                schemas.AccessOut.model_validate(a).model_dump()
                for a in access.list_accesses(session, CLI, client_id)
            ]
    except NuagesError as exc:
        _refused(exc)
    out.emit(rows, as_json)
