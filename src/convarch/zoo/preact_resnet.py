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

from convarch.errors import ConfigError
from convarch.spec.layers import BN, FC, GAP, Conv, Pool, Relu
from convarch.spec.nodes import NetSpec, Seq
from convarch.spec.volume import Volume
from convarch.spec.walk import trace
from convarch.zoo.info import TIMM, Figure, ModelInfo, Paper
from convarch.zoo.registry import ModelEntry, register
from convarch.zoo.resnet import resnet_stages

PAPER = Paper(
    "He, Zhang, Ren & Sun", 2016, "Identity Mappings in Deep Residual Networks", arxiv="1603.05027", venue="ECCV 2016"
)

# name: (depth, timm model, timm model card (params in millions, GMACs) or None where none is recorded: timm
# has no ImageNet-1k weights for resnetv2_152, and the cards of its newer 18/34 weights were not to hand)
VARIANTS: dict[str, tuple[int, str, tuple[float, float] | None]] = {
    "preact_resnet18": (18, "resnetv2_18", None),
    "preact_resnet34": (34, "resnetv2_34", None),
    "preact_resnet50": (50, "resnetv2_50", (25.5, 4.1)),
    "preact_resnet101": (101, "resnetv2_101", (44.5, 7.8)),
    "preact_resnet152": (152, "resnetv2_152", None),
}
TIMM_NAMES = {name: timm_name for name, (_, timm_name, _) in VARIANTS.items()}


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


def _register(name: str, depth: int, timm_name: str, card: tuple[float, float] | None) -> None:
    source = f"{TIMM}, {timm_name} model card"
    register(
        ModelEntry(
            name,
            preact_resnet,
            ModelInfo(
                name=name,
                family="preact_resnet",
                paper=PAPER,
                params=Figure(card[0] * 1e6, source, 1e5) if card else None,
                gmacs=Figure(card[1], source, 0.1, "GMACs") if card else None,
                deviations=(
                    "timm's resnetv2 layout: no BN-ReLU in the stem (the first unit's pre-activation provides "
                    "it), and a downsampling bottleneck strides in its 3x3 conv rather than its first 1x1.",
                ),
                notes=(
                    f"State-dict layout of timm's {timm_name} (key map 'timm'); its classifier is a 1x1 conv, "
                    "which the key map turns into our linear layer.",
                ),
            ),
            options={"depth": depth},
            key_maps={"timm": timm_keys},
            init="he_fc0.01",
        )
    )


for _name, (_depth, _timm_name, _card) in VARIANTS.items():
    _register(_name, _depth, _timm_name, _card)
