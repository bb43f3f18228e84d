"""MobileNetV2 against torchvision at other widths, its skips, and the figures of Sandler et al. 2018.

(At width 1.0 the shared zoo tests compare it with torchvision: parameters, multiply-adds, outputs, weights.)
"""

from __future__ import annotations

import pytest
import torch
import torchvision

import convarch as ca
from convarch.nn.layers import ResidualUnit
from convarch.spec.walk import trace
from convarch.zoo.keymaps import from_layout


@pytest.mark.parametrize("width_mult", [0.5, 1.4])
def test_width_multipliers_match_torchvision(width_mult: float) -> None:
    reference = torchvision.models.mobilenet_v2(width_mult=width_mult, num_classes=10).eval()
    for module in reference.modules():  # statistics other than 0/1, so a misplaced BN shows
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 2.0)
    ours = ca.create_model("mobilenet_v2", width_mult=width_mult, num_classes=10).eval()
    ours.load_state_dict(from_layout("mobilenet_v2", reference.state_dict(), "torchvision", ours.spec), strict=True)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), reference(x), atol=1e-5)


def test_a_block_adds_its_input_exactly_where_the_volume_is_kept() -> None:
    """Sandler et al. §4 and Fig. 4: stride-1 blocks whose width does not change; 10 of the 17 in Table 2."""
    model = ca.create_model("mobilenet_v2")
    steps = trace(model.spec)
    units = {name: unit for name, unit in model.named_modules() if isinstance(unit, ResidualUnit)}
    assert len(units) == 17
    for name, unit in units.items():
        inside = [s for s in steps if s.path.startswith(name + ".")]
        kept = inside[0].input == inside[-1].output
        assert unit.skip == kept, name
    assert sum(unit.skip for unit in units.values()) == 10


def test_table_4_truncates_the_counts() -> None:
    """Table 4's 3.4M parameters and 300M multiply-adds are the counts cut to their last digit: 3.47M weights
    and biases without batch norm's scales and shifts, 300.8M multiply-adds."""
    figures = ca.model_info("mobilenet_v2").figures
    report = ca.analyze("mobilenet_v2")
    batch_norm = sum(r.params for r in report.rows if r.kind == "BN")
    params, macs = figures["table4_params"], figures["table4_macs"]
    assert (report.params - batch_norm) // params.precision * params.precision == params.value
    assert report.macs // macs.precision * macs.precision == macs.value


def test_a_width_multiplier_must_be_positive() -> None:
    with pytest.raises(ca.ConfigError, match="width_mult must be a positive number, got 0"):
        ca.create_model("mobilenet_v2", width_mult=0)
