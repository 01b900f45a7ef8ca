"""One output convention for every ``nuages`` command (issue #19).

Kernel-free on purpose (standard library and Typer only): the top level imports it
before any slice, and ``nuages --help`` must start fast.

* A command that reports something takes ``--json`` (:data:`JSON`) and prints either one
  JSON document (amounts as decimal strings, moments as ISO 8601 with their offset) or a
  human table (:func:`emit`, :func:`table`).
* An error is one line on stderr that says what to do (:func:`fail`).
* Exit codes (:data:`EXIT_CODES_HELP`): 0 done, 1 refused by a rule, 2 bad usage,
  3 partial (some items failed; they are listed), 130 interrupted.
* Long work shows progress on a terminal and stays quiet otherwise (:func:`progress`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

T = TypeVar("T")

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 refused by a rule (the error line says why); 2 bad usage; "
    "3 partial (some items failed, listed on stderr); 130 interrupted (Ctrl-C)."
)

JSON = typer.Option(
    False,
    "--json",
    help="print one JSON document (amounts as decimal strings, times ISO 8601 with offset)",
)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: decimals as strings (never floats), moments as ISO
    8601 with their offset (a naive one is UTC, the project's rule), enums by value."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(str(value)), "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):  # pydantic, without importing it here
        return jsonable(value.model_dump(mode="python"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def _cell(value: Any) -> str:
    value = jsonable(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A plain aligned table of ``rows`` (one line per row, a header line first)."""
    if not rows:
        return ""
    names = list(columns or rows[0].keys())
    cells = [[_cell(row.get(name)) for name in names] for row in rows]
    widths = [max(len(name), *(len(c[i]) for c in cells)) for i, name in enumerate(names)]
    lines = ["  ".join(n.upper().ljust(w) for n, w in zip(names, widths, strict=True)).rstrip()]
    for line in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    return "\n".join(lines)


def emit(
    data: Any,
    as_json: bool,
    human: str | Sequence[str] | Callable[[], Any] | None = None,
) -> None:
    """Print ``data`` as one JSON document, or its human form: ``human`` (text, lines or
    a function printing them), else a table for a list of rows, else ``key: value``."""
    if as_json:
        typer.echo(json.dumps(jsonable(data), ensure_ascii=False, indent=1))
        return
    if callable(human):
        human()
        return
    if isinstance(human, str):
        typer.echo(human)
        return
    if human is not None:
        for line in human:
            typer.echo(line)
        return
    if isinstance(data, list):
        if data and isinstance(data[0], Mapping):
            typer.echo(table(data))
        else:
            for item in data:
                typer.echo(_cell(item))
        return
    if isinstance(data, Mapping):
        for key, value in jsonable(data).items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                typer.echo(f"{key}:")
                for line in table(value).splitlines():
                    typer.echo(f"  {line}")
            else:
                typer.echo(f"{key}: {_cell(value)}")
        return
    typer.echo(_cell(data))


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    """One line on stderr, then exit ``code`` (1 refused by a rule, 2 bad usage)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def in_unit(work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in one unit of work on the configured database: a business
    error (``NuagesError``) becomes one line on stderr and exit 1, nothing written."""
    with unit() as session:
        return work(session)


@contextmanager
def unit() -> Iterator[Session]:
    """One unit of work on the configured database for a command: committed when the
    block ends, rolled back on error; a ``NuagesError`` becomes one line on stderr and
    exit 1. Imports inside, so ``--help`` does not load SQLAlchemy."""
    from nuages.kernel.db import Database
    from nuages.kernel.errors import NuagesError
    from nuages.kernel.settings import get_settings

    database = Database(get_settings().effective_database_url)
    try:
        with database.unit() as session:
            yield session
    except NuagesError as exc:
        fail(exc.detail)
    finally:
        database.dispose()


def warn(message: str) -> None:
    typer.echo(message, err=True)


def partial(failed: Sequence[str], what: str) -> NoReturn:
    """Some items failed: list them on stderr and exit 3 (the others are done)."""
    for line in failed:
        typer.echo(f"failed: {line}", err=True)
    typer.echo(f"error: {len(failed)} {what} failed (listed above); the others are done", err=True)
    raise typer.Exit(EXIT_PARTIAL)


# -- progress ------------------------------------------------------------------------

SPINNER = "|/-\\"


def _terminal() -> bool:
    if os.environ.get("NUAGES_PROGRESS") == "never":
        return False
    if os.environ.get("NUAGES_PROGRESS") == "always":
        return True
    return sys.stderr.isatty()


