"""One small network per zoo family and per block type, for tests that must cover them all but stay fast."""

from __future__ import annotations

import functools

from tests.conftest import smallest_input

import convarch as ca
from convarch.nn.init import initialize
from convarch.nn.model import ConvNet
from convarch.zoo.registry import get_entry, model_spec


@functools.cache
def smallest_per_family() -> dict[str, str]:
    """family -> its member with the fewest parameters (the registry decides which families exist)."""
    best: dict[str, tuple[int, str]] = {}
    for name in ca.list_models():
        family, params = ca.model_info(name).family, ca.analyze(name).params
        if family not in best or params < best[family][0]:
            best[family] = (params, name)
    return {family: name for family, (_, name) in sorted(best.items())}


def small_zoo_model(name: str, num_classes: int = 7) -> ConvNet:
    """``name`` with a small head, at the smallest input it accepts, initialised as the family does."""
    spec = smallest_input(model_spec(name, num_classes=num_classes))
    return initialize(ConvNet(spec, pretrained_cfg={"architecture": name}), get_entry(name).init).eval()


# A short pattern per block type of the pattern language (the zoo's blocks, and the paper primitives).
BLOCK_PATTERNS = {
    "inception": "INPUT(32x32x3) -> CONV3-16 -> RELU -> INCEPTION(8, 8, 16, 4, 8, 8) -> GAP -> FC5",
    "res": "INPUT(32x32x3) -> CONV3-16 -> BN -> RELU -> RES(16) -> RES(32, s=2) -> GAP -> FC5",
    "bottleneck": "INPUT(32x32x3) -> CONV3-16 -> BOTTLENECK(8) -> BOTTLENECK(16, s=2) -> GAP -> FC5",
    "dense": "INPUT(32x32x3) -> CONV3-16 -> DENSE(2, k=8) -> TRANSITION(0.5) -> GAP -> FC5",
    "plain": "INPUT(32x32x3) -> [[CONV3-16 -> BN -> RELU]*2 -> POOL2]*2 -> FC32 -> RELU -> DROPOUT(0.5) -> FC5",
    "lrn": "INPUT(32x32x3) -> CONV5-16 -> RELU -> LRN(size=5) -> POOL(f=3, s=2, type=avg) -> FC5",
    "se": "INPUT(32x32x3) -> CONV3-16 -> BN -> RELU -> SE(4) -> BOTTLENECK(8, se=4) -> GAP -> FC5",
    "invres": "INPUT(32x32x3) -> CONV3-16 -> BN -> RELU6 -> INVRES(16, t=1) -> INVRES(24, s=2) -> INVRES(24) "
    "-> GAP -> FC5",
    # Inception-ResNet-v2's blocks, one of each (the inception_v4 family's smallest member has the v4 ones)
    "inception_resnet": "INPUT(75x75x3) -> INCEPTION_RESNET_V2_STEM -> INCEPTION_RESNET_A -> "
    "REDUCTION_A(256, 256, 384, 384) -> INCEPTION_RESNET_B -> REDUCTION_RESNET_B -> INCEPTION_RESNET_C -> GAP -> FC5",
}
