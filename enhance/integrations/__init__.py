"""Adapters that let host tools run enhance: ComfyUI custom nodes (:mod:`enhance.integrations.comfyui`).

The face layer, beside the command line: they use the public API and nothing below it needs them.
"""

from __future__ import annotations

__all__: list[str] = []
