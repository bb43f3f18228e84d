"""INCEPTION, INCEPTION_AUX and the Inception-v4 / Inception-ResNet-v2 blocks: widths, branch order, layouts."""

from __future__ import annotations

import pytest
import torch

import convarch as ca
from convarch.blocks import inception_v4 as v4
from convarch.blocks.inception import inception, inception_aux
from convarch.nn.model import AuxOutputs, ConvNet, classification_loss
from convarch.spec import FC, GAP, NetSpec, Seq, Volume
from convarch.spec.walk import output_volume, split, trace


def net(*blocks, size) -> NetSpec:
    return NetSpec(Seq(blocks), Volume.of(size))


def test_inception_concatenates_the_four_branches_in_table_1_order() -> None:
    spec = net(inception(64, 96, 128, 16, 32, 32), size=(192, 28, 28))
    assert output_volume(spec) == Volume(64 + 128 + 32 + 32, 28, 28)  # inception (3a): 28x28x256
    # Conv weights and biases of the six convs, with the reduce layers' inputs of 192 maps.
    convs = [(192, 64, 1), (192, 96, 1), (96, 128, 3), (192, 16, 1), (16, 32, 5), (192, 32, 1)]
    assert ca.analyze(spec).params == sum(c_in * out * f * f + out for c_in, out, f in convs)
    module = ConvNet(spec).eval().features[0]
    x = torch.randn(1, 192, 28, 28)
    with torch.no_grad():
        y = module(x)
        starts = [0, 64, 64 + 128, 64 + 128 + 32]
        for i, start in enumerate(starts, 1):
            part = getattr(module, f"branch{i}")(x)
            torch.testing.assert_close(y[:, start : start + part.shape[1]], part)


def test_torchvision_layout_has_bn_and_a_3x3_in_the_5x5_branch() -> None:
    paper = trace(net(inception(64, 96, 128, 16, 32, 32), size=(192, 28, 28)))
    torchvision = trace(net(inception(64, 96, 128, 16, 32, 32, bn=True, f5=3), size=(192, 28, 28)))
    assert [s.layer.f for s in paper if s.path.endswith("branch3.conv2")] == [(5, 5)]
    assert [s.layer.f for s in torchvision if s.path.endswith("branch3.conv2")] == [(3, 3)]
    assert not any(s.layer.kind == "BN" for s in paper)
    bns = [s.layer for s in torchvision if s.layer.kind == "BN"]
    assert len(bns) == 6 and all(bn.eps == 1e-3 for bn in bns)
    assert not any(s.layer.bias for s in torchvision if s.layer.kind == "CONV")


def test_auxiliary_classifier_trains_with_its_weight_and_is_skipped_at_inference() -> None:
    spec = net(inception_aux(5), GAP(), FC(5), size=(32, 14, 14))
    model = ConvNet(spec)
    x, target = torch.randn(3, 32, 14, 14), torch.tensor([0, 1, 2])
    out = model.train()(x)
    assert isinstance(out, AuxOutputs) and out.weights == (0.3,) and out.aux[0].shape == (3, 5)
    criterion = torch.nn.CrossEntropyLoss()
    expected = criterion(out.logits, target) + 0.3 * criterion(out.aux[0], target)
    torch.testing.assert_close(classification_loss(out, target, criterion), expected)
    assert model.eval()(x).shape == (3, 5)
    # §5: a 5x5/3 average pool turns the 14x14 grid into 4x4 before the 1x1 conv with 128 filters.
    pool = next(s for s in trace(spec) if s.aux and s.layer.kind == "POOL")
    assert pool.output == Volume(32, 4, 4)
    report = ca.analyze(spec)
    assert report.aux_params == sum(r.params for r in report.rows if r.aux) > 0
    assert report.params == sum(r.params for r in report.rows if not r.aux)


V4_CHAIN = [
    ("INCEPTION_V4_STEM", Volume(384, 35, 35)),
    ("INCEPTION_A", Volume(384, 35, 35)),
    ("REDUCTION_A(192, 224, 256, 384)", Volume(1024, 17, 17)),
    ("INCEPTION_B", Volume(1024, 17, 17)),
    ("REDUCTION_B", Volume(1536, 8, 8)),
    ("INCEPTION_C", Volume(1536, 8, 8)),
]
IRV2_CHAIN = [
    ("INCEPTION_RESNET_V2_STEM", Volume(320, 35, 35)),
    ("INCEPTION_RESNET_A", Volume(320, 35, 35)),
    ("REDUCTION_A(256, 256, 384, 384)", Volume(1088, 17, 17)),
    ("INCEPTION_RESNET_B", Volume(1088, 17, 17)),
    ("REDUCTION_RESNET_B", Volume(2080, 8, 8)),
    ("INCEPTION_RESNET_C", Volume(2080, 8, 8)),
]


@pytest.mark.parametrize("chain", [V4_CHAIN, IRV2_CHAIN], ids=["inception_v4", "inception_resnet_v2"])
def test_inception_v4_blocks_give_the_grids_of_the_paper(chain) -> None:
    text = "INPUT(299x299x3)"
    for name, expected in chain:
        text += f" -> {name}"
        assert output_volume(ca.parse(text)) == expected, name


def test_inception_resnet_blocks_scale_the_residual_before_adding() -> None:
    spec = net(v4.inception_resnet_a(), size=(320, 9, 9))
    unit = ConvNet(spec).eval().features[0]
    x = torch.randn(1, 320, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(unit(x), torch.relu(unit.body(x) * 0.17 + x))
    last = ConvNet(net(v4.inception_resnet_c(scale=1.0, relu=False), size=(2080, 3, 3))).eval().features[0]
    x = torch.randn(1, 2080, 3, 3)
    with torch.no_grad():
        torch.testing.assert_close(last(x), last.body(x) + x)  # no ReLU after the last block


@pytest.mark.parametrize(
    ("block", "zoo_name"),
    [(v4.inception_v4_stem, "inception_v4"), (v4.inception_resnet_v2_stem, "inception_resnet_v2")],
)
def test_stem_blocks_are_what_the_zoo_nets_start_with(block, zoo_name: str) -> None:
    stem = block().body.items
    assert ca.spec_of(zoo_name).layers.items[: len(stem)] == stem
    # The zoo spreads the stem over the top level so feature_info sees its reductions 2 and 4.
    assert [node for _, node in split(ca.spec_of(zoo_name)).features][: len(stem)] == list(stem)
