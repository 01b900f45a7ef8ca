"""Attachment loaders by type: the slice that owns a document registers how to read
it (invoicing: ``invoice_pdf``), so notices import no slice that writes notices."""

from __future__ import annotations

from collections.abc import Callable

from nuages.kernel.db import Database

# (database, reference) -> (bytes, MIME maintype, MIME subtype)
Loader = Callable[[Database, dict[str, str]], tuple[bytes, str, str]]
_loaders: dict[str, Loader] = {}


def register(kind: str, loader: Loader) -> None:
    _loaders[kind] = loader


def load(database: Database, ref: dict[str, str]) -> tuple[bytes, str, str]:
    """The attachment ``ref`` names; ValueError for a type nobody registered (the
    notice is deferred with that reason, never sent without its attachment)."""
    loader = _loaders.get(ref["type"])
    if loader is None:
        raise ValueError(f"no loader registered for attachments of type {ref['type']!r}")
    return loader(database, ref)
