"""Write docs/gallery.md and its figures (docs/gallery/*.svg), the seed's figures drawn by convarch.

    python scripts/make_gallery.py            # rewrite the SVGs and the page
    python scripts/make_gallery.py --png DIR  # also render each figure to DIR/NAME.png, to look at

tests/draw/test_gallery.py regenerates the SVGs and fails when a checked-in one is stale.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import convarch as ca

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SEED = "INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"


@dataclass(frozen=True)
class Figure:
    file: str  # docs/gallery/<file>.svg
    heading: str
    source: str
    note: str
    options: dict[str, Any] = field(default_factory=dict)

    def draw(self) -> ca.Diagram:
        return ca.draw(self.source, **self.options)

    def python(self) -> str:
        options = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"ca.draw({self.source!r}{options}).save('{self.file}.svg')"

    def cli(self) -> str:
        flags = []
        for key, value in self.options.items():
            if key == "input_size":
                flags.append(f"--input {value[1]}x{value[2]}x{value[0]}")
            elif key in ("style", "at", "depth", "num_classes"):
                flags.append(f"--{key.replace('_', '-')} {value}")
            else:
                flags.append(f"--set {key}={value}")
        source = self.source if ca.api.is_model_name(self.source) else f"'{self.source}'"
        return " ".join(["convarch draw", source, *flags, f"--out {self.file}.svg"])


FIGURES = [
    Figure("lenet5", "LeNet-5", "lenet5_paper",
           "LeCun et al. 1998, Fig. 2: C1 to F6 and the RBF output, with the trainable subsampling layers and C3's "
           "connection table. Every arrow carries the layer in the seed's notation, every box its output volume."),
    Figure("alexnet", "AlexNet, the paper's two towers", "alexnet_paper",
           "Krizhevsky et al. 2012, Fig. 2: the grouped convolutions (conv2, conv4, conv5) keep each GPU's half "
           "of the maps apart; conv3 and the FC layers read both towers, drawn as crossing arrows."),
    Figure("vgg16", "VGG-16", "vgg16",
           "Simonyan & Zisserman 2014, configuration D. Heights and depths are on log scales of H and W, "
           "thicknesses on a square-root scale of C, so 224x224x64 and 7x7x512 both read; runs of identical "
           "convs are stacked (x2, x3)."),
    Figure("inception3a", "GoogLeNet's inception (3a) module", "googlenet_paper",
           "Szegedy et al. 2014, Fig. 2b with Table 1's widths: four branches on the same 28x28x192 input, "
           "concatenated to 28x28x256.", {"style": "block", "at": "inception3a"}),
    Figure("resnet34_basic", "ResNet-34's basic block", "resnet34",
           "He et al. 2015, Fig. 2: two 3x3 convs and an identity shortcut to the addition, then ReLU.",
           {"style": "block", "at": "layer1.0"}),
    Figure("resnet50_bottleneck", "ResNet-50's bottleneck", "resnet50",
           "He et al. 2015, Fig. 5 (right): 1x1 reduces 256 maps to 64, 3x3, 1x1 restores 256; identity shortcut.",
           {"style": "block", "at": "layer1.1"}),
    Figure("resnet50_projection", "ResNet-50's first bottleneck of conv3_x, with its projection", "resnet50",
           "He et al. 2015 §3.3, option B: where the block halves H x W and doubles the width, the shortcut is a "
           "1x1 conv with stride 2 (and BN).", {"style": "block", "at": "layer2.0"}),
    Figure("preact_bottleneck", "Pre-activation bottleneck", "preact_resnet50",
           "He et al. 2016, Fig. 4(e): BN and ReLU before each conv, nothing after the addition; the identity "
           "carries the raw input.", {"style": "block", "at": "layer1.1"}),
    Figure("densenet121_block", "A DenseNet-121 dense block", "densenet121",
           "Huang et al. 2017, Fig. 1: each layer (BN-ReLU-1x1-BN-ReLU-3x3, growth rate 32) sees the "
           "concatenation of the block's input and every earlier layer's maps.",
           {"style": "block", "at": "denseblock1"}),
    Figure("inception_resnet_a", "Inception-ResNet-A", "inception_resnet_v2",
           "Szegedy et al. 2016, Fig. 16: three branches concatenated, a linear 1x1 conv back to 320 maps, the "
           "residual scaled by 0.17 and added to the identity.", {"style": "block", "at": "inception_resnet_a.0"}),
    Figure("se_resnet50_block", "SE-ResNet-50's bottleneck with its squeeze-and-excitation gate", "se_resnet50",
           "Hu et al. 2017, Fig. 3: global average pooling squeezes 56x56x256 to 1x1x256, two FC layers (1x1 convs) "
           "with a ReLU between them reduce by r=16 and restore, a sigmoid gives one weight per channel, and the "
           "residual is scaled by them before the identity is added.", {"style": "block", "at": "layer1.1"}),
    Figure("mobilenet_v2_blocks", "MobileNetV2's inverted residuals", "mobilenet_v2",
           "Sandler et al. 2018, Fig. 4: each distinct form of the block. The first (t=1) has no expansion; a "
           "stride-2 block expands 6-fold, filters depthwise and projects linearly, with no skip; where the "
           "volumes agree the input is added (identity).", {"style": "block"}),
    Figure("mobilenet_v2", "MobileNetV2", "mobilenet_v2",
           "Sandler et al. 2018, Table 2: the 17 bottlenecks, runs of identical ones collapsed (x2, x3). The "
           "identity arcs only over blocks whose input and output volumes agree; a long net wraps onto rows."),
    Figure("seed_pattern", "The seed's pattern at N=2, M=3, K=1", SEED,
           "CS231n's INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC on a 32x32x3 input, "
           "10 classes.", {"input_size": (3, 32, 32), "num_classes": 10, "N": 2, "M": 3, "K": 1}),
    Figure("resnet50_graph", "ResNet-50 as a graph", "resnet50",
           "One node per layer or per run of identical blocks, with output volume, parameters and multiply-adds "
           "(the same numbers as `convarch show resnet50`).", {"style": "graph"}),
    Figure("inception3a_graph", "GoogLeNet's inception (3a) as a graph", "googlenet",
           "torchvision's layout (BN, a 3x3 in the \"5x5\" branch): branches side by side, each layer with its "
           "module path, output volume, parameters and multiply-adds.", {"style": "graph", "at": "inception3a"}),
]  # fmt: skip


def page() -> str:
    lines = [
        "# Gallery",
        "",
        "The seed's figures, drawn by convarch from the specs (`ca.draw`, `convarch draw`): no forward pass, the "
        "same module paths and numbers as `ca.analyze`. Written by `scripts/make_gallery.py`; a test fails "
        "when a figure here is stale. Each element carries its module path (`data-path`).",
        "",
    ]
    for figure in FIGURES:
        lines += [
            f"## {figure.heading}",
            "",
            figure.note,
            "",
            f"![{figure.heading}](gallery/{figure.file}.svg)",
            "",
            "```python",
            figure.python(),
            "```",
            "",
            "```bash",
            figure.cli(),
            "```",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--png", type=Path, help="also render each figure to this directory as PNG")
    args = parser.parse_args()
    for figure in FIGURES:
        diagram = figure.draw()
        diagram.save(DOCS / "gallery" / f"{figure.file}.svg")
        if args.png:
            diagram.save(args.png / f"{figure.file}.png")
    (DOCS / "gallery.md").write_text(page(), encoding="utf-8")


if __name__ == "__main__":
    main()