class Progress:
    """Progress of one long piece of work, drawn on stderr when it is a terminal.

    ``update(done, total, note)`` is the callback the services take (``progress=``): a
    bar with counts and an estimate when ``total`` is known, a spinner with the current
    step otherwise. Off a terminal nothing is drawn (logs, CI and cron stay clean)."""

    def __init__(self, label: str, unit: str, total: int | None, live: bool) -> None:
        self.label, self.unit, self.total = label, unit, total
        self.done = 0
        self.note = ""
        self.live = live
        self.started = time.monotonic()
        self._drawn = 0.0
        self._tick = 0
        self.lock = threading.Lock()

    def __call__(self, done: int, total: int | None = None, note: str = "") -> None:
        self.update(done, total, note)

    def update(self, done: int, total: int | None = None, note: str = "") -> None:
        self.done = done
        if total is not None:
            self.total = total
        if note:
            self.note = note
        now = time.monotonic()
        finished = self.total is not None and done >= self.total
        if self.live and (now - self._drawn >= 0.1 or finished):
            with self.lock:
                if self.live:
                    self._drawn = now
                    self._draw(now)

    def step(self, note: str = "") -> None:
        """A spinner step: the current step's name, no count."""
        self.update(self.done, None, note)

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = now - self.started
        if self.total:
            share = min(self.done / self.total, 1.0)
            filled = int(share * 24)
            bar = "#" * filled + "-" * (24 - filled)
            eta = ""
            if 0 < self.done < self.total:
                left = elapsed / self.done * (self.total - self.done)
                eta = f"  ETA {int(left) // 60}:{int(left) % 60:02d}"
            text = (
                f"{self.label} [{bar}] {self.done}/{self.total} {self.unit} "
                f"{share * 100:3.0f}%{eta}"
            )
        else:
            self._tick += 1
            spin = SPINNER[self._tick % len(SPINNER)]
            count = f" {self.done} {self.unit}" if self.done else ""
            text = f"{spin} {self.label}{count}  {int(elapsed)} s"
        return f"{text}  {self.note}".rstrip()

    def _draw(self, now: float) -> None:
        width = 100
        try:
            width = os.get_terminal_size(sys.stderr.fileno()).columns - 1
        except OSError:
            pass
        sys.stderr.write("\r" + self.line(now)[:width].ljust(width))
        sys.stderr.flush()

    def clear(self) -> None:
        if self.live and self._drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    def summary(self) -> str:
        of = f" of {self.total}" if self.total is not None else ""
        return f"{self.done}{of} {self.unit}".strip()


def _from_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while a KeyboardInterrupt was being handled."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        if isinstance(link, KeyboardInterrupt):
            return True
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return False


def _say_interrupted(bar: Progress, label: str, interrupted: str) -> NoReturn:
    bar.clear()
    typer.echo(
        f"interrupted: {label}: {bar.summary()} done when stopped"
        + (f"; {interrupted}" if interrupted else ""),
        err=True,
    )
    raise typer.Exit(EXIT_INTERRUPTED) from None


@contextmanager
def progress(
    label: str,
    unit: str = "",
    total: int | None = None,
    *,
    interrupted: str = "",
    ticker: bool = False,
    poll: Callable[[], int] | None = None,
) -> Iterator[Progress]:
    """Show the progress of the work in the block; on Ctrl-C, say what was done.

    ``interrupted`` says what stays of the work done (e.g. "each contract is its own
    transaction: the ones invoiced are kept; run again to finish"). ``ticker`` turns
    the spinner from a thread, for one long call that reports nothing (a boot probe);
    ``poll`` (with ``ticker``) reads the count done on each tick (bytes of a file being
    written)."""
    bar = Progress(label, unit, total, _terminal())
    stop = threading.Event()
    if ticker and bar.live:

        def tick() -> None:
            while not stop.wait(0.2):
                try:
                    done = poll() if poll is not None else bar.done
                except OSError:  # the file is not there yet
                    done = bar.done
                bar.update(done)

        threading.Thread(target=tick, name="nuages-progress", daemon=True).start()
    try:
        yield bar
    except Exception as exc:
        # Ctrl-C inside a database call can surface as the driver's own error raised
        # while cleaning up (psycopg: "can't change 'autocommit' now" from the pool's
        # reset, its context the KeyboardInterrupt): still an interrupt, not a crash.
        if not _from_interrupt(exc):
            raise
        _say_interrupted(bar, label, interrupted)
    except KeyboardInterrupt:
        _say_interrupted(bar, label, interrupted)
    finally:
        stop.set()
        with bar.lock:
            bar.clear()
            bar.live = False


# -- help ----------------------------------------------------------------------------


def decorate(group: Any, path: str, *, skip: frozenset[str] = frozenset()) -> None:
    """Add the example (``nuages.cli_examples``) and the exit codes to the help of every
    command under ``group`` that does not state them itself (``skip``: lazy slices)."""
    from nuages.cli_examples import EXAMPLES

    for name, command in list(group.commands.items()):
        if name in skip:
            continue
        here = f"{path} {name}"
        if hasattr(command, "commands"):
            decorate(command, here)
            continue
        parts = [command.epilog] if command.epilog else []
        example = EXAMPLES.get(here.removeprefix("nuages "))
        if example and "Example" not in (command.help or ""):
            parts.append(f"Example: {example}")
        if "Exit codes" not in (command.help or ""):
            parts.append(EXIT_CODES_HELP)
        command.epilog = "\n\n".join(parts)


def run_main(app: Any) -> None:
    """Run the Typer ``app`` (Typer already turns Ctrl-C into exit 130 and a closed pipe
    into a quiet exit)."""
    try:
        app(prog_name="nuages")
    except BrokenPipeError:
        # The reader closed early (`nuages ... --json | head`): no traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(1) from None
