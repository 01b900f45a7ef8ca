"""Loading terms files: every problem reported at once, with file, line and key path.

A terms file either loads whole or not at all: ``load_offer`` raises one
``TermsFileError`` listing every problem found (``FILE:LINE: KEY.PATH: what is wrong
(expected …)``), never a half-built offer. Each offer carries the SHA-256 of its file's
bytes, the version a contract accepts.

Where offers live (``default_offers_dir``), first match wins:

1. ``NUAGES_OFFERS_DIR`` (settings ``offers_dir``);
2. ``./offers`` in the current directory;
3. ``offers/`` shipped inside the installed package (``nuages/offers``);
4. ``offers/`` of the source checkout the package was imported from (editable installs);
5. ``<sys.prefix>/share/nuages/offers`` (where a packager may install them).
"""

from __future__ import annotations

import hashlib
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from nuages.kernel.errors import NotFound, ValidationFailed
from nuages.terms.errors_text import describe_error
from nuages.terms.schema import Offer
from nuages.terms.toml_lines import key_lines

__all__ = [
    "Problem",
    "TermsFileError",
    "check_bytes",
    "default_offers_dir",
    "load_offer",
    "load_offers",
    "resolve_offer",
]

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a terms file, located by line and key path."""

    file: str
    line: int
    path: str
    message: str
    expected: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message} (expected {self.expected})"


class TermsFileError(ValidationFailed):
    """One or more terms files are invalid; ``problems`` lists every problem found."""

    slug = "invalid-terms-file"
    title = "The terms file is not valid"

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems), problems=problems)
        self.problems = problems


def _display_path(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(document)"


def _data_path(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop the parts of a pydantic location that are not keys of the document.

    Unions add the member's name to the location (``"literal['EU','ANY']"``); those do
    not exist in the file. A last part that is absent is kept: it names a missing key.
    """
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
            out.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            out.append(part)
        elif i == len(loc) - 1 and isinstance(node, dict):
            out.append(part)
            node = None
        # else: a union member's tag; skip it.
    return tuple(out)


def _line_of(lines: dict[tuple[str | int, ...], int], path: tuple[str | int, ...]) -> int:
    for size in range(len(path), 0, -1):
        line = lines.get(path[:size])
        if line is not None:
            return line
    return 1


def _problems_from_validation(
    file: str,
    text: str,
    data: dict[str, Any],
    exc: ValidationError,
    root: type[BaseModel] = Offer,
) -> list[Problem]:
    lines = key_lines(text)
    merged: dict[tuple[int, str], Problem] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        ctx = error.get("ctx") or {}
        at = tuple(ctx.get("at", ()))
        path = _data_path(data, loc)
        path = _data_path(data, (*path, *at)) if at else path
        message, expected = describe_error(error, root, path)
        line = _line_of(lines, path)
        shown = _display_path(path)
        key = (line, shown)
        if key in merged:
            # Union members each report; one line says what any of them would accept.
            old = merged[key]
            if expected not in old.expected:
                merged[key] = Problem(
                    file, line, shown, old.message, f"{old.expected} or {expected}"
                )
            continue
        merged[key] = Problem(file, line, shown, message, expected)
    return sorted(merged.values(), key=lambda p: (p.line, p.path))


def _read(path: Path) -> bytes | Problem:
    try:
        return path.read_bytes()
    except OSError as exc:
        return Problem(str(path), 0, "(file)", f"cannot be read: {exc.strerror}", "a readable file")


