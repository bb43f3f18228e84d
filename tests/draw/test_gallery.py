"""docs/gallery.md and its figures are what scripts/make_gallery.py writes today: a stale figure fails.

SVGs are compared, not PNGs, whose bytes depend on the rasterizer.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path

import pytest

from convarch.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "make_gallery.py"
_spec = importlib.util.spec_from_file_location("make_gallery", SCRIPT)
gallery = importlib.util.module_from_spec(_spec)
sys.modules["make_gallery"] = gallery  # dataclasses look their module up while the class is made
_spec.loader.exec_module(gallery)
FIX = "run `python scripts/make_gallery.py` and commit docs/gallery*"


@pytest.mark.parametrize("figure", gallery.FIGURES, ids=[f.file for f in gallery.FIGURES])
def test_every_gallery_figure_is_up_to_date(figure) -> None:  # type: ignore[no-untyped-def]
    path = ROOT / "docs" / "gallery" / f"{figure.file}.svg"
    assert path.exists(), f"{path} is missing: {FIX}"
    assert path.read_text(encoding="utf-8") == figure.draw().svg, f"{path} is stale: {FIX}"


@pytest.mark.parametrize("figure", gallery.FIGURES[-3:], ids=[f.file for f in gallery.FIGURES[-3:]])
def test_the_gallery_commands_draw_the_same_figure(figure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The page's command line and its Python line give the same SVG (the last figures: a pattern, a graph)."""
    argv = shlex.split(figure.cli())[1:]
    argv[-1] = str(tmp_path / argv[-1])
    assert main(argv) == 0
    assert (tmp_path / f"{figure.file}.svg").read_text(encoding="utf-8") == figure.draw().svg


def test_the_gallery_page_is_up_to_date_and_shows_every_figure() -> None:
    text = (ROOT / "docs" / "gallery.md").read_text(encoding="utf-8")
    assert text == gallery.page(), f"docs/gallery.md is stale: {FIX}"
    shown = {p.stem for p in (ROOT / "docs" / "gallery").glob("*.svg")}
    assert shown == {f.file for f in gallery.FIGURES}, "a figure in docs/gallery/ is not on the page"


def test_the_gallery_has_the_seeds_figures() -> None:
    sources = {(f.source, f.options.get("style", "volumes")) for f in gallery.FIGURES}
    volumes = ("lenet5_paper", "alexnet_paper", "vgg16", gallery.SEED)
    blocks = ("googlenet_paper", "resnet34", "resnet50", "densenet121", "inception_resnet_v2")
    for expected in [(name, "volumes") for name in volumes] + [(name, "block") for name in blocks]:
        assert expected in sources


def test_the_readme_shows_a_gallery_figure() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/gallery/" in readme and "docs/gallery.md" in readme
