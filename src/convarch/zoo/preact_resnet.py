"""Pre-activation ResNets (He, Zhang, Ren & Sun 2016, "Identity Mappings in Deep Residual Networks").

With BN and ReLU moved before each conv and nothing after the addition (Fig. 1b, Fig. 4e), the shortcut
is a clean identity from any unit to any later one (eqs. 4-5), which makes very deep nets easier to train
(§4). The layout is timm's ``resnetv2_*`` (the same blocks, so its state dicts load):

* the stem is a 7x7/2 conv and a 3x3/2 max pool with no BN-ReLU: the first unit pre-activates its input;
* a projection shortcut is a bare 1x1 conv on the pre-activated input; identities carry the raw input;
* a downsampling bottleneck strides in its 3x3 conv (as torchvision's v1.5);
* a final BN-ReLU before global average pooling, since the last unit ends in an addition (§3.2).
"""

from __future__ import annotations

import re
from typing import Unpack

from convarch.errors import ConfigError
from convarch.nn.init import He
from convarch.spec.layers import BN, FC, GAP, Conv, Pool, Relu
from convarch.spec.nodes import NetSpec, Seq
from convarch.spec.volume import Volume
from convarch.spec.walk import trace
from convarch.weights.catalog import Timm
from convarch.weights.sources import INCEPTION_MEAN, INCEPTION_STD
from convarch.zoo.info import TIMM, Figure, Paper
from convarch.zoo.registry import ClassOptions, Family
from convarch.zoo.resnet import resnet_stages

PAPER = Paper(
    "He, Zhang, Ren & Sun", 2016, "Identity Mappings in Deep Residual Networks", arxiv="1603.05027", venue="ECCV 2016"
)


def preact_resnet(depth: int = 50, num_classes: int = 1000) -> NetSpec:
    stem = (Conv(64, 7, s=2, bias=False), Pool(3, s=2, p=1))
    stages = resnet_stages(depth, preact=True)
    return NetSpec(Seq((*stem, *stages, BN(), Relu(), GAP(), FC(num_classes))), Volume(3, 224, 224))


# Our names inside a unit -> timm's: the pre-activation BN is norm1, the body's BNs norm2 and norm3.
_UNIT_NAMES = {"pre.bn1": "norm1", "body.bn1": "norm2", "body.bn2": "norm3", "shortcut.conv1": "downsample.conv"}


def timm_keys(spec: NetSpec) -> dict[str, str]:
    """timm ``resnetv2_*``: ``stem.conv``, ``stages.{i}.blocks.{j}.{norm1,conv1,...}``, ``norm``, ``head.fc``."""
    table: dict[str, str] = {}
    for step in trace(spec):
        path = step.path
        if not step.layer.params(step.input):
            continue
        if path == "classifier":
            source = "head.fc"
        elif path == "features.conv1":
            source = "stem.conv"
        elif path == "features.bn1":
            source = "norm"
        else:
            match = re.fullmatch(r"features\.layer(\d)\.(\d+)\.(.+)", path)
            if match is None:
                raise ConfigError(f"no timm name for {path}: the resnetv2 key map expects it in a stage")
            stage, unit, inner = match.groups()
            inner = _UNIT_NAMES.get(inner, inner.removeprefix("body."))
            source = f"stages.{int(stage) - 1}.blocks.{unit}.{inner}"
        table[source] = path
    return table


PREACT_RESNET = Family(
    "preact_resnet",
    PAPER,
    init=He(fc_std=0.01),
    key_maps={"timm": timm_keys},
    deviations=(
        "timm's resnetv2 layout: no BN-ReLU in the stem (the first unit's pre-activation provides it), and a "
        "downsampling bottleneck strides in its 3x3 conv rather than its first 1x1.",
    ),
)


def layout(timm_name: str, params_m: float | None = None, gmacs: float | None = None) -> dict:
    """timm's name, the note naming its layout, and its model card figures (params in millions, GMACs) where
    recorded: timm has no ImageNet-1k weights for resnetv2_152, and the cards of its 18/34 weights were not to
    hand."""
    source = f"{TIMM}, {timm_name} model card"
    return {
        "upstream": {"timm": timm_name},
        "notes": (f"State-dict layout of timm's {timm_name} (key map 'timm'); its classifier is a 1x1 conv, "
                  "which the key map turns into our linear layer.",),
        "params": Figure(params_m * 1e6, source, 1e5) if params_m else None,
        "gmacs": Figure(gmacs, source, 0.1, "GMACs") if gmacs else None,
    }  # fmt: skip


def timm_weights(repo: str, crop_pct: float, note: str, accuracy: tuple[float, float] | None = None) -> Timm:
    """timm's own pre-activation ResNets ("a1h" and "ra4" recipes); its cfgs use the Inception mean/std."""
    return Timm(repo, 224, crop_pct, "bicubic", INCEPTION_MEAN, INCEPTION_STD, note, accuracy)


# results-imagenet.csv reports the 50/101 at 288x288 (their test size, crop_pct 1.0); the 18/34 weights are
# newer than that table.
RA4, A1H = "timm ra4 recipe.", "timm a1h recipe; accuracy at 288x288, crop_pct 1.0."


@PREACT_RESNET.model(**layout("resnetv2_18"), weights=timm_weights("resnetv2_18.ra4_e3600_r224_in1k", 0.9, RA4))
def preact_resnet18(**options: Unpack[ClassOptions]) -> NetSpec:
    return preact_resnet(18, **options)


@PREACT_RESNET.model(**layout("resnetv2_34"), weights=timm_weights("resnetv2_34.ra4_e3600_r224_in1k", 0.9, RA4))
def preact_resnet34(**options: Unpack[ClassOptions]) -> NetSpec:
    return preact_resnet(34, **options)


@PREACT_RESNET.model(
    **layout("resnetv2_50", 25.5, 4.1), weights=timm_weights("resnetv2_50.a1h_in1k", 0.95, A1H, (81.398, 95.726))
)
def preact_resnet50(**options: Unpack[ClassOptions]) -> NetSpec:
    return preact_resnet(50, **options)


@PREACT_RESNET.model(
    **layout("resnetv2_101", 44.5, 7.8), weights=timm_weights("resnetv2_101.a1h_in1k", 0.95, A1H, (83.002, 96.454))
)
def preact_resnet101(**options: Unpack[ClassOptions]) -> NetSpec:
    return preact_resnet(101, **options)


@PREACT_RESNET.model(**layout("resnetv2_152"))
def preact_resnet152(**options: Unpack[ClassOptions]) -> NetSpec:
    return preact_resnet(152, **options)
