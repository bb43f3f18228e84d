"""The supported routes to a compiled or deployed model: torch.jit.trace and torch.export (ONNX is tested in
tests/deploy). torch.jit.script is not one of them, as the README says."""

from __future__ import annotations

import pytest
import torch
from tests.analysis.combinator_specs import every_combinator

import convarch as ca

NETS = {
    "every-combinator": lambda: ca.build(every_combinator(32)),
    "resnet20": lambda: ca.create_model("resnet20"),
    "lenet5_paper": lambda: ca.create_model("lenet5_paper"),  # connection table, RBF output
    "softmax-head": lambda: ca.build("INPUT(16x16x3) -> CONV3-8 -> BN -> RELU -> GAP -> FC5 -> SOFTMAX"),
}


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::torch.jit.TracerWarning")  # TorchScript's deprecation
@pytest.mark.parametrize("name", NETS)
def test_trace_and_export_give_the_models_outputs(name: str) -> None:
    torch.manual_seed(0)
    model = NETS[name]().eval()
    x = torch.randn(2, model.in_chans, *model.spec.input.chw[1:])
    expected = model(x)
    traced = torch.jit.trace(model, x)
    assert torch.allclose(traced(x), expected, atol=1e-6)
    assert torch.allclose(traced(x[:1]), expected[:1], atol=1e-5)  # traced without a fixed batch size
    exported = torch.export.export(model, (x,)).module()
    assert torch.allclose(exported(x), expected, atol=1e-6)


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
def test_scripting_is_not_a_supported_route() -> None:
    """If TorchScript ever scripts a ConvNet, the README's note on torch.jit.script must change."""
    with pytest.raises(Exception):  # noqa: B017  TorchScript raises its own frontend errors
        torch.jit.script(ca.build("INPUT(8x8x3) -> CONV3-4 -> RELU -> GAP -> FC2"))
