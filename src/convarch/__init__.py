"""convarch: the classic ConvNet architectures as real software.

An architecture is data: one spec, several interpreters (build, analyze, check, render).

    import convarch as ca
    ca.list_models("resnet*")
    model = ca.create_model("vgg16", num_classes=10)
    net = ca.build("INPUT(32x32x3) -> [[CONV3-32 -> RELU]*2 -> POOL2]*2 -> FC10")
    ca.analyze("vgg16").to_table()
"""

from convarch.analysis.findings import Finding
from convarch.analysis.report import Report, Row
from convarch.api import analyze, build, check, create_model, parse, resolve, to_pattern
from convarch.deploy import export, export_onnx, optimize
from convarch.draw import Diagram, draw
from convarch.errors import (
    ConfigError,
    ConvarchError,
    DataError,
    ExportError,
    MissingDependencyError,
    PatternError,
    SizingError,
    UnknownModelError,
    WeightsError,
)
from convarch.explorer import report_html, write_report
from convarch.nn.features import FeatureExtractor
from convarch.nn.model import ConvNet
from convarch.spec.bind import bind
from convarch.spec.nodes import NetSpec
from convarch.spec.volume import Volume
from convarch.train import TrainConfig, TrainResult, evaluate, finetune, predict, train
from convarch.weights.checkpoint import load, save
from convarch.weights.preprocess import transforms_for
from convarch.weights.pretrained import load_weights
from convarch.zoo import ModelInfo, list_models, model_info, spec_of

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConvNet",
    "ConvarchError",
    "DataError",
    "Diagram",
    "ExportError",
    "FeatureExtractor",
    "Finding",
    "MissingDependencyError",
    "ModelInfo",
    "NetSpec",
    "PatternError",
    "Report",
    "Row",
    "SizingError",
    "TrainConfig",
    "TrainResult",
    "UnknownModelError",
    "Volume",
    "WeightsError",
    "__version__",
    "analyze",
    "bind",
    "build",
    "check",
    "create_model",
    "draw",
    "evaluate",
    "export",
    "export_onnx",
    "finetune",
    "list_models",
    "load",
    "load_weights",
    "model_info",
    "optimize",
    "parse",
    "predict",
    "report_html",
    "resolve",
    "save",
    "spec_of",
    "to_pattern",
    "train",
    "transforms_for",
    "write_report",
]
