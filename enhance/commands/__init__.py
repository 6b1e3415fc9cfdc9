"""Sub-commands of the ``enhance`` command line, one module each (light imports only)."""

from __future__ import annotations

__all__: list[str] = []
