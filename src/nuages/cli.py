"""The ``nuages`` command: a thin edge over the services.

Each slice exposes its own Typer app; this module assembles them and holds the
commands that start processes. The slices are attached lazily (``LAZY``): ``nuages
--help`` and ``nuages billing meter`` import only what they run, never WeasyPrint,
libvirt or the other slices (issue #19: start in well under a second).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup

from nuages import cli_output as out
from nuages.cli_doctor import doctor

# name -> (module, Typer attribute, short help). The help is repeated here so the top
# level's help does not import the slice; tests/foundation/test_cli_convention.py keeps
# it equal to the slice's own.
LAZY: dict[str, tuple[str, str, str]] = {
    "admin": ("nuages.accounts.cli", "admin_app", "Provider administrators and users."),
    "billing": ("nuages.billing.cli", "billing_app", "Prepaid accounts, top-ups and metering."),
    "client": (
        "nuages.accounts.cli",
        "client_app",
        "Clients (the businesses and consumers invoiced).",
    ),
    "compute": ("nuages.compute.cli", "compute_app", "Reconciliation and crash recovery."),
    "history": ("nuages.history.cli", "history_app", "The action history."),
    "host": ("nuages.compute.cli", "host_app", "Hypervisor hosts."),
    "image": ("nuages.compute.cli", "image_app", "Bootable images."),
    "index": ("nuages.invoicing.cli", "index_app", "Index values for yearly price revisions."),
    "invoicing": ("nuages.invoicing.cli", "invoicing_app", "Invoices: runs, dunning, documents."),
    "offers": ("nuages.terms.cli", "offers_app", "Offer terms files: check and list them."),
    "sellers": (
        "nuages.sellers.cli",
        "sellers_app",
        "Seller identities (who issues each offer's invoices).",
    ),
    "terms": (
        "nuages.terms.cli",
        "terms_app",
        "Compute what an offer's terms say (SLA, deadlines, revision, interest).",
    ),
}


def load_group(name: str) -> TyperGroup:
    """The Click group of slice ``name``, imported now, with the shared conventions."""
    import importlib

    module, attr, _help = LAZY[name]
    sub: typer.Typer = getattr(importlib.import_module(module), attr)
    group = typer.main.get_group(sub)
    group.name = name
    out.decorate(group, f"nuages {name}")
    return group


class _SliceCommands(MutableMapping[str, Any]):
    """A slice group's sub-commands, imported on first look."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loaded: dict[str, Any] | None = None

    def _commands(self) -> dict[str, Any]:
        if self._loaded is None:
            self._loaded = dict(load_group(self._name).commands)
        return self._loaded

    def __getitem__(self, key: str) -> Any:
        return self._commands()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._commands()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._commands()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._commands())

    def __len__(self) -> int:
        return len(self._commands())


class LazySlice(TyperGroup):
    """A slice's group whose name and short help are known without importing it."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, help=LAZY[name][2], no_args_is_help=True)
        self.commands = _SliceCommands(name)


class NuagesGroup(TyperGroup):
    """The top level: the process commands plus every slice, attached lazily."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name in LAZY:
            self.commands.setdefault(name, LazySlice(name))
        out.decorate(self, "nuages", skip=frozenset(LAZY))

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(self.commands)


app = typer.Typer(
    name="nuages",
    cls=NuagesGroup,
    help="Run, operate and bill a virtual-machine hosting offer.",
    epilog=out.EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _settings() -> Any:
    from nuages.kernel.settings import get_settings

    return get_settings()


@app.command()
def up() -> None:
    """Run everything in one process: API, worker and scheduler (SQLite + local libvirt).

    Example: nuages up
    """
    from nuages import server
    from nuages.sellers.identity import SellerFileError

    _logging()
    try:
        server.run_all(_settings(), typer.echo)
    except SellerFileError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo("error: fix the seller files above (`nuages sellers check`)", err=True)
        raise typer.Exit(1) from None


@app.command()
def serve() -> None:
    """Run the API only (with `nuages worker` beside it, e.g. on PostgreSQL + Redis).

    Example: nuages serve
    """
    from nuages import server

    _logging()
    settings = _settings()
    database = server.prepare(settings)
    typer.echo(f"nuages API: http://{settings.api_host}:{settings.api_port}/api/v1")
    server.serve_api(settings, database)


@app.command()
def worker(
    workers: int = typer.Option(2, min=1, max=64, help="worker threads"),
    periodic: bool = typer.Option(True, help="also run the periodic scheduler"),
) -> None:
    """Run the job worker (and the periodic scheduler) apart from the API.

    Example: nuages worker --workers 4
    """
    from nuages import server

    _logging()
    server.prepare(_settings())
    server.make_consumer(workers, periodic).run()


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("heads"), as_json: bool = out.JSON) -> None:
    """Apply the migrations up to REVISION (default: the newest).

    Example: nuages db upgrade
    """
    from nuages.kernel import migrate

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.effective_database_url, revision)
    out.emit({"revision": revision}, as_json, f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(...), as_json: bool = out.JSON) -> None:
    """Revert the migrations down to REVISION ('base' removes every table).

    Example: nuages db downgrade base
    """
    from nuages.kernel import migrate

    migrate.downgrade(_settings().effective_database_url, revision)
    out.emit({"revision": revision}, as_json, f"database at {revision}")


app.command("doctor")(doctor)

# Scripts for a system completions directory (scripts/install.sh writes them). Typer's
# own `--install-completion` edits the user's rc files instead; these call PROGRAM by
# its path, so completion works whether or not the venv is on PATH.
_BASH = """# bash completion for nuages (generated by `nuages completion bash`)
_nuages_completion() {
    local IFS=$'\\n'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD=$COMP_CWORD \\
                   _NUAGES_COMPLETE=complete_bash PROGRAM 2>/dev/null ) )
    return 0
}
complete -o default -F _nuages_completion nuages
"""
_ZSH = """#compdef nuages
# zsh completion for nuages (generated by `nuages completion zsh`), autoloaded from fpath
eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _NUAGES_COMPLETE=complete_zsh \\
    PROGRAM 2>/dev/null)
"""


@app.command("completion")
def completion(
    shell: str = typer.Argument(..., help="bash or zsh"),
    program: str = typer.Option("nuages", help="the nuages executable the script calls"),
    as_json: bool = out.JSON,
) -> None:
    """Print the shell completion script for a system completions directory
    (/usr/share/bash-completion/completions/nuages, an fpath directory's _nuages).

    Example: nuages completion zsh --program /opt/nuages/.venv/bin/nuages > _nuages
    """
    import shlex

    scripts = {"bash": _BASH, "zsh": _ZSH}
    if shell not in scripts:
        out.fail(f"shell {shell!r} is not bash or zsh", out.EXIT_USAGE)
    text = scripts[shell].replace("PROGRAM", shlex.quote(program))
    out.emit({"shell": shell, "script": text}, as_json, lambda: typer.echo(text, nl=False))


def main() -> None:
    """Entry point of the ``nuages`` script."""
    out.run_main(app)
