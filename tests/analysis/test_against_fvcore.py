"""Our multiply-adds against fvcore, an independent counter that traces the operators PyTorch really runs.

fvcore counts one per multiply-add of conv and linear (matmul) operators; our static count must agree for
every zoo model. The one documented exception is LeNet-5's C3 connection table (see its notes).
"""

from __future__ import annotations

import logging
import math

import pytest
import torch
from tests.conftest import smallest_input

import convarch as ca
from convarch.nn.model import ConvNet
from convarch.spec.walk import trace
from convarch.zoo.registry import model_spec

fvcore = pytest.importorskip("fvcore.nn")
MODELS = ca.list_models()


def fvcore_macs(model: torch.nn.Module, size: tuple[int, int, int]) -> int:
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    counter = fvcore.FlopCountAnalysis(model.eval(), torch.randn(1, *size))
    counter.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.no_grad():
        ops = counter.by_operator()
    return sum(ops.get(kind, 0) for kind in ("conv", "linear", "matmul", "addmm", "bmm", "einsum"))


@pytest.mark.parametrize("name", [n for n in MODELS if n != "lenet5_paper"])
def test_multiply_adds_equal_fvcore(name: str) -> None:
    spec = smallest_input(model_spec(name))
    assert ca.analyze(spec).macs == fvcore_macs(ConvNet(spec), spec.input.chw)


def test_lenet5_paper_differs_from_fvcore_exactly_as_its_notes_say() -> None:
    spec = model_spec("lenet5_paper")
    ours = ca.analyze(spec).macs
    steps = {step.path: step for step in trace(spec)}
    c3 = steps["features.conv2"]
    dense_c3 = c3.output.numel * c3.input.c * math.prod(c3.layer.f)  # every input map, as PyTorch runs it
    untraced = sum(s.layer.macs(s.input) for s in steps.values() if s.layer.kind in ("SUBSAMPLE", "RBF"))
    traced = fvcore_macs(ConvNet(spec), spec.input.chw)
    assert traced == ours - c3.layer.macs(c3.input) + dense_c3 - untraced
    assert f"{traced:,} in all against our {ours:,}" in " ".join(ca.model_info("lenet5_paper").notes)
