"""sparsile's passes: one module per pass, a registry by name, and the named pipelines."""

from __future__ import annotations

from .pass_base import Pass
from .registry import UpstreamPass, parse_pipeline, pass_class, pass_names

__all__ = ["Pass", "UpstreamPass", "parse_pipeline", "pass_class", "pass_names"]
