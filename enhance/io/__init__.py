"""Read and write image files with their metadata (the module moved into a package; see
:mod:`.decoding` for now)."""

from __future__ import annotations

from .decoding import *  # noqa: F403
from .decoding import __all__  # noqa: F401
