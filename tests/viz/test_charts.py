"""The charts are written, in the format the suffix asks for, and bad paths are refused before drawing."""

from __future__ import annotations

from pathlib import Path

import pytest

import convarch as ca
from convarch.analysis import compare, layer_profile
from convarch.analysis.sweep import sweep
from convarch.viz import complexity_chart, profile_chart, sweep_chart
from convarch.viz.charts import bubble_area

PNG = b"\x89PNG\r\n\x1a\n"


def test_complexity_chart_png_and_svg_with_latency_panel(tmp_path: Path) -> None:
    rows = compare(["alexnet", "vgg16", "alexnet_paper"])
    saved, skipped = complexity_chart(rows, tmp_path / "zoo.png")
    assert saved.read_bytes().startswith(PNG) and skipped == ["alexnet_paper"]  # no published top-1
    rows[0].latency, rows[1].latency = {1: 0.01, 8: 0.05}, {1: 0.1, 8: 0.6}
    saved, _ = complexity_chart(rows, tmp_path / "zoo.svg")
    text = saved.read_text()
    assert text.lstrip().startswith("<?xml") and "batch size" in text and "vgg16" in text
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_bubble_area_is_proportional_to_params() -> None:
    assert bubble_area(138_000_000) == pytest.approx(2 * bubble_area(69_000_000))


def test_profile_and_sweep_charts(tmp_path: Path) -> None:
    assert profile_chart(layer_profile(ca.analyze("vgg16")), tmp_path / "p.png").read_bytes().startswith(PNG)
    results = sweep(ca.parse("INPUT(16x16x3) -> [CONV3-8(p=0)]*N -> FC10"), {"N": [1, 2, 8]})
    assert sweep_chart(results, "pattern", tmp_path / "s.png").read_bytes().startswith(PNG)


def test_bad_chart_paths_are_refused_before_drawing(tmp_path: Path) -> None:
    rows = compare(["alexnet"])
    with pytest.raises(ca.ConfigError, match="does not exist"):
        complexity_chart(rows, tmp_path / "missing" / "zoo.png")
    with pytest.raises(ca.ConfigError, match=r"\.png, \.svg"):
        complexity_chart(rows, tmp_path / "zoo.jpg")
