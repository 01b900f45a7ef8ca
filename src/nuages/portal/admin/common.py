"""The back-office's shared page shape, so each staff page is a few lines: tables of
rows (columns formatted by kind), row buttons, and forms described as data. Rendered by
``admin/page.html`` with the macros of ``macros.html``.

A staff page builds ``Table``s and ``Form``s from one service call and hands them to
``page()``; a POST handler runs one service in ``act()``, which claims the form's
one-time token, rolls everything back on a refusal and shows it next to the field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from nuages.kernel.errors import NotFound, NuagesError
from nuages.portal import service as portal
from nuages.portal.web import Paging, Posted, Visit, field_errors


@dataclass(frozen=True)
class Column:
    """One column: its header, the row attribute, how to show it (text, when, day,
    money, state, code, link: ``link`` is a URL pattern with ``{id}``)."""

    label: str
    attr: str
    kind: str = "text"
    link: str = ""


@dataclass(frozen=True)
class Button:
    """A POST button on each row: ``action`` is a URL pattern with ``{id}``;
    ``when(row)`` says whether the row gets it; ``fields`` are hidden values."""

    label: str
    action: str
    when: Callable[[Any], bool] = lambda _row: True
    danger: bool = False
    fields: tuple[tuple[str, str], ...] = ()
    ask: str = ""  # a required reason field with this label


@dataclass(frozen=True)
class Field:
    """A form field: text, email, number, date, password, textarea, file, checkbox,
    select (``options``: (value, text) pairs)."""

    name: str
    label: str
    type: str = "text"
    required: bool = False
    options: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    value: str = ""


@dataclass
class Form:
    """A form posting to ``action``; ``once``: it creates or changes something."""

    title: str
    action: str
    fields: Sequence[Field]
    submit: str
    once: bool = True
    multipart: bool = False


@dataclass
class Table:
    title: str
    columns: Sequence[Column]
    rows: Sequence[Any]
    buttons: Sequence[Button] = ()
    empty: str = "Aucun élément."
    total: int | None = None  # with a pager when set
    paging: Paging | None = None
    base: str = ""
    filters: dict[str, str] = field(default_factory=dict)


@dataclass
class Filter:
    """A list filter: a select of (value, text) options, or free text."""

    name: str
    label: str
    options: tuple[tuple[str, str], ...] = ()
    value: str = ""


def page(
    visit: Visit,
    title: str,
    *,
    tables: Sequence[Table] = (),
    forms: Sequence[Form] = (),
    filters: Sequence[Filter] = (),
    notes: Sequence[str] = (),
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
    base: str = "",
    links: Sequence[tuple[str, str]] = (),
) -> Response:
    """Render one back-office page (``links``: (label, href) pairs to related pages)."""
    return visit.render(
        "admin/page.html",
        status=status,
        title=title,
        tables=tables,
        forms=forms,
        list_filters=filters,
        notes=notes,
        errors=errors or {},
        values=values or {},
        base=base or visit.request.url.path,
        links=links,
    )


def act(
    posted: Posted,
    back: str,
    work: Callable[[Session], object],
    again: Callable[[dict[str, str], int], Response],
    fields: tuple[str, ...] = (),
    msg: str = "done",
) -> Response:
    """Run one staff act: once per form, all or nothing, refusals next to the field
    (``again(errors, status)`` renders the page anew)."""
    visit = posted.visit
    try:
        with visit.write() as session:
            if posted.once:
                portal.claim(session, visit.me.user_id, posted.once, back)
            work(session)
    except portal.AlreadySent as sent:
        return visit.redirect(sent.result_url or back, "already_sent")
    except NotFound:
        raise
    except (NuagesError, ValidationError, ValueError) as exc:
        status = exc.status if isinstance(exc, NuagesError) else 422
        return again(field_errors(exc, fields), status)
    return visit.redirect(back, msg)


def values_of(posted: Posted, names: Sequence[str]) -> dict[str, str]:
    """The posted text of each field, stripped."""
    return {name: posted.get(name).strip() for name in names}
