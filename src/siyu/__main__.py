"""``python -m siyu`` runs the CLI."""

from siyu.cli.main import main

main()
