"""Deployment: export to ONNX, torch.export or a checkpoint, each checked, and ``optimize`` for inference.

Deployment transforms built modules and never the spec: an exported or optimized model computes what the
spec says, within a stated tolerance that every export and ``optimize`` checks.
"""

from convarch.deploy.check import OutputCheck
from convarch.deploy.export import export, format_for
from convarch.deploy.onnx_export import Exported, export_onnx, read_metadata
from convarch.deploy.optimize import OptimizedModel, optimize

__all__ = [
    "Exported",
    "OptimizedModel",
    "OutputCheck",
    "export",
    "export_onnx",
    "format_for",
    "optimize",
    "read_metadata",
]
