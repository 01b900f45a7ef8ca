"""The one-page invoice drawn where ``templates/invoice.typ`` puts it (issue 15).

Typst's layout of the template costs 10–12 ms of CPU an invoice; the template is simple
enough to be placed here in well under one: the same page, margins, sizes, colours,
rules and column positions (``typeset.placed``), each line of text where Typst puts it.
Typst's measures, read off its output (``tests/invoicing/test_pdf_fast.py`` checks each
line of text against a Typst compilation of the same data): a line's top edge is the
font's cap height (DejaVu: its typographic ascender, 0.7598 em) above its baseline and
its bottom edge the baseline; lines of a paragraph are 0.5 em apart (``leading``),
paragraphs 0.9 em (``spacing``); text wraps at spaces (and after a hyphen inside a
word), as Typst's line breaker does for text that is not justified, and is kerned with
the font's GPOS pairs.

``draw`` returns None when the document is not for this path: a character outside the
embedded repertoire (``pdfa.REPERTOIRE``), a word wider than its column, content that
does not fit one page, or tables too wide to place. Typst lays those out (``pdf``).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

from nuages.invoicing import pdfa
from nuages.invoicing.pdfa import Face

MM = 72 / 25.4
WIDTH, HEIGHT = pdfa.PAGE
LEFT = 14 * MM
TOP = HEIGHT - 16 * MM
BOTTOM = 20 * MM
W = WIDTH - 28 * MM
PAD = 1.5 * MM  # cells' horizontal inset
INSET_Y = 1.2 * MM  # rows' vertical inset
BODY = 8.5
BIG = 15.0
SMALL = 7.5
INK, GREY, NOTE_INK = "0.0667 0.0667 0.0667", "0.3333 0.3333 0.3333", "0.2 0.2 0.2"
Run = tuple[bool, str]  # (bold, text)


class NotHere(Exception):
    """This document goes to Typst (see the module's docstring)."""


def _faces() -> tuple[Face, Face]:
    regular, bold = pdfa.face(False), pdfa.face(True)
    if regular is None or bold is None:
        raise NotHere("no DejaVu Sans")
    return regular, bold


def _face(bold: bool) -> Face:
    return _faces()[1 if bold else 0]


def cap(size: float) -> float:
    return _faces()[0].cap_height * size


@functools.lru_cache(maxsize=8192)  # dates, amounts, notes and headers repeat
def width(text: str, bold: bool, size: float) -> float:
    """Advance of ``text`` in points, kerned as Typst shapes it."""
    face = _face(bold)
    advances, kerning = face.advances, face.kerning
    try:
        total = sum(advances[c] for c in text)
    except KeyError as missing:
        raise NotHere(f"character {missing} outside the repertoire") from None
    total += sum(kerning.get(pair, 0.0) for pair in itertools.pairwise(text))
    return total * size / 1000


def _pieces(text: str) -> list[str]:
    """``text`` cut after each break opportunity: a space (and the spaces after it),
    a hyphen between a letter or digit and a letter (UAX #14: not before a number),
    a dash followed by something other than a space."""
    out, start, n = [], 0, len(text)
    for i, c in enumerate(text):
        nxt = text[i + 1] if i + 1 < n else ""
        if (
            (c == " " and nxt != " " and nxt)
            or (c == "-" and i and text[i - 1].isalnum() and nxt.isalpha())
            or (c in "–—" and nxt not in ("", " "))
        ):
            out.append(text[start : i + 1])
            start = i + 1
    out.append(text[start:])
    return [p for p in out if p]


@functools.lru_cache(maxsize=4096)
def lines(runs: tuple[Run, ...], room: float, size: float) -> tuple[tuple[Run, ...], ...]:
    """The paragraph ``runs`` broken into lines of at most ``room`` points (first fit,
    trailing spaces not counted); ``NotHere`` when one word alone is wider."""
    out: list[tuple[Run, ...]] = []
    current: list[Run] = []
    used = 0.0  # width of ``current``, its trailing spaces included
    for bold, text in runs:
        for piece in _pieces(text):
            full = width(piece, bold, size)
            trimmed = width(piece.rstrip(" "), bold, size)
            if trimmed > room + 0.01:
                raise NotHere("a word wider than its column")
            if current and used + trimmed > room + 0.01:
                out.append(tuple(current))
                current, used = [], 0.0
            if current and current[-1][0] == bold:
                current[-1] = (bold, current[-1][1] + piece)
            else:
                current.append((bold, piece))
            used += full
    if current:
        out.append(tuple(current))
    return tuple(out) or (((False, ""),),)


@functools.lru_cache(maxsize=8192)
def _shown(bold: bool, text: str) -> str:
    """``[<glyph ids>kern<…>]TJ ET``: the text's glyphs, kerned as ``width`` counts."""
    face = _face(bold)
    codes, kerning = face.codes, face.kerning
    parts: list[str] = ["["]
    previous = ""
    chunk: list[str] = []
    for c in text:
        kern = kerning.get((previous, c)) if previous else None
        if kern:
            parts.append("<" + "".join(chunk) + f">{-kern:.3f}")
            chunk = []
        chunk.append(codes[c])
        previous = c
    parts.append("<" + "".join(chunk) + ">]TJ ET")
    return "".join(parts)


class Page:
    """The content stream being written, in PDF coordinates (points, y upwards)."""

    def __init__(self) -> None:
        self.ops: list[str] = []
        self.colour = ""

    def fill(self, colour: str) -> None:
        if colour != self.colour:
            self.ops.append(f"{colour} rg")
            self.colour = colour

    def text(self, x: float, y: float, run: Run, size: float) -> float:
        """``run`` with its baseline at ``(x, y)``; returns its advance."""
        bold, text = run
        resource = _face(bold).resource
        self.ops.append(f"BT/{resource} {size:g} Tf 1 0 0 1 {x:.3f} {y:.3f} Tm")
        self.ops.append(_shown(bold, text))
        return width(text, bold, size)

    def line(self, x: float, y: float, runs: Sequence[Run], size: float) -> None:
        for run in runs:
            x += self.text(x, y, run, size)

    def rect(self, x: float, y: float, w: float, h: float, colour: str) -> None:
        self.fill(colour)
        self.ops.append(f"{x:.3f} {y:.3f} {w:.3f} {h:.3f} re f")

    def stroke_rect(self, x: float, y: float, w: float, h: float) -> None:
        self.ops.append(f"q 0.6 0.6 0.6 RG {0.3 * MM:.4f} w {x:.3f} {y:.3f} {w:.3f} {h:.3f} re S Q")

    def content(self) -> bytes:
        return "\n".join(self.ops).encode("ascii")


def _paragraph(
    page: Page, x: float, top: float, runs: tuple[Run, ...], room: float, size: float
) -> float:
    """A paragraph whose first line's top edge is at ``top``; returns its last baseline."""
    y = top - cap(size)
    for n, line in enumerate(lines(runs, room, size)):
        if n:
            y -= cap(size) + size / 2
        page.line(x, y, line, size)
    return y


def _header(page: Page, d: dict[str, Any]) -> float:
    """Seller (left 48 %) and the framed buyer (right 48 %): the lower bottom edge."""
    column = 0.48 * W
    name = _paragraph(page, LEFT, TOP, ((True, d["seller"]["name"]),), column, BIG)
    # 0.9 em of the 15 pt name, then v(1mm), then the 8.5 pt lines.
    y = name - 0.9 * BIG - 1 * MM
    for n, text in enumerate(d["seller"]["lines"]):
        y = _paragraph(page, LEFT, y - (BODY / 2 if n else 0), ((False, text),), column, BODY)
    left_bottom = y if d["seller"]["lines"] else name
    x = LEFT + 0.52 * W
    inset = 3 * MM
    room = column - 2 * inset
    page.fill(GREY)
    y = _paragraph(page, x + inset, TOP - inset, ((False, "CLIENT"),), room, 8.0)
    page.fill(INK)
    y = _paragraph(page, x + inset, y - BODY / 2, ((True, d["buyer"]["name"]),), room, BODY)
    for text in d["buyer"]["lines"]:
        y = _paragraph(page, x + inset, y - BODY / 2, ((False, text),), room, BODY)
    box_bottom = y - inset
    page.stroke_rect(x, box_bottom, column, TOP - box_bottom)
    return min(left_bottom, box_bottom)


def _meta(page: Page, top: float, meta: list[list[Any]]) -> float:
    """The (label, value) grid: the labels' column as wide as the widest, 4 mm gutter,
    1.2 mm between rows; returns the last baseline."""
    if not meta:
        return top
    labels = max(width(m[0], False, BODY) for m in meta)
    x = LEFT + labels + 4 * MM
    room = W - labels - 4 * MM
    y = top
    for n, (label, value, bold) in enumerate(meta):
        row_top = y - (1.2 * MM if n else 0)
        page.line(LEFT, row_top - cap(BODY), ((False, label),), BODY)
        y = _paragraph(page, x, row_top, ((bool(bold), value),), room, BODY)
    return y


def _table(
    page: Page, top: float, header: list[str], rows: list[list[str]], at: dict[str, Any] | None
) -> float:
    """Rows as the template's ``placed-table``: each a block with 1.2 mm above and below,
    a 0.2 mm rule under it, the header filled and bold; returns the bottom edge."""
    if at is None:
        raise NotHere("a table too wide to place")
    fill, left, room = at["fill"], at["fill_left"], at["fill_width"] - 2 * PAD
    y = top
    for n, cells in enumerate([header, *rows]):
        bold = n == 0
        wrapped = lines(((bold, cells[fill]),), room, BODY)
        height = 2 * INSET_Y + cap(BODY) + (len(wrapped) - 1) * (cap(BODY) + BODY / 2)
        if bold:
            page.rect(LEFT, y - height, W, height, "0.9333 0.9333 0.9333")
        page.rect(LEFT, y - height - 0.1 * MM, W, 0.2 * MM, "0.8 0.8 0.8")
        page.fill(INK)
        baseline = y - INSET_Y - cap(BODY)
        for k, line in enumerate(wrapped):
            page.line(LEFT + left + PAD, baseline - k * (cap(BODY) + BODY / 2), line, BODY)
        for index, align, dx in at["cells"]:
            text = cells[index]
            if not text:
                continue
            x = LEFT + dx if align == "left" else LEFT + W + dx - width(text, bold, BODY)
            page.text(x, baseline, (bold, text), BODY)
        y -= height
    return y


def _totals(page: Page, top: float, totals: list[list[Any]]) -> float:
    """The totals box (45 % of the width, at the right): a rule above each bold row."""
    box = 0.45 * W
    x = LEFT + W - box
    height = 2 * INSET_Y + cap(BODY)
    y = top
    for label, amount, bold in totals:
        if bold:
            page.rect(x, y - 0.15 * MM, box, 0.3 * MM, INK)
        page.fill(INK)
        baseline = y - INSET_Y - cap(BODY)
        page.text(x + PAD, baseline, (bool(bold), label), BODY)
        page.text(
            x + box - PAD - width(amount, bool(bold), BODY), baseline, (bool(bold), amount), BODY
        )
        y -= height
    return y


def draw(d: dict[str, Any]) -> bytes | None:
    """The content stream of the one-page invoice ``d`` (``pdf.layout_values``), or None
    when Typst must lay it out."""
    try:
        return _draw(d)
    except NotHere:
        return None


def _draw(d: dict[str, Any]) -> bytes:
    page = Page()
    page.fill(INK)
    bottom = _header(page, d)
    # v(5mm) and 0.9 em of the 15 pt title; the title, v(1mm), the meta grid.
    title = _paragraph(
        page, LEFT, bottom - 5 * MM - 0.9 * BIG, ((True, f"{d['title']} n° {d['number']}"),), W, BIG
    )
    y = _meta(page, title - 0.9 * BIG - 1 * MM, d["meta"])
    gap = 3 * MM + 0.9 * BODY  # v(3mm) between the blocks, and the paragraph spacing
    y = _table(page, y - gap, d["line_header"], d["lines"], d["line_cells"])
    y = _table(page, y - gap, list(d["group_header"]), d["groups"], d["group_cells"])
    y = _totals(page, y - gap, d["totals"])
    page.fill(NOTE_INK)
    top = y - 6 * MM - 0.9 * BODY
    for n, (prefix, text) in enumerate(d["notes"]):
        runs: tuple[Run, ...] = (
            ((True, prefix), (False, " " + text)) if prefix else ((False, text),)
        )
        y = _paragraph(page, LEFT, top - (0.9 * SMALL if n else 0), runs, W, SMALL)
        top = y
    if y < BOTTOM - 0.01:
        raise NotHere("more than one page")
    footer = f"{d['number']} — page 1 / 1"
    page.fill(GREY)
    # Typst centres the footer in the bottom margin above its 30 % descent.
    area = BOTTOM * 0.7
    page.text(
        LEFT + (W - width(footer, False, SMALL)) / 2,
        BOTTOM * 0.3 + (area - cap(SMALL)) / 2,
        (False, footer),
        SMALL,
    )
    return page.content()
