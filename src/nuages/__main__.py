"""``python -m nuages`` runs the CLI."""

from nuages.cli import main

main()
