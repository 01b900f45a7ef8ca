"""Subject and body from the Jinja2 templates: French (the contracts' language) first,
then the English version. A missing variable is an error, never an empty string."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent / "templates"
SEPARATOR = "\n\n-- English version --\n\n"


@dataclasses.dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=False,  # noqa: S701 - plain-text e-mail, never HTML
        keep_trailing_newline=False,
        # Templates ship with the code: compiled once per process, not stat'ed again
        # for each notice (an invoicing run renders two per invoice).
        auto_reload=False,
    )


def _one(kind: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    text = _environment().get_template(f"{kind}.{language}.txt").render(**context)
    head, _, body = text.partition("\n")
    if not head.startswith("Subject: "):
        raise ValueError(f"template {kind}.{language}.txt must start with 'Subject: '")
    subject = " ".join(head.removeprefix("Subject: ").split())  # no header injection
    return subject, body.strip()


def render(kind: str, context: dict[str, Any]) -> Rendered:
    """The notice's subject (French) and body (French, then English, then the legal
    reference); ``jinja2.UndefinedError`` names a missing variable."""
    subject, fr = _one(kind, "fr", context)
    _, en = _one(kind, "en", context)
    footer = f"\n\n--\nRéférence / reference: {context['clause']}"
    if context.get("legal_ref"):
        footer += f"\n{context['legal_ref']}"
    return Rendered(subject[:300], fr + SEPARATOR + en + footer)
