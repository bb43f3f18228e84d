"""The spec: volumes, primitives and combinators. An architecture is data."""

from convarch.spec.bind import bind
from convarch.spec.layers import (
    BN,
    FC,
    GAP,
    LRN,
    PRIMITIVES,
    RBF,
    Conv,
    Dropout,
    Flatten,
    Layer,
    Pool,
    Relu,
    Softmax,
    Subsample,
    Tanh,
    ZeroPad,
)
from convarch.spec.nodes import Block, Dense, NetSpec, Node, Opt, Parallel, Repeat, Residual, Seq
from convarch.spec.volume import Volume
from convarch.spec.walk import Step, trace

__all__ = [
    "BN",
    "FC",
    "GAP",
    "LRN",
    "PRIMITIVES",
    "RBF",
    "Block",
    "Conv",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "NetSpec",
    "Node",
    "Opt",
    "Parallel",
    "Pool",
    "Relu",
    "Repeat",
    "Residual",
    "Seq",
    "Softmax",
    "Step",
    "Subsample",
    "Tanh",
    "Volume",
    "ZeroPad",
    "bind",
    "trace",
]
