"""The ``nuages`` command: a thin edge over the services.

Each slice exposes its own Typer app; this module only assembles them.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="nuages",
    help="Run, operate and bill a virtual-machine hosting offer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    """Attach every slice's sub-commands (imported here to keep start-up cheap)."""


_register()


def main() -> None:
    """Entry point of the ``nuages`` script."""
    app()
