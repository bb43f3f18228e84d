"""Each primitive's four abilities agree with the torch module it builds."""

from __future__ import annotations

import pytest
import torch

from convarch.errors import ConfigError, SizingError
from convarch.spec.layers import (
    BN,
    FC,
    GAP,
    LRN,
    PRIMITIVES,
    RBF,
    Conv,
    Dropout,
    DWConv,
    Flatten,
    Pool,
    Relu,
    Relu6,
    Sigmoid,
    Softmax,
    Subsample,
    Tanh,
    ZeroPad,
)
from convarch.spec.volume import Volume

SPATIAL = Volume(12, 16, 16)
EXAMPLES = [
    (Conv(24, 3), SPATIAL),
    (Conv(24, 5, s=2, p=1, bias=False), SPATIAL),
    (Conv(24, (1, 7)), SPATIAL),
    (Conv(24, 3, groups=4), SPATIAL),
    (Conv(f=3, groups="depthwise"), SPATIAL),
    (Conv(24, 3, groups="depthwise"), SPATIAL),
    (DWConv(f=3, s=2, bias=False), SPATIAL),
    (Conv(16, 5, p=0, table="lenet5_c3"), Volume(6, 14, 14)),
    (FC(10), SPATIAL),
    (FC(10, bias=False), Volume(84, 1, 1, flat=True)),
    (Subsample(2), SPATIAL),
    (RBF(10), Volume(84, 1, 1, flat=True)),
    (Pool(2), SPATIAL),
    (Pool(3, s=2, ceil=True), Volume(12, 15, 15)),
    (Pool(3, s=1, p=1, type="avg", count_pad=False), SPATIAL),
    (Pool(out=6, type="avg"), SPATIAL),
    (GAP(), SPATIAL),
    (Relu(), SPATIAL),
    (Relu6(), SPATIAL),
    (Sigmoid(), SPATIAL),
    (Tanh(), SPATIAL),
    (BN(), SPATIAL),
    (BN(eps=1e-3), Volume(84, 1, 1, flat=True)),
    (LRN(), SPATIAL),
    (Dropout(0.3), SPATIAL),
    (Flatten(), SPATIAL),
    (Softmax(), Volume(10, 1, 1, flat=True)),
    (ZeroPad(24, s=2), SPATIAL),
]


def test_every_primitive_has_an_example() -> None:
    assert {type(layer) for layer, _ in EXAMPLES} == set(PRIMITIVES.values())


@pytest.mark.parametrize(("layer", "v"), EXAMPLES, ids=lambda e: e.text() if hasattr(e, "text") else str(e))
def test_volume_and_params_match_the_module(layer, v: Volume) -> None:
    module = layer.module(v).eval()
    shape = (2, v.c) if v.flat else (2, v.c, v.h, v.w)
    y = module(torch.randn(shape))
    out = layer.output(v)
    assert tuple(y.shape[1:]) == ((out.c,) if out.flat else (out.c, out.h, out.w))
    assert sum(p.numel() for p in module.parameters()) == layer.params(v)
    assert 0 <= layer.weights(v) <= layer.params(v)


def test_macs_of_weighted_layers() -> None:
    v = Volume(3, 224, 224)
    conv = Conv(64, 3)
    # CS231n: every output unit does F*F*C multiply-adds.
    assert conv.macs(v) == 224 * 224 * 64 * (3 * 3 * 3)
    assert Conv(64, 3, groups=1).macs(Volume(64, 56, 56)) == 4 * Conv(64, 3, groups=4).macs(Volume(64, 56, 56))
    assert FC(4096).macs(Volume(512, 7, 7)) == 7 * 7 * 512 * 4096
    for elementwise in (Relu(), BN(), Pool(2), LRN(), Dropout()):
        assert elementwise.macs(v) == 0


def test_connection_table_counts_only_connected_filters() -> None:
    # LeCun et al. 1998 §II.B: C3 has 1,516 trainable parameters and 151,600 connections.
    c3 = Conv(16, 5, p=0, table="lenet5_c3")
    v = Volume(6, 14, 14)
    assert c3.params(v) == 1516
    assert c3.macs(v) + c3.output(v).numel == 151_600
    dense = c3.module(v).dense_weight()
    connected = (dense.abs().sum(dim=(2, 3)) > 0).sum().item()
    assert connected == 60  # 6x3 + 6x4 + 3x4 + 1x6 input maps


def test_text_is_the_seed_notation() -> None:
    assert Conv(64, 3).text() == "CONV3-64"
    assert Conv(96, 11, s=4, p=2).text() == "CONV11-96(s=4, p=2)"
    assert Conv(224, (1, 7), p=(0, 3)).text() == "CONV1x7-224"
    assert Pool(2).text() == "POOL2"
    assert Pool(3, s=2).text() == "POOL3(s=2)"
    assert Pool(3, s=1, type="avg").text() == "POOL3(s=1, type=avg)"
    assert Pool(out=7, type="avg").text() == "POOL(out=7, type=avg)"
    assert FC(4096).text() == "FC4096"
    assert Dropout(0.5).text() == "DROPOUT" and Dropout(0.2).text() == "DROPOUT(p=0.2)"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Conv(0, 3),
        lambda: Conv(8, 0),
        lambda: Conv(8, 3, s=0),
        lambda: Conv(8, 3, p=-1),
        lambda: Conv(8, 3, groups=0),
        lambda: Conv(8, 5, table="nope"),
        lambda: Pool(2, type="median"),
        lambda: Dropout(1.0),
        lambda: FC(-3),
        lambda: FC(True),
        lambda: Subsample(0),
        lambda: LRN(size=0),
        lambda: ZeroPad(16, s=0),
        lambda: ZeroPad(0),
        lambda: RBF(0),
    ],
)
def test_bad_arguments_are_config_errors(make) -> None:
    with pytest.raises(ConfigError):
        make()


def test_sizing_errors_name_the_layer_and_the_fix() -> None:
    with pytest.raises(SizingError, match="groups=3 must divide"):
        Conv(8, 3, groups=3).output(Volume(4, 8, 8))
    with pytest.raises(SizingError, match="CONV3-8.*flat vector"):
        Conv(8, 3).output(Volume(10, 1, 1, flat=True))
    with pytest.raises(SizingError, match="collapses"):
        Pool(3, s=2).output(Volume(4, 2, 2))
    with pytest.raises(SizingError, match="zero-pad 32 channels down to 16"):
        ZeroPad(16).output(Volume(32, 8, 8))
