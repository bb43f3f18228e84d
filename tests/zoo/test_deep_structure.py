"""The deep families as data: stages, auxiliary classifiers, stride placement, and how they read as patterns."""

from __future__ import annotations

import pytest
import torch
import torchvision

import convarch as ca
from convarch.nn.model import AuxOutputs, classification_loss, stage_info
from convarch.spec.walk import trace
from convarch.zoo.registry import model_spec

FAMILIES = ("googlenet", "inception_v4", "resnet", "preact_resnet", "densenet")
DEEP = [n for n in ca.list_models() if ca.model_info(n).family in FAMILIES]
CIFAR = [n for n in ca.list_models() if ca.model_info(n).family == "resnet_cifar"]


def test_the_issue_s_models_are_registered() -> None:
    expected = {
        "googlenet", "googlenet_paper", "inception_v4", "inception_resnet_v2",
        *(f"resnet{d}" for d in (18, 34, 50, 101, 152)), *(f"resnet{d}_paper" for d in (50, 101, 152)),
        *(f"preact_resnet{d}" for d in (18, 34, 50, 101, 152)), "wide_resnet50_2", "wide_resnet101_2",
        "wrn28_10", *(f"resnet{d}" for d in (20, 32, 44, 56, 110)), "densenet121", "densenet161", "densenet169",
        "densenet201",
    }  # fmt: skip
    assert expected == set(DEEP) | set(CIFAR)


@pytest.mark.parametrize("name", DEEP)
def test_imagenet_nets_have_four_or_five_stages_down_to_32(name: str) -> None:
    """(The generated contract test checks each stage against the real feature maps.)"""
    reductions = [stage["reduction"] for stage in stage_info(ca.spec_of(name))]
    assert 4 <= len(reductions) <= 5 and reductions[-1] == 32 and reductions[0] in (2, 4), reductions
    assert set(reductions) <= {2, 4, 8, 16, 32}


@pytest.mark.parametrize("name", CIFAR)
def test_cifar_nets_have_three_stages(name: str) -> None:
    stages = stage_info(ca.spec_of(name))
    factor = 10 if name == "wrn28_10" else 1  # WRN-28-10: k = 10 times the widths of §4.2
    assert [s["num_chs"] for s in stages] == [16 * factor, 32 * factor, 64 * factor]
    assert [s["reduction"] for s in stages] == [1, 2, 4], "32x32, 16x16 and 8x8 maps"


def test_googlenet_auxiliary_classifiers_in_training() -> None:
    model = ca.create_model("googlenet", num_classes=5, aux_logits=True)
    x, target = torch.randn(2, 3, 96, 96), torch.tensor([1, 4])
    out = model.train()(x)
    assert isinstance(out, AuxOutputs) and len(out.aux) == 2 and out.weights == (0.3, 0.3)
    assert all(a.shape == (2, 5) for a in out.aux)
    criterion = torch.nn.CrossEntropyLoss()
    expected = criterion(out.logits, target) + 0.3 * criterion(out.aux[0], target) + 0.3 * criterion(out.aux[1], target)
    torch.testing.assert_close(classification_loss(out, target, criterion), expected)
    model.eval()
    assert model(x).shape == (2, 5)
    model.reset_classifier(3)
    assert model.features.aux1.head.fc2.out_features == 3  # the heads follow the classifier
    assert not ca.create_model("googlenet", num_classes=0, aux_logits=True).has_aux


def test_googlenet_off_and_paper_on_by_default() -> None:
    assert not ca.create_model("googlenet").has_aux
    assert "aux1: INCEPTION_AUX -> inception4b" in ca.to_pattern("googlenet_paper")


def test_auxiliary_heads_print_their_classes_after_a_resize() -> None:
    spec = model_spec("googlenet_paper", num_classes=10)
    text = ca.to_pattern(spec)
    assert text.count("INCEPTION_AUX(num_classes=10)") == 2 and ca.parse(text) == spec


def test_analysis_lists_auxiliary_rows_but_leaves_them_out_of_the_totals() -> None:
    plain, with_aux = ca.analyze("googlenet"), ca.analyze(model_spec("googlenet", aux_logits=True))
    assert plain.params == with_aux.params and plain.macs == with_aux.macs and plain.aux_params == 0
    with torch.device("meta"):
        reference = torchvision.models.googlenet(aux_logits=True, init_weights=False)
    heads = sum(p.numel() for name, p in reference.named_parameters() if name.startswith("aux"))
    assert with_aux.aux_params == heads
    assert any(row.aux and row.path.startswith("features.aux2.head") for row in with_aux.rows)


@pytest.mark.parametrize(("name", "conv1", "conv2"), [("resnet50", (1, 1), (2, 2)), ("resnet50_paper", (2, 2), (1, 1))])
def test_downsampling_bottlenecks_stride_where_their_layout_says(name: str, conv1, conv2) -> None:
    strides = {s.path: s.layer.s for s in trace(ca.spec_of(name)) if s.layer.kind == "CONV"}
    for stage in ("layer2", "layer3", "layer4"):
        assert strides[f"features.{stage}.0.body.conv1"] == conv1
        assert strides[f"features.{stage}.0.body.conv2"] == conv2


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("resnet50", ["layer1: [BOTTLENECK(64)]*3", "layer2: [BOTTLENECK(128, s=2) -> [BOTTLENECK(128)]*3]"]),
        ("resnet50_paper", ["BOTTLENECK(128, s=2, stride_in=conv1)"]),
        ("wide_resnet50_2", ["layer1: [BOTTLENECK(64, widen=2)]*3"]),
        ("preact_resnet18", ["layer1: [RES(64, preact=true)]*2", "-> BN -> RELU -> GAP"]),
        ("resnet20", ["RES(32, s=2, shortcut=zeropad)"]),
        ("densenet121", ["denseblock1: DENSE(6) -> transition1: TRANSITION(0.5) -> denseblock2: DENSE(12)"]),
        ("googlenet", ["inception3a: INCEPTION(64, 96, 128, 16, 32, 32, bn=true, f5=3)"]),
        ("googlenet_paper", ["POOL3(s=2, ceil=true) -> LRN(k=1.0)",
                             "inception5b: INCEPTION(384, 192, 384, 48, 128, 128)"]),
        ("inception_v4", ["inception_a: [INCEPTION_A]*4 -> reduction_a: REDUCTION_A(192, 224, 256, 384) -> "
                          "inception_b: [INCEPTION_B]*7"]),
        ("inception_resnet_v2", ["reduction_a: REDUCTION_A(256, 256, 384, 384)",
                                 "[[INCEPTION_RESNET_C]*9 -> INCEPTION_RESNET_C(scale=1.0, relu=false)]"]),
    ],
)  # fmt: skip
def test_zoo_nets_read_as_their_papers_describe_them(name: str, fragments: list[str]) -> None:
    text = ca.to_pattern(name)
    for fragment in fragments:
        assert fragment in text, text
