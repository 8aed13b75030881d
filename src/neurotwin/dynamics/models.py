"""The neuron-model registry: every model class registers itself here by name."""

from __future__ import annotations

from typing import Any

from neurotwin.registry import Registry

MODELS: Registry[Any] = Registry("neuron model")
"""Neuron model classes by name (``"lif"``, ``"adex"``), filled by ``@MODELS.register``."""
