"""Attachment loaders by type: the slice that owns a document registers how to read
it (invoicing: ``invoice_pdf``), so notices import no slice that writes notices."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from nuages.kernel.db import Database

# (database, reference) -> (bytes, MIME maintype, MIME subtype)
Loader = Callable[[Database, dict[str, str]], tuple[bytes, str, str]]
_loaders: dict[str, Loader] = {}
# Where each type's loader lives, imported by name on first use (as kernel.jobs finds
# tasks): a process that never imported invoicing still attaches the invoice PDF.
MODULES = {"invoice_pdf": "nuages.invoicing.pdf"}


def register(kind: str, loader: Loader) -> None:
    _loaders[kind] = loader


def load(database: Database, ref: dict[str, str]) -> tuple[bytes, str, str]:
    """The attachment ``ref`` names; ValueError for a type nobody registered (the
    notice is deferred with that reason, never sent without its attachment)."""
    if ref["type"] not in _loaders and ref["type"] in MODULES:
        importlib.import_module(MODULES[ref["type"]])
    loader = _loaders.get(ref["type"])
    if loader is None:
        raise ValueError(f"no loader registered for attachments of type {ref['type']!r}")
    return loader(database, ref)
