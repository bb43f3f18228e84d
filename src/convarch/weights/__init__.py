"""Pretrained weights: sources, download/cache/hash, safe loading, key maps, and self-describing checkpoints."""

from convarch.weights.checkpoint import load, save
from convarch.weights.preprocess import transforms_for
from convarch.weights.pretrained import LoadReport, load_weights
from convarch.weights.sources import WeightSource, find_source, sources_for

__all__ = ["LoadReport", "WeightSource", "find_source", "load", "load_weights", "save", "sources_for", "transforms_for"]
