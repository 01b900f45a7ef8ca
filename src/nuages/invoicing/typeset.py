"""Column positions of the invoice's tables, computed here rather than by Typst (issue 15).

Typst's ``table`` with ``auto`` columns measures every cell before laying it out again:
for a 10-line invoice the line table alone cost 10–11 ms of a 20 ms compile. The
template now lays each row out as one block (the description wraps in its column, the
other cells are placed at the x this module computes), 2–3 ms for the same table. An
``auto`` column is as wide as its widest cell plus the cell padding: that width is the
sum of the glyphs' advances in DejaVu Sans (the template's font; bold for the header) at
the template's size, read from the font files Typst itself uses. Kerning is left out:
DejaVu's kerning pairs narrow a word, so the sum never makes a column too narrow.
Without the font files (Typst then falls back to its own fonts), each character counts
as a wide one (0.7 em), so columns are too wide rather than too narrow.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from fontTools.ttLib import TTFont

# Millimetres to points (the template's lengths are given in pt).
MM = 72 / 25.4
# The template's body size and cell padding (``inset: (x: 1.5mm, y: 1.2mm)``).
SIZE = 8.5
PAD = 1.5 * MM
# A4 less the page's left and right margins (14 mm each).
WIDTH = (210 - 28) * MM
FALLBACK_EM = 0.7
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


class _Advances(dict[str, float]):
    """Character → advance in points at ``SIZE``; a character the font lacks counts as
    an ``M`` (what Typst's fallback font will roughly take)."""

    def __init__(self, widths: dict[str, float], missing: float) -> None:
        super().__init__(widths)
        self.missing = missing

    def __missing__(self, key: str) -> float:
        return self.missing


@functools.cache
def _advances(bold: bool) -> _Advances:
    """DejaVu Sans' advances (bold or regular), or 0.7 em each without the font file."""
    path = DEJAVU / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    if not path.is_file():
        return _Advances({}, FALLBACK_EM * SIZE)
    font = TTFont(str(path), lazy=True)
    metrics = font["hmtx"].metrics
    scale = SIZE / float(font["head"].unitsPerEm)
    widths = {chr(code): metrics[name][0] * scale for code, name in font.getBestCmap().items()}
    font.close()
    return _Advances(widths, widths.get("M", SIZE))


@functools.lru_cache(maxsize=4096)  # headers, periods, rates and dates repeat
def text_width(text: str, *, bold: bool = False) -> float:
    """Width in points of ``text`` on one line at ``SIZE`` (advances summed, no kerning)."""
    return sum(map(_advances(bold).__getitem__, text))


def placed(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: Sequence[int],
    *,
    fill: int = 0,
    width: float = WIDTH,
) -> dict[str, object] | None:
    """Where the template puts a table's cells, or None when the content cannot fit
    the width (the template then falls back to Typst's ``table``).

    Column ``fill`` takes what the others leave and sets the row's height (it wraps);
    every other column is as wide as its widest cell (header in bold) plus the padding
    of both sides, as Typst's ``auto`` columns beside one ``1fr``. Returned: ``fill``,
    its left edge and width (pt), and for each other column its index, alignment and
    ``dx``: the offset of the text's left edge from the table's left (left-aligned
    cells), or of its right edge from the table's right (``right``, numeric cells)."""
    fitted = {
        i: max(text_width(header[i], bold=True), *(text_width(row[i]) for row in rows)) + 2 * PAD
        for i in range(len(header))
        if i != fill
    }
    rest = width - sum(fitted.values())
    if rest < width / 5:  # the wrapping column would be too narrow to read
        return None
    cells: list[list[object]] = []
    fill_left, x = 0.0, 0.0
    for i in range(len(header)):
        w = rest if i == fill else fitted[i]
        if i == fill:
            fill_left = x
        elif i in numeric:
            cells.append([i, "right", round(x + w - PAD - width, 3)])
        else:
            cells.append([i, "left", round(x + PAD, 3)])
        x += w
    return {
        "fill": fill,
        "fill_left": round(fill_left, 3),
        "fill_width": round(rest, 3),
        "cells": cells,
    }
