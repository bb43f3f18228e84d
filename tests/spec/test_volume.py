"""The window arithmetic must agree with PyTorch exactly, including ceil mode and its edge rule."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import convarch as ca
from convarch.errors import SizingError
from convarch.spec.volume import Volume, check_positive, window_output


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    padding=st.integers(0, 3),
    ceil=st.booleans(),
)
def test_pool_output_matches_pytorch(size: int, kernel: int, stride: int, padding: int, ceil: bool) -> None:
    calc = window_output(size, kernel, stride, padding, ceil=ceil)
    if 2 * padding > kernel or calc.out < 1:
        return  # PyTorch refuses these; convarch raises before building (tested below)
    x = torch.empty(1, 1, size, size, device="meta")
    assert F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil).shape[-1] == calc.out


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 40), kernel=st.integers(1, 7), stride=st.integers(1, 4), padding=st.integers(0, 3))
def test_conv_output_matches_pytorch(size: int, kernel: int, stride: int, padding: int) -> None:
    calc = window_output(size, kernel, stride, padding)
    if calc.out < 1:
        return
    x = torch.empty(1, 1, size, size, device="meta")
    w = torch.empty(1, 1, kernel, kernel, device="meta")
    assert F.conv2d(x, w, stride=stride, padding=padding).shape[-1] == calc.out
    assert calc.exact == ((size - kernel + 2 * padding) % stride == 0)


def test_formula_shows_the_arithmetic() -> None:
    calc = window_output(15, 3, 2, 0)
    assert calc.exact and calc.out == 7
    assert calc.formula() == "(W − F + 2P)/S + 1 = (15 − 3 + 0)/2 + 1 = 7"
    inexact = window_output(224, 11, 4, 0)
    assert not inexact.exact and inexact.out == 54
    assert "54.25" in inexact.formula() and "floor 54" in inexact.formula()


def test_collapse_is_a_sizing_error_naming_the_layer() -> None:
    with pytest.raises(SizingError, match=r"CONV7-64.*collapses.*\(W − F \+ 2P\)/S \+ 1 = \(3 − 7 \+ 0\)"):
        check_positive(window_output(3, 7, 1, 0), "CONV7-64")


def test_volume_text_uses_the_seed_order() -> None:
    v = Volume.of((64, 224, 112))
    assert str(v) == "224x112x64" and v.chw == (64, 224, 112) and v.numel == 64 * 224 * 112
    with pytest.raises(SizingError):
        Volume.of((3, 0, 32))
    with pytest.raises(SizingError):
        Volume.of("224x224")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "fragments"),
    [
        (
            lambda: ca.analyze("resnet18", input_size=(224, 224, 3)),
            ["input_size (224, 224, 3) reads as 224 channels of 224x3 pixels", "(C, H, W)", "is (3, 224, 224)"],
        ),
        (
            lambda: ca.build("INPUT -> CONV3-8 -> RELU -> GAP -> FC", input_size=(28, 28, 1), num_classes=10),
            ["an image with 1 channel is (1, 28, 28)"],
        ),
        (
            lambda: ca.check("INPUT(3x224x224) -> CONV3-8 -> RELU -> GAP -> FC10"),
            ["INPUT(3x224x224) reads as 224 channels of 3x224 pixels", "H x W x C", "is 224x224x3", "column 7"],
        ),
    ],
)
def test_a_volume_in_the_other_order_is_refused_with_the_order_expected(call, fragments) -> None:
    with pytest.raises(ca.ConvarchError) as caught:
        call()
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize("size", [(3, 224, 224), (1, 28, 28), (512, 1, 1), (300, 1, 64), (64, 1, 300), (5, 1, 5)])
def test_real_inputs_of_unusual_shape_pass_the_order_check(size) -> None:
    """A text CNN's 1 x L x C input (embeddings as channels) and small volumes are not the mix-up."""
    volume = Volume.of(size)
    assert volume.chw == size and volume.order_mistake(str(volume), text=True) is None
