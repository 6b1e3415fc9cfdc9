"""enhance's ComfyUI node pack: Deband, Resize, Upscale, Score and "Run enhance pipeline".

Install: ``pip install enhance`` into ComfyUI's Python, then link (or copy) this folder into
ComfyUI's ``custom_nodes`` under a name other than ``enhance`` (ComfyUI imports a node folder under
its folder name, which must not hide the package), e.g.::

    ln -s "$(python -c 'import enhance.integrations.comfyui as m; print(m.__path__[0])')" \
        ComfyUI/custom_nodes/enhance-nodes

This file is what ComfyUI executes: it imports absolutely from the installed package (never
relatively, so it works from any folder name) and loads nothing heavy; torch, spandrel and the
models load when a node first runs.
"""

from __future__ import annotations

from enhance.integrations.comfyui.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
