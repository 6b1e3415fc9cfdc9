"""Sub-commands of the ``enhance`` command line, one module each (registered in enhance/cli.py)."""
