"""The module path (meta-device hooks) against the spec walk, and on modules convarch did not build."""

from __future__ import annotations

import pytest
import torch
from tests.analysis.combinator_specs import every_combinator
from torch import nn

import convarch as ca
from convarch.analysis import analyze_module
from convarch.nn.model import ConvNet
from convarch.spec.nodes import NetSpec

MODELS = ca.list_models()


def _assert_same_rows(spec: NetSpec, model: nn.Module) -> None:
    """Every row equal: order, path, name, kind, volume and counts.

    A layer written relative to its input (DenseNet's transition ``CONV1(ratio=0.5)``) is listed with its
    resolved width (``CONV1-128``) by both paths.
    """
    by_spec = ca.analyze(spec)
    by_hooks = analyze_module(model, spec.input.chw)
    assert by_hooks.source == "module" and by_spec.source == "spec"
    assert len(by_hooks.rows) == len(by_spec.rows)
    for ours, theirs in zip(by_spec.rows, by_hooks.rows, strict=True):
        assert ours == theirs, f"{ours.path}: {ours} != {theirs}"
    assert (by_hooks.params, by_hooks.macs, by_hooks.activations) == (
        by_spec.params,
        by_spec.macs,
        by_spec.activations,
    )


@pytest.mark.parametrize("name", MODELS)
def test_hooks_on_a_built_zoo_model_give_the_spec_walk(name: str) -> None:
    with torch.device("meta"):
        model = ca.create_model(name)
    _assert_same_rows(model.spec, model)


def test_hooks_match_the_walk_on_every_combinator() -> None:
    """Branches, all residual forms, dense growth and an auxiliary head (run at its tap, rows marked aux)."""
    spec = every_combinator()
    with torch.device("meta"):
        model = ConvNet(spec)
    _assert_same_rows(spec, model)
    assert any(r.aux for r in analyze_module(model, spec.input.chw).rows)


def test_analyze_accepts_any_module_and_leaves_it_untouched() -> None:
    model = ca.build("INPUT(32x32x3) -> CONV3-8 -> BN -> RELU -> POOL2 -> FC10").train()
    model.features.bn1.eval()  # a frozen BN must stay frozen
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain = nn.Sequential(*model.features, *model.pre_logits, model.classifier)
    report = ca.analyze(plain, input_size=(3, 32, 32))
    assert report.params == sum(p.numel() for p in model.parameters())
    assert [r.kind for r in report.rows] == ["CONV", "BN", "RELU", "POOL", "FC"]
    assert model.training and not model.features.bn1.training
    for key, value in model.state_dict().items():
        assert value.device.type == "cpu" and torch.equal(value, before[key]), key


def test_a_layer_used_twice_and_tied_weights_keep_the_user_s_tensors() -> None:
    conv = nn.Conv2d(3, 3, 3, padding=1)
    head, tail = nn.Linear(4, 4), nn.Linear(4, 4)
    tail.weight = head.weight  # tied, as language models tie embeddings
    model = nn.Sequential(conv, nn.ReLU(), conv, nn.AdaptiveAvgPool2d(2), nn.Flatten(1), nn.Linear(12, 4), head, tail)
    before = {name: t.clone() for name, t in model.state_dict().items()}
    report = ca.analyze(model, input_size=(3, 8, 8))
    assert report.params == sum(p.numel() for p in model.parameters())  # each shared tensor once
    assert model[0].weight is model[2].weight and model[7].weight is model[6].weight
    assert all(isinstance(p, nn.Parameter) and p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(t, before[name]) for name, t in model.state_dict().items())


class _Custom(nn.Module):
    """Functional code, a parameter on a composite, a reused module and a module that never runs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, dilation=1)
        self.dilated = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.act = nn.SiLU()
        self.gain = nn.Parameter(torch.ones(8))
        self.unused = nn.Linear(4, 4)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv(x))
        x = self.act(self.dilated(x)) * self.gain.reshape(1, -1, 1, 1) + x
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def test_a_user_module_with_functional_code() -> None:
    report = ca.analyze(_Custom(), input_size=(3, 16, 16))
    kinds = [r.kind for r in report.rows]
    assert kinds == ["CONV", "OTHER", "CONV", "OTHER", "FC", "PARAMS", "PARAMS"]
    dilated = report.rows[2]
    assert dilated.name == "Conv2d" and dilated.macs == 16 * 16 * 8 * 8 * 9  # no pattern notation for dilation
    assert report.rows[1].name == "SiLU" and report.rows[3].params == 0  # a reused module counts once
    composite, unused = report.rows[5], report.rows[6]
    assert composite.params == 8 and not composite.aux
    assert unused.params == 4 * 4 + 4 and not unused.aux  # never ran as a module: its MACs are unknown
    assert report.params == sum(p.numel() for p in _Custom().parameters())  # but it is still a parameter


def test_torchvision_style_module_counts_its_own_macs() -> None:
    depthwise = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(inplace=True), depthwise, nn.Flatten(),
                          nn.Linear(16 * 64, 7))  # fmt: skip
    report = ca.analyze(model, input_size=(3, 16, 16))
    assert [r.name for r in report.rows] == ["CONV3-16(s=2)", "RELU", "CONV3-16(groups=16, bias=false)", "FLATTEN",
                                             "FC7"]  # fmt: skip
    assert report.rows[0].macs == 8 * 8 * 16 * 27 and report.rows[2].macs == 8 * 8 * 16 * 9
    assert report.rows[4].macs == 16 * 64 * 7 and report.rows[2].output == "8x8x16"


def test_module_errors_are_clear() -> None:
    with pytest.raises(ca.SizingError, match=r"does not run on a 32x32x1 input.*input_size"):
        ca.analyze(nn.Conv2d(3, 8, 3), input_size=(1, 32, 32))
    with pytest.raises(ca.ConfigError, match="only input_size"):
        ca.analyze(nn.Conv2d(3, 8, 3), N=2)
    with pytest.raises(ca.SizingError, match="positive"):
        ca.analyze(nn.Conv2d(3, 8, 3), input_size=(3, 0, 32))


@pytest.mark.parametrize(("name", "size"), [("vit_b_16", (3, 224, 224)), ("inception_v3", (3, 299, 299))])
def test_parameters_used_through_functional_calls_count_in_the_totals(name: str, size: tuple) -> None:
    """ViT's MultiheadAttention uses out_proj's weights without calling it; Inception-v3's aux head does
    not run in eval mode. Both are parameters of the model, so the totals equal sum(p.numel())."""
    import torchvision

    with torch.device("meta"):
        model = torchvision.models.get_model(name, **({"init_weights": False} if name == "inception_v3" else {}))
    assert ca.analyze(model, input_size=size).params == sum(p.numel() for p in model.parameters())
