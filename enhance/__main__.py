"""``python -m enhance`` runs the command line."""

from .cli import main

main()
