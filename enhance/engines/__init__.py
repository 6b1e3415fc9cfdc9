"""Runners beside the local one (:mod:`enhance.batch`) that schedule the same per-file work
(:mod:`enhance.work`) into the same output folder session (:mod:`enhance.runfolder`) elsewhere:
:mod:`.ray_data` on Ray Data. Nothing here is imported unless such a runner is asked for."""

from __future__ import annotations

__all__: list[str] = []
