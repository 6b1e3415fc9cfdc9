"""Pipeline stages and their registry; each stage lives in its own module."""

from __future__ import annotations

from .base import Stage, StageParams
from .registry import BUILTIN_STAGES, get_stage, list_stages, register_stage, stage_names

__all__ = ["Stage", "StageParams", "BUILTIN_STAGES", "get_stage", "list_stages", "register_stage", "stage_names"]