def _parse(file: str, raw: bytes) -> tuple[str, dict[str, Any]] | Problem:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return Problem(file, line, "(file)", "not UTF-8 text", "a UTF-8 encoded TOML file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_POSITION.search(str(exc))
        line = int(found.group(1)) if found else 1
        message = _TOML_POSITION.sub("", str(exc)).strip()
        return Problem(file, line, "(syntax)", message, "valid TOML 1.0")
    return text, data


def check_bytes(raw: bytes, file: str) -> Offer | list[Problem]:
    """The offer these bytes describe, or every problem in them (``file`` names them in
    the problems). The offer keeps the bytes and their SHA-256: the version a contract
    accepts is exactly what was parsed."""
    parsed = _parse(file, raw)
    if isinstance(parsed, Problem):
        return [parsed]
    text, data = parsed
    try:
        offer = Offer.model_validate(data)
    except ValidationError as exc:
        return _problems_from_validation(file, text, data, exc)
    offer._content_hash = hashlib.sha256(raw).hexdigest()
    offer._source_path = file
    offer._source_bytes = raw
    return offer


def _check(path: Path) -> Offer | list[Problem]:
    raw = _read(path)
    if isinstance(raw, Problem):
        return [raw]
    return check_bytes(raw, str(path))


def load_offer(path: str | Path) -> Offer:
    """Load and validate one terms file; raise ``TermsFileError`` listing every problem."""
    result = _check(Path(path))
    if isinstance(result, list):
        raise TermsFileError(result)
    return result


def check_files(paths: Iterable[str | Path]) -> list[Problem]:
    """Every problem of every file (empty when all are valid); for ``nuages offers check``."""
    problems: list[Problem] = []
    for path in paths:
        result = _check(Path(path))
        if isinstance(result, list):
            problems.extend(result)
    return problems


def load_offers(directory: str | Path | None = None) -> dict[str, Offer]:
    """Load every ``*.toml`` of a directory (default: ``default_offers_dir()``) by id.

    All files are checked before anything is returned; two files with the same id are a
    problem too. Raises ``TermsFileError`` with every problem, or ``NotFound`` when the
    directory does not exist.
    """
    folder = Path(directory) if directory is not None else default_offers_dir()
    if not folder.is_dir():
        raise NotFound(f"offers directory {folder} does not exist")
    offers: dict[str, Offer] = {}
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.toml")):
        result = _check(path)
        if isinstance(result, list):
            problems.extend(result)
            continue
        if result.id in offers:
            first = offers[result.id].source_path
            line = key_lines(path.read_text("utf-8")).get(("offer", "id"), 1)
            problems.append(
                Problem(
                    str(path),
                    line,
                    "offer.id",
                    f"id {result.id!r} is also used by {first}",
                    "one file per offer id",
                )
            )
            continue
        offers[result.id] = result
    if problems:
        raise TermsFileError(problems)
    return dict(sorted(offers.items()))


def _candidate_dirs() -> list[Path]:
    from nuages.kernel.settings import get_settings

    package = Path(__file__).resolve().parent.parent  # .../nuages
    configured = get_settings().offers_dir
    return [
        *([Path(configured)] if configured is not None else []),
        Path.cwd() / "offers",
        package / "offers",
        package.parent.parent / "offers",  # src/nuages → repository root
        Path(sys.prefix) / "share" / "nuages" / "offers",
    ]


def default_offers_dir() -> Path:
    """The offers directory in force (see the module docstring for the search order).

    A configured ``NUAGES_OFFERS_DIR`` is returned even if missing, so that a typo is
    reported instead of silently falling back to another directory.
    """
    candidates = _candidate_dirs()
    from nuages.kernel.settings import get_settings

    if get_settings().offers_dir is not None:
        return candidates[0]
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("*.toml")):
            return candidate
    return candidates[0]


def resolve_offer(ref: str, directory: str | Path | None = None) -> Offer:
    """An offer by id (looked up in the offers directory) or by path to a ``.toml`` file."""
    as_path = Path(ref)
    if ref.endswith(".toml") or "/" in ref or as_path.is_file():
        if not as_path.is_file():
            raise NotFound(f"no terms file at {ref}")
        return load_offer(as_path)
    folder = Path(directory) if directory is not None else default_offers_dir()
    direct = folder / f"{ref}.toml"
    if direct.is_file():
        offer = load_offer(direct)
        if offer.id == ref:
            return offer
    offers = load_offers(folder)
    if ref in offers:
        return offers[ref]
    known = ", ".join(offers) or "none"
    raise NotFound(f"no offer {ref!r} in {folder} (known: {known})")
