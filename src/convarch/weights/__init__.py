"""Pretrained weights: sources, download/cache/hash, safe loading, key maps, and self-describing checkpoints."""

from convarch.weights.checkpoint import load, save

__all__ = ["load", "save"]
