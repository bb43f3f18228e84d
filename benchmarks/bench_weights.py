"""Issue 6 benchmark: loading pretrained weights from a local file, against the publishing library's loader.

    .venv/bin/python benchmarks/bench_weights.py [--repeats 5] [--models alexnet vgg16 resnet50 inception_v4]

For each model a reference with random weights is saved in its published format (torchvision: a .pth state
dict; timm: model.safetensors). Then, interleaved and repeated:
  ours        ca.create_model(name, weights=path): build on the meta device, read, map keys, assign;
  reference   torchvision: get_model(name) then load_state_dict(torch.load(path, weights_only=True)),
              which is what torchvision's weights= does after the download;
              timm: timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": path}).
Outputs are checked equal (max abs diff) in the same run. Times are medians; the ratio is reference/ours.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).parent))
import convarch as ca
from convarch.weights.sources import sources_for
from timing import interleaved, markdown_table

MODELS = ("alexnet", "vgg16", "resnet50", "densenet121", "inception_v4")


def reference_loader(name: str, path: Path) -> Callable[[], torch.nn.Module]:
    source = sources_for(name)[0]
    if source.layout == "timm":
        import timm

        return lambda: timm.create_model(source.upstream, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
    options = {"init_weights": True} if name == "googlenet" else {}

    def load() -> torch.nn.Module:
        model = torchvision.models.get_model(name, weights=None, **options)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model

    return load


def measure(name: str, folder: Path, repeats: int) -> list[str]:
    source = sources_for(name)[0]
    # Save a random-weight reference in the published format, then time both loaders on that file.
    published = folder / (f"{name}.safetensors" if source.layout == "timm" else f"{name}.pth")
    if source.layout == "timm":
        import timm

        model = timm.create_model(source.upstream)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(published))
    else:
        torch.save(torchvision.models.get_model(name).state_dict(), published)
    load_reference = reference_loader(name, published)
    times = interleaved(
        {"ours": lambda: ca.create_model(name, weights=str(published)), "reference": load_reference},
        repeats=repeats,
    )
    ours, reference = ca.create_model(name, weights=str(published)).eval(), load_reference().eval()
    size = source.preprocess.crop
    x = torch.randn(2, 3, size, size)
    with torch.inference_mode():
        diff = (ours(x) - reference(x)).abs().max().item()
    megabytes = published.stat().st_size / 1e6
    return [name, source.layout, f"{megabytes:,.0f}", f"{times['ours'] * 1e3:.0f}", f"{times['reference'] * 1e3:.0f}",
            f"{times['reference'] / times['ours']:.2f}", f"{diff:.1e}"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="*", default=[m for m in MODELS if m in ca.list_models()])
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(name, Path(folder), args.repeats) for name in args.models]
    cpu = platform.processor() or platform.machine()
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {cpu}, {threads} threads, "
          f"median of {args.repeats} interleaved runs")  # fmt: skip
    headers = ["model", "layout", "file MB", "ours ms", "reference ms", "reference/ours", "max abs diff"]
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    main()
