"""The version of enhance, in one place: the package, the manifest, the reports and the wheel read it."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
