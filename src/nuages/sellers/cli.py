"""``nuages sellers``: check seller files and show who invoices each offer.

A thin edge over ``nuages.sellers.identity``. ``check`` prints one line per problem
(``FILE:LINE: KEY: what is wrong (expected …)``) and exits 1 when there is any, then says
which offers still have only the example identity (their real invoices are refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from nuages import cli_output as out
from nuages.kernel.errors import NuagesError

if TYPE_CHECKING:
    from nuages.sellers import identity

sellers_app = typer.Typer(
    help="Seller identities (who issues each offer's invoices).", no_args_is_help=True
)


def coverage(book: identity.SellerBook, offers_dir: Path | None = None) -> list[tuple[str, str]]:
    """(offer id, seller id or a note on the example identity) for every offer in force."""
    from nuages.terms.loader import load_offers

    rows = []
    for offer in load_offers(offers_dir).values():
        seller = book.for_offer(offer)
        if seller.example:
            rows.append(
                (offer.id, f"EXAMPLE identity — no seller file names {offer.offer.provider!r}")
            )
        else:
            rows.append((offer.id, f"{seller.id} ({seller.name}, {seller.country})"))
    return rows


@sellers_app.command("check")
def check(
    directory: Path | None = typer.Argument(  # noqa: B008
        None, help="sellers directory (default: NUAGES_SELLERS_DIR, else <data_dir>/sellers)"
    ),
    as_json: bool = out.JSON,
) -> None:
    """Check every seller file; list which seller invoices each offer."""
    from nuages.kernel.settings import get_settings
    from nuages.sellers import identity

    settings = get_settings()
    folder = directory or identity.directory_of(settings)
    try:
        book = identity.load_sellers(folder)
    except identity.SellerFileError as exc:
        if as_json:
            out.emit({"directory": folder, "ok": False, "problems": exc.problems}, True)
        else:
            for problem in exc.problems:
                typer.echo(str(problem))
        typer.echo(f"{len(exc.problems)} problem(s) in {folder}", err=True)
        raise typer.Exit(1) from None
    try:
        rows = coverage(book, settings.offers_dir)
    except NuagesError as exc:
        out.fail(exc.detail)
    if as_json:
        out.emit(
            {
                "directory": folder,
                "ok": True,
                "sellers": len(book.sellers),
                "offers": [{"offer": o, "seller": s} for o, s in rows],
                "example_identity": [o for o, s in rows if s.startswith("EXAMPLE")],
            },
            True,
        )
        return
    typer.echo(f"{folder}: {len(book.sellers)} seller file(s) ok")
    for offer_id, seller in rows:
        typer.echo(f"{offer_id:28} {seller}")
    if any(text.startswith("EXAMPLE") for _, text in rows):
        typer.echo(
            "real invoices of the offers on the EXAMPLE identity are refused (dry runs "
            f"work): {identity.how_to(folder)}",
            err=True,
        )
