"""The commands of the ``enhance`` command line, one module each; :mod:`enhance.cli` assembles them.

Shared helpers (exit codes, one-line errors, Ctrl-C) live in :mod:`enhance.commands._common`.
"""
