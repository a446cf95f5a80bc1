"""Registries name their entries ``"module:attribute"`` so that choosing one imports only it
(image backends, runners, shipped models' loaders, convert's output steps)."""

from __future__ import annotations

import importlib
from typing import Any


def load_entry(spec: str) -> Any:
    """The attribute a ``"module:attribute"`` registry entry names (its module imported now)."""
    module, attribute = spec.split(":")
    return getattr(importlib.import_module(module), attribute)
